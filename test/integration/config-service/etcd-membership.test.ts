/**
 * EtcdMembership through the SDK's dynamic-provider host over gRPC, against real etcd containers:
 * create 1 member → update to 3 → 5 → 3 while a writer runs; no acknowledged write is lost and the
 * cluster never has fewer healthy voters than a quorum; check refuses an even count; diff reports
 * changes without replacement; delete removes containers and volumes.
 */
import type Docker from "dockerode";
import { etcdClusterSpec, quorum, type EtcdClusterSettings } from "../../../core/etcd/spec";
import { dockerMemberHosts } from "../../../core/etcd/placement";
import {
  ensureNetwork,
  listMembers,
  memberVolumeName,
  publishedEndpoint,
} from "../../../providers/etcd-membership/docker-members";
import { ProviderHost, serializeDynamicProvider, type Props } from "../../support/provider-host";
import { consecutiveFreePorts } from "../../support/ports";
import { ETCD_BINARY, ETCD_IMAGE, TEST_LABELS, cleanup, client, requireDocker, sleep } from "./support";

const TYPE = "pulumi-nodejs:dynamic/etcd:EtcdMembership";
const CLUSTER = "spit-members";
const NETWORK = `${CLUSTER}-net`;
/** Member i publishes its client port on PORT_BASE + i (up to 7 members). */
let PORT_BASE: number;
const settings: EtcdClusterSettings = {
  clusterName: CLUSTER,
  clientPort: 2379,
  peerPort: 2380,
  heartbeatIntervalMs: 100,
  electionTimeoutMs: 1000,
  tls: false,
};

function inputs(n: number): Props {
  const spec = etcdClusterSpec(settings, dockerMemberHosts(CLUSTER, n));
  return {
    clusterName: CLUSTER,
    settings,
    image: ETCD_IMAGE,
    etcdBinary: ETCD_BINARY,
    network: NETWORK,
    members: spec.members.map((m, i) => ({ name: m.name, host: m.host, hostPort: PORT_BASE + i, args: m.args })),
    labels: TEST_LABELS,
    readyTimeoutSeconds: 60,
  };
}
const endpoint = (i: number) => publishedEndpoint(PORT_BASE + i, false);

/** Moves leadership to member `index` (moveLeader must go to the current leader) and waits for it. */
async function moveLeaderTo(index: number, ids: Record<string, string>) {
  const target = ids[`${CLUSTER}-${index}`];
  for (let attempt = 0; attempt < 20; attempt++) {
    const c0 = client([endpoint(0)]);
    const leader = (await c0.maintenance.status()).leader;
    c0.close();
    if (leader === target) return;
    const leaderIndex = Number(
      Object.entries(ids)
        .find(([, id]) => id === leader)![0]
        .split("-")
        .pop(),
    );
    const c = client([endpoint(leaderIndex)]);
    await c.maintenance.moveLeader({ targetID: target }).catch(() => undefined);
    c.close();
    await sleep(300);
  }
  throw new Error(`leadership did not move to member ${index}`);
}

let docker: Docker;
let host: ProviderHost;
let provider: string;

beforeAll(async () => {
  PORT_BASE = await consecutiveFreePorts(7, 23000, 23999);
  docker = await requireDocker();
  await cleanup(docker, CLUSTER, NETWORK);
  await ensureNetwork(docker, NETWORK, TEST_LABELS);
  const { EtcdMembership } =
    require("../../../providers/etcd-membership") as typeof import("../../../providers/etcd-membership");
  ({ provider } = await serializeDynamicProvider(TYPE, () => new EtcdMembership("members", inputs(1) as never)));
  host = await ProviderHost.start();
});

afterAll(async () => {
  await host?.stop();
  if (docker) await cleanup(docker, CLUSTER, NETWORK);
});

const withProvider = (p: Props) => ({ __provider: provider, ...p });

it("check refuses an even member count and flags that are not core/etcd/spec.ts's, naming the input", async () => {
  const even = await host.check(
    TYPE,
    {},
    withProvider({ ...inputs(3), members: (inputs(3).members as Props[]).slice(0, 2) }),
  );
  expect(even.failures).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ property: "members", reason: expect.stringMatching(/1, 3, 5 or 7.*got 2/) }),
    ]),
  );
  const members = inputs(3).members as { args: string[] }[];
  members[1].args = [...members[1].args, "--initial-cluster-state=existing"];
  const tampered = await host.check(TYPE, {}, withProvider({ ...inputs(3), members }));
  expect(tampered.failures).toEqual([expect.objectContaining({ property: "members[1].args" })]);
  const ok = await host.check(TYPE, {}, withProvider(inputs(3)));
  expect(ok.failures).toEqual([]);
});

