/**
 * ShardRebalance through the SDK's dynamic-provider host over gRPC, as the engine drives it,
 * against real PostgreSQL instances and a real etcd: check refuses bad inputs (naming the
 * property) and unreachable targets; create publishes the first shard map; update moves the data
 * 3 → 4 shards (rows land on exactly their new replica sets with their values, the old owners'
 * copies are deleted, the map ends at epoch +3 without a migration); the password never reaches
 * the outputs; a host killed mid-copy (failpoint) is finished by the next run with no loss and no
 * duplicate; a second rebalancer waits for the lease.
 */
import { ProviderHost, serializeDynamicProvider, type Props } from "../../support/provider-host";
import { startLocalEtcd, type LocalEtcd } from "../../support/etcd-cluster";
import { startPgCluster, type PgCluster } from "../../support/pg-cluster";
import { ConfigClient } from "../../../runtime/config-client";
import { ACTIVE_KEY } from "../../../runtime/rebalance/progress";
import {
  REBALANCE_TYPE as TYPE,
  checkPlacement,
  ensureSchema,
  problems,
  rebalanceInputs,
  seedRows,
  shardMapOf,
  type Row,
} from "./support";

let etcd: LocalEtcd;
let cluster: PgCluster;
let provider: string;
let config: ConfigClient;
const hosts: ProviderHost[] = [];
const PREFIX = "/rb-provider/";

beforeAll(async () => {
  const { ShardRebalance } =
    require("../../../providers/shard-rebalance") as typeof import("../../../providers/shard-rebalance");
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
  [etcd, cluster] = await Promise.all([startLocalEtcd("rb-provider"), startPgCluster(5, { namePrefix: "rbp" })]);
  config = ConfigClient.create({ endpoints: [etcd.endpoint], prefix: PREFIX });
});

afterAll(async () => {
  for (const h of hosts) await h.stop();
  config?.close();
  await Promise.all([cluster?.cleanup(), etcd?.stop()]);
});

const withProvider = (p: Props) => ({ __provider: provider, ...p });

async function startHost(): Promise<ProviderHost> {
  const h = await ProviderHost.start();
  hosts.push(h);
  return h;
}

function rows(n: number, tag: string): Row[] {
  return Array.from({ length: n }, (_, i) => ({
    key: `k${i}`,
    value: { i, tag },
    wall: Date.now(),
    logical: i,
    node: "seed",
  }));
}

it("check refuses unreachable targets and bad inputs, naming the property", async () => {
  const host = await startHost();
  const map = shardMapOf(cluster.instances.slice(0, 3), 2);
  const aws = await host.check(
    TYPE,
    {},
    withProvider(rebalanceInputs(etcd.endpoint, PREFIX, cluster, map, { target: "aws" })),
  );
  expect(aws.failures).toHaveLength(1);
  expect(aws.failures[0].property).toBe("target");
  expect(aws.failures[0].reason).toMatch(
    /target aws: the shards are RDS instances in private subnets.*cannot reach.*Refusing rather than timing out/,
  );
  const bad = await host.check(
    TYPE,
    {},
    withProvider(rebalanceInputs("127.0.0.1:2379", PREFIX, cluster, { ...map, replicationFactor: 0 })),
  );
  expect(bad.failures.map((f) => f.property).sort()).toEqual(["etcdEndpoints.0", "shardMap.replicationFactor"]);
});

