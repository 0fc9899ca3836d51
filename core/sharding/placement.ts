/**
 * Placement strategies of the sharded database: which shards hold a key. Pure: schemas and
 * placement functions, no I/O. The router (runtime/shard-client) builds a {@link Placer} per
 * shard-map epoch and asks it for each key's replicas.
 *
 * - `hash` (the default): the ring of core/sharding/ring.ts; keys spread evenly; a rebalance moves hash
 *   ranges (docs/design/sharding.md).
 * - `range`: ordered boundaries → shard. A key belongs to the last range whose `start` is ≤ the
 *   key (byte order of UTF-8, the order of PostgreSQL's "C" collation). Suits time-ordered keys
 *   ("2026-12-01T…", "events/2026/…"): a time window lives on one shard and scans of it touch
 *   only that shard's replicas; new periods are placed by adding a boundary.
 * - `directory`: a table in the shard map pins tenants to shards. A key's tenant is its text
 *   before the first separator (`acme:orders/17` → `acme`); unpinned tenants fall back to the hash
 *   ring. The table is part of the map (not a key of its own) so that re-pinning a tenant is a
 *   placement change like any other: the rebalancer moves its rows under the epoch fence before the
 *   routers look for them on the new shards.
 *
 * Replicas beyond the owner. With `range` and `directory` the owner comes from the table; the
 * other `replicationFactor - 1` replicas are the shards after it in the shard map's list (wrapping
 * around), preferring shards in zones not used yet, so the replica set of a pinned tenant is
 * predictable from the map alone.
 *
 * Moving keys between shards is the rebalancer's work: a changed range boundary or tenant pin is a
 * migration like any other placement change (core/sharding/rebalance.ts plans it as key-range
 * moves); the router only follows the map.
 */
import { z } from "zod";
import { buildRing, replicaRanges, replicasFor, type Ring } from "./ring";
/** The fields of a shard-map member (core/sharding/shard-map.ts `ShardMember`) placement reads; structural, so shard-map.ts can import this module. */
type ShardMember = { readonly name: string; readonly weight: number; readonly zone?: string };

/** The hash ring (default). */
export const HashStrategySchema = z.strictObject({ kind: z.literal("hash") });

/** One range of the `range` strategy: keys from `start` (inclusive) up to the next range's start. */
export const KeyRangeSchema = z.strictObject({
  /** First key of the range (inclusive); the first range starts at "". */
  start: z.string(),
  /** Shard owning the range (replicas follow it in the shard list). */
  shard: z.string().min(1),
});

/** Ordered key ranges → shard. */
export const RangeStrategySchema = z.strictObject({
  kind: z.literal("range"),
  /** Ranges in strictly increasing `start` order, the first starting at "" (so every key has one). */
  ranges: z.array(KeyRangeSchema).min(1),
});

/** Tenants pinned to shards; the other tenants hash. */
export const DirectoryStrategySchema = z.strictObject({
  kind: z.literal("directory"),
  /** A key's tenant is its text before the first separator. @default ":" */
  separator: z.string().min(1).max(8).default(":"),
  /** Pinned tenants: tenant → owning shard (the other replicas follow it in the shard list). @default {} */
  tenants: z.record(z.string().min(1), z.string().min(1)).default({}),
});

/** How keys are placed (a shard map's `strategy`; absent = hash). */
export const PlacementStrategySchema = z.discriminatedUnion("kind", [
  HashStrategySchema,
  RangeStrategySchema,
  DirectoryStrategySchema,
]);
export type PlacementStrategy = z.infer<typeof PlacementStrategySchema>;
export type RangeStrategy = z.infer<typeof RangeStrategySchema>;
export type DirectoryStrategy = z.infer<typeof DirectoryStrategySchema>;

/** A directory table: tenant → shard name (a directory strategy's `tenants`). */
export const ShardDirectorySchema = z.strictObject({
  tenants: z.record(z.string().min(1), z.string().min(1)),
});
export type ShardDirectory = z.infer<typeof ShardDirectorySchema>;

/** A range of keys `[start, end)` in code point order ({@link compareKeys}); no `end`: no upper bound. */
export interface KeyRange {
  readonly start: string;
  readonly end?: string;
}

/**
 * The keys of a tenant under a directory strategy: the key equal to the tenant (no separator) and
 * every key starting with tenant + separator. A tenant name holds no separator (the tenant of a
 * key is its text before the first one), so no other tenant's key is in these ranges.
 */
export function tenantKeyRanges(tenant: string, separator: string): KeyRange[] {
  const prefix = tenant + separator;
  const end = prefixEnd(prefix);
  // Keys hold no NUL (PostgreSQL text cannot): [tenant, tenant + U+0001) is the tenant itself.
  return [{ start: tenant, end: `${tenant}\u0001` }, end === undefined ? { start: prefix } : { start: prefix, end }];
}

