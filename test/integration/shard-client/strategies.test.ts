/**
 * Range and directory placement against real shards: rows land on exactly the shards the
 * strategy names (checked by reading each shard directly), scans merge them, and a directory
 * change in etcd re-routes new tenants without a restart.
 */
import { configKey } from "../../../runtime/config-client";
import { ShardDirectorySchema } from "../../../runtime/shard-client";
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

describe("range strategy", () => {
  it("routes time-ordered keys to the shard of their range (and its successor replica)", async () => {
    const config = await env.configWith({
      vnodesPerWeight: 16,
      replicationFactor: 1,
      consistency: "one",
      shards: env.pg.members(),
      strategy: {
        kind: "range",
        ranges: [
          { start: "", shard: "shard-0" },
          { start: "ev/2026-01", shard: "shard-1" },
          { start: "ev/2026-07", shard: "shard-2" },
        ],
      },
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
  it("pins tenants from the table in etcd, hashes the rest, and follows table changes", async () => {
    const config = await env.configWith({
      vnodesPerWeight: 16,
      replicationFactor: 1,
      consistency: "one",
      shards: env.pg.members(),
      strategy: { kind: "directory", key: "shard-directory", separator: ":" },
    });
    const DIR = configKey("shard-directory", ShardDirectorySchema);
    await config.put(DIR, { tenants: { "dt-acme": "shard-2", "dt-globex": "shard-0" } });
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

    // pin a new tenant: the watch re-routes it without a restart
    await config.put(DIR, { tenants: { "dt-acme": "shard-2", "dt-globex": "shard-0", "dt-umbrella": "shard-1" } });
    for (let i = 0; i < 100 && c.replicasOf("dt-umbrella:1")[0] !== "shard-1"; i++)
      await new Promise((r) => setTimeout(r, 20));
    await c.put("dt-umbrella:1", "u");
    expect((await holders("dt-umbrella:"))["shard-1"]).toEqual(["dt-umbrella:1"]);
    expect((await c.scan({ prefix: "dt-acme:" })).items.map((i) => i.value)).toEqual([0, 1, 2, 3, 4]);
  });

  it("refuses a table that pins a tenant to an unknown shard, keeping the previous one", async () => {
    const config = await env.configWith({
      vnodesPerWeight: 16,
      replicationFactor: 1,
      consistency: "one",
      shards: env.pg.members(),
      strategy: { kind: "directory", key: "dir2", separator: ":" },
    });
    const DIR = configKey("dir2", ShardDirectorySchema);
    await config.put(DIR, { tenants: { t1: "shard-1" } });
    const c = await env.client(config);
    await config.put(DIR, { tenants: { t1: "shard-9" } });
    await new Promise((r) => setTimeout(r, 300));
    expect(c.replicasOf("t1:k")).toEqual(["shard-1"]);
  });
});
