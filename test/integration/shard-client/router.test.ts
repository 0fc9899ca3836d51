/**
 * ShardClient against real PostgreSQL shards (3 local instances) and a real etcd: round trips at
 * every consistency level, quorum behaviour with a replica down, read repair, last-writer-wins
 * under concurrent writers, HLC versions with a clock going backwards, the epoch fence, and the
 * dual-write of a migration.
 */
import { CONSISTENCY_LEVELS } from "../../../core/config";
import { compareVersions, type Version } from "../../../core/sharding/hlc";
import type { ShardMap } from "../../../core/sharding/shard-map";
import {
  QuorumUnavailableError,
  StaleEpochError,
  WriteSupersededError,
  shardSql,
  type ScanPage,
} from "../../../runtime/shard-client";
import { keysOn, rowOn, startEnv, type Env } from "./support";

let env: Env;
const SHARDS = ["shard-0", "shard-1", "shard-2"];

beforeAll(async () => {
  env = await startEnv(3);
});
afterEach(async () => {
  await env?.closeClients();
});
afterAll(async () => {
  await env?.stop();
});

const base = (rf: number, consistency: ShardMap["consistency"] = "quorum"): Omit<ShardMap, "epoch"> => ({
  vnodesPerWeight: 16,
  replicationFactor: rf,
  consistency,
  shards: env.pg.members(),
});

describe("round trips", () => {
  it.each(CONSISTENCY_LEVELS)("put/get/delete/scan at %s", async (level) => {
    const c = await env.client(await env.configWith(base(2, "one")));
    const p = `rt-${level}/`;
    const keys = Array.from({ length: 12 }, (_, i) => `${p}${String(i).padStart(2, "0")}`);
    // Reads must overlap the writes to see them: a write acknowledged by one replica is read back
    // at "all" (1 + 2 > 2); quorum/quorum and all/all overlap by themselves.
    const read = level === "one" ? "all" : level;
    for (const [i, k] of keys.entries()) await c.put(k, { i, tags: ["a", i] }, { consistency: level });
    for (const [i, k] of keys.entries())
      expect((await c.get(k, { consistency: read }))?.value).toEqual({ i, tags: ["a", i] });
    // each key lives on exactly its 2 replicas
    for (const k of keys) {
      const holders = (
        await Promise.all(SHARDS.map(async (s) => ((await rowOn(env.shard(s), k)) ? s : undefined)))
      ).filter(Boolean);
      if (level === "all") expect(holders.sort()).toEqual(c.replicasOf(k).sort());
      else expect(c.replicasOf(k)).toEqual(expect.arrayContaining(holders as string[]));
    }
    await c.delete(keys[3], { consistency: level });
    expect(await c.get(keys[3], { consistency: read })).toBeUndefined();
    const page = await c.scan({ prefix: p }, { consistency: read });
    expect(page.items.map((x) => x.key)).toEqual(keys.filter((_, i) => i !== 3));
    expect(page.next).toBeUndefined();
    expect(page.items[0].value).toEqual({ i: 0, tags: ["a", 0] });
  });

  it("keeps JSON null apart from a delete, and a delete leaves a tombstone on every replica", async () => {
    const c = await env.client(await env.configWith(base(2)));
    await c.put("nulls/a", null, { consistency: "all" });
    expect(await c.get("nulls/a")).toMatchObject({ key: "nulls/a", value: null });
    await c.delete("nulls/a", { consistency: "all" });
    expect(await c.get("nulls/a")).toBeUndefined();
    for (const s of c.replicasOf("nulls/a")) expect((await rowOn(env.shard(s), "nulls/a"))?.value).toBeNull();
    expect((await c.scan({ prefix: "nulls/" })).items).toEqual([]);
  });

  it("pages a scan with a limit and a range, in code point order", async () => {
    const c = await env.client(await env.configWith(base(2)));
    const keys = ["pg/a", "pg/b", "pg/c", "pg/d", "pg/e", "pg/z", "pg/\u00e9", "pg/\u{1f600}", "pg/\uffee"];
    for (const k of keys) await c.put(k, k);
    const seen: string[] = [];
    let next: string | undefined = "pg/";
    let pages = 0;
    while (next !== undefined) {
      const page: ScanPage = await c.scan({ start: next, end: "pg0" }, { limit: 2 });
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((i) => i.key));
      next = page.next;
      if (++pages > 20) throw new Error("scan did not terminate");
    }
    expect(seen).toEqual(["pg/a", "pg/b", "pg/c", "pg/d", "pg/e", "pg/z", "pg/\u00e9", "pg/\uffee", "pg/\u{1f600}"]);
    expect((await c.scan({ start: "pg/b", end: "pg/e" })).items.map((i) => i.key)).toEqual(["pg/b", "pg/c", "pg/d"]);
  });

  it("refuses bad keys, values and levels with the argument named", async () => {
    const c = await env.client(await env.configWith(base(2)));
    await expect(c.put("", 1)).rejects.toThrow(/^key must be a non-empty string/);
    await expect(c.put("a\0b", 1)).rejects.toThrow(/^key must not contain NUL/);
    await expect(c.put("k", undefined)).rejects.toThrow(/^value must be a JSON value/);
    await expect(c.get("k", { consistency: "most" as never })).rejects.toThrow(
      /^consistency must be one of one, quorum, all/,
    );
    await expect(c.scan({ prefix: "x" }, { limit: 0 })).rejects.toThrow(/^limit must be a whole number/);
  });
});

