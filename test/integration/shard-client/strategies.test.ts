/**
 * Range and directory placement against real shards: rows land on exactly the shards the
 * strategy names (checked by reading each shard directly), scans merge them and ask only the
 * shards the scanned keys can live on. (Changing a range or a pin moves data: the rebalancer's
 * test/integration/shard-rebalance/strategies.test.ts.)
 */
import type { ShardMap } from "../../../core/sharding/shard-map";
import { keysOn, startEnv, type Env } from "./support";

let env: Env;

beforeAll(async () => {
  env = await startEnv(3);
});
afterEach(async () => {
  await env?.closeClients();
});
afterAll(async () => {
  await env?.stop();
});

const holders = async (prefix: string) =>
  Object.fromEntries(await Promise.all(env.pg.instances.map(async (i) => [i.name, await keysOn(i, prefix)] as const)));

/** A shard map over the test's shards at replication 1, `one`, placing keys by `strategy`. */
const mapWith = (strategy: ShardMap["strategy"]) =>
  env.configWith({ vnodesPerWeight: 16, replicationFactor: 1, consistency: "one", shards: env.pg.members(), strategy });

describe("range strategy", () => {
  it("routes time-ordered keys to the shard of their range (and its successor replica)", async () => {
    const config = await mapWith({
      kind: "range",
      ranges: [
        { start: "", shard: "shard-0" },
        { start: "ev/2026-01", shard: "shard-1" },
        { start: "ev/2026-07", shard: "shard-2" },
      ],
    });
    const c = await env.client(config);
    const keys = [
      "ev/2025-12-31T23:59:59Z",
      "ev/2026-01-01T00:00:00Z",
      "ev/2026-03-15T08:00:00Z",
      "ev/2026-06-30T23:59:59Z",
      "ev/2026-07-01T00:00:00Z",
      "ev/2027-02-02T00:00:00Z",
    ];
    for (const k of keys) await c.put(k, { at: k });
    expect(await holders("ev/")).toEqual({
      "shard-0": ["ev/2025-12-31T23:59:59Z"],
      "shard-1": ["ev/2026-01-01T00:00:00Z", "ev/2026-03-15T08:00:00Z", "ev/2026-06-30T23:59:59Z"],
      "shard-2": ["ev/2026-07-01T00:00:00Z", "ev/2027-02-02T00:00:00Z"],
    });
    const page = await c.scan({ start: "ev/2026-01", end: "ev/2026-07" });
    expect(page.items.map((i) => i.key)).toEqual(keys.slice(1, 4));
    expect((await c.get("ev/2026-03-15T08:00:00Z"))?.value).toEqual({ at: "ev/2026-03-15T08:00:00Z" });
  });

  it("with replication 2 a range lives on its shard and the next one in the map", async () => {
    const config = await env.configWith({
      vnodesPerWeight: 16,
      replicationFactor: 2,
      consistency: "all",
      shards: env.pg.members(),
      strategy: {
        kind: "range",
        ranges: [
          { start: "", shard: "shard-2" },
          { start: "rr/m", shard: "shard-1" },
        ],
      },
    });
    const c = await env.client(config);
    await c.put("rr/a", 1);
    await c.put("rr/x", 2);
    expect(await holders("rr/")).toEqual({ "shard-0": ["rr/a"], "shard-1": ["rr/x"], "shard-2": ["rr/a", "rr/x"] });
    expect(c.replicasOf("rr/a")).toEqual(["shard-2", "shard-0"]);
  });
});

describe("directory strategy", () => {
  it("pins tenants listed in the map and hashes the rest", async () => {
    const config = await mapWith({
      kind: "directory",
      separator: ":",
      tenants: { "dt-acme": "shard-2", "dt-globex": "shard-0" },
    });
    const c = await env.client(config);
    for (let i = 0; i < 5; i++) {
      await c.put(`dt-acme:order/${i}`, i);
      await c.put(`dt-globex:order/${i}`, i);
    }
    const h = await holders("dt-");
    expect(h["shard-2"].filter((k) => k.startsWith("dt-acme:"))).toHaveLength(5);
    expect(h["shard-0"].filter((k) => k.startsWith("dt-globex:"))).toHaveLength(5);
    expect(h["shard-1"]).toEqual([]);
    // an unpinned tenant follows the hash ring
    const owner = c.replicasOf("dt-initech:1")[0];
    await c.put("dt-initech:1", "x");
    expect((await holders("dt-initech:"))[owner]).toEqual(["dt-initech:1"]);
    expect((await c.scan({ prefix: "dt-acme:" })).items.map((i) => i.value)).toEqual([0, 1, 2, 3, 4]);
  });

  it("a scan of a pinned tenant or of a key range asks only its owners (the others may be down)", async () => {
    const dir = await mapWith({ kind: "directory", separator: ":", tenants: { "sc-acme": "shard-1" } });
    const ranged = await mapWith({
      kind: "range",
      ranges: [
        { start: "", shard: "shard-0" },
        { start: "sc-m", shard: "shard-1" },
        { start: "sc-t", shard: "shard-2" },
      ],
    });
    const a = await env.client(dir);
    const b = await env.client(ranged);
    await a.put("sc-acme:1", 1);
    await b.put("sc-n", 2);
    const [s0, , s2] = env.pg.instances;
    await Promise.all([s0.stop("fast"), s2.stop("fast")]);
    try {
      expect((await a.scan({ prefix: "sc-acme:" })).items.map((i) => i.value)).toEqual([1]);
      expect((await b.scan({ start: "sc-m", end: "sc-t" })).items.map((i) => i.value)).toEqual([2]);
    } finally {
      await Promise.all([s0.start(), s2.start()]);
    }
  });
});
