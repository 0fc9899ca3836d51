/**
 * Bounded app-level load on the cache for chaos tests: writers and readers through the sample
 * app's item store (runtime/sample-app/items.ts: reads through the cache, writes to the database
 * whose write path invalidates), every operation recorded, and the history check the cache
 * promises: no read returns a value older than one acknowledged before the read began.
 *
 * Each key has one writer, whose values only grow, so "older" is a comparison of numbers.
 */
import { performance } from "node:perf_hooks";
import pino from "pino";
import { CacheClient, invalidateAfterWrite, type CacheClientOptions } from "../../runtime/cache-client";
import { createItemStore, type ItemStore } from "../../runtime/sample-app/items";
import type { ShardClient, ShardClientOptions } from "../../runtime/shard-client";

const silent = pino({ level: "silent" });
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface CacheRead {
  key: string;
  start: number;
  value: number;
}
export interface CacheAck {
  key: string;
  at: number;
  value: number;
}

export interface CacheLoad {
  reads: CacheRead[];
  acks: CacheAck[];
  /** Errors that surfaced to the app (any is a failure of the cache's promise). */
  errors: string[];
  /** Stops the loops and waits for the operations in flight. */
  stop(): Promise<void>;
}

/**
 * Starts `writers` writer loops and `readers` reader loops over `keys` (whose current value in
 * the database must already be 0 or more), spread over `stores` (app instances). Half the reads go
 * to the first three keys (hot: near cache), the rest spread.
 */
export function startCacheLoad(
  stores: readonly ItemStore[],
  keys: readonly string[],
  o: { writers: number; readers: number; firstValue?: number },
): CacheLoad {
  const reads: CacheRead[] = [];
  const acks: CacheAck[] = [];
  const errors: string[] = [];
  let running = true;
  let counter = o.firstValue ?? 0;
  const writer = async (w: number) => {
    const mine = keys.filter((_, i) => i % o.writers === w);
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
      const key =
        Math.random() < 0.5 ? keys[Math.floor(Math.random() * 3)] : keys[Math.floor(Math.random() * keys.length)];
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
  const loops = [
    ...Array.from({ length: o.writers }, (_, w) => writer(w)),
    ...Array.from({ length: o.readers }, (_, r) => reader(r)),
  ];
  return {
    reads,
    acks,
    errors,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

/**
 * `count` app instances as separate processes would have them: each its own cache client (a view
 * of the topology in etcd, no node list) and its own shard client whose write path invalidates.
 * Every cache client is pushed to `clients` as soon as it exists (the caller closes them).
 */
export async function startAppInstances(
  count: number,
  o: {
    config: CacheClientOptions["config"];
    cluster: string;
    timings: { viewLeaseMs: number; nearTtlMs: number };
    shardClient: (extra: Partial<ShardClientOptions>) => Promise<ShardClient>;
  },
  clients: CacheClient[],
): Promise<ItemStore[]> {
  const stores: ItemStore[] = [];
  for (let i = 0; i < count; i++) {
    const cache = await CacheClient.connect({
      config: o.config,
      cluster: o.cluster,
      logger: silent,
      viewLeaseMs: o.timings.viewLeaseMs,
      ttlMs: 30_000,
      nearCache: { enabled: true, ttlMs: o.timings.nearTtlMs, hotShare: 0.02, hotMinCount: 10, maxEntries: 100 },
    });
    clients.push(cache);
    stores.push(createItemStore(cache, await o.shardClient({ afterWrite: invalidateAfterWrite(cache) })));
  }
  return stores;
}

/** Reads that returned a value older than the newest one acknowledged before they began. */
export function staleReads(load: Pick<CacheLoad, "reads" | "acks">): string[] {
  const byKey = new Map<string, CacheAck[]>();
  for (const a of load.acks) byKey.set(a.key, [...(byKey.get(a.key) ?? []), a]);
  const stale: string[] = [];
  for (const r of load.reads) {
    let floor = 0;
    for (const a of byKey.get(r.key) ?? []) if (a.at < r.start && a.value > floor) floor = a.value;
    if (r.value < floor) stale.push(`${r.key}: read ${r.value}, but ${floor} was acknowledged before the read began`);
  }
  return stale;
}