it("grows 1 → 3 → 5 and shrinks to 3 under writes: no acknowledged write lost, quorum always kept", async () => {
  const t0 = Date.now();
  const created = await host.create(TYPE, (await host.check(TYPE, {}, withProvider(inputs(1)))).inputs);
  expect(created.id).toBe(CLUSTER);
  expect(Object.keys(created.outputs.memberIds as object)).toEqual([`${CLUSTER}-0`]);
  expect(created.outputs.publishedEndpoints).toEqual([endpoint(0)]);
  expect(JSON.stringify(created.outputs)).not.toMatch(/PRIVATE KEY/);
  const createdMs = Date.now() - t0;

  // Writer: sequential puts through member 0 (it stays throughout); errors are retried with a new key.
  const acked: string[] = [];
  let failed = 0;
  let writing = true;
  const writer = (async () => {
    const c = client([endpoint(0)]);
    for (let i = 0; writing && i < 100000; i++) {
      const key = `w/${String(i).padStart(6, "0")}`;
      try {
        await c.put(key).value(String(i));
        acked.push(key);
      } catch {
        failed++;
        await sleep(50);
      }
    }
    c.close();
  })();
  // Sampler: healthy voters vs quorum, every 150 ms.
  const samples: { voters: number; healthy: number }[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const c = client([endpoint(0)]);
      try {
        const { members } = await c.cluster.memberList({});
        const voters = members.filter((m) => !m.isLearner);
        let healthy = 0;
        for (const v of voters) {
          const idx = Number(/-(\d+)$/.exec(v.name)?.[1] ?? -1);
          const s = client([endpoint(idx)]);
          try {
            await s.maintenance.status();
            healthy++;
          } catch {
            /* counted as unhealthy */
          } finally {
            s.close();
          }
        }
        samples.push({ voters: voters.length, healthy });
      } catch {
        /* member 0 busy (e.g. leader election): no sample */
      } finally {
        c.close();
      }
      await sleep(150);
    }
  })();

  let state = created.outputs;
  const timings: Record<string, number> = { create1: createdMs };
  try {
    for (const [step, n] of [3, 5, 3].entries()) {
      // Before growing: a learner left by an interrupted earlier update (added, never started); the
      // update must finish it rather than add it twice.
      if (step === 0) {
        const c = client([endpoint(0)]);
        await c.cluster.memberAdd({ peerURLs: [`http://${CLUSTER}-1:2380`], isLearner: true });
        c.close();
      }
      // Before shrinking, make a leaving member the leader: the provider must transfer leadership first.
      if (step === 2) await moveLeaderTo(4, state.memberIds as Record<string, string>);
      const news = (await host.check(TYPE, state, withProvider(inputs(n)))).inputs;
      expect((await host.check(TYPE, state, withProvider(inputs(n)))).failures).toEqual([]);
      const d = await host.diff(TYPE, CLUSTER, state, news);
      expect(d).toEqual({ changes: "some", replaces: [], deleteBeforeReplace: false });
      const t = Date.now();
      state = await host.update(TYPE, CLUSTER, state, news);
      timings[`step${step + 1}To${n}`] = Date.now() - t;
      expect(Object.keys(state.memberIds as object).sort()).toEqual(dockerMemberHosts(CLUSTER, n).sort());
      expect(state.publishedEndpoints).toEqual(Array.from({ length: n }, (_, i) => endpoint(i)));
    }
    const same = await host.diff(TYPE, CLUSTER, state, (await host.check(TYPE, state, withProvider(inputs(3)))).inputs);
    expect(same.changes).toBe("none");

    await sleep(500);
  } finally {
    // Stop the load even when a step fails (the loops would keep the test process alive).
    writing = false;
    sampling = false;
    await Promise.all([writer, sampler]);
  }

  // Every acknowledged write is readable (linearizable reads through a member that stayed).
  const c = client([endpoint(1)]);
  const all = await c.getAll().prefix("w/").keys();
  c.close();
  const have = new Set(all);
  const lost = acked.filter((k) => !have.has(k));
  expect(lost).toEqual([]);
  expect(acked.length).toBeGreaterThan(50);
  // Quorum never lost among the samples taken throughout the changes.
  expect(samples.length).toBeGreaterThan(20);
  const belowQuorum = samples.filter((s) => s.healthy < quorum(s.voters));
  expect(belowQuorum).toEqual([]);
  expect(Math.max(...samples.map((s) => s.voters))).toBe(5);

  // Removed members' containers and volumes are gone.
  const left = await listMembers(docker, CLUSTER);
  expect(left.map((m) => m.name)).toEqual(dockerMemberHosts(CLUSTER, 3));
  expect(left.every((m) => m.running)).toBe(true);
  const vols = (await docker.listVolumes()).Volumes.map((v) => v.Name);
  expect(vols).not.toContain(memberVolumeName(`${CLUSTER}-3`));
  expect(vols).not.toContain(memberVolumeName(`${CLUSTER}-4`));

  console.log(JSON.stringify({ timings, acked: acked.length, failedWrites: failed, samples: samples.length }));

  const refreshed = await host.read(TYPE, CLUSTER, state);
  expect(refreshed.id).toBe(CLUSTER);
  expect(refreshed.outputs.memberIds).toEqual(state.memberIds);

  await host.delete(TYPE, CLUSTER, state);
  expect(await listMembers(docker, CLUSTER)).toEqual([]);
  expect((await host.read(TYPE, CLUSTER, state)).id).toBe("");
  const volsAfter = (await docker.listVolumes()).Volumes.map((v) => v.Name);
  expect(volsAfter.filter((v) => v.startsWith(CLUSTER))).toEqual([]);
});
