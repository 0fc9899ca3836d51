/**
 * EtcdMembership: a Pulumi dynamic provider (`pulumi-nodejs:dynamic/etcd:EtcdMembership`) that owns
 * the member containers of an etcd cluster on the docker target and changes membership safely.
 *
 * - check: validates inputs (odd count, unique names/ports, flags equal to core/etcd.ts) and refuses
 *   changes a running cluster cannot take (cluster name, network, settings, image, moving a member).
 * - diff: the changed input keys; membership changes never replace the resource.
 * - create: starts every member (new cluster), waits until healthy with one leader.
 * - update: plans with core/etcd-membership.ts and executes one member at a time: learner add →
 *   start with `--initial-cluster-state existing` → wait caught up → promote; scale-in: transfer
 *   leadership off a leaving leader, remove, stop (container and volume).
 * - delete: removes every member container and data volume of the cluster.
 *
 * Secrets: `tls` (PEM keys) is a secret input used only to write the member's TLS files and to
 * build the provider's own etcd client; it is never returned, so outputs hold no key material
 * (the engine keeps the secret input encrypted). Outputs carry a fingerprint of the certificates.
 */
import * as pulumi from "@pulumi/pulumi";
import type { EtcdClusterSettings } from "../core/etcd";
import type { MembershipMemberInput, MembershipSpec } from "../core/etcd-membership";
import * as core from "../core/etcd";
import * as planning from "../core/etcd-membership";
import * as members from "../runtime/etcd/docker-members";
import * as ops from "./etcd-membership/etcd-ops";

/** PEM material (secret): member certificates/keys and the provider's client certificate. */
export interface EtcdMembershipTls extends members.EtcdTlsMaterial {
  clientCert: string;
  clientKey: string;
}

/** Inputs of {@link EtcdMembership}. */
export interface EtcdMembershipArgs {
  /** Cluster name: the initial cluster token and the containers' cluster label. */
  clusterName: pulumi.Input<string>;
  /** Cluster-wide settings (ports, timers, tls) as core/etcd.ts takes them. */
  settings: pulumi.Input<EtcdClusterSettings>;
  /** Local etcd image (e.g. `scaleplane/etcd:3.4.23`). */
  image: pulumi.Input<string>;
  /** Path of the etcd binary in the image. */
  etcdBinary: pulumi.Input<string>;
  /** Docker network the members share (must exist). */
  network: pulumi.Input<string>;
  /** The members, in order; `args` are core/etcd.ts' flags for a new cluster of these members. */
  members: pulumi.Input<MembershipMemberInput[]>;
  /** Labels for containers and volumes. @default {} */
  labels?: pulumi.Input<Record<string, string>>;
  /** TLS material when settings.tls is on; pass it as a pulumi.secret. */
  tls?: pulumi.Input<EtcdMembershipTls>;
  /** Seconds a create/update may wait for members to become healthy. @default 90 */
  readyTimeoutSeconds?: pulumi.Input<number>;
}

/** Plain inputs the provider receives. */
export type EtcdMembershipInputs = MembershipSpec & { tls?: EtcdMembershipTls; readyTimeoutSeconds?: number };

/** Outputs (state): the non-secret inputs plus what the cluster reports. */
export type EtcdMembershipOutputs = MembershipSpec & {
  readyTimeoutSeconds?: number;
  /** etcd member ID (decimal) by member name. */
  memberIds: Record<string, string>;
  /** `http(s)://127.0.0.1:<hostPort>` per member, in member order. */
  publishedEndpoints: string[];
  /** Client URLs as other containers on the network reach them. */
  clientEndpoints: string[];
  /** sha256 of the CA, server and peer certificates (no keys); "" without TLS. */
  tlsFingerprint: string;
};

const DEFAULT_READY_SECONDS = 90;

function clientTls(i: EtcdMembershipInputs): ops.EtcdClientTls | undefined {
  return i.settings.tls && i.tls ? { ca: i.tls.ca, cert: i.tls.clientCert, key: i.tls.clientKey } : undefined;
}

function dockerClient() {
  const Docker = require("dockerode") as typeof import("dockerode");
  return new Docker();
}

function memberSpec(i: MembershipSpec & { tls?: EtcdMembershipTls }, m: MembershipMemberInput, args: string[]): members.DockerMemberSpec {
  return {
    clusterName: i.clusterName,
    name: m.name,
    host: m.host,
    args,
    image: i.image,
    etcdBinary: i.etcdBinary,
    network: i.network,
    clientPort: i.settings.clientPort,
    hostPort: m.hostPort,
    dataDir: i.settings.dataDir,
    labels: i.labels,
    tls: i.settings.tls ? i.tls : undefined,
  };
}

