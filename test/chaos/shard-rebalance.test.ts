/**
 * Chaos: the online rebalance under load, on real PostgreSQL and etcd, driven as `pulumi up`
 * drives it (the ShardRebalance provider in the SDK's dynamic-provider host over gRPC).
 *
 * Bounded writers (the real shard client, quorum writes at replicationFactor 3, each key owned by
 * one writer loop so its acknowledged history is exact) run while the shard set goes
 * 3 → 4 → 6 → 5:
 * - 3 → 4: the rebalancer (the host process) is killed mid-copy (failpoint after batch 3), then run again;
 * - 4 → 6: killed mid-cutover (failpoint right after the map switched reads to the new shards), then run again;
 * - 6 → 5: runs through.
 * Then one replica is stopped during quorum writes and brought back after them; reads repair it.
 *
 * After each step: every acknowledged write reads back with its latest value (or a later write
 * whose acknowledgement was lost with a fault); every key lives on exactly its replica set and
 * nowhere else (no loss, no duplicate left by the cleanup), each replica holding that value; the
 * rebalance verified every copied pair clean. Loads are bounded: 4 writer loops over 400 keys,
 * 5,000 seeded rows, loopback only.
 */
import pino from "pino";
import { ProviderHost, serializeDynamicProvider, type Props } from "../support/provider-host";
import { startLocalEtcd, type LocalEtcd } from "../support/etcd-cluster";
import { startPgCluster, type PgCluster } from "../support/pg-cluster";
import { ConfigClient } from "../../runtime/config-client";
import { ShardClient } from "../../runtime/shard-client";
import {
  REBALANCE_TYPE as TYPE,
  checkPlacement,
  problems,
  rebalanceInputs,
  seedRows,
  shardMapOf,
  type TestShardMap,
} from "../integration/shard-rebalance/support";

jest.setTimeout(600_000);

const PREFIX = "/rb-chaos/";
const RF = 3;
const LOOPS = 4;
const KEYS_PER_LOOP = 100;
const SEEDED = 5_000;

let etcd: LocalEtcd;
let cluster: PgCluster;
let config: ConfigClient;
let provider: string;
const hosts: ProviderHost[] = [];
const clients: ShardClient[] = [];

/** Per key: the last acknowledged value, and values attempted after it whose outcome is unknown. */
const acked = new Map<string, unknown>();
const uncertain = new Map<string, unknown[]>();
let writes = 0;
let failures = 0;

beforeAll(async () => {
  const { ShardRebalance } =
    require("../../providers/shard-rebalance") as typeof import("../../providers/shard-rebalance");
  ({ provider } = await serializeDynamicProvider(
    TYPE,
    () =>
      new ShardRebalance("rb", {
        target: "docker",
        etcdEndpoints: ["http://127.0.0.1:1"],
        shardMap: { vnodesPerWeight: 1, replicationFactor: 1, consistency: "one", shards: [] },
        username: "u",
        password: "p",
      }),
  ));
  [etcd, cluster] = await Promise.all([
    startLocalEtcd("rb-chaos"),
    startPgCluster(6, { namePrefix: "rbc", startTimeoutMs: 60_000 }),
  ]);
  config = ConfigClient.create({ endpoints: [etcd.endpoint], prefix: PREFIX, deadlineMs: 10_000 });
});

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  for (const h of hosts) await h.stop();
  config?.close();
  await Promise.all([cluster?.cleanup(), etcd?.stop()]);
});

const mapOf = (n: number): TestShardMap => shardMapOf(cluster.instances.slice(0, n), RF, { consistency: "quorum" });
const inputs = (map: TestShardMap): Props => ({
  __provider: provider,
  ...rebalanceInputs(etcd.endpoint, PREFIX, cluster, map, { leaseWaitSeconds: 60 }),
});

async function host(failpoints?: string): Promise<ProviderHost> {
  if (failpoints) process.env.SCALEPLANE_FAILPOINTS = failpoints;
  try {
    const h = await ProviderHost.start();
    hosts.push(h);
    return h;
  } finally {
    delete process.env.SCALEPLANE_FAILPOINTS;
  }
}

