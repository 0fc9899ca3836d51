/**
 * The rebalance planner: from the placement before a shard change and the placement after it
 * (and the shards that do not answer), the set of hash-range moves, which replicas copy each range
 * from which old replicas, in what order and batches, or a refusal (before anything moves) when
 * the change could lose an acknowledged write. Pure: no I/O; runtime/rebalance and
 * providers/shard-rebalance execute the plan (docs/design/sharding.md).
 *
 * Why it is built on replica sets, not owners: a key lives on its `replicationFactor` replicas
 * (core/sharding/ring.ts `replicasForHash`), so a range must move when its replica SET changes,
 * even if its primary does not (a new shard can enter as second replica), and must not move when
 * only the order changes (every replica already holds it). Comparing the two rings' replica
 * ranges (`replicaRanges`, unions of whole partitions) range by range gives those ranges.
 *
 * The rule (what makes a plan safe). A write acknowledged under the old placement at consistency
 * level `L` is on at least `w = requiredAcks(L, rf)` of its `rf` old replicas, and may be missing
 * from the other `rf − w`: nothing says which. So:
 * - A copy reads `k = rf − w + 1` old replicas of the range (its target's own old rows count as
 *   one when it was an old replica) and merges them by version: any `k` replicas intersect every
 *   write quorum, so the target receives every acknowledged write. Reading one replica, as the
 *   planner did before, loses a write the other two acknowledged (quorum at rf 3). `k` is 1 at
 *   `all`, a majority's complement plus one at `quorum` (2 of 3), every replica at `one`.
 * - Every new replica of a range (in `to`, not in `from`) receives such a copy. An old replica that
 *   stays may itself lack up to `rf − w` of the writes; when the new placement's reads need more
 *   holders than the staying replicas guarantee (fewer replicas or a stronger level after the
 *   change: `rf' − r' + 1` holders for reads at `r'` to see a write, one at `one`), staying
 *   replicas are copied to as well, the fewest that reach it.
 * - A shard listed as dead (it does not answer) is never read. It may only be a leaving shard,
 *   and only where every copy still finds its `k` answering old replicas: otherwise the change is
 *   refused, naming the ranges and the shards; there is no override. A dead shard that stays or
 *   joins is refused too (bring it back, or remove it in the same change: replacing a failed
 *   shard is remove + add).
 *
 * Other refusals (`RebalanceError`, naming the argument): a shard name reused for another node
 * (another host, port or database: the name is the ring identity, so the planner would believe
 * the data is already there); a replication factor above the shard count; anything the ring
 * refuses (bad weights, etc.).
 */
import type { ConsistencyLevel } from "../config";
import { levelsOverlap, requiredAcks } from "./consistency";
import {
  compareKeys,
  directoryIssues,
  rangeIndexOf,
  rangeStrategyIssues,
  successorReplicas,
  tenantKeyRanges,
  type KeyRange,
  type PlacementStrategy,
  type RangeStrategy,
} from "./placement";
import { HASH_SPACE, RingError, buildRing, replicaRanges, type HashRange, type ReplicaRange, type Ring } from "./ring";
import type { ShardMember, ShardPlacement } from "./shard-map";

/** One side of a change: shards (with endpoints), ring setting, replication factor and consistency level. */
export type Placement = Pick<ShardPlacement, "vnodesPerWeight" | "replicationFactor" | "strategy"> & {
  readonly shards: readonly ShardMember[];
  /**
   * The map's consistency level: on `before`, the level the writes to be moved were acknowledged
   * at; on `after`, the level reads will use once the change is done.
   */
  readonly consistency: ConsistencyLevel;
};

/** What the planner knows besides the two placements. */
export interface PlanOptions {
  /** Shards that do not answer (the caller probes them); see the module header for what is allowed. @default [] */
  readonly dead?: readonly string[];
}

