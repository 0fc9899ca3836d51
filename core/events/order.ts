/**
 * Order of events across streams and shards: the hybrid-logical-clock stamps of events and the
 * merge of the shards' gap-free logs into one global read. Pure: no I/O.
 *
 * Stamps. Every event carries an HLC stamp `(wall, logical, node)` (core/sharding/hlc.ts): the
 * appending client's clock, raised inside the append (under the stream's lock) above the stream's
 * last stamp ({@link streamStamp}), and observed back by the client. So within a stream the
 * stamps strictly increase with the version, whatever the clients' physical clocks do, and a
 * client's later appends (to any stream) carry larger stamps than its earlier ones.
 *
 * Global read ({@link CausalMerge}). Each shard is read gap-free in its `(tx, seq)` order
 * (core/events/position.ts); the merge repeatedly takes, among the shards' next events, the one
 * with the smallest stamp whose dependencies are delivered. The guarantee, and nothing more:
 * - per-stream order, always: a stream lives on one shard, its versions appear in that shard's
 *   log in version order (the append takes the stream's lock before its transaction gets an id,
 *   so a later version always has a later position), and the merge never reorders a shard;
 * - causal order across streams written by one client: an append carries, as dependencies, the
 *   positions of the client's last acknowledged append on every other shard; an event is
 *   delivered only after everything up to those positions on those shards. A client's events
 *   therefore appear in the order the client appended them (each waited for the previous one).
 * Events without a causal relation are ordered by stamp only as far as the shards' logs allow:
 * the merge is not a total stamp sort (that would need waiting for the clocks' skew bound, a
 * timeout this design refuses).
 *
 * Dependencies are what the appending client knew, not what committed: one store serves many
 * concurrent writers, and an append inside a caller's transaction (`appendIn`) becomes the
 * store's dependency on its shard when the call returns, before the caller commits or rolls
 * back. So a dependency may point to a position that never appears (a rolled-back append; also a
 * deleted stream's event, which readers leave out). The merge therefore counts a dependency as
 * met once its shard's log has passed it: at or below the delivered frontier, or before the
 * shard's next queued event (the queue holds the shard's released rows read on from the
 * frontier, so nothing can appear between them). Counting it met only at the delivered frontier
 * deadlocked: a dependency on a rolled-back position between two shards' heads that depended on
 * each other's shard (the 10^6 acceptance run's subscription that never caught up).
 *
 * Why the merge cannot deadlock: a transaction gets its id inside the append call; a dependency
 * was recorded when an earlier call returned, so after that call's transaction got its id. If
 * every shard's head waited, follow "head h waits for a position p of shard S, whose head h' is
 * at or before p" around the cycle: h got its id after p's call returned, so after p got its id,
 * which was not before h' got its id (ids of one shard grow in time) ... back to h: h got its id
 * after itself.
 */
import { MAX_LOGICAL, compareVersions, hlcNow, type HlcTimestamp, type Version } from "../sharding/hlc";
import { comparePositions, type Position, type PositionVector } from "./position";

/** The next stamp after `t` (the smallest strictly greater timestamp). */
export function nextStamp(t: HlcTimestamp): HlcTimestamp {
  return hlcNow(t, 0);
}

/**
 * The stamp of the first event of an append: the client's clock reading, unless the stream's last
 * stamp is not older, then the stamp right after it. What the append function computes in SQL.
 */
export function streamStamp(client: HlcTimestamp, last: HlcTimestamp | undefined): HlcTimestamp {
  if (last === undefined) return { wall: client.wall, logical: client.logical };
  const after = nextStamp(last);
  return client.wall > after.wall || (client.wall === after.wall && client.logical >= after.logical)
    ? { wall: client.wall, logical: client.logical }
    : after;
}

/**
 * The stamps of an append of `count` events: `(wall, logical + i)` from {@link streamStamp}, the
 * whole run moved to `(wall + 1, 0)` when its counter would pass {@link MAX_LOGICAL} (the rule the
 * append function applies, so one append's stamps share a wall time).
 */
export function appendStamps(client: HlcTimestamp, last: HlcTimestamp | undefined, count: number): HlcTimestamp[] {
  let t = streamStamp(client, last);
  if (t.logical + count - 1 > MAX_LOGICAL) t = { wall: t.wall + 1, logical: 0 };
  return Array.from({ length: count }, (_, i) => ({ wall: t.wall, logical: t.logical + i }));
}

/** One event as the global merge sees it. */
export interface MergeItem {
  readonly shard: string;
  readonly position: Position;
  readonly stamp: Version;
  /** Positions on other shards that must be delivered first (the writer's earlier appends). */
  readonly deps?: PositionVector;
}

interface ShardQueue<T extends MergeItem> {
  items: T[];
  head: number;
  /** Everything at or below this position on the shard was delivered or does not exist. */
  frontier: Position;
  /** A completion bound recorded while events were queued: the frontier once they are out. */
  completeAt?: Position;
}

/**
 * The global merge of shard logs. Feed each shard's released events in order with
 * {@link CausalMerge.push}, tell it how far a shard is known complete with
 * {@link CausalMerge.complete} (its release bound once every released row was read), and take
 * events with {@link CausalMerge.next} until it returns undefined (then read more).
 */
