/**
 * Reconciling an etcd cluster on Docker from what is really there, planned purely.
 *
 * Why: a membership change can be cut at any step (the provider process killed, the host
 * rebooted). The engine then still holds the OLD state, so a rerun must not trust it: it must look
 * at etcd's member list AND at the containers and volumes carrying the cluster's label, and plan
 * from those. This module turns such an observation plus the desired members into the ordered
 * steps that end with exactly the desired voters, no learner and no orphaned container or volume:
 *
 * - a learner of this cluster that is not desired is removed first (learners do not vote, so this
 *   never touches the quorum), then its container and volume;
 * - a container or volume of the cluster whose host is not an etcd member is an orphan (a member
 *   removed from etcd whose container was never stopped, or a never-added member): removed; when
 *   its host is desired, it is removed before the member is added again (its data belongs to a
 *   member ID etcd no longer knows, and would be refused);
 * - the rest is core/etcd/membership.ts' quorum-safe plan: learners left by an interrupted
 *   scale-out are finished (start → catch up → promote), members to remove go one at a time,
 *   followers first and the leader last after a leadership transfer.
 *
 * {@link membershipDrift} describes the same differences for `refresh`. No I/O.
 */
import { peerUrl, type EtcdClusterSettings } from "./spec";
import {
  MembershipPlanError,
  describeStep,
  planMembershipChange,
  type CurrentMember,
  type MembershipStep,
} from "./membership";

/** A member as etcd's MemberList reports it (plus the status calls' view). */
export interface ObservedEtcdMember {
  /** Member ID (decimal string). */
  id: string;
  /** "" for a learner that was added but has never started. */
  name: string;
  peerUrls: string[];
  isLearner: boolean;
  isLeader: boolean;
  /** Whether its endpoint answered a status call. */
  healthy: boolean;
}

/** A container carrying the cluster's label. */
export interface ObservedContainer {
  /** Container name = the member's host. */
  host: string;
  running: boolean;
}

/** What is really there. */
export interface ClusterObservation {
  members: readonly ObservedEtcdMember[];
  containers: readonly ObservedContainer[];
  /** Names of the volumes carrying the cluster's label. */
  volumes: readonly string[];
}

/** A member this resource knows by name and host (desired now, or in the old state). */
export interface KnownMember {
  name: string;
  host: string;
}

/** Steps beyond the membership protocol. */
export type ReconcileStep =
  | MembershipStep
  /** Remove a learner (non-voting) that is not desired, by ID; `host` is where its container would be. */
  | { kind: "removeLearner"; name: string; id: string; host: string }
  /** Remove a container and/or volume that belongs to no etcd member. */
  | { kind: "removeOrphan"; host: string; container: boolean; volume: boolean };

/** Volume name of a member's data (runtime/etcd/docker-members.ts uses the same rule). */
export const memberVolumeName = (host: string): string => `${host}-data`;

const hostOfVolume = (volume: string): string => volume.replace(/-data$/, "");

/** The host of a peer URL (`http://host:2380` → `host`), "" if it does not parse. */
function peerHost(url: string): string {
  const m = /^[a-z]+:\/\/(\[[^\]]+\]|[^:/]+)/i.exec(url);
  return m ? m[1].replace(/^\[|\]$/g, "") : "";
}

interface Classified {
  /** etcd members mapped to known members (name = the known name). */
  managed: (ObservedEtcdMember & { known: KnownMember })[];
  /** Learners that are not desired (known or not). */
  strayLearners: (ObservedEtcdMember & { host: string })[];
  /** Voters no known member matches. */
  foreignVoters: ObservedEtcdMember[];
  /** Hosts with a container and/or volume but no etcd member. */
  orphans: { host: string; container: boolean; volume: boolean }[];
}

function classify(
  settings: EtcdClusterSettings,
  seen: ClusterObservation,
  desired: readonly KnownMember[],
  known: readonly KnownMember[],
): Classified {
  const all = [...desired, ...known.filter((k) => !desired.some((d) => d.name === k.name))];
  const byPeer = new Map(all.map((k) => [peerUrl(settings, k.host), k]));
  const desiredNames = new Set(desired.map((d) => d.name));
  const out: Classified = { managed: [], strayLearners: [], foreignVoters: [], orphans: [] };
  const memberHosts = new Set<string>();
  for (const m of seen.members) {
    const k = m.peerUrls.map((u) => byPeer.get(u)).find((x) => x !== undefined);
    const host = k?.host ?? peerHost(m.peerUrls[0] ?? "");
    if (m.isLearner && (!k || !desiredNames.has(k.name))) {
      out.strayLearners.push({ ...m, host });
      continue; // its container and volume go with it (removeLearner + stop)
    }
    memberHosts.add(host);
    if (!k) out.foreignVoters.push(m);
    else out.managed.push({ ...m, known: k });
  }
  const strayHosts = new Set(out.strayLearners.map((l) => l.host));
  const hosts = new Set([...seen.containers.map((c) => c.host), ...seen.volumes.map(hostOfVolume)]);
  for (const host of [...hosts].sort()) {
    if (memberHosts.has(host) || strayHosts.has(host)) continue;
    out.orphans.push({
      host,
      container: seen.containers.some((c) => c.host === host),
      volume: seen.volumes.includes(memberVolumeName(host)),
    });
  }
  return out;
}

