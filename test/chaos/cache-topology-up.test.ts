/**
 * `pulumi up` resizing a running cache: the CacheTopology provider driven as the engine drives it
 * (serialized by a mock-runtime program run, in the SDK's dynamic-provider host over gRPC), against
 * a real etcd, real redis-server nodes and real PostgreSQL shards, while two app instances read
 * through the cache and write through the database (the sample app's code path, every operation
 * recorded).
 *
 * The node set goes 3 → 4 → 3 → 4 → 3; each update's host is killed (SIGKILL, from outside, when
 * etcd shows the step) at a different point: in `prepare`, in `migrating`, in `finishing`, and
 * after the last step was written but before the update returned. The engine then runs the same
 * update again (it kept the old state), in a new host, and that run finishes the resize. A node
 * taken out is stopped only after its update returned (the engine deletes removed resources at the
 * end of a deployment), and at that moment no client's view names it any more; it comes back
 * empty for the next grow (a new container).
 *
 * Afterwards the histories show 0 reads older than a write acknowledged before they began and 0
 * errors surfaced to the app. Then: refresh, create over an existing topology (adopt: every node
 * fenced) and delete (every node fenced, key kept). Bounded: ~60-90 s; free ports, pid-scoped
 * names and prefixes, so it runs beside other files.
 */
import { cacheTopologyKey, CacheClient, readTopology } from "../../runtime/cache-client";
import type { ConfigClient } from "../../runtime/config-client";
import { startEnv, type Env } from "../integration/shard-client/support";
import { startAppInstances, startCacheLoad, staleReads } from "../support/cache-load";
import { ProviderHost, serializeDynamicProvider, type Props } from "../support/provider-host";
import { startRedisNodes, type RedisNode } from "../support/redis";
import type { CacheTopology as Topology } from "../../core/cache/topology";

jest.setTimeout(300_000);
const TYPE = "pulumi-nodejs:dynamic/cache:CacheTopology";
const TIMINGS = { viewLeaseMs: 1000, nearTtlMs: 50 };
const KEYS = Array.from({ length: 24 }, (_, i) => `up/item-${i}`);

let provider: string;
let env: Env;
let nodes: RedisNode[];
let config: ConfigClient;
const hosts: ProviderHost[] = [];
const clients: CacheClient[] = [];
const cluster = `up-${process.pid}`;

beforeAll(async () => {
  const { CacheTopology } =
    require("../../providers/cache-topology") as typeof import("../../providers/cache-topology");
  ({ provider } = await serializeDynamicProvider(
    TYPE,
    () =>
      new CacheTopology("topology", {
        etcdEndpoints: ["http://127.0.0.1:1"],
        cluster: "c",
        nodes: [{ name: "cache-0", host: "h", port: 1 }],
      }),
  ));
  [env, nodes] = await Promise.all([startEnv(2), startRedisNodes(4, `up${process.pid}`)]);
  config = await env.configWith({
    vnodesPerWeight: 16,
    replicationFactor: 1,
    consistency: "one",
    shards: env.pg.members(),
  });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  for (const h of hosts) await h.stop();
  await Promise.all((nodes ?? []).map((n) => n.stop()));
  await env?.stop();
});

async function host(): Promise<ProviderHost> {
  const h = await ProviderHost.start();
  hosts.push(h);
  return h;
}

const inputs = (list: RedisNode[], extra: Props = {}): Props => ({
  __provider: provider,
  etcdEndpoints: [env.etcd.endpoint],
  etcdPrefix: config.prefix,
  cluster,
  nodes: list.map((n) => ({ name: n.name, host: "127.0.0.1", port: n.port })),
  ...TIMINGS,
  warmMs: 1000,
  ...extra,
});

const stored = async (): Promise<Topology> => (await readTopology(config, cluster))!.topology;

it("check names the property; diff is honest (no change, an update, a replacement)", async () => {
  const h = await host();
  const three = inputs(nodes.slice(0, 3));
  expect((await h.check(TYPE, {}, three)).failures).toEqual([]);
  const dup = { ...three, nodes: [...(three.nodes as object[]), (three.nodes as object[])[0]] };
  expect((await h.check(TYPE, {}, dup)).failures).toEqual([
    { property: "nodes.3.name", reason: expect.stringMatching(/duplicate node/) },
  ]);
  expect((await h.check(TYPE, {}, inputs(nodes.slice(0, 1), { replicas: 2 }))).failures).toEqual([
    { property: "replicas", reason: "must be ≤ the node count (1)" },
  ]);
  expect((await h.check(TYPE, {}, inputs(nodes, { etcdEndpoints: ["127.0.0.1:2379"] }))).failures).toEqual([
    { property: "etcdEndpoints.0", reason: "must be http(s)://host:port" },
  ]);
  const olds = { ...three, epoch: 1, generations: {}, migrationPhase: "", lastRun: {} };
  expect((await h.diff(TYPE, "id", olds, three)).changes).toBe("none");
  expect(await h.diff(TYPE, "id", olds, inputs(nodes))).toMatchObject({ changes: "some", replaces: [] });
  expect(await h.diff(TYPE, "id", { ...olds, migrationPhase: "migrating" }, three)).toMatchObject({
    changes: "some",
    replaces: [],
  });
  expect((await h.diff(TYPE, "id", olds, { ...three, cluster: "other" })).replaces).toEqual(["cluster"]);
});