/** Problems of a directory's pins against a shard list (empty when valid); paths relative to the strategy. */
export function directoryIssues(
  tenants: Readonly<Record<string, string>>,
  separator: string,
  shardNames: readonly string[],
): Array<{ path: (string | number)[]; message: string }> {
  const out: Array<{ path: (string | number)[]; message: string }> = [];
  for (const [tenant, shard] of Object.entries(tenants)) {
    if (!shardNames.includes(shard))
      out.push({
        path: ["tenants", tenant],
        message: `pins the tenant to shard ${JSON.stringify(shard)}, which is not in the shard map (${shardNames.join(", ")})`,
      });
    if (tenant.includes(separator))
      out.push({
        path: ["tenants", tenant],
        message: `must not contain the separator ${JSON.stringify(separator)} (a key's tenant is its text before the first one)`,
      });
  }
  return out;
}

/** What a placement needs of a shard map (or of a migration's old placement). */
export interface PlacementInput {
  readonly vnodesPerWeight: number;
  readonly replicationFactor: number;
  readonly shards: readonly Pick<ShardMember, "name" | "weight" | "zone">[];
}

/** A key, range or directory entry the placement cannot serve. */
export class PlacementError extends Error {
  constructor(
    readonly argument: string,
    message: string,
  ) {
    super(`${argument} ${message}`);
    this.name = "PlacementError";
  }
}

/**
 * Compares strings by Unicode code point (= UTF-8 byte order = PostgreSQL "C" collation order);
 * JS `<` compares UTF-16 code units, which puts U+E000..U+FFFF after the astral planes.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // surrogates (astral code points) sort above U+E000..U+FFFF
    if (x >= 0xd800) x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
    if (y >= 0xd800) y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    return x - y;
  }
  return a.length - b.length;
}

/**
 * The smallest string greater than every string starting with `prefix`, in code point order, or
 * undefined when there is none (the prefix is empty or all U+10FFFF). Scans by prefix query
 * `[prefix, prefixEnd(prefix))`.
 */
export function prefixEnd(prefix: string): string | undefined {
  const cps = Array.from(prefix, (c) => c.codePointAt(0)!);
  while (cps.length > 0) {
    const last = cps.pop()!;
    if (last < 0x10ffff) {
      let next = last + 1;
      if (next === 0xd800) next = 0xe000; // skip the surrogate block (not valid code points)
      return String.fromCodePoint(...cps, next);
    }
  }
  return undefined;
}

/** Problems of a range strategy against a shard list (empty when valid); paths relative to the strategy. */
export function rangeStrategyIssues(
  ranges: readonly { start: string; shard: string }[],
  shardNames: readonly string[],
): Array<{ path: (string | number)[]; message: string }> {
  const out: Array<{ path: (string | number)[]; message: string }> = [];
  const names = new Set(shardNames);
  if (ranges.length > 0 && ranges[0].start !== "")
    out.push({
      path: ["ranges", 0, "start"],
      message: `the first range must start at "" so every key has a range; got ${JSON.stringify(ranges[0].start)}`,
    });
  ranges.forEach((r, i) => {
    if (!names.has(r.shard))
      out.push({
        path: ["ranges", i, "shard"],
        message: `must name a shard of the map (${shardNames.join(", ")}); got ${JSON.stringify(r.shard)}`,
      });
    if (i > 0 && compareKeys(ranges[i - 1].start, r.start) >= 0)
      out.push({
        path: ["ranges", i, "start"],
        message: `must be greater than the previous range's start ${JSON.stringify(ranges[i - 1].start)}; got ${JSON.stringify(r.start)}`,
      });
  });
  return out;
}