/** One copy of a range to a replica of the new placement. */
export interface RangeCopy {
  /** The range copied (the move's range). */
  readonly range: HashRange;
  /**
   * The old replicas the target reads, merged by version: answering ones, staying shards before
   * leaving ones, spread by the span each already sends. With the target's own old rows (when it
   * was an old replica) they are `rf − w + 1` old replicas: every write quorum is intersected.
   */
  readonly sources: readonly string[];
  /** The replica receiving the range: a new one, or a staying one the rule needs as a holder. */
  readonly target: string;
}

/**
 * A part of the rows whose replica set changes, or whose replicas must be completed (see the
 * header): a hash range, restricted under the range and directory strategies to some keys.
 */
export interface RangeMove extends HashRange {
  /** Only the keys in these ranges (a key range of the range strategy, or a tenant's keys). */
  readonly keys?: readonly KeyRange[];
  /** Not the keys in these ranges (tenants pinned before or after: their own moves carry them). */
  readonly exceptKeys?: readonly KeyRange[];
  /** What the move is when not a ring range, for messages (`keys ["a", "m")`, `tenant "acme"`). */
  readonly label?: string;
  /** The old replica list (primary first). */
  readonly from: readonly string[];
  /** The new replica list (primary first). */
  readonly to: readonly string[];
  /** One copy per target: every new replica, then staying replicas the rule needs, in `to` order. */
  readonly copies: readonly RangeCopy[];
}

/**
 * Which rows of a table a step of the rebalance works on: those whose ring hash lies in `ranges`,
 * whose key lies in one of `keys` (when given) and in none of `exceptKeys`.
 */
export interface RowSlice {
  /** Rows whose ring hash lies in one of these ranges (at least one). */
  readonly ranges: readonly HashRange[];
  /** And whose key lies in one of these (absent: any key). */
  readonly keys?: readonly KeyRange[];
  /** And whose key lies in none of these. */
  readonly exceptKeys?: readonly KeyRange[];
}

/**
 * The rows `shard` holds under a placement, as slices: the ring ranges of which it is a replica
 * (without pinned tenants' keys under the directory strategy), the pinned tenants whose replicas
 * include it, or the key ranges of the range strategy it is a replica of. What a sweep keeps.
 */
export function rowsHeldBy(p: Placement, shard: string): RowSlice[] {
  const whole: HashRange[] = [{ start: 0, end: HASH_SPACE }];
  const rf = p.replicationFactor;
  const st = p.strategy;
  if (st?.kind === "range")
    return st.ranges.flatMap((r, i) => {
      if (!successorReplicas(p.shards, r.shard, rf).includes(shard)) return [];
      const next = st.ranges[i + 1]?.start;
      return [{ ranges: whole, keys: [next === undefined ? { start: r.start } : { start: r.start, end: next }] }];
    });
  const ring = replicaRanges(buildRing(p.shards, p.vnodesPerWeight), rf)
    .filter((r) => r.replicas.includes(shard))
    .map(({ start, end }) => ({ start, end }));
  if (st?.kind !== "directory") return ring.length > 0 ? [{ ranges: ring }] : [];
  const pinned = Object.keys(st.tenants).flatMap((t) => tenantKeyRanges(t, st.separator));
  return [
    ...(ring.length > 0 ? [{ ranges: ring, ...(pinned.length > 0 ? { exceptKeys: pinned } : {}) }] : []),
    ...Object.entries(st.tenants)
      .filter(([, owner]) => successorReplicas(p.shards, owner, rf).includes(shard))
      .map(([t]) => ({ ranges: whole, keys: tenantKeyRanges(t, st.separator) })),
  ];
}

/** The plan of a shard change. */
export interface RebalancePlan {
  /**
   * What moves: the ring's hash ranges sorted by `start`, disjoint, each maximal; then the key-range
   * and tenant moves (range and directory strategies).
   */
  readonly moves: readonly RangeMove[];
  /** Shards only in the new placement, by name. */
  readonly added: readonly string[];
  /** Shards only in the old placement (they hold nothing once the plan is done), by name. */
  readonly removed: readonly string[];
  /** The dead shards the plan works around (leaving ones; never read). */
  readonly dead: readonly string[];
  /** Old replicas each copy reads together (its target's own rows included): `rf − w + 1` of the old placement. */
  readonly readQuorum: number;
  /** Share of the hash space whose ring placement moves, in `[0, 1]` (key-range and tenant moves not counted). */
  readonly movedShare: number;
  /** Ring hash space each shard receives, as a share of `2^32` (a range copied to it counts once). */
  readonly receivedShare: ReadonlyMap<string, number>;
  /** Hash space each shard sends as a copy source, as a share of `2^32`. */
  readonly sentShare: ReadonlyMap<string, number>;
}

