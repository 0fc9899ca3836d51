/**
 * The rebalance planner: from the placement before a shard change and the placement after it,
 * the minimal set of hash-range moves, which replica copies each range from where, in what order
 * and batches, or a refusal (before anything moves) when the change could lose data. Pure: no
 * I/O; runtime/rebalance and providers/shard-rebalance execute the plan (docs/design/sharding.md).
 *
 * Why it is built on replica sets, not owners: a key lives on its `replicationFactor` replicas
 * (core/sharding/ring.ts `replicasForHash`), so a range must move when its replica SET changes, even if its
 * primary does not (a new shard can enter as second replica), and must not move when only the
 * order changes (every replica already holds it). Comparing the two rings' replica ranges
 * (`replicaRanges`, unions of whole partitions) range by range gives exactly those ranges; each
 * new replica of a range (in `to`, not in `from`) receives one copy, and nothing else is copied,
 * which is the minimum any plan can copy.
 *
 * When a change is refused (`RebalanceError`, naming the argument):
 * - Data loss. A source must stay reachable until cutover, and a shard leaving the set may be gone
 *   by then (Pulumi deletes it, a crash). So every range needs a surviving old replica: at least
 *   one of its old replicas still in the new shard set. A change removing every old replica of
 *   some range at once (e.g. ≥ replicationFactor shards, or the only shard at replication 1) is
 *   refused; do it in steps, or raise the replication factor first.
 * - A shard name reused for another node (another host, port or database): the name is the ring
 *   identity, so the planner would believe the data is already there.
 * - A replication factor above the shard count, or anything the ring refuses (bad weights, etc.).
 */
import { HASH_SPACE, RingError, buildRing, replicaRanges, type HashRange, type ReplicaRange, type Ring } from "./ring";
import type { ShardMember, ShardPlacement } from "./shard-map";

/** One side of a change: shards (with endpoints), ring setting and replication factor. */
export type Placement = Pick<ShardPlacement, "vnodesPerWeight" | "replicationFactor"> & {
  readonly shards: readonly ShardMember[];
};

/** One copy of a range to a new replica. */
export interface RangeCopy {
  /** The range copied (the move's range). */
  readonly range: HashRange;
  /**
   * The old replica to read from: one that stays in the new shard set (so it is reachable until
   * cutover); copies are spread over the surviving replicas by the span each already serves.
   */
  readonly source: string;
  /**
   * Every surviving old replica, `source` first: a copier that reconciles by version (rows
   * acknowledged at consistency `one` may sit on one replica only) reads them all.
   */
  readonly sources: readonly string[];
  /** The new replica receiving the range (it did not hold it before). */
  readonly target: string;
}

/** A hash range whose replica set changes. */
export interface RangeMove extends HashRange {
  /** The old replica list (primary first). */
  readonly from: readonly string[];
  /** The new replica list (primary first); as a set it differs from `from`. */
  readonly to: readonly string[];
  /** One copy per new replica (`to` minus `from`), in `to` order. */
  readonly copies: readonly RangeCopy[];
}