it("resizes a running cache during `up` with a crash at every phase: 0 stale reads, 0 client errors", async () => {
  let h = hosts.at(-1) ?? (await host());
  const created = await h.create(TYPE, (await h.check(TYPE, {}, inputs(nodes.slice(0, 3)))).inputs);
  expect(created.id).toBe(`${config.prefix}cache/${cluster}/topology`);
  expect(created.outputs).toMatchObject({
    epoch: (await stored()).epoch,
    migrationPhase: "",
    lastRun: { action: "created" },
  });
  // the state holds inputs and the topology's numbers only (the provider has no secret to keep out)
  expect(Object.keys(created.outputs).sort()).toEqual(
    [
      "__provider",
      "cluster",
      "epoch",
      "etcdEndpoints",
      "etcdPrefix",
      "generations",
      "lastRun",
      "migrationPhase",
      "nearTtlMs",
      "nodes",
      "replicas",
      "viewLeaseMs",
      "warmMs",
    ].sort(),
  );

  // two app instances (no node list: the topology must come from the provider)
  const stores = await startAppInstances(
    2,
    { config, cluster, timings: TIMINGS, shardClient: (extra) => env.client(config, extra) },
    clients,
  );
  for (const k of KEYS) await stores[0].write(k, 0);
  const load = startCacheLoad(stores, KEYS, { writers: 3, readers: 6 });

  let state = created.outputs;
  const runs: string[] = [];
  const plan: Array<{ to: number; crash: "prepare" | "migrating" | "finishing" | "done" }> = [
    { to: 4, crash: "prepare" },
    { to: 3, crash: "migrating" },
    { to: 4, crash: "finishing" },
    { to: 3, crash: "done" },
  ];
  try {
    await new Promise((r) => setTimeout(r, 1000));
    for (const { to, crash } of plan) {
      const target = nodes.slice(0, to);
      const removed = nodes.slice(to).filter((n) => (state.nodes as { name: string }[]).some((x) => x.name === n.name));
      const news = (await h.check(TYPE, state, inputs(target))).inputs;
      expect(await h.diff(TYPE, created.id, state, news)).toMatchObject({ changes: "some", replaces: [] });
      const startEpoch = (await stored()).epoch;
      // kill the host from outside once etcd shows the step
      let killed = false;
      const watch = await config.watch(cacheTopologyKey(cluster), (t) => {
        if (!t || killed || t.epoch <= startEpoch) return;
        const at = t.migration?.phase ?? (t.nodes.length === to ? "done" : undefined);
        if (at !== crash) return;
        killed = true;
        void h.kill();
      });
      const cut = await h.update(TYPE, created.id, state, news).then(
        () => "returned",
        (e: Error) => e.message,
      );
      await watch.close();
      expect(killed).toBe(true);
      expect(cut).not.toBe("returned");
      // the engine kept the old state and runs the same update again
      h = await host();
      const t0 = performance.now();
      state = await h.update(TYPE, created.id, state, news);
      runs.push(`${crash}: rerun ${((performance.now() - t0) / 1000).toFixed(1)} s, ${JSON.stringify(state.lastRun)}`);
      const t = await stored();
      expect(t.migration).toBeUndefined();
      expect(t.nodes.map((n) => n.name)).toEqual(target.map((n) => n.name));
      expect(state).toMatchObject({ epoch: t.epoch, migrationPhase: "" });
      // cut after its last step: the rerun has nothing to write but waits out that step's view lease
      if (crash === "done")
        expect(state.lastRun).toMatchObject({ action: "unchanged", steps: 0, seconds: expect.any(Number) });
      if (crash === "done") expect((state.lastRun as { seconds: number }).seconds).toBeGreaterThanOrEqual(1);
      // what the engine deletes now (at the end of the deployment) no client routes to any more
      for (const n of removed) {
        expect(clients.filter((c) => c.router.nodes.has(n.name))).toHaveLength(0);
        await n.restart(false); // gone, and back empty as a new container for a later grow
      }
    }
    await new Promise((r) => setTimeout(r, 1000));
  } finally {
    await load.stop();
  }
  const sum = (k: keyof CacheClient["stats"]) => clients.reduce((s, c) => s + c.stats[k], 0);
  console.log(
    JSON.stringify({
      runs,
      reads: load.reads.length,
      writes: load.acks.length,
      hits: sum("hits"),
      nearHits: sum("nearHits"),
      askHits: sum("askHits"),
      bypassed: sum("bypassed"),
      nodeErrors: sum("nodeErrors"),
    }),
  );
  expect(load.errors).toEqual([]);
  expect(staleReads(load)).toEqual([]);
  expect(load.reads.length).toBeGreaterThan(1000);
  expect(load.acks.length).toBeGreaterThan(200);
  expect(sum("hits") + sum("nearHits")).toBeGreaterThan(load.reads.length / 3); // the cache served reads throughout
  expect(sum("askHits")).toBeGreaterThan(0); // new owners read through the old ones while migrating

  // refresh: what etcd holds
  const refreshed = await h.read(TYPE, created.id, state);
  expect(refreshed).toMatchObject({ id: created.id, outputs: { epoch: (await stored()).epoch, migrationPhase: "" } });

  // create over an existing topology (a create cut by a crash, or a redeploy): adopted, every node fenced
  const before = await stored();
  const adopted = await h.create(TYPE, (await h.check(TYPE, {}, inputs(nodes.slice(0, 3)))).inputs);
  const after = await stored();
  expect(adopted.outputs).toMatchObject({ lastRun: { action: "adopted" }, epoch: after.epoch });
  for (const n of after.nodes) expect(after.generations[n.name]).toBeGreaterThan(before.generations[n.name]);

  // delete: every node fenced, the key kept (epochs only grow)
  await h.delete(TYPE, created.id, adopted.outputs);
  const gone = await stored();
  expect(gone.epoch).toBeGreaterThan(after.epoch);
  for (const n of gone.nodes) expect(gone.generations[n.name]).toBe(gone.epoch);
});
