/**
 * The rebalancer's fence at the database (runtime/shard-client/sql.ts: a fencing-token row per
 * shard and a statement trigger) on real PostgreSQL, and the engine's reaction to a lost lease on
 * real etcd:
 * - once a newer rebalancer claims a shard, every statement of the older one that would change it
 *   fails inside its own transaction: its COPY, its merge, its fence raise, its DELETE; it cannot
 *   claim the shard back; routers' statements (no token) pass;
 * - a claim waits for the older rebalancer's statement in flight, which commits first;
 * - a rebalance whose lease is revoked mid-copy stops with RebalanceDeposedError, and the next run
 *   finishes the migration.
 */
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { from as copyFrom } from "pg-copy-streams";
import pino from "pino";
import { hashKey } from "../../../core/sharding/ring";
import { ConfigClient } from "../../../runtime/config-client";
import { RebalanceDeposedError, runRebalance } from "../../../runtime/rebalance";
import { RebalanceConnections } from "../../../runtime/rebalance/shards";
import { deleteSliceSql, mergeRowsSql } from "../../../runtime/rebalance/sql";
import {
  CLAIM_REBALANCER_SQL,
  DEPOSED_SQLSTATE,
  ENSURE_SCHEMA_SQL,
  FENCED_UPSERT_SQL,
  KV_TABLE,
  RAISE_FENCE_SQL,
} from "../../../runtime/shard-client/sql";
import { startLocalEtcd, type LocalEtcd } from "../../support/etcd-cluster";
import { startPgCluster, type PgCluster, type PgInstance } from "../../support/pg-cluster";
import { checkPlacement, problems, seedRows, shardMapOf } from "./support";

jest.setTimeout(240_000);

let cluster: PgCluster;
let etcd: LocalEtcd;
let pg: PgInstance;
const opened: RebalanceConnections[] = [];

beforeAll(async () => {
  [cluster, etcd] = await Promise.all([startPgCluster(3, { namePrefix: "rbfence" }), startLocalEtcd("rb-fence")]);
  pg = cluster.instances[0];
  await pg.query(ENSURE_SCHEMA_SQL);
});

afterAll(async () => {
  for (const c of opened) await c.close();
  await Promise.all([cluster?.cleanup(), etcd?.stop()]);
});

/** A rebalancer's connections to the first instance, carrying `token` of etcd cluster `etcdCluster`. */
function rebalancer(token: number, etcdCluster = "c1"): RebalanceConnections {
  const c = new RebalanceConnections(
    { user: cluster.user, password: cluster.password },
    {},
    { fence: { cluster: etcdCluster, token } },
  );
  c.add(cluster.members().slice(0, 1));
  opened.push(c);
  return c;
}

const row = (key: string, wall: number) => [key, hashKey(key), JSON.stringify({ key }), wall, 0, "fence-test"];

/** The SQLSTATE a call fails with (fails the test when it succeeds). */
async function sqlState(call: () => Promise<unknown>): Promise<string> {
  try {
    await call();
  } catch (e) {
    for (let x: unknown = e; x instanceof Error; x = (x as { cause?: unknown }).cause) {
      const code = (x as { code?: unknown }).code;
      if (typeof code === "string") return code;
    }
    throw e;
  }
  throw new Error("the statement was not refused");
}

async function copyIn(c: RebalanceConnections, text: string): Promise<void> {
  const client = await c.client(pg.name);
  try {
    await pipeline(Readable.from([Buffer.from(text)]), client.query(copyFrom("COPY scaleplane_kv FROM STDIN")));
  } finally {
    client.release();
  }
}

it("a newer rebalancer's claim makes every changing statement of the older one fail on the shard; routers pass", async () => {
  const older = rebalancer(5);
  const newer = rebalancer(7);
  const shard = pg.name;
  expect(await older.query(shard, CLAIM_REBALANCER_SQL, [5, "c1"])).toEqual([{ token: "5" }]);
  // The claimed rebalancer works: merge, COPY, fence raise, delete.
  await older.query(shard, mergeRowsSql(KV_TABLE), [["a"], [hashKey("a")], ['{"v":1}'], [10], [0], ["n"]]);
  await copyIn(older, `b\t${hashKey("b")}\t{"v":2}\t10\t0\tn\n`);
  await older.query(shard, RAISE_FENCE_SQL, [1]);
  await older.query(shard, deleteSliceSql(KV_TABLE, { ranges: [{ start: hashKey("a"), end: hashKey("a") + 1 }] }));

  expect(await newer.query(shard, CLAIM_REBALANCER_SQL, [7, "c1"])).toEqual([{ token: "7" }]);
  expect(
    await sqlState(() => older.query(shard, mergeRowsSql(KV_TABLE), [["c"], [hashKey("c")], ["1"], [11], [0], ["n"]])),
  ).toBe(DEPOSED_SQLSTATE);
  expect(await sqlState(() => copyIn(older, `d\t${hashKey("d")}\t1\t11\t0\tn\n`))).toBe(DEPOSED_SQLSTATE);
  expect(await sqlState(() => older.query(shard, RAISE_FENCE_SQL, [2]))).toBe(DEPOSED_SQLSTATE);
  expect(await sqlState(() => older.query(shard, "DELETE FROM scaleplane_kv"))).toBe(DEPOSED_SQLSTATE);
  // It cannot take the shard back.
  expect(await sqlState(() => older.query(shard, CLAIM_REBALANCER_SQL, [5, "c1"]))).toBe(DEPOSED_SQLSTATE);
  // Nothing it tried landed; the newer one works; a router (no token) writes as before.
  expect((await pg.query<{ key: string }>("SELECT key FROM scaleplane_kv ORDER BY key")).map((r) => r.key)).toEqual([
    "b",
  ]);
  expect((await pg.query<{ min_epoch: string }>("SELECT min_epoch::text FROM scaleplane_meta"))[0].min_epoch).toBe("1");
  await newer.query(shard, RAISE_FENCE_SQL, [2]);
  const routed = await pg.query<{ applied: number }>(FENCED_UPSERT_SQL, [...row("e", 12), 2, null]);
  expect(routed[0].applied).toBe(1);
});

