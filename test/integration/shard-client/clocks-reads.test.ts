/**
 * Bounded clocks, unique writer ids, value tie-breaks and monotonic quorum reads, against real
 * PostgreSQL shards and a real etcd (issue 15 points 3 and 4):
 * - a shard refuses, in the write's own statement, a version further ahead of its clock than the
 *   maximum offset; a router 5 minutes fast gets ClockOffsetError for every write and stores
 *   nothing; one 5 minutes slow gets it for writes and reads (never a write that silently loses);
 *   a row version far ahead is an error on read, never ignored;
 * - a writer id is leased: a second client with the same id is refused, naming it;
 * - equal versions with different values converge to the same row on every replica, whatever
 *   order they arrive in;
 * - a write superseded on every replica is WriteSupersededError (with the winner), not a success;
 * - a quorum read that sees replicas disagree writes the newest row to a quorum before it
 *   returns (even with the background repair queue dropping everything), so the next read, on
 *   other replicas, cannot go back; during a dual-write it reaches the new replica set too.
 */
import { hashKey } from "../../../core/sharding/ring";
import type { ShardMap } from "../../../core/sharding/shard-map";
import { ClockOffsetError, ShardArgumentError, WriteSupersededError, shardSql } from "../../../runtime/shard-client";
import type { PgInstance } from "../../support/pg-cluster";
import { rowOn, startEnv, type Env } from "./support";

jest.setTimeout(180_000);

let env: Env;
const MINUTE = 60_000;

beforeAll(async () => {
  env = await startEnv(4);
});
afterEach(async () => {
  await env?.closeClients();
  // a test may stop or pause a shard: bring every one back
  for (const i of env.pg.instances) {
    i.resume();
    if (!i.running()) await i.start();
  }
});
afterAll(async () => {
  await env?.stop();
});

/** rf 3, quorum, the first three shards (every key on all three). */
const three = (): Omit<ShardMap, "epoch"> => ({
  vnodesPerWeight: 16,
  replicationFactor: 3,
  consistency: "quorum",
  shards: env.pg.members().slice(0, 3),
});

/** Writes a row straight into a shard ("if newer"), bypassing the router. */
async function rawPut(shard: PgInstance, key: string, value: unknown, wall: number, node = "raw"): Promise<void> {
  await shard.query(
    `INSERT INTO scaleplane_kv AS t (${shardSql.KV_COLUMNS}) VALUES ($1, $2, $3::jsonb, $4, 0, $5) ${shardSql.APPLY_IF_NEWER}`,
    [key, hashKey(key), JSON.stringify(value), wall, node],
  );
}

async function thrown(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call();
  } catch (e) {
    return e;
  }
  throw new Error("the call did not throw");
}

describe("bounded clocks", () => {
  it("a shard refuses a version too far ahead of its clock in the write's own statement", async () => {
    const shard = env.pg.instances[0];
    const now = Date.now();
    const row = (key: string, wall: number) => [key, hashKey(key), '"v"', wall, 0, "n", 0];
    const [far] = await shard.query<{ applied: number; skewed: boolean; now_ms: string }>(shardSql.FENCED_UPSERT_SQL, [
      ...row("clock/far", now + 5 * MINUTE),
      500,
    ]);
    expect(far).toMatchObject({ applied: 0, skewed: true });
    expect(Math.abs(Number(far.now_ms) - now)).toBeLessThan(5000);
    expect(await rowOn(shard, "clock/far")).toBeUndefined();
    const [near] = await shard.query<{ applied: number; skewed: boolean }>(shardSql.FENCED_UPSERT_SQL, [
      ...row("clock/near", now + 100),
      500,
    ]);
    expect(near).toMatchObject({ applied: 1, skewed: false });
  });

  it("a router 5 minutes fast: every write is refused with ClockOffsetError naming the key; nothing is stored", async () => {
    const config = await env.configWith(three());
    const fast = await env.client(config, { physicalClock: () => Date.now() + 5 * MINUTE });
    for (let i = 0; i < 5; i++) {
      const e = await thrown(() => fast.put(`fast/${i}`, i));
      expect(e).toBeInstanceOf(ClockOffsetError);
      expect(e).toMatchObject({ operation: "put", key: `fast/${i}`, maxOffsetMs: 500 });
      expect((e as ClockOffsetError).offsetMs).toBeGreaterThan(4 * MINUTE);
      expect((e as Error).message).toMatch(/ahead of shard .*\(scaleplane:database\.maxClockOffsetMs\)/);
    }
    for (const s of env.pg.instances.slice(0, 3))
      for (let i = 0; i < 5; i++) expect(await rowOn(s, `fast/${i}`)).toBeUndefined();
  });

  it("a router 5 minutes slow: writes and reads are refused (a write never silently loses to older ones)", async () => {
    const config = await env.configWith(three());
    const ok = await env.client(config);
    await ok.put("slow/k", "acknowledged");
    const slow = await env.client(config, { physicalClock: () => Date.now() - 5 * MINUTE });
    const w = await thrown(() => slow.put("slow/k", "late"));
    expect(w).toBeInstanceOf(ClockOffsetError);
    expect((w as ClockOffsetError).offsetMs).toBeLessThan(-4 * MINUTE);
    expect((w as Error).message).toMatch(/behind shard/);
    expect(await thrown(() => slow.get("slow/k"))).toBeInstanceOf(ClockOffsetError);
    expect((await ok.get("slow/k"))?.value).toBe("acknowledged");
  });

  it("a row version far ahead of the reader's clock is an error, never ignored", async () => {
    const config = await env.configWith(three());
    for (const s of env.pg.instances.slice(0, 3))
      await rawPut(s, "ahead/k", "from the future", Date.now() + 10 * MINUTE);
    const c = await env.client(config);
    const e = await thrown(() => c.get("ahead/k"));
    expect(e).toBeInstanceOf(ClockOffsetError);
    expect(e).toMatchObject({ operation: "get", key: "ahead/k" });
  });

  it("a larger bound in the map is followed by the routers", async () => {
    const config = await env.configWith({ ...three(), maxClockOffsetMs: MINUTE });
    const fast = await env.client(config, { physicalClock: () => Date.now() + 30_000 });
    await fast.put("bound/k", 1);
    expect((await fast.get("bound/k"))?.value).toBe(1);
  });
});

