/**
 * `npm run bench -- cache`: the CacheCluster's client beside Redis Cluster (redis-server 7.0.15 in
 * cluster mode from Debian, ioredis's Cluster client), in one run, on the same machine, the same
 * keys and the same distributions (Zipf s = 1.0 and uniform), plus the resize and the app-level
 * read path. All servers are processes this bench starts on free 127.0.0.1 ports and stops.
 *
 * Figures (final JSON line):
 * - `get_p99_vs_redis_cluster_<dist>`, `throughput_vs_redis_cluster_<dist>`: our read-through
 *   `get` (lease script per call, near cache on for hot keys) over a plain Cluster `GET`, all
 *   hits, same concurrency;
 * - `moved_vs_min`: keys whose owner changed on 3 → 4 nodes over the minimum (a quarter);
 * - `errors_during_resize` (ours, readers and writers through the app path while 3 → 4 runs)
 *   and `redis_cluster_errors_during_reshard` (ioredis Cluster reads while redis-cli moves slots
 *   to a 4th master);
 * - `read_p99_vs_db` / `read_p90_vs_db` at a 90 % hit ratio: app reads through the cache over
 *   reads of the sharded PostgreSQL alone.
 * Options: --keys <n> (default 20000), --ops <n> per distribution (default 40000), --concurrency <n> (default 32).
 */
import { execFile } from "node:child_process";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { Cluster } from "ioredis";
import pino from "pino";
import { initialTopology, type CacheNodeInput } from "../core/cache/topology";
import { movedRanges } from "../core/cache/resize";
import { CacheClient, initTopology, invalidateAfterWrite, resizeCache } from "../runtime/cache-client";
import { createItemStore } from "../runtime/sample-app/items";
import { startEnv } from "../test/integration/shard-client/support";
import { startRedisNode, startRedisNodes, type RedisNode } from "../test/support/redis";
import { CacheRouter } from "../core/cache/topology";

