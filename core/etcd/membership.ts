/**
 * Safe etcd membership changes, planned purely: from the current member list (as etcd's
 * MemberList reports it, plus the leader) and the desired member names to an ordered list of
 * steps, one member at a time, that never drops the cluster below a Raft quorum.
 *
 * Scale-out per member: add as learner (non-voting) → start it with `--initial-cluster-state
 * existing` → wait until it has caught up → promote to voter. Scale-in: followers first; the
 * leader last, after transferring leadership to a member that stays; each: remove from the
 * cluster → stop its container/instance.
 */
import { ETCD_MEMBER_COUNTS, etcdMemberArgs, quorum, type EtcdClusterSettings } from "./spec";

/** A member as the cluster reports it. */
export interface CurrentMember {
  /** etcd member ID (decimal string, as etcd3 returns it). */
  id: string;
  /** Member name (empty in etcd for a learner that has not started yet: pass the name it was added under). */
  name: string;
  isLeader: boolean;
  isLearner: boolean;
  /** Whether the member answers (status call succeeded). @default true */
  healthy?: boolean;
}

export type MembershipStep =
  | { kind: "addLearner"; name: string; votersAfter: number }
  | { kind: "start"; name: string; votersAfter: number }
  | { kind: "waitCaughtUp"; name: string; votersAfter: number }
  | { kind: "promote"; name: string; votersAfter: number }
  | { kind: "transferLeadership"; from: string; to: string; votersAfter: number }
  | { kind: "remove"; name: string; id: string; votersAfter: number }
  | { kind: "stop"; name: string; votersAfter: number };

/** Member counts a cluster may have (core/etcd/spec.ts; imported from there, not from core/config, so the serialized provider does not pull in zod). */
export const MEMBER_COUNTS: readonly number[] = ETCD_MEMBER_COUNTS;

/** A refused membership change; `message` says why and what is allowed. */
export class MembershipPlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MembershipPlanError";
  }
}

/** Refuses member counts other than 1, 3, 5, 7. */
export function assertMemberCount(n: number, what = "member count"): void {
  if (!MEMBER_COUNTS.includes(n))
    throw new MembershipPlanError(
      `${what} must be one of ${MEMBER_COUNTS.join(", ")} (an even count adds a member without adding fault tolerance); got ${n}`,
    );
}

interface SimMember {
  name: string;
  voter: boolean;
  healthy: boolean;
}

/**
 * The steps that take the cluster from `current` to exactly the members named `desired`.
 * Throws {@link MembershipPlanError} for an even/invalid target, duplicate names, an empty current
 * cluster (that is a bootstrap, not a change), a cluster without quorum now, or any step that
 * would leave fewer healthy voters than a quorum.
 */
export function planMembershipChange(current: readonly CurrentMember[], desired: readonly string[]): MembershipStep[] {
  assertMemberCount(desired.length, "target member count");
  if (new Set(desired).size !== desired.length)
    throw new MembershipPlanError(`desired member names must be unique; got ${desired.join(", ")}`);
  if (current.length === 0)
    throw new MembershipPlanError(
      "the cluster has no members: a new cluster is bootstrapped, not changed member by member",
    );
  const names = current.map((m) => m.name);
  if (names.some((n) => n === ""))
    throw new MembershipPlanError(
      "every current member needs a name (pass the name a not-yet-started learner was added under)",
    );
  if (new Set(names).size !== names.length)
    throw new MembershipPlanError(`current member names must be unique; got ${names.join(", ")}`);
  const leaders = current.filter((m) => m.isLeader);
  if (leaders.length !== 1)
    throw new MembershipPlanError(
      `the cluster must have exactly one leader to change membership; it reports ${leaders.length}`,
    );

  const sim: SimMember[] = current.map((m) => ({ name: m.name, voter: !m.isLearner, healthy: m.healthy ?? true }));
  const voters = () => sim.filter((m) => m.voter);
  const check = (after: string) => {
    const v = voters();
    const healthy = v.filter((m) => m.healthy).length;
    if (v.length === 0 || healthy < quorum(v.length))
      throw new MembershipPlanError(
        `${after} would leave ${healthy} healthy of ${v.length} voting members, below the quorum of ${quorum(Math.max(v.length, 1))}; refusing (restore the unhealthy members first)`,
      );
  };
  check("the current cluster");

  const steps: MembershipStep[] = [];
  const desiredSet = new Set(desired);
  const byName = new Map(current.map((m) => [m.name, m]));
  let leader = leaders[0].name;

  // 1. Members to add (or learners left over from an interrupted change to finish), one at a time.
  for (const name of desired) {
    const existing = byName.get(name);
    if (existing && !existing.isLearner) continue;
    if (!existing) {
      sim.push({ name, voter: false, healthy: true });
      steps.push({ kind: "addLearner", name, votersAfter: voters().length });
    }
    steps.push({ kind: "start", name, votersAfter: voters().length });
    steps.push({ kind: "waitCaughtUp", name, votersAfter: voters().length });
    const m = sim.find((s) => s.name === name)!;
    m.voter = true;
    m.healthy = true;
    check(`promoting ${name}`);
    steps.push({ kind: "promote", name, votersAfter: voters().length });
  }

  // 2. Members to remove: learners, then followers (unhealthy first, highest name first), leader last.
  const order = (a: CurrentMember, b: CurrentMember) =>
    Number(a.isLearner ? 0 : 1) - Number(b.isLearner ? 0 : 1) ||
    Number(a.healthy ?? true) - Number(b.healthy ?? true) ||
    b.name.localeCompare(a.name, "en", { numeric: true });
  const leaving = current.filter((m) => !desiredSet.has(m.name)).sort(order);
  const followers = leaving.filter((m) => m.name !== leader);
  const leaderLeaving = leaving.find((m) => m.name === leader);
  for (const m of leaderLeaving ? [...followers, leaderLeaving] : followers) {
    if (m.name === leader) {
      const to = desired.find((n) => sim.find((s) => s.name === n && s.voter && s.healthy));
      if (!to) throw new MembershipPlanError(`no healthy voting member left to take over leadership from ${leader}`);
      steps.push({ kind: "transferLeadership", from: leader, to, votersAfter: voters().length });
      leader = to;
    }
    const idx = sim.findIndex((s) => s.name === m.name);
    sim.splice(idx, 1);
    check(`removing ${m.name}`);
    steps.push({ kind: "remove", name: m.name, id: m.id, votersAfter: voters().length });
    steps.push({ kind: "stop", name: m.name, votersAfter: voters().length });
  }
  return steps;
}