const endpointOf = (i: MembershipSpec, m: MembershipMemberInput) => members.publishedEndpoint(m.hostPort, i.settings.tls);

function fingerprint(i: EtcdMembershipInputs): string {
  if (!i.settings.tls || !i.tls) return "";
  const { createHash } = require("node:crypto") as typeof import("node:crypto");
  return createHash("sha256").update(i.tls.ca).update(i.tls.serverCert).update(i.tls.peerCert).digest("hex");
}

async function outputs(i: EtcdMembershipInputs): Promise<EtcdMembershipOutputs> {
  const view = await ops.clusterView(i.members.map((m) => endpointOf(i, m)), clientTls(i));
  const memberIds: Record<string, string> = {};
  for (const m of view.members) if (m.name) memberIds[m.name] = m.ID;
  const { tls: _tls, ...plain } = i;
  return {
    ...plain,
    labels: i.labels ?? {},
    memberIds,
    publishedEndpoints: i.members.map((m) => endpointOf(i, m)),
    clientEndpoints: i.members.map((m) => core.clientUrl(i.settings, m.host)),
    tlsFingerprint: fingerprint(i),
  };
}

function requireTls(i: EtcdMembershipInputs): void {
  if (i.settings.tls && !i.tls) throw new Error("EtcdMembership: settings.tls is on but no `tls` material was given");
}

/** Where a step runs: the new inputs, every known member by name, the voters calls may go to. */
interface StepContext {
  news: EtcdMembershipInputs;
  byName: Map<string, MembershipMemberInput>;
  /** Names of voting members currently in the cluster (membership calls go to them). */
  voters: string[];
  timeoutMs: number;
}