/** A change the planner refuses; `argument` names the offending argument (e.g. `after.shards[2].port`). */
export class RebalanceError extends Error {
  /** The argument (path) that was refused. */
  readonly argument: string;
  /**
   * @param argument - the argument's path, e.g. `after.replicationFactor`
   * @param message - what is wrong and what would be accepted
   */
  constructor(argument: string, message: string) {
    super(`planRebalance: ${argument} ${message}`);
    this.name = "RebalanceError";
    this.argument = argument;
  }
}

const show = (v: unknown): string => {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
};

/**
 * Old replicas a copy must read together so that it meets every write quorum of the old
 * placement: `rf − requiredAcks(level, rf) + 1` (1 at `all`, 2 of 3 at `quorum`, all at `one`).
 * @throws RangeError as core/sharding/consistency.ts requiredAcks
 */
export function copyReadQuorum(level: ConsistencyLevel, replicationFactor: number): number {
  return replicationFactor - requiredAcks(level, replicationFactor) + 1;
}

/**
 * Replicas of a placement that must hold a write for every read at `level` to see it:
 * `rf − requiredAcks(level, rf) + 1` when reads and writes at `level` overlap; 1 otherwise (at
 * `one` nothing guarantees a read sees a write, only that the write is not lost).
 * @throws RangeError as core/sharding/consistency.ts requiredAcks
 */
export function holdersNeeded(level: ConsistencyLevel, replicationFactor: number): number {
  return levelsOverlap(level, level, replicationFactor)
    ? replicationFactor - requiredAcks(level, replicationFactor) + 1
    : 1;
}

/** The ring of one side, with ring and replication errors renamed to the side's arguments. */
function ringOf(side: "before" | "after", p: Placement): Ring {
  if (typeof p !== "object" || p === null)
    throw new RebalanceError(
      side,
      `must be a placement {shards, vnodesPerWeight, replicationFactor, consistency}; got ${show(p)}`,
    );
  let ring: Ring;
  try {
    ring = buildRing(p.shards, p.vnodesPerWeight);
  } catch (e) {
    if (!(e instanceof RingError)) throw e;
    const argument = `${side}.${e.argument.replace(/^nodes/, "shards")}`;
    throw new RebalanceError(argument, e.message.slice(e.message.indexOf(e.argument) + e.argument.length + 1));
  }
  const rf = p.replicationFactor;
  if (typeof rf !== "number" || !Number.isInteger(rf) || rf < 1 || rf > p.shards.length)
    throw new RebalanceError(
      `${side}.replicationFactor`,
      `must be a whole number from 1 to the shard count (${p.shards.length}): replicas live on distinct shards; got ${show(rf)}`,
    );
  try {
    requiredAcks(p.consistency, rf);
  } catch (e) {
    throw new RebalanceError(`${side}.consistency`, (e as Error).message.replace(/^requiredAcks: level /, ""));
  }
  return ring;
}

/** Refuses a name that names another node (host, port or database) after the change. */
function checkIdentities(before: Placement, after: Placement): void {
  const old = new Map(before.shards.map((s) => [s.name, s]));
  after.shards.forEach((s, i) => {
    const was = old.get(s.name);
    if (was === undefined) return;
    for (const field of ["host", "port", "database"] as const)
      if (was[field] !== s[field])
        throw new RebalanceError(
          `after.shards[${i}].${field}`,
          `must stay ${show(was[field])} for shard ${show(s.name)}; got ${show(s[field])}. A shard name is its ring identity and is never reused for another node: give the new node a new name (its data is copied to it), and remove the old one`,
        );
  });
}