/** One line per step, for logs and diff output. */
export function describeStep(s: MembershipStep): string {
  switch (s.kind) {
    case "addLearner":
      return `add ${s.name} as learner`;
    case "start":
      return `start ${s.name} (initial-cluster-state existing)`;
    case "waitCaughtUp":
      return `wait until ${s.name} has caught up`;
    case "promote":
      return `promote ${s.name} to voter (${s.votersAfter} voters)`;
    case "transferLeadership":
      return `transfer leadership ${s.from} → ${s.to}`;
    case "remove":
      return `remove ${s.name} (${s.votersAfter} voters)`;
    case "stop":
      return `stop ${s.name}`;
  }
}

/** One member as the EtcdMembership provider receives it. */
export interface MembershipMemberInput {
  name: string;
  /** Host peers and clients reach it at (container name on the cluster network). */
  host: string;
  /** 127.0.0.1 port its client port is published on. */
  hostPort: number;
  /** The member's flags for a new cluster of exactly these members (core/etcd/spec.ts). */
  args: string[];
}

/** The non-secret description of a cluster the EtcdMembership provider runs. */
export interface MembershipSpec {
  clusterName: string;
  settings: EtcdClusterSettings;
  image: string;
  etcdBinary: string;
  network: string;
  members: MembershipMemberInput[];
  labels: Record<string, string>;
}

/** A bad provider input: the property path and why. */
export interface InputFailure {
  property: string;
  reason: string;
}

/** Fields that cannot change on a running cluster (changing them means a new cluster). */
export const IMMUTABLE_FIELDS = ["clusterName", "network", "settings", "image", "etcdBinary"] as const;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const json = (v: unknown) => JSON.stringify(v);

/**
 * Validates the provider's inputs: types, an odd member count, unique names/hosts/ports, and flags
 * equal to what core/etcd/spec.ts builds (so every member runs the shared builder's command line).
 * With `olds` (a running cluster), also refuses changes to {@link IMMUTABLE_FIELDS} and to a kept
 * member's host or port.
 */
