/**
 * CacheClient against real redis-server processes and a real etcd (all on 127.0.0.1, free ports,
 * names with the pid: runs beside other files). Bounded: ~40 s.
 *
 * - the Lua scripts answer exactly like the pure model (core/cache/lease.ts) on random operations;
 * - a stampede of 1000 concurrent misses on one key (10 clients) calls the loader once per expiry;
 * - the race the leases exist for: a loader reads the old value, a write + invalidation lands
 *   during the load, the fill is refused and the next read sees the new value;
 * - a node paused during an invalidation is fenced (new generation) and never serves its old
 *   copy after it resumes; a node restarted with its old data neither;
 * - a resize 3 → 4 reads moved keys through their old owner (no loader call) and moves only what
 *   the ring moves;
 * - hot keys are served from the near cache, and a write elsewhere is still seen by the next read.
 */
import { performance } from "node:perf_hooks";
import pino from "pino";
import * as lease from "../../../core/cache/lease";
import { initialTopology, type CacheNodeInput } from "../../../core/cache/topology";
import { ConfigClient } from "../../../runtime/config-client";
import { CacheClient, initTopology, readTopology, resizeCache, updateTopology } from "../../../runtime/cache-client";
import { bumpGeneration } from "../../../core/cache/resize";
import {
  defineLeaseCommands,
  FLOOR_KEY,
  GEN_KEY,
  leaseKey,
  nearKey,
  STATS_KEY,
  valueKey,
} from "../../../runtime/cache-client/scripts";
import { startLocalEtcd, type LocalEtcd } from "../../support/etcd-cluster";
import { startRedisNode, startRedisNodes, type RedisNode } from "../../support/redis";

jest.setTimeout(120_000);
const log = pino({ level: "silent" });
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const TIMINGS = { viewLeaseMs: 2000, nearTtlMs: 50 };

let etcd: LocalEtcd;
let nodes: RedisNode[];
const extra: RedisNode[] = [];
let config: ConfigClient;
let run = 0;
const clients: CacheClient[] = [];

const nodeInputs = (list: RedisNode[]): CacheNodeInput[] =>
  list.map((n) => ({ name: n.name, host: "127.0.0.1", port: n.port }));

/** A new cluster on `list` (emptied first: a node serves one cluster, and earlier tests fenced some). */
async function freshCluster(list: RedisNode[] = nodes): Promise<string> {
  const cluster = `c${process.pid}-${++run}`;
  await Promise.all(
    list.map(async (n) => {
      const r = n.client();
      await r.flushall();
      r.disconnect();
    }),
  );
  await initTopology(config, cluster, initialTopology(nodeInputs(list)));
  return cluster;
}

async function client(cluster: string, o: Partial<Parameters<typeof CacheClient.connect>[0]> = {}) {
  const c = await CacheClient.connect({
    config,
    cluster,
    logger: log,
    viewLeaseMs: TIMINGS.viewLeaseMs,
    ttlMs: 60_000,
    nearCache: { enabled: false },
    ...o,
  });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  [etcd, nodes] = await Promise.all([startLocalEtcd(`cache-${process.pid}`), startRedisNodes(3, "cache")]);
  config = ConfigClient.create({ endpoints: [etcd.endpoint], prefix: `/sp-cache-${process.pid}/`, logger: log });
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  for (const n of nodes) n.resume();
});

afterAll(async () => {
  config?.close();
  await Promise.all([...(nodes ?? []), ...extra].map((n) => n.stop()));
  await etcd?.stop();
});