/** Refuses dead shards that are unknown, or that stay or join (only leaving shards may be dead). */
function checkDead(before: Placement, after: Placement, dead: readonly string[]): Set<string> {
  const known = new Set(before.shards.map((s) => s.name));
  dead.forEach((name, i) => {
    if (!known.has(name) && !after.shards.some((s) => s.name === name))
      throw new RebalanceError(
        `options.dead[${i}]`,
        `must name a shard of the old or the new placement; got ${show(name)}`,
      );
  });
  const deadSet = new Set(dead);
  after.shards.forEach((s, i) => {
    if (deadSet.has(s.name))
      throw new RebalanceError(
        `after.shards[${i}]`,
        `names shard ${show(s.name)}, which does not answer: a shard that ${known.has(s.name) ? "stays" : "joins"} must answer (it receives copies and serves reads). Bring it back, or remove it in this change (a failed shard is replaced by removing it and adding a new one)`,
      );
  });
  return deadSet;
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((x) => b.includes(x));
const sameList = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((x, i) => b[i] === x);
const hex = (n: number): string => `0x${n.toString(16).padStart(8, "0")}`;

/**
 * The replicas of `to` that receive a copy: every new replica, then staying ones (in `to` order)
 * until the holders an acknowledged write is guaranteed to have in `to` reach `need`. A staying
 * replica that is not copied to may lack up to `miss` of the writes (they may be missing from any
 * `miss` old replicas), so copied ones plus `max(0, uncopied staying − miss)` are sure holders.
 */
function targetsOf(from: readonly string[], to: readonly string[], miss: number, need: number): string[] {
  const targets = to.filter((x) => !from.includes(x));
  const rest = to.filter((x) => from.includes(x));
  while (targets.length + Math.max(0, rest.length - miss) < need && rest.length > 0) targets.push(rest.shift()!);
  return targets;
}

/** Refuses a plan in which some copies cannot find enough answering old replicas. */
function refuseStarved(
  starved: readonly Pick<Region, "start" | "end" | "from" | "keys" | "label">[],
  dead: ReadonlySet<string>,
  before: Placement,
  k: number,
): never {
  const hashOnly = starved.filter((r) => r.keys === undefined);
  const span = hashOnly.reduce((s, r) => s + (r.end - r.start), 0);
  const first = starved[0];
  const silent = [...new Set(starved.flatMap((r) => r.from.filter((x) => dead.has(x))))].sort();
  const rf = before.replicationFactor;
  const what =
    hashOnly.length === starved.length
      ? `${starved.length} hash range(s) (${((100 * span) / HASH_SPACE).toFixed(2)} % of the keys`
      : `${starved.length} range(s) of keys (${hashOnly.length} of them ring ranges, ${((100 * span) / HASH_SPACE).toFixed(2)} % of the hash space`;
  const where = first.label ?? `[${hex(first.start)}, ${hex(first.end)})`;
  throw new RebalanceError(
    "options.dead",
    `leaves ${what}; e.g. ${where} held by ${first.from.join(", ")}) ` +
      `with fewer than ${k} answering old replicas: shard(s) ${silent.join(", ")} do not answer, and writes acknowledged at consistency ${before.consistency} ` +
      `(${requiredAcks(before.consistency, rf)} of ${rf}) may be on them only, so a copy must read ${k} old replicas (rf − w + 1). ` +
      `Bring back enough of ${silent.join(", ")} and run again; nothing has moved`,
  );
}

/** A part of the rows whose old and new replica lists are known: a hash range, restricted by keys. */
interface Region {
  start: number;
  end: number;
  /** Only keys in these ranges (a key range of the range strategy, or a tenant's keys). */
  keys?: readonly KeyRange[];
  /** Not the keys in these ranges (pinned tenants, moved by their own regions). */
  exceptKeys?: readonly KeyRange[];
  /** What the region is, for messages (absent: a hash range). */
  label?: string;
  from: readonly string[];
  to: readonly string[];
}

/**
 * The regions of two replica-range lists (each covering `[0, 2^32)` without gaps) for which
 * `moving(from, to)` holds, adjacent ones with the same lists merged; `a` or `b` may be one fixed
 * list over the whole space (a pinned tenant's replicas).
 */
function sweep(
  a: readonly ReplicaRange[],
  b: readonly ReplicaRange[],
  moving: (from: readonly string[], to: readonly string[]) => boolean,
  extra: Pick<Region, "keys" | "exceptKeys" | "label"> = {},
): Region[] {
  const out: Region[] = [];
  let i = 0;
  let j = 0;
  let start = 0;
  while (start < HASH_SPACE) {
    const ra = a[i];
    const rb = b[j];
    const end = Math.min(ra.end, rb.end);
    if (moving(ra.replicas, rb.replicas)) {
      const prev = out[out.length - 1];
      if (
        prev !== undefined &&
        prev.end === start &&
        sameList(prev.from, ra.replicas) &&
        sameList(prev.to, rb.replicas)
      )
        prev.end = end;
      else out.push({ start, end, ...extra, from: ra.replicas, to: rb.replicas });
    }
    start = end;
    if (ra.end === end) i++;
    if (rb.end === end) j++;
  }
  return out;
}

/** One fixed replica list over the whole hash space. */
const everywhere = (replicas: readonly string[]): ReplicaRange[] => [{ start: 0, end: HASH_SPACE, replicas }];

const kindOf = (p: Placement): PlacementStrategy["kind"] => p.strategy?.kind ?? "hash";

/** Refuses strategies that do not fit their placement, or a change the rebalancer does not make online. */
function checkStrategies(before: Placement, after: Placement): void {
  for (const [side, p] of [
    ["before", before],
    ["after", after],
  ] as const) {
    const names = p.shards.map((x) => x.name);
    const st = p.strategy;
    const issues =
      st?.kind === "range"
        ? rangeStrategyIssues(st.ranges, names)
        : st?.kind === "directory"
          ? directoryIssues(st.tenants, st.separator, names)
          : [];
    if (issues.length > 0) throw new RebalanceError(`${side}.strategy.${issues[0].path.join(".")}`, issues[0].message);
  }
  if ((kindOf(before) === "range") !== (kindOf(after) === "range"))
    throw new RebalanceError(
      "after.strategy.kind",
      `must stay ${JSON.stringify(kindOf(before))}${kindOf(before) === "range" ? "" : " or become hash/directory"}: moving every key between key-range placement and hash placement is not an online rebalance (it would copy the whole database at once); got ${JSON.stringify(kindOf(after))}. Keep the strategy, or migrate the data into a new database`,
    );
  if (
    before.strategy?.kind === "directory" &&
    after.strategy?.kind === "directory" &&
    before.strategy.separator !== after.strategy.separator
  )
    throw new RebalanceError(
      "after.strategy.separator",
      `must stay ${JSON.stringify(before.strategy.separator)}: it decides every key's tenant, so changing it would move tenants the directory does not name; got ${JSON.stringify(after.strategy.separator)}`,
    );
}

const showKeys = (r: KeyRange): string =>
  `keys [${JSON.stringify(r.start)}, ${r.end === undefined ? "∞" : JSON.stringify(r.end)})`;

/** The regions of a change between two key-range placements: the segments of both boundary lists. */
function rangeRegions(
  before: Placement & { strategy: RangeStrategy },
  after: Placement & { strategy: RangeStrategy },
  moving: (from: readonly string[], to: readonly string[]) => boolean,
): Region[] {
  const bounds = [...new Set([...before.strategy.ranges, ...after.strategy.ranges].map((r) => r.start))].sort(
    compareKeys,
  );
  const out: Region[] = [];
  bounds.forEach((lo, i) => {
    const hi = bounds[i + 1];
    const from = successorReplicas(
      before.shards,
      before.strategy.ranges[rangeIndexOf(before.strategy.ranges, lo)].shard,
      before.replicationFactor,
    );
    const to = successorReplicas(
      after.shards,
      after.strategy.ranges[rangeIndexOf(after.strategy.ranges, lo)].shard,
      after.replicationFactor,
    );
    if (!moving(from, to)) return;
    const prev = out[out.length - 1];
    if (prev && prev.keys?.[0].end === lo && sameList(prev.from, from) && sameList(prev.to, to)) {
      const keys: KeyRange[] = [
        hi === undefined ? { start: prev.keys[0].start } : { start: prev.keys[0].start, end: hi },
      ];
      prev.keys = keys;
      prev.label = showKeys(keys[0]);
      return;
    }
    const keys: KeyRange[] = [hi === undefined ? { start: lo } : { start: lo, end: hi }];
    out.push({ start: 0, end: HASH_SPACE, keys, label: showKeys(keys[0]), from, to });
  });
  return out;
}

/**
 * The regions of a change between hash or directory placements: the ring's ranges without the
 * keys of any tenant pinned before or after, then each such tenant's keys, from where it was
 * (its pinned replicas, or the old ring's) to where it goes.
 */
function hashRegions(
  before: Placement,
  after: Placement,
  a: readonly ReplicaRange[],
  b: readonly ReplicaRange[],
  moving: (from: readonly string[], to: readonly string[]) => boolean,
): Region[] {
  const pinsOf = (p: Placement) => (p.strategy?.kind === "directory" ? p.strategy.tenants : {});
  const sep =
    before.strategy?.kind === "directory"
      ? before.strategy.separator
      : after.strategy?.kind === "directory"
        ? after.strategy.separator
        : ":";
  const [oldPins, newPins] = [pinsOf(before), pinsOf(after)];
  const tenants = [...new Set([...Object.keys(oldPins), ...Object.keys(newPins)])].sort(compareKeys);
  const except = tenants.flatMap((t) => tenantKeyRanges(t, sep));
  const out = sweep(a, b, moving, except.length > 0 ? { exceptKeys: except } : {});
  for (const t of tenants) {
    const was =
      oldPins[t] === undefined ? a : everywhere(successorReplicas(before.shards, oldPins[t], before.replicationFactor));
    const goes =
      newPins[t] === undefined ? b : everywhere(successorReplicas(after.shards, newPins[t], after.replicationFactor));
    out.push(...sweep(was, goes, moving, { keys: tenantKeyRanges(t, sep), label: `tenant ${JSON.stringify(t)}` }));
  }
  return out;
}

/**
 * Plans a shard change: the regions to move (hash ranges; key ranges and tenants under the range
 * and directory strategies) and the copies that complete every replica of the new placement, or a
 * refusal (see the module header). `planRebalance(p, p)` has no moves.
 *
 * @param before - the current placement (a shard map's shards, vnodesPerWeight, replicationFactor, consistency, strategy)
 * @param after - the desired placement
 * @param options - the shards that do not answer
 * @throws RebalanceError naming the argument (`before.*`, `after.*`, `options.dead*`)
 */
export function planRebalance(before: Placement, after: Placement, options: PlanOptions = {}): RebalancePlan {
  const ringBefore = ringOf("before", before);
  const ringAfter = ringOf("after", after);
  checkIdentities(before, after);
  checkStrategies(before, after);
  const dead = checkDead(before, after, options.dead ?? []);

  const afterNames = new Set(after.shards.map((s) => s.name));
  const beforeNames = new Set(before.shards.map((s) => s.name));
  const removed = before.shards.map((s) => s.name).filter((n) => !afterNames.has(n));
  const added = after.shards.map((s) => s.name).filter((n) => !beforeNames.has(n));

  const k = copyReadQuorum(before.consistency, before.replicationFactor);
  const miss = before.replicationFactor - requiredAcks(before.consistency, before.replicationFactor);
  const need = holdersNeeded(after.consistency, after.replicationFactor);

  const targetsMemo = new Map<string, string[]>();
  const targetsFor = (from: readonly string[], to: readonly string[]) => {
    const key = `${from.join("\0")}\u0001${to.join("\0")}`;
    let t = targetsMemo.get(key);
    if (!t) targetsMemo.set(key, (t = targetsOf(from, to, miss, need)));
    return t;
  };
  const moving = (from: readonly string[], to: readonly string[]) =>
    !sameSet(from, to) || targetsFor(from, to).length > 0;

  const regions =
    before.strategy?.kind === "range" && after.strategy?.kind === "range"
      ? rangeRegions(
          before as Placement & { strategy: RangeStrategy },
          after as Placement & { strategy: RangeStrategy },
          moving,
        )
      : hashRegions(
          before,
          after,
          replicaRanges(ringBefore, before.replicationFactor),
          replicaRanges(ringAfter, after.replicationFactor),
          moving,
        );

  // Copies: per target, the answering old replicas it reads (its own old rows count as one).
  const sent = new Map<string, number>();
  const received = new Map<string, number>();
  const starved: Region[] = [];
  const moves: RangeMove[] = regions.map((m) => {
    const range: HashRange = Object.freeze({ start: m.start, end: m.end });
    // Shares count the ring's hash ranges; key-range and tenant moves are not shares of the ring.
    const span = m.keys === undefined ? m.end - m.start : 0;
    const copies = targetsFor(m.from, m.to).map((target) => {
      const wanted = k - (m.from.includes(target) ? 1 : 0);
      // Staying shards first (they answer until the end of the migration), then the least loaded.
      const candidates = m.from
        .filter((x) => x !== target && !dead.has(x))
        .sort(
          (x, y) => Number(!afterNames.has(x)) - Number(!afterNames.has(y)) || (sent.get(x) ?? 0) - (sent.get(y) ?? 0),
        );
      if (candidates.length < wanted && !starved.includes(m)) starved.push(m);
      const sources = Object.freeze(candidates.slice(0, wanted));
      for (const src of sources) sent.set(src, (sent.get(src) ?? 0) + span);
      if (span > 0) received.set(target, (received.get(target) ?? 0) + span);
      return Object.freeze({ range, sources, target });
    });
    return Object.freeze({
      start: m.start,
      end: m.end,
      ...(m.keys ? { keys: Object.freeze(m.keys) } : {}),
      ...(m.exceptKeys ? { exceptKeys: Object.freeze(m.exceptKeys) } : {}),
      ...(m.label ? { label: m.label } : {}),
      from: m.from,
      to: m.to,
      copies: Object.freeze(copies),
    });
  });
  if (starved.length > 0) refuseStarved(starved, dead, before, k);

  const share = (m: Map<string, number>) =>
    new Map(
      [...m]
        .filter(([, v]) => v > 0)
        .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
        .map(([key, v]) => [key, v / HASH_SPACE]),
    );
  return Object.freeze({
    moves: Object.freeze(moves),
    added: Object.freeze(added),
    removed: Object.freeze(removed),
    dead: Object.freeze([...dead].sort()),
    readQuorum: k,
    movedShare: moves.reduce((acc, m) => acc + (m.keys === undefined ? m.end - m.start : 0), 0) / HASH_SPACE,
    receivedShare: share(received),
    sentShare: share(sent),
  });
}

/**
 * Splits moves (in order) into consecutive batches of at most `maxRangesPerBatch` ranges: the unit
 * a rebalancer copies, verifies and records as done before the next (so a crash redoes at most one
 * batch). Every move lands in exactly one batch, order kept.
 *
 * @param maxRangesPerBatch - a whole number ≥ 1
 * @throws RebalanceError naming `maxRangesPerBatch`
 */
export function batches<T>(moves: readonly T[], maxRangesPerBatch: number): T[][] {
  if (typeof maxRangesPerBatch !== "number" || !Number.isInteger(maxRangesPerBatch) || maxRangesPerBatch < 1)
    throw new RebalanceError("maxRangesPerBatch", `must be a whole number ≥ 1; got ${show(maxRangesPerBatch)}`);
  const out: T[][] = [];
  for (let k = 0; k < moves.length; k += maxRangesPerBatch) out.push(moves.slice(k, k + maxRangesPerBatch));
  return out;
}