export function validateMembershipSpec(raw: unknown, olds?: Partial<MembershipSpec>): InputFailure[] {
  const f: InputFailure[] = [];
  if (!isObj(raw)) return [{ property: "", reason: "inputs must be an object" }];
  for (const k of ["clusterName", "image", "etcdBinary", "network"] as const)
    if (typeof raw[k] !== "string" || raw[k] === "")
      f.push({ property: k, reason: `must be a non-empty string; got ${json(raw[k])}` });
  const s = raw.settings;
  if (!isObj(s)) f.push({ property: "settings", reason: "must be the cluster settings object from core/etcd/spec.ts" });
  else {
    for (const k of ["clientPort", "peerPort", "heartbeatIntervalMs", "electionTimeoutMs"])
      if (typeof s[k] !== "number" || !Number.isInteger(s[k]) || (s[k] as number) < 1)
        f.push({ property: `settings.${k}`, reason: `must be a positive whole number; got ${json(s[k])}` });
    if (typeof s.tls !== "boolean")
      f.push({ property: "settings.tls", reason: `must be true or false; got ${json(s.tls)}` });
    if (s.clusterName !== raw.clusterName)
      f.push({
        property: "settings.clusterName",
        reason: `must equal clusterName (${json(raw.clusterName)}); got ${json(s.clusterName)}`,
      });
  }
  if (raw.labels !== undefined && (!isObj(raw.labels) || Object.values(raw.labels).some((v) => typeof v !== "string")))
    f.push({ property: "labels", reason: "must map label names to strings" });
  const members = raw.members;
  if (!Array.isArray(members))
    return [...f, { property: "members", reason: "must be a list of {name, host, hostPort, args}" }];
  if (!MEMBER_COUNTS.includes(members.length))
    f.push({
      property: "members",
      reason: `must list 1, 3, 5 or 7 members (an even count adds a member without adding fault tolerance); got ${members.length}`,
    });
  const seen = { name: new Set<unknown>(), host: new Set<unknown>(), hostPort: new Set<unknown>() };
  members.forEach((m, i) => {
    if (!isObj(m)) {
      f.push({ property: `members[${i}]`, reason: "must be {name, host, hostPort, args}" });
      return;
    }
    for (const k of ["name", "host"] as const)
      if (typeof m[k] !== "string" || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(m[k] as string))
        f.push({ property: `members[${i}].${k}`, reason: `must be a lowercase DNS name; got ${json(m[k])}` });
    if (typeof m.hostPort !== "number" || !Number.isInteger(m.hostPort) || m.hostPort < 1024 || m.hostPort > 65535)
      f.push({
        property: `members[${i}].hostPort`,
        reason: `must be a port from 1024 to 65535; got ${json(m.hostPort)}`,
      });
    for (const k of ["name", "host", "hostPort"] as const) {
      if (seen[k].has(m[k]))
        f.push({ property: `members[${i}].${k}`, reason: `must be unique; ${json(m[k])} appears twice` });
      seen[k].add(m[k]);
    }
    if (!Array.isArray(m.args) || m.args.some((a) => typeof a !== "string"))
      f.push({ property: `members[${i}].args`, reason: "must be a list of strings" });
  });
  if (f.length === 0) {
    const spec = raw as unknown as MembershipSpec;
    const ids = spec.members.map((m) => ({ name: m.name, host: m.host }));
    spec.members.forEach((m, i) => {
      const want = etcdMemberArgs(spec.settings, m, ids, "new");
      if (json(want) !== json(m.args))
        f.push({
          property: `members[${i}].args`,
          reason: `must be the flags core/etcd/spec.ts etcdMemberArgs builds for this member: ${want.join(" ")}`,
        });
    });
    if (olds && Array.isArray(olds.members) && olds.members.length > 0) {
      for (const k of IMMUTABLE_FIELDS)
        if (olds[k] !== undefined && json(olds[k]) !== json(spec[k]))
          f.push({
            property: k,
            reason: `cannot change on a running cluster (${json(olds[k])} → ${json(spec[k])}); create a new cluster under another name and migrate`,
          });
      for (const [i, m] of spec.members.entries()) {
        const old = olds.members.find((o) => o.name === m.name);
        if (old && (old.host !== m.host || old.hostPort !== m.hostPort))
          f.push({
            property: `members[${i}]`,
            reason: `member ${m.name} cannot move (host/port ${old.host}:${old.hostPort} → ${m.host}:${m.hostPort}); remove it and add a member under a new name`,
          });
      }
    }
  }
  return f;
}

/** What an update changes, member by member. */
export interface MembershipDiff {
  /** Top-level input keys whose value differs. */
  changedKeys: string[];
  added: string[];
  removed: string[];
}

/** Compares the old state with new inputs (pure; the provider's diff reports it). */
export function membershipDiff(
  olds: Partial<MembershipSpec> & Record<string, unknown>,
  news: MembershipSpec & Record<string, unknown>,
): MembershipDiff {
  const keys = [...new Set([...Object.keys(news), ...IMMUTABLE_FIELDS, "members", "labels"])].filter(
    (k) => !k.startsWith("__") && k !== "tls",
  );
  const changedKeys = keys.filter((k) => k in news && json(olds[k]) !== json(news[k])).sort();
  const oldNames = new Set((olds.members ?? []).map((m) => m.name));
  const newNames = new Set(news.members.map((m) => m.name));
  return {
    changedKeys,
    added: [...newNames].filter((n) => !oldNames.has(n)),
    removed: [...oldNames].filter((n) => !newNames.has(n)),
  };
}