/** Bounded writers: each loop owns its keys and writes them in turn until stopped. */
function startWriters(): () => Promise<void> {
  let stop = false;
  const loops = Array.from({ length: LOOPS }, async (_, w) => {
    const client = clients[w % clients.length];
    for (let seq = 0; !stop; seq++) {
      const key = `w${w}-k${seq % KEYS_PER_LOOP}`;
      const value = { w, seq };
      writes++;
      try {
        await client.put(key, value);
        acked.set(key, value);
        uncertain.delete(key);
      } catch {
        failures++;
        uncertain.set(key, [...(uncertain.get(key) ?? []), value]);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  });
  return async () => {
    stop = true;
    await Promise.all(loops);
  };
}

/**
 * Reads every written key back (quorum; repairs stale replicas), then checks placement with the
 * values read: each must be the last acknowledged one or a later attempt. A write that failed at
 * the client may still commit on its replicas after the read-back (its statements outlive the
 * client's verdict); the replica set may then hold that attempt instead, all replicas alike.
 */
async function verifyAll(map: TestShardMap, others: number[] = []): Promise<void> {
  const reader = clients[0];
  const seen = new Map<string, unknown>();
  const wrong: string[] = [];
  for (const [key, value] of acked) {
    const item = await reader.get(key);
    const allowed = [value, ...(uncertain.get(key) ?? [])].map((v) => JSON.stringify(v));
    if (!item || !allowed.includes(JSON.stringify(item.value)))
      wrong.push(`${key}: read ${JSON.stringify(item?.value)}, acknowledged ${JSON.stringify(value)}`);
    else seen.set(key, item.value);
  }
  expect(wrong.slice(0, 5)).toEqual([]);
  await reader.repairsIdle();
  for (let i = 0; i < SEEDED; i++) seen.set(`seed-${i}`, { seed: i });
  const report = await checkPlacement(
    cluster,
    map,
    seen,
    others.map((i) => cluster.instances[i]),
    uncertain,
  );
  expect(problems(report)).toEqual({ lost: 0, stale: 0, misplaced: 0, unknown: 0, examples: [] });
}

async function expectMigrated(outs: Props, epoch: number): Promise<void> {
  expect(outs).toMatchObject({ epoch, lastRun: { action: "migrated" } });
  expect((outs.lastRun as { verifiedPairs: number }).verifiedPairs).toBeGreaterThan(0);
  const stored = await config.getShardMap();
  expect(stored?.epoch).toBe(epoch);
  expect(stored?.migration).toBeUndefined();
}

it("publishes 3 shards (rf 3) and seeds them", async () => {
  const h = await host();
  const created = await h.create(TYPE, (await h.check(TYPE, {}, inputs(mapOf(3)))).inputs);
  expect(created.outputs).toMatchObject({ epoch: 0, lastRun: { action: "initialized" } });
  await seedRows(
    cluster,
    mapOf(3),
    Array.from({ length: SEEDED }, (_, i) => ({
      key: `seed-${i}`,
      value: { seed: i },
      wall: 1,
      logical: i,
      node: "seed",
    })),
  );
  for (let i = 0; i < 2; i++)
    clients.push(
      await ShardClient.connect({
        config,
        user: cluster.user,
        password: cluster.password,
        epochWaitMs: 10_000,
        statementTimeoutMs: 10_000,
        connectTimeoutMs: 10_000,
        logger: pino({ level: "warn" }),
      }),
    );
});

it("3 → 4 under writes, rebalancer killed mid-copy, rerun: no loss, no duplicate", async () => {
  const stop = startWriters();
  try {
    const doomed = await host("rebalance.after-batch@3");
    await expect(doomed.update(TYPE, `${PREFIX}shard-map`, inputs(mapOf(3)), inputs(mapOf(4)))).rejects.toThrow();
    expect(doomed.stderr.join("")).toMatch(/failpoint rebalance.after-batch \(hit 3\)/);
    expect((await config.getShardMap())?.migration?.phase).toBe("dual-write");
    const h = await host();
    await expectMigrated(await h.update(TYPE, `${PREFIX}shard-map`, inputs(mapOf(3)), inputs(mapOf(4))), 3);
  } finally {
    await stop();
  }
  await verifyAll(mapOf(4), [4, 5]);
});

it("4 → 6 under writes, rebalancer killed mid-cutover, rerun: no loss, no duplicate", async () => {
  const stop = startWriters();
  try {
    const doomed = await host("rebalance.after-cutover");
    await expect(doomed.update(TYPE, `${PREFIX}shard-map`, inputs(mapOf(4)), inputs(mapOf(6)))).rejects.toThrow();
    expect(doomed.stderr.join("")).toMatch(/failpoint rebalance.after-cutover/);
    expect((await config.getShardMap())?.migration?.phase).toBe("cutover");
    const h = await host();
    await expectMigrated(await h.update(TYPE, `${PREFIX}shard-map`, inputs(mapOf(4)), inputs(mapOf(6))), 6);
  } finally {
    await stop();
  }
  await verifyAll(mapOf(6));
});

it("6 → 5 under writes: no loss, the leaving shard emptied", async () => {
  const stop = startWriters();
  try {
    const h = await host();
    await expectMigrated(await h.update(TYPE, `${PREFIX}shard-map`, inputs(mapOf(6)), inputs(mapOf(5))), 9);
  } finally {
    await stop();
  }
  await verifyAll(mapOf(5), [5]);
});

it("a replica stopped during quorum writes and brought back is repaired by reads", async () => {
  const victim = cluster.instances[1];
  const before = writes;
  const stop = startWriters();
  let ackedWhileDown = 0;
  try {
    await new Promise((r) => setTimeout(r, 1000));
    await victim.stop("fast");
    const during = writes - failures;
    await new Promise((r) => setTimeout(r, 3000));
    ackedWhileDown = writes - failures - during;
  } finally {
    // Stopped before the replica returns, so writes cannot overwrite what it missed: only reads repair it.
    await stop();
  }
  // quorum (2 of 3) kept acknowledging while one replica was down
  expect(ackedWhileDown).toBeGreaterThan(0);
  expect(writes).toBeGreaterThan(before);
  await victim.start();
  const repaired = clients[0].repairStats.completed;
  await verifyAll(mapOf(5), [5]);
  // the restarted replica missed acknowledged writes: the reads repaired it (and checkPlacement found no stale copy)
  expect(clients[0].repairStats.completed).toBeGreaterThan(repaired);
  console.log(`chaos writers: ${writes} writes, ${failures} failed (unacknowledged), ${acked.size} keys`);
});
