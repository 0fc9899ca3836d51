/**
 * Shrinking and replacing shards through the ShardedDatabase component and the ShardRebalance
 * provider, as `pulumi up` does on Docker: the component (run under Pulumi's mock runtime) gives
 * the provider the shard map as the apps reach it (container names) and the 127.0.0.1 ports of
 * the shards it still lists; the provider (in the SDK's dynamic-provider host, over gRPC) gets the
 * previous inputs on update, which say where the leaving shards are. The shards are real
 * PostgreSQL instances; their "published ports" are the instances' ports (what Docker would map).
 *
 * - 5 → 3 shards at replication 3 and quorum while a router writes: the leaving shards are read
 *   (a range two of them held needs one of them: rf − w + 1 = 2) and emptied; every acknowledged
 *   write is on its replicas.
 * - A failed shard replaced (remove + add in one change) while it is down: copied from the two
 *   answering replicas, its cleanup skipped and reported; the next run proceeds.
 */
import pino from "pino";
import { ShardedDatabase } from "../../../components/sharded-database";
import { installMocks, settle } from "../../../scripts/lib/offline";
import { ConfigClient } from "../../../runtime/config-client";
import { ShardClient } from "../../../runtime/shard-client";
import { startLocalEtcd, type LocalEtcd } from "../../support/etcd-cluster";
import { plainInputs } from "../../support/inputs";
import { startPgCluster, type PgCluster } from "../../support/pg-cluster";
import { ProviderHost, type Props } from "../../support/provider-host";
import { REBALANCE_TYPE as TYPE, checkPlacement, problems, seedRows, type TestShardMap } from "./support";

jest.setTimeout(300_000);

const PREFIX = "/rb-component/";
const SEEDED = 3000;

let etcd: LocalEtcd;
let cluster: PgCluster;
let config: ConfigClient;
let client: ShardClient;
const hosts: ProviderHost[] = [];
/** The component's ShardRebalance inputs per shard list (as the engine receives them). */
const inputsOf = new Map<string, Props>();

const LISTS: Record<string, string[]> = {
  five: ["shard-0", "shard-1", "shard-2", "shard-3", "shard-4"],
  three: ["shard-0", "shard-1", "shard-2"],
  replaced: ["shard-0", "shard-1", "shard-5"],
};

beforeAll(async () => {
  [etcd, cluster] = await Promise.all([
    startLocalEtcd("rb-component"),
    startPgCluster(6, { namePrefix: "shard", startTimeoutMs: 60_000 }),
  ]);
  config = ConfigClient.create({ endpoints: [etcd.endpoint], prefix: PREFIX, deadlineMs: 10_000 });
  // One mock program run with one ShardedDatabase per shard list (the same database, so the same
  // container names): what `pulumi up` would hand the provider for each version of the config.
  const rec = installMocks({ stack: "shrink", project: "scaleplane" });
  for (const [version, names] of Object.entries(LISTS))
    new ShardedDatabase(version, {
      target: "docker",
      database: {
        name: "db",
        shards: names.map((name) => ({ name })),
        replicationFactor: 3,
        consistency: "quorum",
        databaseName: cluster.database,
        username: cluster.user,
      },
      password: cluster.password,
      docker: { portBase: 40000, configEndpoints: [etcd.endpoint] },
    });
  await settle();
  for (const r of rec.resources.filter((x) => x.type === TYPE)) {
    const version = rec.parentOf(r)!.name;
    const inputs = plainInputs(r.inputs) as Props & { reach: Record<string, string> };
    // Docker publishes each shard's port on 127.0.0.1: here, the instance's own port.
    const reach = Object.fromEntries(
      Object.keys(inputs.reach).map((name) => [
        name,
        `127.0.0.1:${cluster.instances.find((i) => i.name === name)!.port}`,
      ]),
    );
    inputsOf.set(version, { ...inputs, reach, etcdPrefix: PREFIX });
  }
});

afterAll(async () => {
  await client?.close().catch(() => undefined);
  for (const h of hosts) await h.stop();
  config?.close();
  await Promise.all([cluster?.cleanup(), etcd?.stop()]);
});

async function host(): Promise<ProviderHost> {
  const h = await ProviderHost.start();
  hosts.push(h);
  return h;
}

const mapOf = (version: string): TestShardMap => inputsOf.get(version)!.shardMap as TestShardMap;

/** Per key: the last acknowledged value, and values whose write outcome is unknown. */
const acked = new Map<string, unknown>();
const uncertain = new Map<string, unknown[]>();