/** Index of the range holding `key`: the last one whose start ≤ key (binary search). */
export function rangeIndexOf(ranges: readonly { start: string }[], key: string): number {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (compareKeys(ranges[mid].start, key) <= 0) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The tenant of a key under a directory strategy: the text before the first separator (the whole key without one). */
export function tenantOf(key: string, separator: string): string {
  const i = key.indexOf(separator);
  return i < 0 ? key : key.slice(0, i);
}

/**
 * `owner` then the next `n - 1` shards after it in list order (wrapping), taking first the shards
 * whose zone is not used yet, then the rest in order. Shards without a zone are zones of their own.
 */
export function successorReplicas(
  shards: readonly Pick<ShardMember, "name" | "zone">[],
  owner: string,
  n: number,
): string[] {
  const at = shards.findIndex((s) => s.name === owner);
  if (at < 0)
    throw new PlacementError(
      "owner",
      `must be a shard of the placement (${shards.map((s) => s.name).join(", ")}); got ${JSON.stringify(owner)}`,
    );
  if (!Number.isInteger(n) || n < 1 || n > shards.length)
    throw new PlacementError("n", `must be a whole number from 1 to ${shards.length}; got ${String(n)}`);
  const zoneOf = (s: Pick<ShardMember, "name" | "zone">) => s.zone ?? `\0${s.name}`;
  const order = Array.from({ length: shards.length }, (_, i) => shards[(at + i) % shards.length]);
  const picked = [order[0]];
  const zones = new Set([zoneOf(order[0])]);
  const later: typeof order = [];
  for (const s of order.slice(1)) {
    if (picked.length >= n) break;
    if (zones.has(zoneOf(s))) later.push(s);
    else {
      picked.push(s);
      zones.add(zoneOf(s));
    }
  }
  for (const s of later) if (picked.length < n) picked.push(s);
  return picked.slice(0, n).map((s) => s.name);
}

/** A placement built for one shard map epoch: the replicas of a key, and every replica set there is. */
export interface Placer {
  /** The strategy's kind. */
  readonly kind: PlacementStrategy["kind"];
  readonly replicationFactor: number;
  /** Shard names of the placement, in map order. */
  readonly shardNames: readonly string[];
  /** The replica set of `key`, owner first. @throws PlacementError for a directory pin to an unknown shard */
  replicas(key: string): string[];
  /**
   * Every distinct replica set a key can map to (each sorted by name). A scan is complete when
   * enough shards of every set answered.
   */
  replicaSets(): string[][];
  /**
   * The distinct replica sets (each sorted by name) a key in `[start, end)` can map to: a scan of
   * that range asks only their shards. A key range of the `range` strategy maps to the ranges it
   * overlaps; one inside a pinned tenant's keys to the tenant's set; anything else to every set.
   */
  scanSets(start: string, end: string | undefined): string[][];
}

const setKey = (names: readonly string[]) => [...names].sort().join("\0");

/** Whether `[start, end)` lies inside `[r.start, r.end)` (an undefined end is +∞). */
const within = (start: string, end: string | undefined, r: KeyRange): boolean =>
  compareKeys(start, r.start) >= 0 && (r.end === undefined || (end !== undefined && compareKeys(end, r.end) <= 0));

/**
 * Builds the placer of `input` under `strategy` (hash when undefined).
 * @throws PlacementError when a range or pin names a shard outside `input.shards`
 */
export function makePlacer(input: PlacementInput, strategy?: PlacementStrategy): Placer {
  const shardNames = input.shards.map((s) => s.name);
  const rf = input.replicationFactor;
  if (!Number.isInteger(rf) || rf < 1 || rf > shardNames.length)
    throw new PlacementError(
      "replicationFactor",
      `must be a whole number from 1 to the shard count (${shardNames.length}); got ${String(rf)}`,
    );
  let ring: Ring | undefined;
  const ringOf = () => (ring ??= buildRing(input.shards, input.vnodesPerWeight));
  const hashSets = () => {
    const seen = new Map<string, string[]>();
    for (const r of replicaRanges(ringOf(), rf)) seen.set(setKey(r.replicas), [...r.replicas].sort());
    return [...seen.values()];
  };
  const kind = strategy?.kind ?? "hash";

  if (strategy === undefined || strategy.kind === "hash") {
    return {
      kind,
      replicationFactor: rf,
      shardNames,
      replicas: (key) => replicasFor(ringOf(), key, rf),
      replicaSets: hashSets,
      scanSets: hashSets,
    };
  }

  if (strategy.kind === "range") {
    const issues = rangeStrategyIssues(strategy.ranges, shardNames);
    if (issues.length > 0) throw new PlacementError(`strategy.${issues[0].path.join(".")}`, issues[0].message);
    const sets = strategy.ranges.map((r) => successorReplicas(input.shards, r.shard, rf));
    const distinct = (xs: string[][]) => [...new Map(xs.map((s) => [setKey(s), [...s].sort()])).values()];
    return {
      kind,
      replicationFactor: rf,
      shardNames,
      replicas: (key) => [...sets[rangeIndexOf(strategy.ranges, key)]],
      replicaSets: () => distinct(sets),
      scanSets: (start, end) => {
        const first = rangeIndexOf(strategy.ranges, start);
        const last = end === undefined ? sets.length - 1 : rangeIndexOf(strategy.ranges, end);
        // `end` is exclusive: a range starting exactly at it holds none of the scanned keys.
        const stop = end !== undefined && last > first && strategy.ranges[last].start === end ? last - 1 : last;
        return distinct(sets.slice(first, stop + 1));
      },
    };
  }

  const sep = strategy.separator;
  const issues = directoryIssues(strategy.tenants, sep, shardNames);
  if (issues.length > 0) throw new PlacementError(`strategy.${issues[0].path.join(".")}`, issues[0].message);
  const pinned = new Map<string, string[]>();
  for (const [tenant, shard] of Object.entries(strategy.tenants))
    pinned.set(tenant, successorReplicas(input.shards, shard, rf));
  const all = () => {
    const sets = new Map(hashSets().map((s) => [setKey(s), s]));
    for (const s of pinned.values()) sets.set(setKey(s), [...s].sort());
    return [...sets.values()];
  };
  return {
    kind,
    replicationFactor: rf,
    shardNames,
    replicas: (key) => {
      const p = pinned.get(tenantOf(key, sep));
      return p ? [...p] : replicasFor(ringOf(), key, rf);
    },
    replicaSets: all,
    scanSets: (start, end) => {
      for (const [tenant, set] of pinned)
        if (tenantKeyRanges(tenant, sep).some((r) => within(start, end, r))) return [[...set].sort()];
      return all();
    },
  };
}