/** The plan of a shard change. */
export interface RebalancePlan {
  /** Ranges whose replica set changes, sorted by `start`, disjoint, each maximal. */
  readonly moves: readonly RangeMove[];
  /** Shards only in the new placement, by name. */
  readonly added: readonly string[];
  /** Shards only in the old placement (they hold nothing once the plan is done), by name. */
  readonly removed: readonly string[];
  /** Share of the hash space that moves (some replica changes), in `[0, 1]`. */
  readonly movedShare: number;
  /** Hash space each shard receives, as a share of `2^32` (a range copied to it counts once). */
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

/** The ring of one side, with ring and replication errors renamed to the side's arguments. */
function ringOf(side: "before" | "after", p: Placement): Ring {
  if (typeof p !== "object" || p === null)
    throw new RebalanceError(side, `must be a placement {shards, vnodesPerWeight, replicationFactor}; got ${show(p)}`);
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

const sameSet = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((x) => b.includes(x));
const sameList = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((x, i) => b[i] === x);
const hex = (n: number): string => `0x${n.toString(16).padStart(8, "0")}`;

/**
 * Plans a shard change: the ranges whose replica set changes and the copies that give every new
 * replica its ranges, or a refusal (see the module header). `planRebalance(p, p)` has no moves.
 *
 * @param before - the current placement (a shard map's shards, vnodesPerWeight, replicationFactor)
 * @param after - the desired placement
 * @throws RebalanceError naming the argument (`before.*`, `after.*`; `after.shards` for a change
 *   that would leave a range without a surviving replica)
 */
export function planRebalance(before: Placement, after: Placement): RebalancePlan {
  const ringBefore = ringOf("before", before);
  const ringAfter = ringOf("after", after);
  checkIdentities(before, after);

  const afterNames = new Set(after.shards.map((s) => s.name));
  const beforeNames = new Set(before.shards.map((s) => s.name));
  const removed = before.shards.map((s) => s.name).filter((n) => !afterNames.has(n));
  const added = after.shards.map((s) => s.name).filter((n) => !beforeNames.has(n));

  const a = replicaRanges(ringBefore, before.replicationFactor);
  const b = replicaRanges(ringAfter, after.replicationFactor);

  // Refuse first: every range of the old placement needs an old replica that stays.
  const lost = a.filter((r) => !r.replicas.some((x) => afterNames.has(x)));
  if (lost.length > 0) {
    const span = lost.reduce((s, r) => s + (r.end - r.start), 0);
    const first = lost[0];
    throw new RebalanceError(
      "after.shards",
      `removes every replica of ${lost.length} hash range(s) at once (${((100 * span) / HASH_SPACE).toFixed(2)} % of the keys; e.g. [${hex(first.start)}, ${hex(first.end)}) held only by ${first.replicas.join(", ")}): ` +
        `removing ${removed.join(", ")} at replicationFactor ${before.replicationFactor} would leave no surviving copy to read from. ` +
        `Remove fewer shards per change (at most replicationFactor − 1 = ${before.replicationFactor - 1} holding a common range), or raise replicationFactor first`,
    );
  }

  // Sweep both replica-range lists (each covers [0, 2^32) without gaps).
  const raw: { start: number; end: number; from: readonly string[]; to: readonly string[] }[] = [];
  let i = 0;
  let j = 0;
  let start = 0;
  while (start < HASH_SPACE) {
    const ra: ReplicaRange = a[i];
    const rb: ReplicaRange = b[j];
    const end = Math.min(ra.end, rb.end);
    if (!sameSet(ra.replicas, rb.replicas)) {
      const prev = raw[raw.length - 1];
      if (
        prev !== undefined &&
        prev.end === start &&
        sameList(prev.from, ra.replicas) &&
        sameList(prev.to, rb.replicas)
      )
        prev.end = end;
      else raw.push({ start, end, from: ra.replicas, to: rb.replicas });
    }
    start = end;
    if (ra.end === end) i++;
    if (rb.end === end) j++;
  }

  // Copies: one per new replica, from the surviving old replica that has sent the least so far.
  const sent = new Map<string, number>();
  const received = new Map<string, number>();
  const moves: RangeMove[] = raw.map((m) => {
    const range: HashRange = Object.freeze({ start: m.start, end: m.end });
    const span = m.end - m.start;
    const survivors = m.from.filter((x) => afterNames.has(x));
    const copies = m.to
      .filter((t) => !m.from.includes(t))
      .map((target) => {
        let source = survivors[0];
        for (const s of survivors) if ((sent.get(s) ?? 0) < (sent.get(source) ?? 0)) source = s;
        sent.set(source, (sent.get(source) ?? 0) + span);
        received.set(target, (received.get(target) ?? 0) + span);
        const sources = Object.freeze([source, ...survivors.filter((s) => s !== source)]);
        return Object.freeze({ range, source, sources, target });
      });
    return Object.freeze({ start: m.start, end: m.end, from: m.from, to: m.to, copies: Object.freeze(copies) });
  });

  const share = (m: Map<string, number>) =>
    new Map([...m].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)).map(([k, v]) => [k, v / HASH_SPACE]));
  return Object.freeze({
    moves: Object.freeze(moves),
    added: Object.freeze(added),
    removed: Object.freeze(removed),
    movedShare: moves.reduce((s, m) => s + (m.end - m.start), 0) / HASH_SPACE,
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
