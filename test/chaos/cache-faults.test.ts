/**
 * Chaos: the cache in front of real PostgreSQL shards, driven through the sample app's code path
 * (runtime/sample-app/items.ts: read-through the cache, writes to the database whose write path
 * invalidates), with node kills, a pause, a restart from saved (old) data, and resizes 3 → 4 → 3
 * while writers and readers run. Every operation is recorded; afterwards the history must show
 * 0 reads returning a value older than one acknowledged before the read began, and 0 errors
 * surfaced to the app. Bounded: ~60-90 s of wall time; free ports and pid-scoped names, so it runs
 * beside other files.
 */
import { performance } from "node:perf_hooks";
import { initialTopology, type CacheNodeInput } from "../../core/cache/topology";
import { CacheClient, initTopology, invalidateAfterWrite, resizeCache } from "../../runtime/cache-client";
import { createItemStore, type ItemStore } from "../../runtime/sample-app/items";
import { startEnv, silent, type Env } from "../integration/shard-client/support";
import { startRedisNode, startRedisNodes, type RedisNode } from "../support/redis";
import type { ConfigClient } from "../../runtime/config-client";

jest.setTimeout(240_000);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const TIMINGS = { viewLeaseMs: 2000, nearTtlMs: 50 };
const KEYS = Array.from({ length: 24 }, (_, i) => `chaos/item-${i}`);
const WRITERS = 3;
const READERS = 6;

interface Read {
  key: string;
  start: number;
  value: number;
}
interface Ack {
  key: string;
  at: number;
  value: number;
}

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
  const cacheOptions = {
    config,
    cluster,
    logger: silent,
    viewLeaseMs: TIMINGS.viewLeaseMs,
    ttlMs: 30_000,
    nearCache: { enabled: true, ttlMs: TIMINGS.nearTtlMs, hotShare: 0.02, hotMinCount: 10, maxEntries: 100 },
  };
  // two app "instances": each its own cache client and shard client, as separate processes would
  const stores: ItemStore[] = [];
  for (let i = 0; i < 2; i++) {
    const cache = await CacheClient.connect(cacheOptions);
    clients.push(cache);
    const db = await env.client(config, { afterWrite: invalidateAfterWrite(cache) });
    stores.push(createItemStore(cache, db));
  }
  for (const k of KEYS) await stores[0].write(k, 0);

  const reads: Read[] = [];
  const acks: Ack[] = [];
  const errors: string[] = [];
  let running = true;
  let counter = 0;
  const writer = async (w: number) => {
    const mine = KEYS.filter((_, i) => i % WRITERS === w); // each key has one writer: its values only grow
    while (running) {
      const key = mine[Math.floor(Math.random() * mine.length)];
      const value = ++counter;
      try {
        await stores[w % stores.length].write(key, value);
        acks.push({ key, at: performance.now(), value });
      } catch (e) {
        errors.push(`write ${key}: ${(e as Error).message}`);
      }
      await sleep(20 + Math.random() * 30);
    }
  };
  const reader = async (r: number) => {
    while (running) {
      // skewed: a few keys are hot (near cache), the rest spread
      const key =
        Math.random() < 0.5 ? KEYS[Math.floor(Math.random() * 3)] : KEYS[Math.floor(Math.random() * KEYS.length)];
      const start = performance.now();
      try {
        const value = await stores[r % stores.length].read<number>(key);
        reads.push({ key, start, value: value ?? -1 });
      } catch (e) {
        errors.push(`read ${key}: ${(e as Error).message}`);
      }
      await sleep(Math.random() * 5);
    }
  };
  const load = [
    ...Array.from({ length: WRITERS }, (_, w) => writer(w)),
    ...Array.from({ length: READERS }, (_, r) => reader(r)),
  ];

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
    running = false;
    await Promise.all(load);
  }

  // the history: per key, the newest value acknowledged before each read began
  const stale: string[] = [];
  const byKey = new Map<string, Ack[]>();
  for (const a of acks) byKey.set(a.key, [...(byKey.get(a.key) ?? []), a]);
  for (const r of reads) {
    let floor = 0;
    for (const a of byKey.get(r.key) ?? []) if (a.at < r.start && a.value > floor) floor = a.value;
    if (r.value < floor) stale.push(`${r.key}: read ${r.value}, but ${floor} was acknowledged before the read began`);
  }
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