describe("replica failures", () => {
  it("a write with one of 3 replicas stopped succeeds at quorum and fails at all with QuorumUnavailableError naming the shard", async () => {
    const c = await env.client(await env.configWith(base(3)));
    await c.put("q/k", 1, { consistency: "all" });
    await env.shard("shard-1").stop("fast");
    try {
      const ok = await c.put("q/k", 2, { consistency: "quorum" });
      expect(ok.version.node).toBe(c.nodeId);
      expect((await c.get("q/k", { consistency: "quorum" }))?.value).toBe(2);
      const err = await c.put("q/k", 3, { consistency: "all" }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(QuorumUnavailableError);
      const q = err as QuorumUnavailableError;
      expect(q.failedShards).toEqual(["shard-1"]);
      expect(q.unmet).toEqual([{ shards: expect.arrayContaining(SHARDS), required: 3, acked: 2 }]);
      expect(q.message).toMatch(/put "q\/k" at consistency "all": quorum unavailable \(2\/3 of/);
      expect(q.failures[0].reason).toMatch(/ECONNREFUSED|connect/);
      await expect(c.get("q/k", { consistency: "all" })).rejects.toBeInstanceOf(QuorumUnavailableError);
      await expect(c.scan({ prefix: "q/" }, { consistency: "all" })).rejects.toBeInstanceOf(QuorumUnavailableError);
      expect((await c.scan({ prefix: "q/" }, { consistency: "quorum" })).items.map((i) => i.value)).toEqual([3]);
    } finally {
      await env.shard("shard-1").start();
    }
  });

  it("with two of 3 replicas down a quorum write fails and names both shards", async () => {
    const c = await env.client(await env.configWith(base(3)));
    await env.shard("shard-0").stop("immediate");
    await env.shard("shard-2").stop("kill");
    try {
      const err = (await c.put("q2/k", 1).catch((e: unknown) => e)) as QuorumUnavailableError;
      expect(err).toBeInstanceOf(QuorumUnavailableError);
      expect(err.failedShards.sort()).toEqual(["shard-0", "shard-2"]);
      expect((await c.put("q2/k", 1, { consistency: "one" })).version).toBeDefined();
    } finally {
      await Promise.all([env.shard("shard-0").start(), env.shard("shard-2").start()]);
    }
  });

  it("a hung replica (SIGSTOP) costs a deadline, not the write", async () => {
    // Deadlines a healthy shard meets even on a loaded CI machine (a fresh connection there took
    // over 300 ms), and a hung one never does: its pooled connection times out on the statement
    // (client-side query_timeout), a new one on the startup handshake the stopped postmaster
    // never answers.
    const c = await env.client(await env.configWith(base(3)), { statementTimeoutMs: 1000, connectTimeoutMs: 5000 });
    await c.put("hung/k", 0, { consistency: "all" });
    env.shard("shard-2").pause();
    try {
      await c.put("hung/k", 1, { consistency: "quorum" });
      const err = (await c.put("hung/k", 2, { consistency: "all" }).catch((e: unknown) => e)) as QuorumUnavailableError;
      expect(err).toBeInstanceOf(QuorumUnavailableError);
      expect(err.failedShards).toEqual(["shard-2"]);
      expect(err.failures[0].reason).toMatch(/timeout|timed out/i);
    } finally {
      env.shard("shard-2").resume();
    }
    expect((await c.get("hung/k"))?.value).toBe(2);
  });

  it("read repair: a replica stopped during writes holds the latest versions after reads", async () => {
    const c = await env.client(await env.configWith(base(3)));
    const keys = Array.from({ length: 20 }, (_, i) => `rr/${i}`);
    for (const k of keys) await c.put(k, "v0", { consistency: "all" });
    const down = env.shard("shard-2");
    await down.stop("kill");
    const latest = new Map<string, Version>();
    try {
      // concurrent writers while the replica is down; every key gets several versions
      await Promise.all(
        [0, 1].map(async (w) => {
          for (let round = 1; round <= 3; round++)
            for (const k of keys)
              if (Number(k.split("/")[1]) % 2 === w)
                latest.set(k, (await c.put(k, `v${round}`, { consistency: "quorum" })).version);
        }),
      );
      await c.delete(keys[0]);
    } finally {
      await down.start();
    }
    // the restarted replica is stale: v0 everywhere
    expect((await rowOn(down, keys[5]))?.value).toBe("v0");
    for (const k of keys.slice(1)) expect((await c.get(k))?.value).toBe("v3");
    expect(await c.get(keys[0])).toBeUndefined();
    await c.repairsIdle();
    for (const k of keys.slice(1)) {
      const row = await rowOn(down, k);
      expect(row?.value).toBe("v3");
      expect(compareVersions({ wall: row!.wall, logical: row!.logical, node: row!.node }, latest.get(k)!)).toBe(0);
    }
    expect((await rowOn(down, keys[0]))?.value).toBeNull(); // the tombstone was repaired too
    expect(c.repairStats.completed).toBeGreaterThanOrEqual(keys.length);
    expect(c.repairStats.failed).toBe(0);
  });

  it("a scan repairs a replica that missed writes", async () => {
    const c = await env.client(await env.configWith(base(3)));
    await env.shard("shard-0").stop("fast");
    try {
      for (let i = 0; i < 5; i++) await c.put(`sr/${i}`, i);
    } finally {
      await env.shard("shard-0").start();
    }
    expect(await keysOn(env.shard("shard-0"), "sr/")).toEqual([]);
    expect((await c.scan({ prefix: "sr/" }, { consistency: "all" })).items.map((i) => i.value)).toEqual([
      0, 1, 2, 3, 4,
    ]);
    await c.repairsIdle();
    expect(await keysOn(env.shard("shard-0"), "sr/")).toEqual(["sr/0", "sr/1", "sr/2", "sr/3", "sr/4"]);
  });
});

describe("versions", () => {
  it("last writer wins by version under concurrent writers from two clients; replicas converge", async () => {
    const config = await env.configWith(base(3));
    const [a, b] = [await env.client(config, { nodeId: "writer-a" }), await env.client(config, { nodeId: "writer-b" })];
    const keys = Array.from({ length: 8 }, (_, i) => `lww/${i}`);
    const acked = new Map<string, Array<{ version: Version; value: string }>>();
    let superseded = 0;
    await Promise.all(
      [a, b].flatMap((c) =>
        [0, 1].map(async (lane) => {
          for (let n = 0; n < 15; n++) {
            const key = keys[(n * 3 + lane) % keys.length];
            const value = `${c.nodeId}-${lane}-${n}`;
            try {
              const { version } = await c.put(key, value, { consistency: n % 2 === 0 ? "quorum" : "one" });
              acked.set(key, [...(acked.get(key) ?? []), { version, value }]);
            } catch (e) {
              // A racing writer's newer version landed first on every replica: reported, not acknowledged.
              if (!(e instanceof WriteSupersededError)) throw e;
              expect(compareVersions(e.winner!, e.version)).toBeGreaterThan(0);
              superseded++;
            }
          }
        }),
      ),
    );
    // every acknowledged version is distinct
    const all = [...acked.values()].flat();
    expect(all.length + superseded).toBe(60);
    expect(new Set(all.map((x) => `${x.version.wall}/${x.version.logical}/${x.version.node}`)).size).toBe(all.length);
    for (const k of keys) {
      const winner = acked.get(k)!.reduce((m, x) => (compareVersions(x.version, m.version) > 0 ? x : m));
      const got = await b.get(k, { consistency: "all" });
      expect(got?.value).toBe(winner.value);
      expect(got?.version).toEqual(winner.version);
    }
    await Promise.all([a.repairsIdle(), b.repairsIdle()]);
    for (const k of keys) {
      const rows = await Promise.all(SHARDS.map((s) => rowOn(env.shard(s), k)));
      expect(new Set(rows.map((r) => JSON.stringify(r))).size).toBe(1);
    }
  });

  it("versions come from a hybrid logical clock: a clock stepping backwards still orders one writer's writes", async () => {
    const config = await env.configWith(base(2));
    // 300 ms ahead: inside the maximum clock offset (500 ms by default), so the shards accept it and
    // the slow writer below adopts its versions when it reads the key.
    let skew = 300;
    const c = await env.client(config, { nodeId: "jumpy", physicalClock: () => Date.now() + skew });
    const v1 = (await c.put("hlc/k", "first")).version;
    skew -= 400; // NTP steps the clock back (the HLC never goes back with it)
    const v2 = (await c.put("hlc/k", "second")).version;
    expect(compareVersions(v2, v1)).toBeGreaterThan(0);
    expect(v2.wall).toBeGreaterThanOrEqual(v1.wall);
    expect((await c.get("hlc/k"))?.value).toBe("second");
    // another writer whose clock is behind (within the bound): after reading the key, its write still wins
    const slow = await env.client(config, { nodeId: "slow", physicalClock: () => Date.now() - 300 });
    expect((await slow.get("hlc/k"))?.value).toBe("second");
    const v3 = (await slow.put("hlc/k", "third")).version;
    expect(compareVersions(v3, v2)).toBeGreaterThan(0);
    expect((await c.get("hlc/k"))?.value).toBe("third");
  });
});

describe("epoch fence", () => {
  it("a refused write waits for the newer shard map and is retried once, with the same version", async () => {
    const config = await env.configWith(base(3));
    const c = await env.client(config, { epochWaitMs: 5000 });
    await c.put("fence/k", 1, { consistency: "all" });
    await Promise.all(env.pg.instances.map((i) => i.query(shardSql.RAISE_FENCE_SQL, [1])));
    try {
      const publish = new Promise((r) => setTimeout(r, 300)).then(() => config.updateShardMap(0, (m) => m));
      const { version } = await c.put("fence/k", 2, { consistency: "all" });
      await publish;
      expect(c.map.epoch).toBe(1);
      for (const s of SHARDS)
        expect(await rowOn(env.shard(s), "fence/k")).toMatchObject({
          value: 2,
          wall: version.wall,
          logical: version.logical,
        });
    } finally {
      await Promise.all(env.pg.instances.map((i) => i.query("UPDATE scaleplane_meta SET min_epoch = 0 WHERE id = 1")));
    }
  });

  it("throws StaleEpochError when the map does not catch up, and nothing is written", async () => {
    const c = await env.client(await env.configWith(base(3)), { epochWaitMs: 300 });
    await Promise.all(env.pg.instances.map((i) => i.query(shardSql.RAISE_FENCE_SQL, [7])));
    try {
      const err = (await c.put("fence2/k", 1).catch((e: unknown) => e)) as StaleEpochError;
      expect(err).toBeInstanceOf(StaleEpochError);
      expect(err.minEpoch).toBe(7);
      expect(err.routerEpoch).toBe(0);
      for (const s of SHARDS) expect(await rowOn(env.shard(s), "fence2/k")).toBeUndefined();
      await expect(c.get("fence2/k")).rejects.toBeInstanceOf(StaleEpochError);
    } finally {
      await Promise.all(env.pg.instances.map((i) => i.query("UPDATE scaleplane_meta SET min_epoch = 0 WHERE id = 1")));
    }
  });
});

describe("migration", () => {
  it("dual-writes to the old and the new replicas, reads the old set until cutover, then the new", async () => {
    const [s0, s1, s2] = env.pg.members();
    const from = { vnodesPerWeight: 16, replicationFactor: 1, shards: [s0] };
    const config = await env.configWith({
      vnodesPerWeight: 16,
      replicationFactor: 1,
      consistency: "one",
      shards: [s0, s1, s2],
      migration: { id: "m1", phase: "dual-write", from },
    });
    const c = await env.client(config);
    const keys = Array.from({ length: 12 }, (_, i) => `mig/${i}`);
    for (const k of keys) await c.put(k, k);
    for (const k of keys) {
      expect((await rowOn(env.shard("shard-0"), k))?.value).toBe(k); // old owner
      expect((await rowOn(env.shard(c.replicasOf(k)[0]), k))?.value).toBe(k); // new owner
    }
    const moved = keys.find((k) => c.replicasOf(k)[0] !== "shard-0")!;
    expect(moved).toBeDefined();
    // reads use the old set during dual-write: a row missing on the new owner is not noticed
    await env.shard(c.replicasOf(moved)[0]).query("DELETE FROM scaleplane_kv WHERE key = $1", [moved]);
    expect((await c.get(moved))?.value).toBe(moved);
    // cutover: reads move to the new set (the copy would have filled it)
    await config.updateShardMap(0, (m) => ({ ...m, migration: { ...m.migration!, phase: "cutover" } }));
    for (let i = 0; i < 100 && c.map.epoch < 1; i++) await new Promise((r) => setTimeout(r, 20));
    expect(c.map.epoch).toBe(1);
    const kept = keys.find((k) => k !== moved && c.replicasOf(k)[0] !== "shard-0")!;
    await env.shard("shard-0").query("DELETE FROM scaleplane_kv WHERE key = $1", [kept]);
    expect((await c.get(kept))?.value).toBe(kept);
    // a write that cannot reach the old set fails even though the new set acknowledged it
    await env.shard("shard-0").stop("fast");
    try {
      const err = (await c.put(kept, "x", { consistency: "one" }).catch((e: unknown) => e)) as QuorumUnavailableError;
      expect(err).toBeInstanceOf(QuorumUnavailableError);
      expect(err.unmet).toEqual([{ shards: ["shard-0"], required: 1, acked: 0 }]);
    } finally {
      await env.shard("shard-0").start();
    }
  });
});