describe("CacheClient on real Redis", () => {
  it("runs the lease scripts exactly as the model answers", async () => {
    const r = defineLeaseCommands(nodes[0].client());
    try {
      await r.flushdb();
      const model: lease.NodeModel = { generation: undefined, keys: new Map() };
      let x = 99;
      const rnd = (n: number) => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0), x % n);
      for (let i = 0; i < 400; i++) {
        const key = `k${rnd(3)}`;
        const gen = 1 + rnd(2);
        const token = `t${rnd(4)}`;
        switch (rnd(6)) {
          case 0: {
            const real = await r.spLookup(
              GEN_KEY,
              valueKey(key),
              leaseKey(key),
              nearKey(key),
              STATS_KEY,
              gen,
              token,
              60_000,
              0,
            );
            const m = lease.lookup(model, key, { generation: gen, token, leaseMs: 60_000, nearMs: 0, now: 0 });
            const mapped =
              m.kind === "hit"
                ? ["H", m.data]
                : m.kind === "lease"
                  ? ["L"]
                  : m.kind === "wait"
                    ? ["W"]
                    : ["F", m.stored === undefined ? "" : String(m.stored)];
            expect(real.slice(0, mapped.length)).toEqual(mapped);
            break;
          }
          case 1: {
            const real = await r.spFill(GEN_KEY, valueKey(key), leaseKey(key), gen, token, `v${i}`, 60_000);
            const m = lease.fill(model, key, {
              generation: gen,
              token,
              data: `v${i}`,
              ttlMs: 60_000,
              deltaMs: 0,
              now: 0,
            });
            expect(real).toBe({ stored: "S", refused: "R", fenced: "F" }[m]);
            break;
          }
          case 2: {
            const real = await r.spInvalidate(GEN_KEY, valueKey(key), leaseKey(key), nearKey(key), FLOOR_KEY, key);
            const m = lease.invalidate(model, key, 0);
            expect(real[0]).toBe(m.stored === undefined ? "" : String(m.stored));
            break;
          }
          case 3: {
            const real = await r.spAcquire(GEN_KEY, leaseKey(key), gen, token, 60_000);
            const m = lease.acquire(model, key, { generation: gen, token, leaseMs: 60_000, now: 0 });
            expect(real).toBe({ granted: "G", busy: "B", fenced: "F" }[m]);
            break;
          }
          case 4: {
            const real = await r.spPeek(GEN_KEY, valueKey(key), String(gen));
            const m = lease.peek(model, key, { generation: gen, now: 0 });
            expect(real[0]).toBe(m === "fenced" ? "F" : m === undefined ? "M" : "H");
            break;
          }
          default: {
            const real = await r.spAdmit(GEN_KEY, FLOOR_KEY, String(gen), 0);
            const m = lease.admit(model, gen, 0, 0);
            expect(real).toBe({ current: "C", newer: "N", admitted: "A" }[m]);
          }
        }
      }
    } finally {
      r.disconnect();
    }
  });

  // The TTL outlasts a round of 1000 gets on a loaded 2-core CI machine (a round that ran past a
  // 1.5 s TTL let late readers find the value expired: a second, legitimate loader call).
  const STAMPEDE_TTL_MS = 5000;
  it("stampede: 1000 concurrent misses on one key call the loader once per expiry", async () => {
    const cluster = await freshCluster();
    const cs = await Promise.all(
      Array.from({ length: 10 }, () => client(cluster, { ttlMs: STAMPEDE_TTL_MS, ttlJitter: 0, xfetchBeta: 0 })),
    );
    let calls = 0;
    const loader = async () => {
      calls++;
      await sleep(100);
      return { n: calls };
    };
    const round = () => Promise.all(Array.from({ length: 1000 }, (_, i) => cs[i % cs.length].get("hot-key", loader)));
    const first = await round();
    const sum = (k: keyof CacheClient["stats"]) => cs.reduce((s, c) => s + c.stats[k], 0);
    expect({
      calls,
      stale: sum("bypassedStale"),
      down: sum("bypassedDown"),
      wait: sum("bypassedWait"),
      refused: sum("fillsRefused"),
      errors: sum("nodeErrors"),
    }).toEqual({ calls: 1, stale: 0, down: 0, wait: 0, refused: 0, errors: 0 });
    expect(new Set(first.map((v) => JSON.stringify(v)))).toEqual(new Set([JSON.stringify({ n: 1 })]));
    await sleep(STAMPEDE_TTL_MS + 200); // the value expires
    const second = await round();
    expect(calls).toBe(2);
    expect(second.every((v) => v?.n === 2)).toBe(true);
    expect(cs.reduce((s, c) => s + c.stats.bypassed, 0)).toBe(0);
  });

  it("refuses the fill of a loader that read the database before a write was acknowledged", async () => {
    const cluster = await freshCluster();
    const [reader, writer] = [await client(cluster), await client(cluster)];
    const db = new Map<string, number>([["race", 1]]);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let loaderRead!: () => void;
    const readDone = new Promise<void>((r) => (loaderRead = r));
    // the reader's loader reads the database (old value 1), then stalls until the write is done
    const slowRead = reader.get("race", async () => {
      const v = db.get("race");
      loaderRead();
      await gate;
      return v;
    });
    await readDone; // not a sleep: on a loaded machine the lease round trip can outlast one
    db.set("race", 2); // the write is acknowledged by the database...
    await writer.invalidate("race"); // ...and invalidated before it returns to its caller
    const writeAcked = performance.now();
    release();
    expect(await slowRead).toBe(1); // began before the write: may return the old value
    expect(reader.stats.fillsRefused).toBe(1);
    const readStart = performance.now();
    expect(readStart).toBeGreaterThan(writeAcked);
    expect(await reader.get("race", async () => db.get("race"))).toBe(2);
    expect(await writer.get("race", async () => -1)).toBe(2); // cached now
  });

  it("fences a node it cannot reach, so its old copy is never served after it resumes", async () => {
    const cluster = await freshCluster();
    const [a, b] = [await client(cluster), await client(cluster)];
    const key = "fence-me";
    const owner = nodes.find((n) => n.name === a.router.owners(key)[0])!;
    let v = 1;
    expect(await a.get(key, async () => v)).toBe(1);
    owner.pause();
    v = 2;
    const t0 = performance.now();
    await b.invalidate(key); // owner unreachable: bumps its generation, waits out the view lease
    expect(performance.now() - t0).toBeGreaterThanOrEqual(TIMINGS.viewLeaseMs);
    expect(b.stats.fenced).toBe(1);
    owner.resume();
    await sleep(50);
    expect(await a.get(key, async () => v)).toBe(2);
    expect(a.stats.admitted + b.stats.admitted).toBeGreaterThanOrEqual(1);
    const t = (await readTopology(config, cluster))!.topology;
    expect(t.generations[owner.name]).toBe(t.epoch);
  });

  it("does not serve the old data of a node restarted from its saved state after a missed invalidation", async () => {
    const cluster = await freshCluster();
    const c = await client(cluster);
    const key = "restart-me";
    const owner = nodes.find((n) => n.name === c.router.owners(key)[0])!;
    let v = "old";
    expect(await c.get(key, async () => v)).toBe("old");
    expect(c.stats).toMatchObject({ bypassed: 0, fillsRefused: 0 });
    await owner.save();
    await owner.kill();
    v = "new";
    await c.invalidate(key); // owner down: fenced
    await owner.restart(true); // comes back with "old" and its old generation
    const r = owner.client();
    expect(await r.get(valueKey(key))).toContain("old");
    r.disconnect();
    await sleep(400);
    expect(await c.get(key, async () => v)).toBe("new");
  });

  it("resizes 3 → 4 reading moved keys through their old owner, moving only what the ring moves", async () => {
    const cluster = await freshCluster();
    const c = await client(cluster);
    const keys = Array.from({ length: 400 }, (_, i) => `item-${i}`);
    let loads = 0;
    const loader = (k: string) => async () => (loads++, `value-of-${k}`);
    for (const k of keys) await c.get(k, loader(k));
    expect(loads).toBe(keys.length);
    const before = new Map(keys.map((k) => [k, c.router.owners(k)[0]]));
    const fourth = await startRedisNode(`cache-extra-${process.pid}`);
    extra.push(fourth);
    loads = 0;
    const steps: string[] = [];
    let moved = 0;
    const resize = resizeCache(config, cluster, nodeInputs([...nodes, fourth]), {
      ...TIMINGS,
      // long enough for the 400 reads below on a loaded CI machine: every read must fall inside
      // the migrating phase for the ASK count to equal the moved count
      warmMs: 12_000,
      log,
      onStep: (t) => steps.push(t.migration?.phase ?? "done"),
    });
    // read every key while migrating: moved ones come from the old owner (ASK), not the loader
    while (c.router.topology.migration?.phase !== "migrating") await sleep(20);
    for (const k of keys) expect(await c.get(k, loader(k))).toBe(`value-of-${k}`);
    expect(c.router.topology.migration?.phase).toBe("migrating");
    const final = await resize;
    expect(steps).toEqual(["prepare", "migrating", "finishing", "done"]);
    for (const k of keys) if (before.get(k) !== c.router.owners(k)[0]) moved++;
    expect({ loads, asks: c.stats.askHits, bypassed: c.stats.bypassed }).toEqual({
      loads: 0,
      asks: moved,
      bypassed: 0,
    });
    expect(final.nodes).toHaveLength(4);
    for (const k of keys) if (before.get(k) !== c.router.owners(k)[0]) expect(c.router.owners(k)[0]).toBe(fourth.name);
    expect(moved / keys.length).toBeGreaterThan(0.15);
    expect(moved / keys.length).toBeLessThan(0.35);
  });

  it("serves hot keys from the near cache and still sees a write made elsewhere", async () => {
    const cluster = await freshCluster();
    const near = { enabled: true, ttlMs: TIMINGS.nearTtlMs, hotMinCount: 5, hotShare: 0.05, maxEntries: 100 };
    const [a, b] = [await client(cluster, { nearCache: near }), await client(cluster, { nearCache: near })];
    let v = 1;
    for (let i = 0; i < 200; i++) await a.get("celebrity", async () => v);
    expect(a.stats.nearHits).toBeGreaterThan(100);
    expect(a.hotKeys()[0].key).toBe("celebrity");
    v = 2;
    const t0 = performance.now();
    await b.invalidate("celebrity"); // a holds a near copy: the write waits out its marker
    expect(performance.now() - t0).toBeGreaterThan(5);
    expect(await a.get("celebrity", async () => v)).toBe(2);
  });

  it("reads the loader directly, without errors, when etcd cannot confirm the topology", async () => {
    const cluster = await freshCluster();
    const c = await client(cluster);
    expect(await c.get("k", async () => "db")).toBe("db");
    etcd.pause();
    try {
      await sleep(TIMINGS.viewLeaseMs + 100);
      expect(c.fresh).toBe(false);
      expect(await c.get("k", async () => "db-direct")).toBe("db-direct");
      expect(c.stats.bypassed).toBeGreaterThanOrEqual(1);
    } finally {
      etcd.resume();
    }
    await sleep(TIMINGS.viewLeaseMs);
    await updateTopology(config, cluster, (t) => bumpGeneration(t, nodes[0].name));
  });
});