/** Executes one planned step against Docker and etcd. */
async function runStep(step: planning.MembershipStep, ctx: StepContext): Promise<void> {
  const { news, byName, timeoutMs } = ctx;
  const docker = dockerClient();
  const tls = clientTls(news);
  const stayEndpoints = ctx.voters.map((n) => byName.get(n)).filter((m): m is MembershipMemberInput => m !== undefined).map((m) => endpointOf(news, m));
  const leaderEndpoint = async () => {
    const view = await ops.clusterView(stayEndpoints, tls);
    const sts = await Promise.all(stayEndpoints.map((e) => ops.endpointStatus(e, tls)));
    const leader = sts.find((s) => s.ok && s.memberId === view.leaderId);
    if (!leader) throw new Error(`the leader (${view.leaderId}) does not answer on ${stayEndpoints.join(", ")}`);
    return leader.endpoint;
  };
  switch (step.kind) {
    case "addLearner": {
      const m = byName.get(step.name)!;
      const peer = core.peerUrl(news.settings, m.host);
      await ops.retry(`adding ${m.name} as learner`, 30000, async () => {
        const view = await ops.clusterView(stayEndpoints, tls);
        if (view.members.some((x) => x.peerURLs.includes(peer))) return; // added by an earlier attempt
        await ops.withClient([await leaderEndpoint()], tls, (c) => c.cluster.memberAdd({ peerURLs: [peer], isLearner: true }));
      }, ops.isUnhealthyClusterError);
      return;
    }
    case "start": {
      const m = byName.get(step.name)!;
      const view = await ops.clusterView(stayEndpoints, tls);
      const me = view.members.find((x) => x.peerURLs.includes(core.peerUrl(news.settings, m.host)));
      if (!me) throw new Error(`${m.name} is not a member of the cluster; it must be added before it starts`);
      // A member that has run before (etcd knows its name) resumes from its volume.
      if (me.name && (await members.inspectMember(docker, m.host))) return members.startMember(docker, m.host);
      // Never started: any container or volume of that name is left from an earlier member; start clean.
      await members.removeMember(docker, m.host, { volume: true });
      const ids = view.members.map((x) => {
        const peer = x.peerURLs[0] ?? "";
        const known = [...byName.values()].find((k) => core.peerUrl(news.settings, k.host) === peer);
        return { name: x.name || known?.name || m.name, host: known?.host ?? new URL(peer).hostname };
      });
      const args = core.etcdMemberArgs(news.settings, m, ids, "existing");
      await members.createMember(docker, memberSpec(news, m, args));
      return;
    }
    case "waitCaughtUp": {
      const m = byName.get(step.name)!;
      await ops.retry(`waiting for ${m.name} to catch up`, timeoutMs, async () => {
        const leader = await ops.endpointStatus(await leaderEndpoint(), tls);
        const me = await ops.endpointStatus(endpointOf(news, m), tls);
        if (!me.ok) throw new Error(`${m.name} does not answer yet: ${me.error}`);
        if ((me.raftAppliedIndex ?? 0) + 10 < (leader.raftIndex ?? 0)) throw new Error(`${m.name} applied ${me.raftAppliedIndex} of ${leader.raftIndex}`);
      });
      return;
    }
    case "promote": {
      const m = byName.get(step.name)!;
      const peer = core.peerUrl(news.settings, m.host);
      await ops.retry(`promoting ${m.name}`, timeoutMs, async () => {
        const view = await ops.clusterView(stayEndpoints, tls);
        const me = view.members.find((x) => x.peerURLs.includes(peer));
        if (!me) throw new Error(`${m.name} is not a member`);
        if (!me.isLearner) return;
        await ops.withClient([await leaderEndpoint()], tls, (c) => c.cluster.memberPromote({ ID: me.ID }));
      }, (e) => ops.isUnhealthyClusterError(e) || /not in sync|can only promote|learner/i.test(String((e as Error).message)));
      return;
    }
    case "transferLeadership": {
      const to = byName.get(step.to)!;
      await ops.retry(`transferring leadership ${step.from} → ${step.to}`, 30000, async () => {
        const target = await ops.endpointStatus(endpointOf(news, to), tls);
        if (!target.ok || !target.memberId) throw new Error(`${step.to} does not answer: ${target.error}`);
        if (target.leader === target.memberId) return;
        // moveLeader must be sent to the current leader.
        await ops.withClient([await leaderEndpoint()], tls, (c) => c.maintenance.moveLeader({ targetID: target.memberId }));
        throw new Error("leadership is moving; checking again");
      });
      return;
    }
    case "remove": {
      await ops.retry(`removing ${step.name}`, 30000, async () => {
        const view = await ops.clusterView(stayEndpoints, tls);
        if (!view.members.some((x) => x.ID === step.id)) return;
        await ops.withClient([await leaderEndpoint()], tls, (c) => c.cluster.memberRemove({ ID: step.id }));
      }, ops.isUnhealthyClusterError);
      return;
    }
    case "stop": {
      const m = byName.get(step.name);
      await members.removeMember(docker, m?.host ?? step.name, { volume: true });
      return;
    }
  }
}

