/**
 * Range and directory placement moved by the rebalancer (issue 15 point 7), on real PostgreSQL
 * shards and a real etcd, while a router writes and reads the keys being moved: re-pinning a
 * tenant, pinning a hashed tenant and unpinning one (directory), moving a range boundary and
 * re-assigning a range (range). The change goes through the epoch fence like any other (dual-write,
 * copy of rf − w + 1 old replicas, verification, cutover, cleanup): every read in between returns
 * the last acknowledged value (the moved keys never disappear), and afterwards every key is on
 * exactly its new replicas. A change between range and hash placement is refused, naming the key.
 */
import pino from "pino";
import type { PlacementStrategy } from "../../../core/sharding/placement";
import { ConfigClient } from "../../../runtime/config-client";
import { RebalanceRefusedError, runRebalance } from "../../../runtime/rebalance";
import { ShardClient } from "../../../runtime/shard-client";
import { startLocalEtcd, type LocalEtcd } from "../../support/etcd-cluster";
import { startPgCluster, type PgCluster } from "../../support/pg-cluster";
import { checkPlacement, problems, shardMapOf, type TestShardMap } from "./support";

jest.setTimeout(240_000);

let etcd: LocalEtcd;
let cluster: PgCluster;
const opened: { close(): unknown }[] = [];
const quiet = pino({ level: "warn" });

beforeAll(async () => {
  [etcd, cluster] = await Promise.all([startLocalEtcd("rb-strategies"), startPgCluster(4, { namePrefix: "rbst" })]);
});
// Each test publishes its own shard map (epoch 0) on the same shards: start them empty and unfenced.
beforeEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.close();
  await Promise.all(
    cluster.instances.map((i) =>
      i
        .query(
          "TRUNCATE scaleplane_kv; UPDATE scaleplane_meta SET min_epoch = 0; UPDATE scaleplane_rebalancer SET token = 0, cluster = ''",
        )
        .catch((e: { code?: string }) => {
          if (e.code !== "42P01") throw e; // no schema yet
        }),
    ),
  );
});

afterAll(async () => {
  for (const o of opened.reverse()) await o.close();
  await Promise.all([cluster?.cleanup(), etcd?.stop()]);
});

const withStrategy = (strategy: PlacementStrategy): TestShardMap => ({
  ...shardMapOf(cluster.instances, 3, { vnodes: 16, consistency: "quorum" }),
  strategy,
});

/**
 * Runs the rebalance from `from` to `to` while one router writes `keys` in turn and another reads
 * them, checking every read against the values acknowledged before it started; then checks every
 * key's placement under `to`.
 */
async function moveUnderLoad(prefix: string, from: TestShardMap, to: TestShardMap, keys: readonly string[]) {
  const config = ConfigClient.create({ endpoints: [etcd.endpoint], prefix, deadlineMs: 10_000, logger: quiet });
  opened.push(config);
  const credentials = { user: cluster.user, password: cluster.password };
  await runRebalance({ config, desired: from, credentials });
  const options = {
    config,
    user: cluster.user,
    password: cluster.password,
    logger: quiet,
    epochWaitMs: 10_000,
    statementTimeoutMs: 10_000,
  };
  const writer = await ShardClient.connect(options);
  const reader = await ShardClient.connect(options);
  opened.push(writer, reader);
  /** Per key: acknowledged values in order. */
  const acked = new Map<string, number[]>();
  for (const k of keys) {
    await writer.put(k, 0);
    acked.set(k, [0]);
  }
  let stop = false;
  const wrong: string[] = [];
  let reads = 0;
  const writing = (async () => {
    for (let n = 1; !stop; n++) {
      const k = keys[n % keys.length];
      try {
        await writer.put(k, n);
        acked.get(k)!.push(n);
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  })();
  const reading = (async () => {
    for (let n = 0; !stop; n++) {
      const k = keys[n % keys.length];
      const known = acked.get(k)!;
      const floor = known[known.length - 1]; // acknowledged before this read began
      try {
        const got = (await reader.get<number>(k))?.value;
        reads++;
        if (got === undefined || got < floor) wrong.push(`${k}: read ${got}, ${floor} was acknowledged before`);
      } catch {
        // a read that fails returns nothing: it cannot be wrong
      }
    }
  })();
  let report;
  try {
    report = await runRebalance({ config, desired: to, credentials });
  } finally {
    stop = true;
    await Promise.all([writing, reading]);
  }
  expect(report.action).toBe("migrated");
  expect(reads).toBeGreaterThan(0);
  expect(wrong.slice(0, 5)).toEqual([]);
  const expected = new Map(keys.map((k) => [k, acked.get(k)!.at(-1)]));
  const placed = await checkPlacement(cluster, to, expected, [], new Map());
  expect(problems(placed)).toEqual({ lost: 0, stale: 0, misplaced: 0, unknown: 0, examples: [] });
  expect((await config.getShardMap())?.strategy).toEqual(to.strategy);
  return report;
}

it("directory: re-pins a tenant, pins a hashed one and unpins another, moving their rows online", async () => {
  const keys = ["acme", "initech", "globex"].flatMap((t) => Array.from({ length: 40 }, (_, i) => `${t}:k${i}`));
  const report = await moveUnderLoad(
    "/rb-st-dir/",
    withStrategy({ kind: "directory", separator: ":", tenants: { acme: "rbst-0", globex: "rbst-2" } }),
    withStrategy({ kind: "directory", separator: ":", tenants: { acme: "rbst-3", initech: "rbst-1" } }),
    keys,
  );
  expect(report.rowsCopied).toBeGreaterThan(0);
  expect(report.rowsDeleted).toBeGreaterThan(0);
});

it("range: moves a boundary and re-assigns a range, moving the keys between them online", async () => {
  const keys = Array.from({ length: 120 }, (_, i) => `ev/${String.fromCharCode(97 + (i % 26))}${i}`);
  const ranges = (mid: string, last: string): PlacementStrategy => ({
    kind: "range",
    ranges: [
      { start: "", shard: "rbst-0" },
      { start: mid, shard: "rbst-1" },
      { start: "ev/t", shard: last },
    ],
  });
  await moveUnderLoad(
    "/rb-st-range/",
    withStrategy(ranges("ev/m", "rbst-2")),
    withStrategy(ranges("ev/p", "rbst-3")),
    keys,
  );
});

it("refuses to turn a range placement into a hash one online, naming the key", async () => {
  const config = ConfigClient.create({ endpoints: [etcd.endpoint], prefix: "/rb-st-refuse/", logger: quiet });
  opened.push(config);
  const credentials = { user: cluster.user, password: cluster.password };
  const ranged = withStrategy({ kind: "range", ranges: [{ start: "", shard: "rbst-0" }] });
  await runRebalance({ config, desired: ranged, credentials });
  const { strategy: _s, ...hashed } = ranged;
  const e = await runRebalance({ config, desired: hashed, credentials }).then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(RebalanceRefusedError);
  expect(e).toMatchObject({ argument: "after.strategy.kind" });
  expect((await config.getShardMap())?.strategy).toEqual(ranged.strategy);
});