export class CausalMerge<T extends MergeItem> {
  readonly #shards = new Map<string, ShardQueue<T>>();

  /** @param start - the position each shard's reading starts after (a checkpoint). */
  constructor(start: PositionVector = {}) {
    for (const [shard, p] of Object.entries(start)) this.#queue(shard).frontier = p;
  }

  #queue(shard: string): ShardQueue<T> {
    let q = this.#shards.get(shard);
    if (!q) this.#shards.set(shard, (q = { items: [], head: 0, frontier: { tx: 0n, seq: 0n } }));
    return q;
  }

  /** Appends released events of one shard, in its log order, after everything pushed before. */
  push(shard: string, items: readonly T[]): void {
    const q = this.#queue(shard);
    let last = q.items.length > q.head ? q.items[q.items.length - 1].position : q.frontier;
    for (const it of items) {
      if (it.shard !== shard) throw new Error(`CausalMerge.push: item of shard ${it.shard} pushed to ${shard}`);
      if (comparePositions(it.position, last) <= 0)
        throw new Error(
          `CausalMerge.push: shard ${shard} position ${it.position.tx}.${it.position.seq} is not after ${last.tx}.${last.seq}`,
        );
      last = it.position;
      q.items.push(it);
    }
  }

  /**
   * Records that shard `shard` holds nothing unread at or below `upTo` beyond what was pushed
   * (e.g. `(xmin - 1, max)` after a read that returned every released row): dependencies on
   * positions there are met once the pushed events are delivered.
   */
  complete(shard: string, upTo: Position): void {
    const q = this.#queue(shard);
    if (q.head < q.items.length) {
      // the frontier moves there only once the queued events are out
      if (q.completeAt === undefined || comparePositions(upTo, q.completeAt) > 0) q.completeAt = upTo;
      return;
    }
    if (comparePositions(upTo, q.frontier) > 0) q.frontier = upTo;
  }

  /** Events pushed and not yet delivered. */
  get buffered(): number {
    let n = 0;
    for (const q of this.#shards.values()) n += q.items.length - q.head;
    return n;
  }

  /** The delivered frontier of every shard (a checkpoint to resume from). */
  frontiers(): PositionVector {
    return Object.fromEntries([...this.#shards].map(([s, q]) => [s, q.frontier]));
  }

  /**
   * Whether everything at or below `p` on the shard of `q` was delivered or will never exist:
   * at or below the frontier, or before the queue's head (the queue holds the shard's released
   * rows read on from the frontier, so nothing unread lies between the frontier and the head;
   * a position there was rolled back or belongs to a deleted stream).
   */
  static #passed<T extends MergeItem>(q: ShardQueue<T>, p: Position): boolean {
    if (comparePositions(q.frontier, p) >= 0) return true;
    return q.head < q.items.length && comparePositions(q.items[q.head].position, p) > 0;
  }

  /** The first dependency of `it` not yet passed ({@link CausalMerge.#passed}), if any. */
  #unmet(it: T): { shard: string; position: Position } | undefined {
    if (!it.deps) return undefined;
    for (const [shard, p] of Object.entries(it.deps)) {
      if (shard === it.shard) continue;
      const q = this.#shards.get(shard);
      if (!q || !CausalMerge.#passed(q, p)) return { shard, position: p };
    }
    return undefined;
  }

  #depsMet(it: T): boolean {
    return this.#unmet(it) === undefined;
  }

  /**
   * Per shard: the delivered frontier, the events queued, and the queue's head with the
   * dependency it waits for (none when it is deliverable). What a stalled reader reports.
   */
  state(): Array<{
    shard: string;
    frontier: Position;
    buffered: number;
    head?: Position;
    waitsFor?: { shard: string; position: Position };
  }> {
    return [...this.#shards].map(([shard, q]) => {
      const it = q.head < q.items.length ? q.items[q.head] : undefined;
      const waitsFor = it && this.#unmet(it);
      return {
        shard,
        frontier: q.frontier,
        buffered: q.items.length - q.head,
        ...(it ? { head: it.position } : {}),
        ...(waitsFor ? { waitsFor } : {}),
      };
    });
  }

  /** The next deliverable event (smallest stamp among the shards' heads whose dependencies are met), or undefined. */
  next(): T | undefined {
    let best: { shard: string; q: ShardQueue<T>; it: T } | undefined;
    for (const [shard, q] of this.#shards) {
      if (q.head >= q.items.length) continue;
      const it = q.items[q.head];
      if (!this.#depsMet(it)) continue;
      if (
        !best ||
        compareVersions(it.stamp, best.it.stamp) < 0 ||
        (compareVersions(it.stamp, best.it.stamp) === 0 && shard < best.shard)
      )
        best = { shard, q, it };
    }
    if (!best) return undefined;
    const { q, it } = best;
    q.head++;
    q.frontier = it.position;
    if (q.head === q.items.length) {
      q.items = [];
      q.head = 0;
      if (q.completeAt !== undefined && comparePositions(q.completeAt, q.frontier) > 0) q.frontier = q.completeAt;
      q.completeAt = undefined;
    } else if (q.head > 4096) {
      q.items = q.items.slice(q.head);
      q.head = 0;
    }
    return it;
  }
}
