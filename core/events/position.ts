/**
 * Positions in a shard's event log, and the rule that makes a reader gap-free.
 *
 * Every event row records the PostgreSQL transaction that wrote it (`tx`, an `xid8` taken with
 * `pg_current_xact_id()`) and a per-shard sequence number (`seq`, from a sequence, increasing within
 * a transaction). A shard's log is ordered by the pair `(tx, seq)`.
 *
 * Why not the sequence alone (what Marten's daemon tracks, and how it lost events: issues 3321,
 * 4953): a sequence number is taken when the row is inserted, but the row becomes visible at
 * commit, and transactions commit in any order. A reader that advanced to the highest visible
 * number passed numbers held by transactions still in flight; when those committed, their events
 * lay behind the reader for good. Marten's remedies all decide "this gap is dead" after a
 * wall-clock threshold, which a slow commit beats.
 *
 * Here the decision comes from PostgreSQL's own transaction state: a reader takes, in the same
 * statement (the same snapshot) as the rows it reads, `pg_snapshot_xmin(pg_current_snapshot())`:
 * every transaction id below it has finished (committed or rolled back), and every transaction
 * that has not finished, or has not started yet, has an id ≥ it. So the rows with `tx < xmin` are
 * final: no row can ever appear among them again. The reader releases only those, in `(tx, seq)`
 * order, and never passes a transaction in flight, however long it stalls. Rolled-back
 * transactions leave no rows and no gap to wait for (a position is not a counter, so a missing
 * number means nothing). There is no timeout anywhere in that decision.
 *
 * The bound must come from the reader's own snapshot (or an earlier one), never a later one: a
 * transaction that commits between an earlier row read and a later xmin would lie below the
 * bound yet be missing from the rows (Marten 4953's "per-statement snapshot skew"). The release
 * query (runtime/event-store/sql.ts) computes both in one statement.
 *
 * Pure: types and comparisons, no I/O.
 */
import { EventArgumentError } from "./errors";

/** A position in one shard's log: the writing transaction and the event's sequence number. */
export interface Position {
  /** `xid8` of the transaction that appended the event (epoch-extended, never wraps). */
  readonly tx: bigint;
  /** Per-shard sequence number, increasing within a transaction. */
  readonly seq: bigint;
}

/** Before the first event of any shard. */
export const POSITION_ZERO: Position = Object.freeze({ tx: 0n, seq: 0n });

/** A bad position argument; `argument` names it. */
export class PositionError extends EventArgumentError {}

/** Compares two positions: negative, 0 or positive as `a` is before, at or after `b`. */
export function comparePositions(a: Position, b: Position): number {
  if (a.tx !== b.tx) return a.tx < b.tx ? -1 : 1;
  if (a.seq !== b.seq) return a.seq < b.seq ? -1 : 1;
  return 0;
}

/** The later of two positions. */
export function maxPosition(a: Position, b: Position): Position {
  return comparePositions(a, b) >= 0 ? a : b;
}

/** `"<tx>.<seq>"`: the text form used in checkpoints, dependencies and the CLI. */
export function formatPosition(p: Position): string {
  return `${p.tx}.${p.seq}`;
}

const POSITION_TEXT = /^(0|[1-9][0-9]{0,19})\.(0|[1-9][0-9]{0,19})$/;
const MAX_UINT64 = 2n ** 64n - 1n;

/**
 * Parses `"<tx>.<seq>"` (both unsigned 64-bit decimals).
 * @throws PositionError naming `argument`
 */
export function parsePosition(text: string, argument = "position"): Position {
  const m = typeof text === "string" ? POSITION_TEXT.exec(text) : null;
  if (!m) throw new PositionError(argument, `must be "<tx>.<seq>" (two whole numbers); got ${JSON.stringify(text)}`);
  const tx = BigInt(m[1]);
  const seq = BigInt(m[2]);
  if (tx > MAX_UINT64 || seq > MAX_UINT64)
    throw new PositionError(argument, `parts must fit 64 bits; got ${JSON.stringify(text)}`);
  return { tx, seq };
}

/** A position from the text columns PostgreSQL returns (`xid8` and `bigint` come back as text). */
export function positionOf(tx: string | bigint, seq: string | bigint): Position {
  return { tx: BigInt(tx), seq: BigInt(seq) };
}

/**
 * Whether a reader that has released everything up to `cursor`, and saw the release bound
 * `xmin`, may have missed nothing below it: true when every position below the bound was
 * delivered, i.e. the cursor is at the bound's transaction or the batch ended before it.
 * (Used by status reports: "caught up" means no released row remains unread.)
 */
export function caughtUp(cursor: Position, lastReleased: Position | undefined): boolean {
  return lastReleased === undefined || comparePositions(cursor, lastReleased) >= 0;
}

/** A checkpoint of a reader over several shards: one position per shard name. */
export type PositionVector = Readonly<Record<string, Position>>;

/** The vector with `shard` advanced to `p` (never moved back). */
export function advanceVector(v: PositionVector, shard: string, p: Position): PositionVector {
  const cur = v[shard] ?? POSITION_ZERO;
  return comparePositions(p, cur) > 0 ? { ...v, [shard]: p } : v;
}

/** `{shard: "tx.seq"}`: a vector's JSON form. */
export function formatVector(v: PositionVector): Record<string, string> {
  return Object.fromEntries(Object.entries(v).map(([k, p]) => [k, formatPosition(p)]));
}

/** Parses a vector's JSON form. @throws PositionError naming `argument.<shard>` */
export function parseVector(json: Record<string, string>, argument = "checkpoint"): PositionVector {
  if (typeof json !== "object" || json === null || Array.isArray(json))
    throw new PositionError(argument, `must be an object {shard: "tx.seq"}; got ${JSON.stringify(json)}`);
  return Object.fromEntries(Object.entries(json).map(([k, t]) => [k, parsePosition(t, `${argument}.${k}`)]));
}
