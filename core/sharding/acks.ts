/**
 * The router's acknowledgement arithmetic (pure): which replica groups an operation must satisfy,
 * whether the replies so far satisfy them (or never can), which reply is the newest and which
 * replicas a read should repair.
 *
 * A group is a replica set with the number of replies it needs (core/sharding/consistency.ts
 * requiredAcks). A plain read or write has one group; a write during a migration has two (the old
 * and the new replica set, docs/design/sharding.md: the level must be met in both); a scan has
 * one per distinct replica set of the placement. A shard that is in several groups counts for
 * each.
 */
import type { ConsistencyLevel } from "../config";
import { requiredAcks } from "./consistency";
import { compareStored, type StoredVersion } from "./hlc";

/** A replica set and the replies it needs. */
export interface AckGroup {
  /** Shard names of the set (distinct). */
  readonly shards: readonly string[];
  /** Replies needed from the set: 1 ≤ required ≤ shards.length. */
  readonly required: number;
}

/** Where an operation stands: enough replies, not yet, or never (too many of a group failed). */
export type AckStatus = "met" | "pending" | "unreachable";

/** A group needing `level` of the replicas `shards` (rf = their count). */
export function ackGroup(level: ConsistencyLevel, shards: readonly string[]): AckGroup {
  if (new Set(shards).size !== shards.length)
    throw new RangeError(`ackGroup: shards must be distinct; got ${shards.join(", ")}`);
  return { shards: [...shards], required: requiredAcks(level, shards.length) };
}

/**
 * The groups of a write: the key's replicas in the current placement and, during a migration,
 * also in the old one (both must meet `level`).
 */
export function writeGroups(
  level: ConsistencyLevel,
  replicas: readonly string[],
  oldReplicas?: readonly string[],
): AckGroup[] {
  const groups = [ackGroup(level, replicas)];
  if (oldReplicas !== undefined) groups.push(ackGroup(level, oldReplicas));
  return groups;
}

/** Every shard of the groups, once, in first-seen order: where the operation is sent. */
export function targetsOf(groups: readonly AckGroup[]): string[] {
  return [...new Set(groups.flatMap((g) => g.shards))];
}

/**
 * Whether the replies satisfy every group (`met`), some group can no longer be satisfied because
 * more than `shards − required` of its shards failed (`unreachable`), or neither yet (`pending`).
 * `unreachable` wins over `met`: it is decided only from failures, and once a group is met its
 * failures cannot exceed its tolerance.
 */
export function ackStatus(
  groups: readonly AckGroup[],
  acked: ReadonlySet<string>,
  failed: ReadonlySet<string>,
): AckStatus {
  let met = true;
  for (const g of groups) {
    let ok = 0;
    let bad = 0;
    for (const s of g.shards) {
      if (acked.has(s)) ok++;
      else if (failed.has(s)) bad++;
    }
    if (g.shards.length - bad < g.required) return "unreachable";
    if (ok < g.required) met = false;
  }
  return met ? "met" : "pending";
}

/** The groups that are not met (for error messages): shards, required, and how many answered. */
export function unmetGroups(
  groups: readonly AckGroup[],
  acked: ReadonlySet<string>,
): Array<AckGroup & { acked: number }> {
  return groups
    .map((g) => ({ ...g, acked: g.shards.filter((s) => acked.has(s)).length }))
    .filter((g) => g.acked < g.required);
}

/** One replica's answer to a read: its row version (with its value text), or undefined when it holds no row for the key. */
export interface ReplicaReply<V extends StoredVersion = StoredVersion> {
  readonly shard: string;
  readonly version: V | undefined;
}

/** The newest version among the replies, by version then value (undefined when no replica holds the key). */
export function newestReply<V extends StoredVersion>(replies: readonly ReplicaReply<V>[]): V | undefined {
  let best: V | undefined;
  for (const r of replies)
    if (r.version !== undefined && (best === undefined || compareStored(r.version, best) > 0)) best = r.version;
  return best;
}

/**
 * The replicas to repair after a read: those that answered with an older row (by version, then
 * value) or none while `newest` exists. Replicas that did not answer are not listed (their state
 * is unknown).
 */
export function staleReplicas(replies: readonly ReplicaReply[], newest: StoredVersion | undefined): string[] {
  if (newest === undefined) return [];
  return replies.filter((r) => r.version === undefined || compareStored(r.version, newest) < 0).map((r) => r.shard);
}

/**
 * What a read that saw replicas disagree must still write before it returns, so that no later
 * read can return an older row (monotonic reads, Cassandra's blocking read repair): the write
 * groups of the key (at the read's level, both replica sets during a migration) that `holders`
 * (replicas known to hold the newest row) do not meet yet, and the replicas to write it to: every
 * replica of those groups that does not hold it. Empty when the holders already meet every group.
 */
export function blockingRepairTargets(groups: readonly AckGroup[], holders: ReadonlySet<string>): string[] {
  const short = groups.filter((g) => g.shards.filter((s) => holders.has(s)).length < g.required);
  return targetsOf(short).filter((s) => !holders.has(s));
}
