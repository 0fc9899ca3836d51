/**
 * EtcdMembership: a Pulumi dynamic provider (`pulumi-nodejs:dynamic/etcd:EtcdMembership`) that owns
 * the member containers of an etcd cluster on the docker target and changes membership safely.
 *
 * - check: validates inputs (odd count, unique names/ports, flags equal to core/etcd/spec.ts) and refuses
 *   changes a running cluster cannot take (cluster name, network, settings, image, moving a member).
 * - diff: the changed input keys; membership changes never replace the resource.
 * - create: starts every member (new cluster), waits until healthy with one leader.
 * - update: reconciles from what is really there, never from the old state alone: etcd's member
 *   list AND the containers and volumes carrying the cluster's label (docker-observe.ts), planned
 *   by core/etcd/reconcile.ts: stray learners removed (they do not vote), orphaned containers and
 *   volumes removed, then one member at a time: learner add → start with `--initial-cluster-state
 *   existing` → wait caught up → promote; scale-in: transfer leadership off a leaving leader,
 *   remove, stop (container and volume). So a rerun after a crash at any step (the engine still
 *   holds the old state) completes the change.
 * - read (refresh): member IDs and `drift` (what differs from the state: learners, orphans,
 *   missing members), read with etcdctl inside a member container, so it works with TLS although
 *   the state holds no client key. A non-empty drift makes the next diff report a change, and the
 *   update reconciles it.
 * - delete: removes every member container and data volume of the cluster.
 *
 * Secrets: `tls` (PEM keys) is a secret input used only to write the member's TLS files and to
 * build the provider's own etcd client; it is never returned, so outputs hold no key material
 * (the engine keeps the secret input encrypted). Outputs carry a fingerprint of the certificates.
 */
import * as pulumi from "@pulumi/pulumi";
import type { EtcdClusterSettings } from "../core/etcd/spec";
import type { MembershipMemberInput, MembershipSpec } from "../core/etcd/membership";
import * as core from "../core/etcd/spec";
import * as planning from "../core/etcd/membership";
import * as reconcile from "../core/etcd/reconcile";
import * as members from "./etcd-membership/docker-members";
import * as observe from "./etcd-membership/docker-observe";
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
  /** Cluster-wide settings (ports, timers, tls) as core/etcd/spec.ts takes them. */
  settings: pulumi.Input<EtcdClusterSettings>;
  /** Local etcd image (e.g. `scaleplane/etcd:3.4.23`). */
  image: pulumi.Input<string>;
  /** Path of the etcd binary in the image. */
  etcdBinary: pulumi.Input<string>;
  /** Docker network the members share (must exist). */
  network: pulumi.Input<string>;
  /** The members, in order; `args` are core/etcd/spec.ts' flags for a new cluster of these members. */
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
  /** How what is really there differs from these members (core/etcd/reconcile.ts); [] when it matches. */
  drift: string[];
};

const DEFAULT_READY_SECONDS = 90;

function clientTls(i: EtcdMembershipInputs): ops.EtcdClientTls | undefined {
  return i.settings.tls && i.tls ? { ca: i.tls.ca, cert: i.tls.clientCert, key: i.tls.clientKey } : undefined;
}

function dockerClient() {
  const Docker = require("dockerode") as typeof import("dockerode");
  return new Docker();
}