it("a claim waits for the older rebalancer's statement in flight, which commits; the next one fails", async () => {
  const older = rebalancer(9);
  const newer = rebalancer(11);
  await older.query(pg.name, CLAIM_REBALANCER_SQL, [9, "c1"]);
  const inFlight = await older.client(pg.name);
  try {
    await inFlight.query("BEGIN");
    await inFlight.query(mergeRowsSql(KV_TABLE), [["f"], [hashKey("f")], ["1"], [13], [0], ["n"]]);
    let claimed = false;
    const claim = newer.query(pg.name, CLAIM_REBALANCER_SQL, [11, "c1"]).then(() => (claimed = true));
    await new Promise((r) => setTimeout(r, 500));
    expect(claimed).toBe(false); // waits for the statement's FOR SHARE on the fence row
    await inFlight.query("COMMIT");
    await claim;
  } finally {
    inFlight.release();
  }
  expect((await pg.query("SELECT 1 FROM scaleplane_kv WHERE key = 'f'")).length).toBe(1);
  expect(
    await sqlState(() =>
      older.query(pg.name, mergeRowsSql(KV_TABLE), [["g"], [hashKey("g")], ["1"], [14], [0], ["n"]]),
    ),
  ).toBe(DEPOSED_SQLSTATE);
});

it("a config service rebuilt from scratch (another etcd cluster, revisions from 1 again) claims the shard anew", async () => {
  const rebuilt = rebalancer(3, "c2");
  expect(await rebuilt.query(pg.name, CLAIM_REBALANCER_SQL, [3, "c2"])).toEqual([{ token: "3" }]);
  await rebuilt.query(pg.name, RAISE_FENCE_SQL, [3]);
  // The old cluster's rebalancers are out: even a newer-looking token of theirs is another cluster's.
  expect(await sqlState(() => rebalancer(11).query(pg.name, RAISE_FENCE_SQL, [4]))).toBe(DEPOSED_SQLSTATE);
});

it("a rebalance whose lease is revoked mid-copy stops (deposed); the next run finishes the migration", async () => {
  const config = ConfigClient.create({
    endpoints: [etcd.endpoint],
    prefix: "/rb-fence/",
    deadlineMs: 10_000,
    logger: pino({ level: "warn" }),
  });
  try {
    const credentials = { user: cluster.user, password: cluster.password };
    const two = shardMapOf(cluster.instances.slice(1, 3), 1, { consistency: "one" });
    const three = shardMapOf(cluster.instances, 1, { consistency: "one" });
    await pg.query("TRUNCATE scaleplane_kv");
    await pg.query("UPDATE scaleplane_rebalancer SET token = 0, cluster = ''"); // the tests above claimed it
    await runRebalance({ config, desired: two, credentials });
    const data = Array.from({ length: 20_000 }, (_, i) => ({
      key: `k${i}`,
      value: { i },
      wall: 1,
      logical: i,
      node: "seed",
    }));
    await seedRows(cluster, two, data);
    let revoked = false;
    const run = runRebalance({
      config,
      desired: three,
      credentials,
      maxRowsPerSecond: 20_000,
      onEvent: (e) => {
        // On the first copy progress: revoke the lease behind the leadership, as an expiry would.
        if (e.kind === "copy" && !revoked) {
          revoked = true;
          void (async () => {
            const leases = await config.etcd.leaseClient.leaseLeases();
            for (const l of leases.leases) await config.etcd.leaseClient.leaseRevoke({ ID: l.ID });
          })();
        }
      },
    });
    await expect(run).rejects.toBeInstanceOf(RebalanceDeposedError);
    expect((await config.getShardMap())?.migration?.phase).toBe("dual-write");
    const done = await runRebalance({ config, desired: three, credentials });
    expect(done.action).toBe("migrated");
    const report = await checkPlacement(cluster, three, new Map(data.map((r) => [r.key, r.value])));
    expect(problems(report)).toEqual({ lost: 0, stale: 0, misplaced: 0, unknown: 0, examples: [] });
  } finally {
    config.close();
  }
});
