/**
 * Crash-resume of EtcdMembership, through the SDK's dynamic-provider host over gRPC against real
 * etcd containers. The provider host is killed (SIGKILL, via the test-only SCALEPLANE_CRASH_AT
 * kill point the provider honours under NODE_ENV=test) before each step of 3 → 5 and of 5 → 3,
 * and after the last step before the state is written ("done"). Each time the change is rerun
 * from the OLD state, as the engine would after a crash, on a fresh host: it must end with exactly
 * the new members, no learner, no orphaned container or volume, and refresh must report no drift.
 * A writer runs throughout: no acknowledged write is lost.
 *
 * Also: a learner of this cluster left by an abandoned scale-out (the program reverted) is
 * reported by refresh as drift, and removed by the next update.
 */
import type Docker from "dockerode";
import { etcdClusterSpec, type EtcdClusterSettings } from "../../../core/etcd/spec";
import { dockerMemberHosts } from "../../../core/etcd/placement";
import { ensureNetwork, listMembers, publishedEndpoint } from "../../../providers/etcd-membership/docker-members";
import { clusterVolumes } from "../../../providers/etcd-membership/docker-observe";
import { freePorts } from "../../support/ports";
import { ProviderHost, serializeDynamicProvider, type Props } from "../../support/provider-host";
import { ETCD_BINARY, ETCD_IMAGE, TEST_LABELS, cleanup, client, requireDocker, sleep } from "./support";

// 9 rounds of a crashed and a rerun scale-out and scale-in each (~15-30 s a round on 2 cores)
jest.setTimeout(900_000);

const TYPE = "pulumi-nodejs:dynamic/etcd:EtcdMembership";
const CLUSTER = "spit-crash";
const NETWORK = `${CLUSTER}-net`;
const settings: EtcdClusterSettings = {
  clusterName: CLUSTER,
  clientPort: 2379,
  peerPort: 2380,
  heartbeatIntervalMs: 100,
  electionTimeoutMs: 1000,
  tls: false,
};
const name = (i: number) => `${CLUSTER}-${i}`;

/** Every kill point of 3 → 5 and of 5 → 3 (the leader stays among 0-2, see below), in order. */
const SCALE_OUT_POINTS = [3, 4]
  .flatMap((i) => ["addLearner", "start", "waitCaughtUp", "promote"].map((k) => `${k}:${name(i)}`))
  .concat("done");
const SCALE_IN_POINTS = [`remove:${name(4)}`, `stop:${name(4)}`, `remove:${name(3)}`, `stop:${name(3)}`, "done"];

let ports: number[] = [];
function inputs(n: number): Props {
  const spec = etcdClusterSpec(settings, dockerMemberHosts(CLUSTER, n));
  return {
    clusterName: CLUSTER,
    settings,
    image: ETCD_IMAGE,
    etcdBinary: ETCD_BINARY,
    network: NETWORK,
    members: spec.members.map((m, i) => ({ name: m.name, host: m.host, hostPort: ports[i], args: m.args })),
    labels: TEST_LABELS,
    readyTimeoutSeconds: 60,
  };
}
const endpoint = (i: number) => publishedEndpoint(ports[i], false);

let docker: Docker;
/** The 3-member state the first test ends with. */
let last3: Props = {};
let host: ProviderHost;
let provider: string;
const withProvider = (p: Props) => ({ __provider: provider, ...p });

beforeAll(async () => {
  docker = await requireDocker();
  ports = await freePorts(5, 23300, 23999);
  await cleanup(docker, CLUSTER, NETWORK);
  await ensureNetwork(docker, NETWORK, TEST_LABELS);
  const { EtcdMembership } =
    require("../../../providers/etcd-membership") as typeof import("../../../providers/etcd-membership");
  ({ provider } = await serializeDynamicProvider(TYPE, () => new EtcdMembership("members", inputs(1) as never)));
  host = await ProviderHost.start({ timeoutMs: 60_000 });
});

afterAll(async () => {
  await host?.stop();
  if (docker) await cleanup(docker, CLUSTER, NETWORK);
});

/** Exactly `n` voters named 0..n-1, no learner, exactly their containers (running) and volumes; no drift. */
async function expectExactly(n: number, state: Props) {
  const c = client([endpoint(0)]);
  const { members } = await c.cluster.memberList({});
  c.close();
  expect(members.map((m) => m.name).sort()).toEqual(dockerMemberHosts(CLUSTER, n).sort());
  expect(members.filter((m) => m.isLearner)).toEqual([]);
  const containers = await listMembers(docker, CLUSTER);
  expect(containers.map((m) => m.host)).toEqual(dockerMemberHosts(CLUSTER, n));
  expect(containers.every((m) => m.running)).toBe(true);
  expect(await clusterVolumes(docker, CLUSTER)).toEqual(
    dockerMemberHosts(CLUSTER, n)
      .map((h) => `${h}-data`)
      .sort(),
  );
  expect(Object.keys(state.memberIds as object).sort()).toEqual(dockerMemberHosts(CLUSTER, n).sort());
  expect(state.drift).toEqual([]);
  expect((await host.read(TYPE, CLUSTER, state)).outputs.drift).toEqual([]);
}

