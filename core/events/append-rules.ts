/**
 * The rules of an append: expected versions and idempotency by event id. Pure: the model the
 * shard's append function (runtime/event-store/sql.ts, PL/pgSQL, atomic under the stream's lock)
 * implements, and which the property tests compare it with on a real PostgreSQL.
 *
 * Versions: a stream's events are numbered 1, 2, 3, ...; its version is the number of its last
 * event (0 for a stream without events, which is also how a stream that does not exist reads).
 *
 * Expected version of an append:
 * - `"any"`: no check;
 * - `"none"`: the stream must have no events (version 0);
 * - `"exists"`: the stream must have at least one event;
 * - `n` (a whole number ≥ 0): the stream's version must be exactly `n` (0 = no events).
 *
 * Idempotency (EventStoreDB's rule): an append whose event ids are all already stored, in the
 * same stream, as one run of consecutive versions in the order given, and whose expected version
 * matches the version before that run (or is `"any"`, or `"exists"` when the run does not start
 * the stream), is a retry: it succeeds again with the same versions and writes nothing. Some but
 * not all ids stored, or stored elsewhere, or in another order, is a conflict (the caller reused
 * ids for different events). Ids must be distinct within one append. Ids are unique per shard
 * (a unique index there): a retry, which goes to the same stream, is always recognised; an id
 * reused in a stream on another shard is not seen.
 */
import { EventArgumentError } from "./errors";

/** What an append expects of the stream's version. */
export type ExpectedVersion = "any" | "none" | "exists" | number;

/** Most events one append may carry. */
export const MAX_EVENTS_PER_APPEND = 10_000;

/** A bad append argument; `argument` names it. */
export class AppendArgumentError extends EventArgumentError {}

/** Checks an expected version. @throws AppendArgumentError naming `expectedVersion` */
export function checkExpectedVersion(v: unknown): ExpectedVersion {
  if (v === "any" || v === "none" || v === "exists") return v;
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return v;
  throw new AppendArgumentError(
    "expectedVersion",
    `must be "any", "none", "exists" or a whole number ≥ 0 (the stream's current version); got ${JSON.stringify(v)}`,
  );
}

/**
 * The expected version as the append function takes it: -1 any, -2 none, -3 exists, n exact
 * (the same encoding on both sides of the wire).
 */
export function encodeExpectedVersion(v: ExpectedVersion): number {
  return v === "any" ? -1 : v === "none" ? -2 : v === "exists" ? -3 : v;
}

/** Inverse of {@link encodeExpectedVersion}. */
export function decodeExpectedVersion(n: number): ExpectedVersion {
  return n === -1 ? "any" : n === -2 ? "none" : n === -3 ? "exists" : n;
}

/** Whether `current` satisfies `expected`. */
export function versionMatches(expected: ExpectedVersion, current: number): boolean {
  if (expected === "any") return true;
  if (expected === "none") return current === 0;
  if (expected === "exists") return current > 0;
  return current === expected;
}

/** A stored event found for one of the append's ids. */
export interface StoredId {
  readonly id: string;
  readonly stream: string;
  readonly version: number;
}

/** The outcome of an append, as the model decides it. */
export type AppendDecision =
  /** Write the events as versions `first .. first + count - 1`. */
  | { kind: "append"; first: number }
  /** A retry of an append that already happened: the same versions, nothing written. */
  | { kind: "duplicate"; first: number }
  /** The stream's version does not satisfy the expected version. */
  | { kind: "wrong-version"; current: number }
  /** Some ids are stored, but not as this exact append. */
  | { kind: "id-conflict"; ids: string[] }
  /** The stream was deleted. */
  | { kind: "deleted" };

/**
 * Decides an append of `ids` (distinct, in order) to `stream`, whose version is `current`
 * (deleted when `deleted`), given the events already stored under any of the ids (`found`).
 */
export function decideAppend(
  stream: string,
  expected: ExpectedVersion,
  ids: readonly string[],
  current: number,
  deleted: boolean,
  found: readonly StoredId[],
): AppendDecision {
  if (deleted) return { kind: "deleted" };
  if (found.length > 0) {
    const byId = new Map(found.map((f) => [f.id, f]));
    const first = byId.get(ids[0]);
    const isRun =
      found.length === ids.length &&
      first !== undefined &&
      ids.every((id, i) => {
        const f = byId.get(id);
        return f !== undefined && f.stream === stream && f.version === first.version + i;
      });
    if (!isRun) return { kind: "id-conflict", ids: ids.filter((id) => byId.has(id)) };
    return versionMatches(expected, first.version - 1)
      ? { kind: "duplicate", first: first.version }
      : { kind: "wrong-version", current };
  }
  if (!versionMatches(expected, current)) return { kind: "wrong-version", current };
  return { kind: "append", first: current + 1 };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Checks the ids of an append: lower-case UUIDs, distinct, 1..MAX per append. @throws AppendArgumentError */
export function checkEventIds(ids: readonly string[], argument = "events"): void {
  if (!Array.isArray(ids) || ids.length === 0) throw new AppendArgumentError(argument, "must list at least one event");
  if (ids.length > MAX_EVENTS_PER_APPEND)
    throw new AppendArgumentError(argument, `must list at most ${MAX_EVENTS_PER_APPEND} events; got ${ids.length}`);
  const seen = new Set<string>();
  ids.forEach((id, i) => {
    if (typeof id !== "string" || !UUID.test(id))
      throw new AppendArgumentError(`${argument}[${i}].id`, `must be a lower-case UUID; got ${JSON.stringify(id)}`);
    if (seen.has(id))
      throw new AppendArgumentError(
        `${argument}[${i}].id`,
        `repeats an id of this append (${id}); ids must be distinct`,
      );
    seen.add(id);
  });
}