/**
 * The steps that take what is really there to exactly `desired`. Throws
 * {@link MembershipPlanError} for a voter no known member matches (not this resource's to
 * change), and for everything planMembershipChange refuses (even target, no quorum, no leader).
 */
export function planReconcile(
  settings: EtcdClusterSettings,
  seen: ClusterObservation,
  desired: readonly KnownMember[],
  known: readonly KnownMember[] = [],
): ReconcileStep[] {
  const c = classify(settings, seen, desired, known);
  if (c.foreignVoters.length > 0)
    throw new MembershipPlanError(
      `etcd voting member(s) ${c.foreignVoters.map((m) => `${m.name || m.id} (${m.peerUrls.join(", ")})`).join("; ")} are not ones this resource manages; refusing to change membership`,
    );
  const steps: ReconcileStep[] = [];
  // 1. Stray learners: they do not vote, so removing them first never touches the quorum, and a
  //    learner left in the cluster makes etcd refuse the next learner add.
  for (const l of c.strayLearners) {
    steps.push({ kind: "removeLearner", name: l.name || l.host, id: l.id, host: l.host });
    steps.push({ kind: "stop", name: l.host, votersAfter: c.managed.filter((m) => !m.isLearner).length });
  }
  // 2. Orphans (no etcd member behind them). A desired host's orphan goes before it is re-added.
  for (const o of c.orphans) steps.push({ kind: "removeOrphan", ...o });
  // 3. The quorum-safe membership plan over the managed members.
  const current: CurrentMember[] = c.managed.map((m) => ({
    id: m.id,
    name: m.known.name,
    isLeader: m.isLeader,
    isLearner: m.isLearner,
    healthy: m.healthy || m.isLearner,
  }));
  steps.push(
    ...planMembershipChange(
      current,
      desired.map((d) => d.name),
    ),
  );
  return steps;
}

/**
 * How what is really there differs from `desired` (the members the state records), one line per
 * difference; `[]` when etcd has exactly the desired voters, no learner, and every container and
 * volume of the cluster belongs to a desired member and runs.
 */
export function membershipDrift(
  settings: EtcdClusterSettings,
  seen: ClusterObservation,
  desired: readonly KnownMember[],
): string[] {
  const c = classify(settings, seen, desired, []);
  const d: string[] = [];
  for (const l of c.strayLearners)
    d.push(`learner ${l.name || "(never started)"} at ${l.host} is not a desired member`);
  for (const m of c.foreignVoters)
    d.push(`voting member ${m.name || m.id} (${m.peerUrls.join(", ")}) is not a desired member`);
  for (const o of c.orphans)
    d.push(
      `${[o.container ? "container" : "", o.volume ? "volume" : ""].filter(Boolean).join(" and ")} of ${o.host} belong${o.container && o.volume ? "" : "s"} to no etcd member`,
    );
  for (const want of desired) {
    const m = c.managed.find((x) => x.known.name === want.name);
    if (!m) d.push(`desired member ${want.name} is not in etcd's member list`);
    else if (m.isLearner) d.push(`desired member ${want.name} is still a learner`);
    if (!seen.containers.some((x) => x.host === want.host && x.running))
      d.push(
        `container of desired member ${want.name} (${want.host}) is ${seen.containers.some((x) => x.host === want.host) ? "not running" : "missing"}`,
      );
  }
  for (const m of c.managed)
    if (!desired.some((x) => x.name === m.known.name)) d.push(`member ${m.known.name} is in etcd but not desired`);
  return d;
}

/** One line per step, for logs (extends core/etcd/membership.ts' describeStep). */
export function describeReconcileStep(s: ReconcileStep): string {
  if (s.kind === "removeLearner") return `remove stray learner ${s.name} (id ${s.id}; learners do not vote)`;
  if (s.kind === "removeOrphan")
    return `remove orphaned ${[s.container ? "container" : "", s.volume ? "volume" : ""].filter(Boolean).join(" and ")} of ${s.host}`;
  return describeStep(s);
}

/** The crash-point name of a step (`<kind>:<member>`), as tests name kill points. */
export function stepKey(s: ReconcileStep): string {
  if (s.kind === "transferLeadership") return `${s.kind}:${s.from}`;
  if (s.kind === "removeOrphan") return `${s.kind}:${s.host}`;
  return `${s.kind}:${s.name}`;
}