/** Runs old → new on a host that dies at `point`; asserts it died there and nothing was recorded. */
async function crashAt(point: string, olds: Props, news: Props) {
  const crashing = await ProviderHost.start({
    env: { SCALEPLANE_CRASH_AT: point, NODE_ENV: "test" },
    timeoutMs: 60_000,
  });
  try {
    const checked = await crashing.check(TYPE, olds, withProvider(news));
    expect(checked.failures).toEqual([]);
    await expect(crashing.update(TYPE, CLUSTER, olds, checked.inputs)).rejects.toThrow();
    for (let i = 0; i < 50 && !crashing.exit; i++) await sleep(100);
    expect(crashing.exit?.signal).toBe("SIGKILL");
    return checked.inputs;
  } finally {
    await crashing.stop();
  }
}

it("a kill at every step of 3 → 5 and 5 → 3, then a rerun from the old state, ends with exactly the new members; no acknowledged write lost", async () => {
  let state3 = (await host.create(TYPE, (await host.check(TYPE, {}, withProvider(inputs(3)))).inputs)).outputs;
  await expectExactly(3, state3);

  // Writer through the members that always stay (0-2): unique keys, acknowledged ones recorded.
  const acked: string[] = [];
  let failed = 0;
  let writing = true;
  const writer = (async () => {
    const c = client([endpoint(0), endpoint(1), endpoint(2)]);
    for (let i = 0; writing; i++) {
      const key = `w/${String(i).padStart(6, "0")}`;
      try {
        await c.put(key).value(String(i));
        acked.push(key);
      } catch {
        failed++;
        await sleep(50);
      }
      await sleep(20);
    }
    c.close();
  })();

  const rounds: { out: string; in: string; ms: number }[] = [];
  try {
    for (let r = 0; r < SCALE_OUT_POINTS.length; r++) {
      const t = Date.now();
      const outPoint = SCALE_OUT_POINTS[r];
      const news5 = await crashAt(outPoint, state3, inputs(5));
      // the rerun starts from the state the engine still holds: the 3-member one
      const state5 = await host.update(TYPE, CLUSTER, state3, news5);
      await expectExactly(5, state5);

      // Keep the leader among 0-2 so that scale-in's steps are the same every round.
      await moveLeaderOff([3, 4], state5.memberIds as Record<string, string>);
      const inPoint = SCALE_IN_POINTS[r % SCALE_IN_POINTS.length];
      const news3 = await crashAt(inPoint, state5, inputs(3));
      state3 = await host.update(TYPE, CLUSTER, state5, news3);
      await expectExactly(3, state3);
      rounds.push({ out: outPoint, in: inPoint, ms: Date.now() - t });
      console.log(
        `round ${r + 1}/${SCALE_OUT_POINTS.length}: killed at ${outPoint} then ${inPoint}, both reran to completion (${Date.now() - t} ms)`,
      );
    }
  } finally {
    writing = false;
    await writer;
  }
  last3 = state3;
  const c = client([endpoint(0), endpoint(1), endpoint(2)]);
  const have = new Set(await c.getAll().prefix("w/").keys());
  c.close();
  expect(acked.filter((k) => !have.has(k))).toEqual([]);
  expect(acked.length).toBeGreaterThan(100);
  console.log(JSON.stringify({ rounds, acked: acked.length, failedWrites: failed }));
});

it("a learner left by an abandoned scale-out is reported by refresh and removed by the next update", async () => {
  // The cluster is at 3 (previous test). A scale-out to 5 dies right after adding its learner;
  // the program is then reverted to 3 members.
  const state3 = last3;
  await crashAt(`start:${name(3)}`, state3, inputs(5));
  const refreshed = await host.read(TYPE, CLUSTER, state3);
  expect(refreshed.outputs.drift).toEqual([`learner (never started) at ${name(3)} is not a desired member`]);
  const news = (await host.check(TYPE, refreshed.outputs, withProvider(inputs(3)))).inputs;
  expect((await host.diff(TYPE, CLUSTER, refreshed.outputs, news)).changes).toBe("some");
  const after = await host.update(TYPE, CLUSTER, refreshed.outputs, news);
  await expectExactly(3, after);
  // and a later scale-out goes through (the stray learner made every later change fail before)
  const state5 = await host.update(
    TYPE,
    CLUSTER,
    after,
    (await host.check(TYPE, after, withProvider(inputs(5)))).inputs,
  );
  await expectExactly(5, state5);
  await host.delete(TYPE, CLUSTER, state5);
  expect(await listMembers(docker, CLUSTER)).toEqual([]);
  expect(await clusterVolumes(docker, CLUSTER)).toEqual([]);
});

/** Moves leadership to one of the members not in `avoid` when it sits on one of them. */
async function moveLeaderOff(avoid: number[], ids: Record<string, string>) {
  for (let attempt = 0; attempt < 20; attempt++) {
    const c0 = client([endpoint(0)]);
    const leader = (await c0.maintenance.status()).leader;
    c0.close();
    const leaderIndex = Number(
      Object.entries(ids)
        .find(([, id]) => id === leader)?.[0]
        .split("-")
        .pop(),
    );
    if (!avoid.includes(leaderIndex)) return;
    const c = client([endpoint(leaderIndex)]);
    await c.maintenance.moveLeader({ targetID: ids[name(0)] }).catch(() => undefined);
    c.close();
    await sleep(300);
  }
  throw new Error("leadership did not move off the members about to leave");
}
