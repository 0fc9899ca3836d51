/**
 * Chaos: the cache in front of real PostgreSQL shards, driven through the sample app's code path
 * (runtime/sample-app/items.ts: read-through the cache, writes to the database whose write path
 * invalidates), with node kills, a pause, a restart from saved (old) data, and resizes 3 → 4 → 3
 * while writers and readers run. Every operation is recorded; afterwards the history must show
 * 0 reads returning a value older than one acknowledged before the read began, and 0 errors
 * surfaced to the app. Bounded: ~60-90 s of wall time; free ports and pid-scoped names, so it runs
 * beside other files.
 */
import { initialTopology, type CacheNodeInput } from "../../core/cache/topology";
import { CacheClient, initTopology, resizeCache } from "../../runtime/cache-client";
import { startEnv, silent, type Env } from "../integration/shard-client/support";
import { startRedisNode, startRedisNodes, type RedisNode } from "../support/redis";
import type { ConfigClient } from "../../runtime/config-client";
import { startAppInstances, startCacheLoad, staleReads } from "../support/cache-load";

jest.setTimeout(240_000);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const TIMINGS = { viewLeaseMs: 2000, nearTtlMs: 50 };
const KEYS = Array.from({ length: 24 }, (_, i) => `chaos/item-${i}`);
const WRITERS = 3;
const READERS = 6;

let env: Env;
let nodes: RedisNode[];
let extra: RedisNode;
const clients: CacheClient[] = [];

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all([...(nodes ?? []), ...(extra ? [extra] : [])].map((n) => n.stop()));
  await env?.stop();
});

const inputs = (list: RedisNode[]): CacheNodeInput[] =>
  list.map((n) => ({ name: n.name, host: "127.0.0.1", port: n.port }));

it("never returns a value older than one acknowledged before the read began, and surfaces no error, under kills, a pause, a stale restart and resizes", async () => {
  [env, nodes, extra] = await Promise.all([
    startEnv(2),
    startRedisNodes(3, `chaos-${process.pid}`),
    startRedisNode(`chaos-${process.pid}-x`),
  ]);
  const config: ConfigClient = await env.configWith({
    vnodesPerWeight: 16,
    replicationFactor: 1,
    consistency: "one",
    shards: env.pg.members(),
  });
  const cluster = `chaos-${process.pid}`;
  await initTopology(config, cluster, initialTopology(inputs(nodes)));
  // two app "instances": each its own cache client and shard client, as separate processes would
  const stores = await startAppInstances(
    2,
    { config, cluster, timings: TIMINGS, shardClient: (extra) => env.client(config, extra) },
    clients,
  );
  for (const k of KEYS) await stores[0].write(k, 0);

  const load = startCacheLoad(stores, KEYS, { writers: WRITERS, readers: READERS });
  const faults: string[] = [];
  const step = async (what: string, fn: () => Promise<void> | void) => {
    faults.push(what);
    await fn();
  };
  try {
    await sleep(1500);
    await step("kill -9 node 0", () => nodes[0].kill());
    await sleep(2000);
    await step("restart node 0 empty", () => nodes[0].restart(false));
    await sleep(1500);
    await step("pause node 1", () => nodes[1].pause());
    await sleep(2500);
    await step("resume node 1", () => nodes[1].resume());
    await sleep(1000);
    await step("save + kill -9 node 2", async () => {
      await nodes[2].save();
      await nodes[2].kill();
    });
    await sleep(2000);
    await step("restart node 2 with its old data", () => nodes[2].restart(true));
    await sleep(1500);
    await step("resize 3 → 4", async () => {
      await resizeCache(config, cluster, inputs([...nodes, extra]), { ...TIMINGS, warmMs: 2000, log: silent });
    });
    await step("resize 4 → 3", async () => {
      await resizeCache(config, cluster, inputs(nodes), { ...TIMINGS, warmMs: 2000, log: silent });
    });
    await sleep(1000);
  } finally {
    await load.stop();
  }

  const stale = staleReads(load);
  const { reads, acks, errors } = load;
  const stats = clients.map((c) => c.stats);
  const sum = (k: keyof CacheClient["stats"]) => stats.reduce((s, x) => s + x[k], 0);
  console.log(
    JSON.stringify({
      faults,
      reads: reads.length,
      writes: acks.length,
      hits: sum("hits"),
      nearHits: sum("nearHits"),
      loads: sum("loads"),
      askHits: sum("askHits"),
      bypassed: sum("bypassed"),
      fenced: sum("fenced"),
      admitted: sum("admitted"),
      fillsRefused: sum("fillsRefused"),
    }),
  );
  expect(errors).toEqual([]);
  expect(stale).toEqual([]);
  expect(reads.length).toBeGreaterThan(1000);
  expect(acks.length).toBeGreaterThan(200);
  expect(sum("hits") + sum("nearHits")).toBeGreaterThan(reads.length / 3); // the cache was really in use
  expect(sum("fenced")).toBeGreaterThan(0); // invalidations did miss nodes, and were fenced
});