const run = promisify(execFile);
const silent = pino({ level: "silent" });
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function option(argv: string[], name: string, fallback: number): number {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(argv[i + 1]);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a whole number ≥ 1; got ${argv[i + 1]}`);
  return v;
}

/** A sampler of key indexes: Zipf(s = 1) by inverse CDF, or uniform; seeded. */
function sampler(n: number, dist: "zipf" | "uniform", seed = 42): () => number {
  let x = seed >>> 0;
  const rnd = () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0), (x + 0.5) / 2 ** 32);
  if (dist === "uniform") return () => Math.floor(rnd() * n);
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / (i + 1);
  for (let i = 0; i < n; i++) cdf[i] /= sum;
  return () => {
    const u = rnd();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

/** `ops` calls of `fn` from `concurrency` loops; latencies (ms) and throughput (ops/s). */
async function drive(ops: number, concurrency: number, fn: () => Promise<unknown>) {
  const lat: number[] = [];
  let left = ops;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) {
        const s = performance.now();
        await fn();
        lat.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  return { p50: quantile(lat, 0.5), p90: quantile(lat, 0.9), p99: quantile(lat, 0.99), throughput: ops / secs };
}

async function startRedisCluster(count: number): Promise<RedisNode[]> {
  const nodes = await startRedisNodes(count, `rc-${process.pid}`, [
    "--cluster-enabled",
    "yes",
    "--cluster-node-timeout",
    "2000",
  ]);
  await run("redis-cli", [
    "--cluster",
    "create",
    ...nodes.map((n) => `127.0.0.1:${n.port}`),
    "--cluster-replicas",
    "0",
    "--cluster-yes",
  ]);
  for (let i = 0; i < 100; i++) {
    const r = nodes[0].client();
    const info = await r.cluster("INFO");
    r.disconnect();
    if (String(info).includes("cluster_state:ok")) return nodes;
    await sleep(100);
  }
  throw new Error("Redis Cluster did not reach cluster_state:ok");
}

export default async function cacheBench(argv: string[]): Promise<Record<string, unknown>> {
  const keyCount = option(argv, "keys", 20_000);
  const ops = option(argv, "ops", 40_000);
  const concurrency = option(argv, "concurrency", 32);
  const keys = Array.from({ length: keyCount }, (_, i) => `bench/item-${i}`);
  const valueOf = (i: number) => ({ id: i, name: `item ${i}`, tags: ["a", "b", "c"], price: i * 1.5 });

  const [env, ours, rc] = await Promise.all([
    startEnv(2),
    startRedisNodes(3, `bc-${process.pid}`),
    startRedisCluster(3),
  ]);
  const spare: RedisNode[] = [];
  const closers: Array<() => Promise<unknown> | void> = [];
  try {
    const config = await env.configWith({
      vnodesPerWeight: 16,
      replicationFactor: 1,
      consistency: "one",
      shards: env.pg.members(),
    });
    const cluster = `bench-${process.pid}`;
    const inputs = (l: RedisNode[]): CacheNodeInput[] =>
      l.map((n) => ({ name: n.name, host: "127.0.0.1", port: n.port }));
    await initTopology(config, cluster, initialTopology(inputs(ours)));
    const cache = await CacheClient.connect({ config, cluster, logger: silent, ttlMs: 600_000 });
    closers.push(() => cache.close());
    const rcClient = new Cluster(
      rc.map((n) => ({ host: "127.0.0.1", port: n.port })),
      { scaleReads: "master" },
    );
    closers.push(() => rcClient.disconnect());

    // -- 1. get latency and throughput, all hits, both distributions -----------------------------
    console.log(`prefilling ${keyCount} keys in both…`);
    for (let i = 0; i < keyCount; i += 500) {
      const batch = keys.slice(i, i + 500);
      await Promise.all(batch.map((k, j) => cache.get(k, async () => valueOf(i + j))));
      await Promise.all(batch.map((k, j) => rcClient.set(k, JSON.stringify(valueOf(i + j)))));
    }
    const figures: Record<string, number | string> = {};
    const rows: string[][] = [];
    for (const dist of ["zipf", "uniform"] as const) {
      const pickA = sampler(keyCount, dist, 7);
      const pickB = sampler(keyCount, dist, 7);
      const base = await drive(ops, concurrency, async () => JSON.parse((await rcClient.get(keys[pickB()]))!));
      const before = { ...cache.stats };
      const mine = await drive(ops, concurrency, () => cache.get(keys[pickA()], async () => undefined));
      const near = cache.stats.nearHits - before.nearHits;
      rows.push([dist, "redis cluster", base.p50.toFixed(3), base.p99.toFixed(3), base.throughput.toFixed(0), "-"]);
      rows.push([
        dist,
        "scaleplane cache",
        mine.p50.toFixed(3),
        mine.p99.toFixed(3),
        mine.throughput.toFixed(0),
        (near / ops).toFixed(2),
      ]);
      figures[`get_p99_vs_redis_cluster_${dist}`] = Number((mine.p99 / base.p99).toFixed(3));
      figures[`throughput_vs_redis_cluster_${dist}`] = Number((mine.throughput / base.throughput).toFixed(3));
      figures[`near_hit_share_${dist}`] = Number((near / ops).toFixed(3));
    }
    figures.get_p99_vs_redis_cluster = Math.max(
      figures.get_p99_vs_redis_cluster_zipf as number,
      figures.get_p99_vs_redis_cluster_uniform as number,
    );
    figures.throughput_vs_redis_cluster = Math.min(
      figures.throughput_vs_redis_cluster_zipf as number,
      figures.throughput_vs_redis_cluster_uniform as number,
    );
    console.log("dist     client            p50 ms  p99 ms  ops/s   near-cache share");
    for (const r of rows)
      console.log(
        `${r[0].padEnd(8)} ${r[1].padEnd(17)} ${r[2].padStart(6)}  ${r[3].padStart(6)}  ${r[4].padStart(6)}  ${r[5]}`,
      );

    // -- 2. resize 3 → 4 under load: moved keys vs the minimum, errors -----------------------------
    const fourth = await startRedisNode(`bc-${process.pid}-x`);
    spare.push(fourth);
    const before = new CacheRouter(cache.router.topology);
    const db = await env.client(config, { afterWrite: invalidateAfterWrite(cache) });
    const store = createItemStore(cache, db);
    let errors = 0;
    let resizing = true;
    const pick = sampler(keyCount, "zipf", 9);
    const load = Array.from({ length: 8 }, async (_, w) => {
      while (resizing) {
        const k = keys[pick()];
        try {
          if (w === 0) await store.write(k, valueOf(pick()));
          else await store.read(k);
        } catch {
          errors++;
        }
      }
    });
    const t0 = performance.now();
    const after = await resizeCache(config, cluster, inputs([...ours, fourth]), {
      viewLeaseMs: 2000,
      nearTtlMs: 100,
      warmMs: 3000,
    });
    const resizeSeconds = (performance.now() - t0) / 1000;
    resizing = false;
    await Promise.all(load);
    const afterRouter = new CacheRouter(after);
    const moved = keys.filter((k) => before.owners(k)[0] !== afterRouter.owners(k)[0]).length;
    const span = movedRanges(before.topology, after).reduce((s, m) => s + (m.end - m.start), 0) / 2 ** 32;
    figures.moved_vs_min = Number((moved / (keyCount / 4)).toFixed(4));
    figures.moved_space_vs_min = Number((span / 0.25).toFixed(4));
    figures.errors_during_resize = errors;
    figures.resize_seconds = Number(resizeSeconds.toFixed(1));
    figures.ask_hits_during_resize = cache.stats.askHits;
    console.log(
      `resize 3 → 4: ${moved} of ${keyCount} keys moved (minimum ${keyCount / 4}), ${errors} errors, ${resizeSeconds.toFixed(1)} s`,
    );

    // Redis Cluster: add a 4th master and move slots to it while its client reads
    const rc4 = await startRedisNode(`rc-${process.pid}-x`, [
      "--cluster-enabled",
      "yes",
      "--cluster-node-timeout",
      "2000",
    ]);
    spare.push(rc4);
    let rcErrors = 0;
    let resharding = true;
    const rcLoad = Array.from({ length: 8 }, async () => {
      while (resharding) {
        try {
          await rcClient.get(keys[pick()]);
        } catch {
          rcErrors++;
        }
      }
    });
    try {
      await run("redis-cli", ["--cluster", "add-node", `127.0.0.1:${rc4.port}`, `127.0.0.1:${rc[0].port}`]);
      await sleep(2000);
      await run("redis-cli", ["--cluster", "rebalance", `127.0.0.1:${rc[0].port}`, "--cluster-use-empty-masters"], {
        timeout: 300_000,
      });
    } finally {
      resharding = false;
      await Promise.all(rcLoad);
    }
    figures.redis_cluster_errors_during_reshard = rcErrors;
    console.log(`redis cluster 3 → 4 masters: ${rcErrors} client errors while slots moved`);

    // -- 3. app reads at a 90 % hit ratio vs the database alone ------------------------------------
    const warm = keys.slice(0, 4000);
    const cold = Array.from({ length: 1000 }, (_, i) => `bench/cold-${i}`);
    for (let i = 0; i < warm.length; i += 200)
      await Promise.all(warm.slice(i, i + 200).map((k, j) => db.put(k, valueOf(i + j))));
    for (let i = 0; i < cold.length; i += 200)
      await Promise.all(cold.slice(i, i + 200).map((k, j) => db.put(k, valueOf(j))));
    for (let i = 0; i < warm.length; i += 200) await Promise.all(warm.slice(i, i + 200).map((k) => store.read(k)));
    let coldNext = 0;
    const pickW = sampler(warm.length, "uniform", 3);
    const pickD = sampler(warm.length, "uniform", 3);
    const appOps = 10_000;
    const hitsBefore = cache.stats.hits + cache.stats.nearHits;
    const viaCache = await drive(appOps, 16, () =>
      coldNext < cold.length && Math.random() < 0.1 ? store.read(cold[coldNext++]) : store.read(warm[pickW()]),
    );
    const hitRatio = (cache.stats.hits + cache.stats.nearHits - hitsBefore) / appOps;
    const dbOnly = await drive(appOps, 16, () => db.get(warm[pickD()]));
    figures.app_hit_ratio = Number(hitRatio.toFixed(3));
    figures.read_p99_vs_db = Number((viaCache.p99 / dbOnly.p99).toFixed(3));
    figures.read_p90_vs_db = Number((viaCache.p90 / dbOnly.p90).toFixed(3));
    figures.read_p50_vs_db = Number((viaCache.p50 / dbOnly.p50).toFixed(3));
    console.log(
      `app reads at hit ratio ${hitRatio.toFixed(2)}: cache p50/p90/p99 ${viaCache.p50.toFixed(2)}/${viaCache.p90.toFixed(2)}/${viaCache.p99.toFixed(2)} ms; database alone ${dbOnly.p50.toFixed(2)}/${dbOnly.p90.toFixed(2)}/${dbOnly.p99.toFixed(2)} ms`,
    );
    return figures;
  } finally {
    for (const c of closers.reverse()) await c();
    await Promise.all([...ours, ...rc, ...spare].map((n) => n.stop()));
    await env.stop();
  }
}
