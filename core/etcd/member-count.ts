/**
 * Member-count lock: which changes of an existing etcd cluster a target without a safe membership
 * protocol must refuse. On `aws` (fixed-IP instances) and `kubernetes` (StatefulSet), a new member
 * would start with `--initial-cluster-state new` (a second, split cluster) and a dropped member
 * would stay a voter in Raft; so the member count and the cluster name of a created cluster are
 * frozen there. Target `docker` changes membership one member at a time (EtcdMembership). Pure.
 *
 * The count a change is measured against is the lock's own record when it has one; a lock without a
 * record (its first `up`: a new cluster, or a cluster deployed before the lock existed) uses the
 * count deployed now, found by the component (`deployedMembers`: on aws the member instances, on
 * kubernetes the members among the endpoints the stack's last update published). Without that, a
 * cluster deployed before the lock could change its count in the lock's first `up`.
 * A lost member does not block its repair: once recorded, the record decides, not the instances.
 */
import { ETCD_MEMBER_COUNTS } from "./spec";

/** Targets whose member count can change on a running cluster. */
export const MEMBER_COUNT_CHANGE_TARGETS: readonly string[] = ["docker"];

/** What the lock records about a cluster. */
export interface MemberCountLockState {
  /** etcd cluster name (initial cluster token). */
  clusterName: string;
  /** Deployment target (`aws`, `kubernetes`). */
  target: string;
  /** Member count the cluster was created with. */
  members: number;
}

/** What the lock is given: its record plus the count deployed now, when the target can look it up. */
export interface MemberCountLockInputs extends MemberCountLockState {
  /**
   * Members deployed now (0: none), found at deploy time; only consulted while the lock has no
   * record. Absent when the component was given no source for it (kubernetes without the previous
   * deployment's endpoints) or unknown (a preview).
   */
  deployedMembers?: number;
}

/** A refused input, as a dynamic provider's check reports it. */
export interface MemberCountLockFailure {
  property: string;
  reason: string;
}

const json = (v: unknown) => JSON.stringify(v);

/** The "keep the count" advice; a deployed count that no cluster can have means a member was lost. */
const keep = (from: number, recorded: boolean): string =>
  recorded || (ETCD_MEMBER_COUNTS as readonly number[]).includes(from)
    ? `keep configService.members = ${from}`
    : `if a member's instance was lost (${from} are deployed now, not a possible cluster size), restore it first`;

/**
 * The failures of `news` ({@link MemberCountLockInputs}) given the recorded `olds` (empty on first
 * creation): malformed inputs, a changed member count (against the record, else against
 * `news.deployedMembers`), a changed cluster name. `[]` means the inputs are accepted.
 */
export function memberCountLockFailures(
  olds: Record<string, unknown>,
  news: Record<string, unknown>,
): MemberCountLockFailure[] {
  const f: MemberCountLockFailure[] = [];
  if (typeof news.clusterName !== "string" || news.clusterName.length === 0)
    f.push({
      property: "clusterName",
      reason: `must be the etcd cluster name (a non-empty string); got ${json(news.clusterName)}`,
    });
  if (typeof news.target !== "string" || news.target.length === 0)
    f.push({ property: "target", reason: `must be the deployment target; got ${json(news.target)}` });
  if (!(ETCD_MEMBER_COUNTS as readonly unknown[]).includes(news.members))
    f.push({
      property: "members",
      reason: `configService.members must be ${ETCD_MEMBER_COUNTS.join(", ")}; got ${json(news.members)}`,
    });
  // Any other value is "not known": a preview's unknown Output reaches check as Pulumi's unknown marker string.
  const deployed = news.deployedMembers;
  if (typeof deployed === "number" && !(Number.isInteger(deployed) && deployed >= 0))
    f.push({
      property: "deployedMembers",
      reason: `must be the number of members deployed now (an integer >= 0); got ${json(deployed)}`,
    });
  if (f.length > 0) return f;
  const target = news.target as string;
  const allowed = MEMBER_COUNT_CHANGE_TARGETS.join(", ");
  // The record decides once there is one; before, the members deployed now (0: a new cluster).
  const recorded = typeof olds.members === "number";
  const from = recorded
    ? (olds.members as number)
    : typeof deployed === "number" && deployed > 0
      ? deployed
      : undefined;
  if (from !== undefined && from !== news.members)
    f.push({
      property: "members",
      reason:
        `configService.members cannot change from ${from}${recorded ? "" : " (the members deployed now)"} to ${json(news.members)} on target ${target}: new members would bootstrap a second cluster ` +
        `(--initial-cluster-state new) and removed members would stay voters in Raft, risking data loss. Member-count changes are supported on target ${allowed}; ` +
        `on ${target} create a new cluster (another configService.name) and migrate the data, or ${keep(from, recorded)}. Nothing was changed.`,
    });
  if (typeof olds.clusterName === "string" && olds.clusterName.length > 0 && olds.clusterName !== news.clusterName)
    f.push({
      property: "clusterName",
      reason:
        `the etcd cluster name cannot change from ${json(olds.clusterName)} to ${json(news.clusterName)} on target ${target} (configService.name and the stack name ` +
        `make it; it is the initial cluster token the running members were started with). Create the new cluster next to the old one and migrate, or keep configService.name. Nothing was changed.`,
    });
  return f;
}