/** The provider. Everything it uses is required or built inside its methods (serialization). */
export const etcdMembershipProvider: pulumi.dynamic.ResourceProvider = {
  async check(olds: Record<string, unknown>, news: Record<string, unknown>) {
    const failures = planning.validateMembershipSpec(news, olds as Partial<MembershipSpec>);
    const i = news as unknown as EtcdMembershipInputs;
    const o = olds as unknown as Partial<EtcdMembershipInputs>;
    if (failures.length === 0 && i.settings.tls && !i.tls) failures.push({ property: "tls", reason: "settings.tls is on: pass the TLS material (as a pulumi.secret)" });
    if (failures.length === 0 && o.settings && Array.isArray(o.members) && o.members.length > 0 && fingerprint(o as EtcdMembershipInputs) !== fingerprint(i))
      failures.push({ property: "tls", reason: "the certificates of a running cluster cannot be rotated by this resource; keep the existing CA/certificates" });
    return { inputs: news, failures };
  },

  async diff(_id: string, olds: EtcdMembershipOutputs, news: EtcdMembershipInputs) {
    const d = planning.membershipDiff(olds as never, news as never);
    const tlsChanged = fingerprint(news) !== (olds.tlsFingerprint ?? "");
    // Membership, labels and timeouts change in place: nothing is ever replaced.
    return { changes: d.changedKeys.length > 0 || tlsChanged, replaces: [] };
  },

  async create(inputs: EtcdMembershipInputs) {
    requireTls(inputs);
    const docker = dockerClient();
    const created: string[] = [];
    try {
      for (const m of inputs.members) {
        await members.createMember(docker, memberSpec(inputs, m, m.args));
        created.push(m.host);
      }
      await ops.waitHealthy(inputs.members.map((m) => endpointOf(inputs, m)), inputs.members.length, clientTls(inputs), (inputs.readyTimeoutSeconds ?? DEFAULT_READY_SECONDS) * 1000);
      return { id: inputs.clusterName, outs: await outputs(inputs) };
    } catch (e) {
      // Nothing half-created stays behind (the engine records no resource for a failed create).
      for (const host of created) await members.removeMember(docker, host, { volume: true }).catch(() => undefined);
      throw e;
    }
  },

  async update(_id: string, olds: EtcdMembershipOutputs, news: EtcdMembershipInputs) {
    requireTls(news);
    const timeoutMs = (news.readyTimeoutSeconds ?? DEFAULT_READY_SECONDS) * 1000;
    const tls = clientTls(news);
    const byName = new Map([...olds.members, ...news.members].map((m) => [m.name, m]));
    const byPeer = (peer: string) => [...byName.values()].find((k) => core.peerUrl(news.settings, k.host) === peer);
    const view = await ops.clusterView(olds.members.map((m) => endpointOf(olds, m)), tls);
    const current: planning.CurrentMember[] = await Promise.all(
      view.members.map(async (x) => {
        const known = byPeer(x.peerURLs[0] ?? "");
        if (!known) throw new Error(`etcd member ${x.name || x.ID} (${x.peerURLs.join(", ")}) is not one this resource manages; refusing to change membership`);
        const st = await ops.endpointStatus(endpointOf(news, known), tls);
        return { id: x.ID, name: known.name, isLeader: x.ID === view.leaderId, isLearner: x.isLearner, healthy: st.ok || x.isLearner };
      }),
    );
    const steps = planning.planMembershipChange(current, news.members.map((m) => m.name));
    const voters = new Set(current.filter((c) => !c.isLearner).map((c) => c.name));
    for (const step of steps) {
      pulumi.log.info(`etcd ${news.clusterName}: ${planning.describeStep(step)}`);
      await runStep(step, { news, byName, voters: [...voters], timeoutMs });
      if (step.kind === "promote") voters.add(step.name);
      if (step.kind === "remove") voters.delete(step.name);
    }
    await ops.waitHealthy(news.members.map((m) => endpointOf(news, m)), news.members.length, tls, timeoutMs);
    return { outs: await outputs(news) };
  },

  /** Refresh: the member IDs etcd reports now; no member containers at all means the cluster is gone. */
  async read(id: string, props: EtcdMembershipOutputs) {
    const live = await members.listMembers(dockerClient(), props.clusterName);
    if (live.length === 0) return { id: "", props: {} };
    // State holds no client key, so a TLS cluster's member list cannot be read back here.
    if (props.settings.tls) return { id, props };
    const view = await ops.clusterView(props.publishedEndpoints ?? [], undefined).catch(() => undefined);
    if (!view) return { id, props };
    const memberIds: Record<string, string> = {};
    for (const m of view.members) if (m.name) memberIds[m.name] = m.ID;
    return { id, props: { ...props, memberIds } };
  },

  async delete(_id: string, props: EtcdMembershipOutputs) {
    const docker = dockerClient();
    for (const m of props.members ?? []) await members.removeMember(docker, m.host, { volume: true });
    // Members added by a change that failed before the state was written carry the cluster label.
    await members.removeCluster(docker, props.clusterName);
  },
};

/**
 * The member containers of an etcd cluster on Docker, changed one member at a time.
 * Type token: `pulumi-nodejs:dynamic/etcd:EtcdMembership`.
 */
export class EtcdMembership extends pulumi.dynamic.Resource {
  declare readonly clusterName: pulumi.Output<string>;
  declare readonly members: pulumi.Output<MembershipMemberInput[]>;
  declare readonly memberIds: pulumi.Output<Record<string, string>>;
  declare readonly publishedEndpoints: pulumi.Output<string[]>;
  declare readonly clientEndpoints: pulumi.Output<string[]>;
  declare readonly tlsFingerprint: pulumi.Output<string>;

  constructor(name: string, args: EtcdMembershipArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      etcdMembershipProvider,
      name,
      { labels: {}, ...args, memberIds: undefined, publishedEndpoints: undefined, clientEndpoints: undefined, tlsFingerprint: undefined },
      // The provider never returns `tls`; should an output ever carry it, it stays a secret.
      { ...opts, additionalSecretOutputs: ["tls"] },
      "etcd",
      "EtcdMembership",
    );
  }
}