it("create publishes the shard map; update moves 3 → 4 shards online and cleans the old owners; no secret in outputs", async () => {
  const host = await startHost();
  const three = shardMapOf(cluster.instances.slice(0, 3), 2);
  const checked = await host.check(TYPE, {}, withProvider(rebalanceInputs(etcd.endpoint, PREFIX, cluster, three)));
  expect(checked.failures).toEqual([]);
  const created = await host.create(TYPE, checked.inputs);
  expect(created.id).toBe(`${PREFIX}shard-map`);
  expect(created.outputs).toMatchObject({ epoch: 0, lastRun: { action: "initialized" } });
  expect(JSON.stringify(created.outputs)).not.toContain(cluster.password);
  expect(created.outputs.password).toBeUndefined();
  expect((await config.getShardMap())?.shards.map((s) => s.name)).toEqual(three.shards.map((s) => s.name));

  const data = rows(3000, "v1");
  await seedRows(cluster, three, data);
  const four = shardMapOf(cluster.instances.slice(0, 4), 2);
  const news = withProvider(rebalanceInputs(etcd.endpoint, PREFIX, cluster, four));
  expect((await host.check(TYPE, checked.inputs, news)).failures).toEqual([]);
  expect(await host.diff(TYPE, created.id, created.outputs, news)).toMatchObject({ changes: "some", replaces: [] });
  const updated = await host.update(TYPE, created.id, created.outputs, news);
  expect(updated).toMatchObject({ epoch: 3, lastRun: { action: "migrated", keyLevelVerified: 0 } });
  const run = updated.lastRun as { rowsCopied: number; rowsDeleted: number; verifiedPairs: number };
  expect(run.rowsCopied).toBeGreaterThan(0);
  expect(run.rowsDeleted).toBeGreaterThan(0);
  expect(run.verifiedPairs).toBeGreaterThan(0);
  expect(JSON.stringify(updated)).not.toContain(cluster.password);

  const stored = await config.getShardMap();
  expect(stored).toMatchObject({ epoch: 3, shards: four.shards });
  expect(stored?.migration).toBeUndefined();
  expect(await config.get(ACTIVE_KEY)).toBeUndefined();
  const report = await checkPlacement(cluster, four, new Map(data.map((r) => [r.key, r.value])));
  expect(problems(report)).toEqual({ lost: 0, stale: 0, misplaced: 0, unknown: 0, examples: [] });
  expect(report.rows).toBe(data.length * 2);

  // Same inputs again: no change, and an update would do nothing.
  expect(await host.diff(TYPE, created.id, updated, news)).toMatchObject({ changes: "none" });
  const again = await host.update(TYPE, created.id, updated, news);
  expect(again).toMatchObject({ epoch: 3, lastRun: { action: "none", rowsCopied: 0 } });
});

it("a host killed mid-copy leaves a migration that the next run finishes with no loss and no duplicate", async () => {
  const four = shardMapOf(cluster.instances.slice(0, 4), 2);
  const five = shardMapOf(cluster.instances.slice(0, 5), 2);
  const data = rows(3000, "v2");
  await ensureSchema(cluster.instances);
  await seedRows(cluster, four, data);
  const inputs = withProvider(rebalanceInputs(etcd.endpoint, PREFIX, cluster, five, { leaseTtlSeconds: 5 }));
  const olds = { ...rebalanceInputs(etcd.endpoint, PREFIX, cluster, four), epoch: 3 };

  process.env.SCALEPLANE_FAILPOINTS = "rebalance.after-batch";
  const doomed = await startHost();
  delete process.env.SCALEPLANE_FAILPOINTS;
  await expect(doomed.update(TYPE, `${PREFIX}shard-map`, olds, inputs)).rejects.toThrow();
  expect(doomed.stderr.join("")).toMatch(/failpoint rebalance.after-batch/);
  const mid = await config.getShardMap();
  expect(mid?.migration?.phase).toBe("dual-write");
  expect(mid?.epoch).toBe(4);

  const host = await startHost();
  const done = await host.update(TYPE, `${PREFIX}shard-map`, olds, inputs);
  expect(done).toMatchObject({ epoch: 6, lastRun: { action: "migrated", migrations: [mid!.migration!.id] } });
  const report = await checkPlacement(cluster, five, new Map(data.map((r) => [r.key, r.value])));
  expect(problems(report)).toEqual({ lost: 0, stale: 0, misplaced: 0, unknown: 0, examples: [] });
});

it("refuses, before anything moves, a shard name reused for another node", async () => {
  const host = await startHost();
  const five = shardMapOf(cluster.instances.slice(0, 5), 2);
  const moved = { ...five, shards: five.shards.map((s, i) => (i === 0 ? { ...s, port: s.port + 1000 } : s)) };
  const olds = rebalanceInputs(etcd.endpoint, PREFIX, cluster, five);
  const { failures } = await host.check(
    TYPE,
    withProvider(olds),
    withProvider(rebalanceInputs(etcd.endpoint, PREFIX, cluster, moved)),
  );
  expect(failures).toHaveLength(1);
  expect(failures[0].property).toBe("shardMap.shards[0].port");
  expect(failures[0].reason).toMatch(/refused before anything moved/);
  expect(failures[0].reason).toContain(five.shards[0].name);
  // The engine refuses it too, leaving the stored map untouched.
  const before = await config.getShardMap();
  await expect(
    host.update(
      TYPE,
      `${PREFIX}shard-map`,
      { ...olds, epoch: before!.epoch },
      withProvider(rebalanceInputs(etcd.endpoint, PREFIX, cluster, moved)),
    ),
  ).rejects.toThrow(/refused before anything moved/);
  expect(await config.getShardMap()).toEqual(before);
});