/** One writer loop (quorum puts over 200 keys) until stopped. */
function startWriter(): () => Promise<number> {
  let stop = false;
  let n = 0;
  const loop = (async () => {
    for (let seq = 0; !stop; seq++) {
      const key = `w-${seq % 200}`;
      const value = { seq };
      try {
        await client.put(key, value);
        acked.set(key, value);
        uncertain.delete(key);
        n++;
      } catch {
        uncertain.set(key, [...(uncertain.get(key) ?? []), value]);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  })();
  return async () => {
    stop = true;
    await loop;
    return n;
  };
}

async function expectPlaced(version: string, leftShards: string[]): Promise<void> {
  const expected = new Map<string, unknown>();
  for (let i = 0; i < SEEDED; i++) expected.set(`seed-${i}`, { seed: i });
  for (const [key, value] of acked) {
    const item = await client.get(key);
    const allowed = [value, ...(uncertain.get(key) ?? [])].map((v) => JSON.stringify(v));
    expect([key, allowed.includes(JSON.stringify(item?.value))]).toEqual([key, true]);
    expected.set(key, item!.value);
  }
  await client.repairsIdle();
  const report = await checkPlacement(
    cluster,
    mapOf(version),
    expected,
    cluster.instances.filter((i) => leftShards.includes(i.name) && i.running()),
    uncertain,
  );
  expect(problems(report)).toEqual({ lost: 0, stale: 0, misplaced: 0, unknown: 0, examples: [] });
}

it("publishes the component's 5 shards and seeds them", async () => {
  const h = await host();
  const five = inputsOf.get("five")!;
  const created = await h.create(TYPE, (await h.check(TYPE, {}, five, "test", CHECK_MS)).inputs);
  expect(created.outputs).toMatchObject({ epoch: 0, lastRun: { action: "initialized" } });
  const stored = await config.getShardMap();
  // The map holds container names (the apps' view): only `reach` lets this process in.
  expect(stored?.shards.map((s) => s.host)).toEqual(LISTS.five.map((n) => `db-shrink-${n}`));
  await seedRows(
    cluster,
    mapOf("five"),
    Array.from({ length: SEEDED }, (_, i) => ({
      key: `seed-${i}`,
      value: { seed: i },
      wall: 1,
      logical: i,
      node: "seed",
    })),
  );
  client = await ShardClient.connect({
    config,
    user: cluster.user,
    password: cluster.password,
    reach: Object.fromEntries(cluster.instances.map((i) => [i.name, { host: i.host, port: i.port }])),
    statementTimeoutMs: 10_000,
    epochWaitMs: 10_000,
    logger: pino({ level: "warn" }),
  });
});

/**
 * check plans the change (5 → 3 at rf 3 is ~116k ring ranges: seconds of CPU, tens of seconds on a
 * loaded 2-core machine); Pulumi gives check no deadline, the test harness's default is 30 s.
 */
const CHECK_MS = 180_000;

it("shrinks 5 → 3 under writes: the provider reaches the leaving shards through the previous inputs", async () => {
  const h = await host();
  const five = inputsOf.get("five")!;
  const three = inputsOf.get("three")!;
  // The component lists only the shards it keeps.
  expect(Object.keys(three.reach as object).sort()).toEqual(LISTS.three);
  expect((await h.check(TYPE, five, three, "test", CHECK_MS)).failures).toEqual([]);
  const stop = startWriter();
  let outs: Props;
  try {
    outs = await h.update(TYPE, `${PREFIX}shard-map`, { ...five, epoch: 0 }, three);
  } finally {
    expect(await stop()).toBeGreaterThan(0);
  }
  expect(outs).toMatchObject({ epoch: 3, lastRun: { action: "migrated", deadShards: [], skippedCleanups: [] } });
  expect((outs.lastRun as { rowsDeleted: number }).rowsDeleted).toBeGreaterThan(0);
  const stored = await config.getShardMap();
  expect(stored?.shards.map((s) => s.name)).toEqual(LISTS.three);
  expect(stored?.migration).toBeUndefined();
  // The leaving shards were emptied of every moved row (Pulumi deletes their containers next).
  await expectPlaced("three", ["shard-3", "shard-4"]);
});

it("replaces a failed shard (remove + add in one change) while it is down; the next run proceeds", async () => {
  const three = inputsOf.get("three")!;
  const replaced = inputsOf.get("replaced")!;
  const failed = cluster.instances.find((i) => i.name === "shard-2")!;
  await failed.stop("immediate");
  const stop = startWriter();
  let outs: Props;
  try {
    outs = await (await host()).update(TYPE, `${PREFIX}shard-map`, { ...three, epoch: 3 }, replaced);
  } finally {
    expect(await stop()).toBeGreaterThan(0);
  }
  expect(outs).toMatchObject({
    epoch: 6,
    lastRun: { action: "migrated", deadShards: ["shard-2"], skippedCleanups: ["shard-2"] },
  });
  await expectPlaced("replaced", []);
  // The next run has nothing left to do, although shard-2 is still down.
  const again = await (await host()).update(TYPE, `${PREFIX}shard-map`, { ...outs, ...replaced }, replaced);
  expect(again).toMatchObject({ epoch: 6, lastRun: { action: "none" } });
});