function memberSpec(
  i: MembershipSpec & { tls?: EtcdMembershipTls },
  m: MembershipMemberInput,
  args: string[],
): members.DockerMemberSpec {
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

const endpointOf = (i: MembershipSpec, m: MembershipMemberInput) =>
  members.publishedEndpoint(m.hostPort, i.settings.tls);

function fingerprint(i: EtcdMembershipInputs): string {
  if (!i.settings.tls || !i.tls) return "";
  const { createHash } = require("node:crypto") as typeof import("node:crypto");
  return createHash("sha256").update(i.tls.ca).update(i.tls.serverCert).update(i.tls.peerCert).digest("hex");
}

/** The members' names → etcd IDs, from a member list. */
function idsOf(list: readonly { ID: string; name: string }[]): Record<string, string> {
  const memberIds: Record<string, string> = {};
  for (const m of list) if (m.name) memberIds[m.name] = m.ID;
  return memberIds;
}

async function outputs(i: EtcdMembershipInputs): Promise<EtcdMembershipOutputs> {
  const seen = await observeCluster(i, i.members, clientTls(i));
  const { tls: _tls, ...plain } = i;
  return {
    ...plain,
    labels: i.labels ?? {},
    memberIds: idsOf(seen.members.map((m) => ({ ID: m.id, name: m.name }))),
    publishedEndpoints: i.members.map((m) => endpointOf(i, m)),
    clientEndpoints: i.members.map((m) => core.clientUrl(i.settings, m.host)),
    tlsFingerprint: fingerprint(i),
    drift: reconcile.membershipDrift(i.settings, seen, i.members),
  };
}

/**
 * What is really there: etcd's member list (through the first of `known`'s published endpoints
 * that answers with a leader, desired members first), each member's health, and the containers
 * and volumes carrying the cluster's label.
 */
async function observeCluster(
  spec: MembershipSpec,
  known: readonly MembershipMemberInput[],
  tls: ops.EtcdClientTls | undefined,
): Promise<reconcile.ClusterObservation> {
  const docker = dockerClient();
  const view = await ops.clusterView(
    known.map((m) => endpointOf(spec, m)),
    tls,
  );
  const byPeer = (peers: string[]) => known.find((k) => peers.includes(core.peerUrl(spec.settings, k.host)));
  const healthy = await Promise.all(
    view.members.map(async (x) => {
      const k = byPeer(x.peerURLs);
      return k ? (await ops.endpointStatus(endpointOf(spec, k), tls)).ok : false;
    }),
  );
  return {
    members: view.members.map((x, i) => ({
      id: x.ID,
      name: x.name,
      peerUrls: x.peerURLs,
      isLearner: Boolean(x.isLearner),
      isLeader: x.ID === view.leaderId,
      healthy: healthy[i],
    })),
    containers: await observe.clusterContainers(docker, spec.clusterName),
    volumes: await observe.clusterVolumes(docker, spec.clusterName),
  };
}

/**
 * Test builds only (NODE_ENV=test, which jest sets and `pulumi up` does not): when
 * SCALEPLANE_CRASH_AT names this point (`<step kind>:<member>` or `done`), the process dies at
 * once, as a crashed or killed provider host would. The crash-resume tests use it to stop a
 * change before each of its steps.
 */
function crashPoint(key: string): void {
  if (process.env.NODE_ENV === "test" && process.env.SCALEPLANE_CRASH_AT === key) process.kill(process.pid, "SIGKILL");
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
async function runStep(step: reconcile.ReconcileStep, ctx: StepContext): Promise<void> {
  const { news, byName, timeoutMs } = ctx;
  const docker = dockerClient();
  const tls = clientTls(news);
  const stayEndpoints = ctx.voters
    .map((n) => byName.get(n))
    .filter((m): m is MembershipMemberInput => m !== undefined)
    .map((m) => endpointOf(news, m));
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
      await ops.retry(
        `adding ${m.name} as learner`,
        30000,
        async () => {
          const view = await ops.clusterView(stayEndpoints, tls);
          if (view.members.some((x) => x.peerURLs.includes(peer))) return; // added by an earlier attempt
          await ops.withClient([await leaderEndpoint()], tls, (c) =>
            c.cluster.memberAdd({ peerURLs: [peer], isLearner: true }),
          );
        },
        // etcd 3.4 once answered this add, right after a removal, with NOT_FOUND "member not found"
        // (a fresh-clone CI run). Retrying is safe: each attempt first checks whether the peer is a
        // member already (the add may have applied), and adds it otherwise.
        (e) => ops.isUnhealthyClusterError(e) || /member not found/i.test(String((e as Error).message)),
      );
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
        if ((me.raftAppliedIndex ?? 0) + 10 < (leader.raftIndex ?? 0))
          throw new Error(`${m.name} applied ${me.raftAppliedIndex} of ${leader.raftIndex}`);
      });
      return;
    }
    case "promote": {
      const m = byName.get(step.name)!;
      const peer = core.peerUrl(news.settings, m.host);
      await ops.retry(
        `promoting ${m.name}`,
        timeoutMs,
        async () => {
          const view = await ops.clusterView(stayEndpoints, tls);
          const me = view.members.find((x) => x.peerURLs.includes(peer));
          if (!me) throw new Error(`${m.name} is not a member`);
          if (!me.isLearner) return;
          await ops.withClient([await leaderEndpoint()], tls, (c) => c.cluster.memberPromote({ ID: me.ID }));
        },
        (e) =>
          ops.isUnhealthyClusterError(e) || /not in sync|can only promote|learner/i.test(String((e as Error).message)),
      );
      return;
    }
    case "transferLeadership": {
      const to = byName.get(step.to)!;
      await ops.retry(`transferring leadership ${step.from} → ${step.to}`, 30000, async () => {
        const target = await ops.endpointStatus(endpointOf(news, to), tls);
        if (!target.ok || !target.memberId) throw new Error(`${step.to} does not answer: ${target.error}`);
        if (target.leader === target.memberId) return;
        // moveLeader must be sent to the current leader.
        await ops.withClient([await leaderEndpoint()], tls, (c) =>
          c.maintenance.moveLeader({ targetID: target.memberId }),
        );
        throw new Error("leadership is moving; checking again");
      });
      return;
    }
    case "remove": {
      await ops.retry(
        `removing ${step.name}`,
        30000,
        async () => {
          const view = await ops.clusterView(stayEndpoints, tls);
          if (!view.members.some((x) => x.ID === step.id)) return;
          await ops.withClient([await leaderEndpoint()], tls, (c) => c.cluster.memberRemove({ ID: step.id }));
        },
        ops.isUnhealthyClusterError,
      );
      return;
    }
    case "stop": {
      const m = byName.get(step.name);
      await members.removeMember(docker, m?.host ?? step.name, { volume: true });
      return;
    }
    case "removeLearner": {
      // A learner does not vote: removing it never changes the quorum.
      await ops.retry(
        `removing learner ${step.name}`,
        30000,
        async () => {
          const view = await ops.clusterView(stayEndpoints, tls);
          const me = view.members.find((x) => x.ID === step.id);
          if (!me) return;
          if (!me.isLearner)
            throw new Error(`member ${step.id} was promoted meanwhile; not removing a voter as a stray learner`);
          await ops.withClient([await leaderEndpoint()], tls, (c) => c.cluster.memberRemove({ ID: step.id }));
        },
        ops.isUnhealthyClusterError,
      );
      return;
    }
    case "removeOrphan": {
      // Container first (a restarting orphan keeps its volume busy), then the volume if asked.
      await members.removeMember(docker, step.host, { volume: step.volume });
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
    if (failures.length === 0 && i.settings.tls && !i.tls)
      failures.push({ property: "tls", reason: "settings.tls is on: pass the TLS material (as a pulumi.secret)" });
    if (
      failures.length === 0 &&
      o.settings &&
      Array.isArray(o.members) &&
      o.members.length > 0 &&
      fingerprint(o as EtcdMembershipInputs) !== fingerprint(i)
    )
      failures.push({
        property: "tls",
        reason:
          "the certificates of a running cluster cannot be rotated by this resource; keep the existing CA/certificates",
      });
    return { inputs: news, failures };
  },

  async diff(_id: string, olds: EtcdMembershipOutputs, news: EtcdMembershipInputs) {
    const d = planning.membershipDiff(olds as never, news as never);
    const tlsChanged = fingerprint(news) !== (olds.tlsFingerprint ?? "");
    // A refresh that found drift (a stray learner, an orphaned container) needs an update to reconcile.
    const drifted = (olds.drift ?? []).length > 0;
    // Membership, labels and timeouts change in place: nothing is ever replaced.
    return { changes: d.changedKeys.length > 0 || tlsChanged || drifted, replaces: [] };
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
      await ops.waitHealthy(
        inputs.members.map((m) => endpointOf(inputs, m)),
        inputs.members.length,
        clientTls(inputs),
        (inputs.readyTimeoutSeconds ?? DEFAULT_READY_SECONDS) * 1000,
      );
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
    // Desired members first: their endpoints are asked first, and their specs win over old ones.
    const known = [
      ...news.members,
      ...(olds.members ?? []).filter((o) => !news.members.some((n) => n.name === o.name)),
    ];
    const byName = new Map(known.map((m) => [m.name, m]));
    // Plan from what is really there (etcd + the cluster's containers and volumes), not from `olds`:
    // after a crash mid-change the engine still holds the old state.
    const seen = await observeCluster(news, known, tls);
    const steps = reconcile.planReconcile(news.settings, seen, news.members, olds.members ?? []);
    const nameOf = (peers: string[]) => known.find((k) => peers.includes(core.peerUrl(news.settings, k.host)))?.name;
    const voters = new Set(
      seen.members
        .filter((m) => !m.isLearner)
        .map((m) => nameOf(m.peerUrls))
        .filter((n): n is string => n !== undefined),
    );
    for (const step of steps) {
      crashPoint(reconcile.stepKey(step));
      pulumi.log.info(`etcd ${news.clusterName}: ${reconcile.describeReconcileStep(step)}`);
      await runStep(step, { news, byName, voters: [...voters], timeoutMs });
      if (step.kind === "promote") voters.add(step.name);
      if (step.kind === "remove") voters.delete(step.name);
    }
    crashPoint("done");
    await ops.waitHealthy(
      news.members.map((m) => endpointOf(news, m)),
      news.members.length,
      tls,
      timeoutMs,
    );
    return { outs: await outputs(news) };
  },

  /**
   * Refresh: the member IDs etcd reports now and the drift from the state. No member containers
   * or volumes at all means the cluster is gone. etcd is asked with etcdctl inside a running member
   * container (docker-observe.ts): that works with TLS too, without any client key in state.
   */
  async read(id: string, props: EtcdMembershipOutputs) {
    const docker = dockerClient();
    const containers = await observe.clusterContainers(docker, props.clusterName);
    const volumes = await observe.clusterVolumes(docker, props.clusterName);
    if (containers.length === 0 && volumes.length === 0) return { id: "", props: {} };
    const running = [
      ...props.members.map((m) => m.host).filter((h) => containers.some((c) => c.host === h && c.running)),
      ...containers.filter((c) => c.running && !props.members.some((m) => m.host === c.host)).map((c) => c.host),
    ];
    let list: observe.ListedMember[];
    try {
      list = await observe.memberListViaExec(docker, running, {
        clientPort: props.settings.clientPort,
        tls: props.settings.tls,
      });
    } catch (e) {
      return { id, props: { ...props, drift: [`etcd's member list could not be read: ${(e as Error).message}`] } };
    }
    const seen: reconcile.ClusterObservation = {
      members: list.map((m) => ({
        id: m.ID,
        name: m.name,
        peerUrls: m.peerURLs,
        isLearner: m.isLearner,
        isLeader: false,
        healthy: true,
      })),
      containers,
      volumes,
    };
    return {
      id,
      props: {
        ...props,
        memberIds: idsOf(list),
        drift: reconcile.membershipDrift(props.settings, seen, props.members),
      },
    };
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
  /** What refresh found different from the recorded members; [] when it matches. */
  declare readonly drift: pulumi.Output<string[]>;

  constructor(name: string, args: EtcdMembershipArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      etcdMembershipProvider,
      name,
      {
        labels: {},
        ...args,
        memberIds: undefined,
        publishedEndpoints: undefined,
        clientEndpoints: undefined,
        tlsFingerprint: undefined,
        drift: undefined,
      },
      // The provider never returns `tls`; should an output ever carry it, it stays a secret.
      { ...opts, additionalSecretOutputs: ["tls"] },
      "etcd",
      "EtcdMembership",
    );
  }
}