describe("writer ids and ties", () => {
  it("a writer id is leased: a second client with the same id is refused, naming it; it is free again after close", async () => {
    const config = await env.configWith(three());
    const first = await env.client(config, { nodeId: "twin" });
    const e = await thrown(() => env.client(config, { nodeId: "twin" }));
    expect(e).toBeInstanceOf(ShardArgumentError);
    expect((e as Error).message).toMatch(/^nodeId "twin" is in use by another client \(.* pid \d+\)/);
    await first.close();
    await env.client(config, { nodeId: "twin" });
  });

  it("equal versions with different values converge to the same row on every replica, in any arrival order", async () => {
    const [a, b, c] = env.pg.instances;
    const wall = Date.now();
    await rawPut(a, "tie/k", { v: "x" }, wall, "dup");
    await rawPut(a, "tie/k", { v: "y" }, wall, "dup");
    await rawPut(b, "tie/k", { v: "y" }, wall, "dup");
    await rawPut(b, "tie/k", { v: "x" }, wall, "dup");
    await rawPut(c, "tie/k", { v: "y" }, wall, "dup");
    for (const s of [a, b, c]) expect((await rowOn(s, "tie/k"))?.value).toEqual({ v: "y" });
  });

  it("a write superseded on every replica is WriteSupersededError with the winner; a retry wins", async () => {
    const config = await env.configWith(three());
    const c = await env.client(config);
    const ahead = Date.now() + 300; // a newer version, inside the clock bound
    for (const s of env.pg.instances.slice(0, 3)) await rawPut(s, "sup/k", "newer", ahead, "other");
    const e = await thrown(() => c.put("sup/k", "older"));
    expect(e).toBeInstanceOf(WriteSupersededError);
    expect(e).toMatchObject({ operation: "put", key: "sup/k", winner: { wall: ahead, logical: 0, node: "other" } });
    expect((await c.get("sup/k"))?.value).toBe("newer");
    // the clock observed the winner: the retry is newer
    await c.put("sup/k", "retried");
    expect((await c.get("sup/k"))?.value).toBe("retried");
  });
});

describe("monotonic quorum reads", () => {
  it("a read that sees a partially applied write writes it to a quorum first: the next read on other replicas sees it", async () => {
    const config = await env.configWith(three());
    // The background repair queue drops everything: only the blocking repair can make it monotonic.
    const c = await env.client(config, { readRepair: { enabled: true, maxInFlight: 1, maxQueued: 0 } });
    await c.put("mono/k", "v1", { consistency: "all" });
    const [a, b, s2] = env.pg.instances;
    await rawPut(a, "mono/k", "v2", Date.now() + 200, "partial"); // on one replica only
    await s2.stop("fast");
    expect((await c.get("mono/k"))?.value).toBe("v2"); // a and b answer: the newest is v2
    expect(c.repairStats.blocking).toBe(1);
    await s2.start();
    await a.stop("fast");
    expect((await c.get("mono/k"))?.value).toBe("v2"); // b and s2: b got it before the first read returned
    expect((await rowOn(b, "mono/k"))?.value).toBe("v2");
  });

  it("during a dual-write the read's blocking repair reaches the new replica set too", async () => {
    const [a, b, c, d] = env.pg.instances;
    const members = env.pg.members();
    const oldSet = members.slice(0, 3);
    const newSet = [members[0], members[1], members[3]];
    const config = await env.configWith({
      ...three(),
      epoch: 1,
      shards: newSet,
      migration: { id: "m1", phase: "dual-write", from: { vnodesPerWeight: 16, replicationFactor: 3, shards: oldSet } },
    });
    const client = await env.client(config, { readRepair: { enabled: true, maxInFlight: 1, maxQueued: 0 } });
    await rawPut(a, "dual/k", "v1", Date.now());
    await rawPut(b, "dual/k", "v1", Date.now());
    await rawPut(c, "dual/k", "v2", Date.now() + 200); // the newest, on an old replica only
    await a.stop("fast");
    // reads use the old set (b, c answer); the new set {a, b, d} needs 2 holders: b and d
    expect((await client.get("dual/k"))?.value).toBe("v2");
    expect((await rowOn(d, "dual/k"))?.value).toBe("v2");
    expect((await rowOn(b, "dual/k"))?.value).toBe("v2");
  });
});
