/**
 * ConfigClient against a real etcd (local process on 127.0.0.1): typed get/put/watch, schema
 * rejection, deadlines, election with fencing tokens, shard-map CAS.
 */
import pino from "pino";
import { z } from "zod";
import type { ShardMap } from "../../../core/sharding/shard-map";
import {
  ConfigClient,
  ConfigDeadlineError,
  ConfigValidationError,
  FencingError,
  StaleEpochError,
  configKey,
  type Leadership,
} from "../../../runtime/config-client";
import { startLocalEtcd, type LocalEtcd } from "../../support/etcd-cluster";

const logger = pino({ level: "silent" });
const Limits = z.strictObject({ maxInstances: z.number().int().min(1), mode: z.enum(["fast", "safe"]) });
const LIMITS = configKey("app/limits", Limits);

const map0: ShardMap = {
  epoch: 0,
  vnodesPerWeight: 64,
  replicationFactor: 1,
  consistency: "one",
  shards: [{ name: "s0", weight: 1, host: "127.0.0.1", port: 5432, database: "app" }],
} as ShardMap;

let etcd: LocalEtcd;
const clients: ConfigClient[] = [];
const client = (deadlineMs = 2000, prefix = "/t/") => {
  const c = ConfigClient.create({ endpoints: [etcd.endpoint], deadlineMs, prefix, logger });
  clients.push(c);
  return c;
};

beforeAll(async () => {
  etcd = await startLocalEtcd("sp-config-client");
});
afterAll(async () => {
  for (const c of clients) c.close();
  await etcd?.stop();
});

describe("typed keys", () => {
  it("puts, gets and deletes a value that round-trips through its schema", async () => {
    const c = client(2000, "/typed/");
    expect(await c.get(LIMITS)).toBeUndefined();
    const rev = await c.put(LIMITS, { maxInstances: 4, mode: "safe" });
    expect(rev).toBeGreaterThan(0);
    const v = await c.getVersioned(LIMITS);
    expect(v?.value).toEqual({ maxInstances: 4, mode: "safe" });
    expect(v?.modRevision).toBe(rev);
    expect(await c.delete(LIMITS)).toBe(true);
    expect(await c.get(LIMITS)).toBeUndefined();
  });

  it("refuses to write a value that fails the schema, and writes nothing", async () => {
    const c = client(2000, "/reject/");
    await c.put(LIMITS, { maxInstances: 2, mode: "fast" });
    const bad = { maxInstances: 0, mode: "turbo" } as unknown as z.input<typeof Limits>;
    const err = await c.put(LIMITS, bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigValidationError);
    expect((err as Error).message).toMatch(/\/reject\/app\/limits/);
    expect((err as Error).message).toMatch(/maxInstances/);
    expect((err as Error).message).toMatch(/mode/);
    expect(await c.get(LIMITS)).toEqual({ maxInstances: 2, mode: "fast" });
  });

  it("reports a stored value that does not match the schema, naming the key", async () => {
    const c = client(2000, "/corrupt/");
    await c.etcd.put("/corrupt/app/limits").value(JSON.stringify({ maxInstances: "many" }));
    await expect(c.get(LIMITS)).rejects.toThrow(/\/corrupt\/app\/limits.*maxInstances/);
    await c.etcd.put("/corrupt/app/limits").value("{not json");
    await expect(c.get(LIMITS)).rejects.toThrow(/not JSON/);
  });

  it("rejects bad client options naming the option", () => {
    expect(() => ConfigClient.create({ endpoints: [], logger })).toThrow(/endpoints/);
    expect(() => ConfigClient.create({ endpoints: ["127.0.0.1:2379"], logger })).toThrow(
      /endpoints\.0: must be http\(s\):\/\/host:port/,
    );
    expect(() => ConfigClient.create({ endpoints: ["http://127.0.0.1:1"], deadlineMs: 0, logger })).toThrow(
      /deadlineMs/,
    );
    expect(() =>
      ConfigClient.create({ endpoints: ["http://127.0.0.1:1"], tls: { ca: "x", cert: "y" }, logger }),
    ).toThrow(/cert and key/);
  });

  it("watches a key: every put (validated) and the delete, in order", async () => {
    const c = client(2000, "/watch/");
    const seen: Array<[number | undefined, number]> = [];
    const errors: Error[] = [];
    const w = await c.watch(
      LIMITS,
      (v, rev) => seen.push([v?.maxInstances, rev]),
      (e) => errors.push(e),
    );
    const r1 = await c.put(LIMITS, { maxInstances: 1, mode: "fast" });
    const r2 = await c.put(LIMITS, { maxInstances: 2, mode: "fast" });
    await c.etcd.put("/watch/app/limits").value(JSON.stringify({ maxInstances: -1, mode: "fast" })); // invalid, written behind the client's back
    await c.delete(LIMITS);
    const until = Date.now() + 5000;
    while ((seen.length < 3 || errors.length < 1) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    await w.close();
    expect(seen.slice(0, 2)).toEqual([
      [1, r1],
      [2, r2],
    ]);
    expect(seen[2][0]).toBeUndefined();
    expect(seen[2][1]).toBeGreaterThan(r2);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(ConfigValidationError);
  });
});

describe("deadlines", () => {
  it("fails a call to a hung member with ConfigDeadlineError instead of waiting", async () => {
    const c = client(400, "/deadline/");
    await c.put(LIMITS, { maxInstances: 1, mode: "fast" }); // connected
    etcd.pause();
    try {
      const t0 = Date.now();
      const err = await c.put(LIMITS, { maxInstances: 2, mode: "fast" }).catch((e: unknown) => e);
      const took = Date.now() - t0;
      expect(err).toBeInstanceOf(ConfigDeadlineError);
      expect((err as Error).message).toMatch(/put \/deadline\/app\/limits.*400 ms.*may or may not/);
      expect(took).toBeLessThan(3000); // the member never answers: only the deadline ends the call
      const err2 = await c.get(LIMITS, { deadlineMs: 150 }).catch((e: unknown) => e);
      expect(err2).toBeInstanceOf(ConfigDeadlineError);
      expect((err2 as ConfigDeadlineError).deadlineMs).toBe(150);
    } finally {
      etcd.resume();
    }
    // and the client works again once the member answers
    expect((await c.get(LIMITS, { deadlineMs: 5000 }))?.maxInstances).toBeGreaterThanOrEqual(1);
  });
});

describe("leader election with fencing tokens", () => {
  const ELECTION = "scaling-controller";
  const FLAG = configKey("controller/decision", z.strictObject({ by: z.string(), desired: z.number().int() }));

  it("hands leadership over with strictly increasing fencing tokens; a resigned leader's fenced write is refused", async () => {
    const [a, b, cc] = [client(2000, "/elect/"), client(2000, "/elect/"), client(2000, "/elect/")];
    const la = await a.campaign(ELECTION, "a", { ttlSeconds: 5, timeoutMs: 5000 });
    expect(await a.leader(ELECTION)).toBe("a");
    // b and c wait behind a
    const pb = b.campaign(ELECTION, "b", { ttlSeconds: 5, timeoutMs: 10000 });
    await new Promise((r) => setTimeout(r, 300));
    const pc = cc.campaign(ELECTION, "c", { ttlSeconds: 5, timeoutMs: 15000 });
    await la.fencedPut(FLAG, { by: "a", desired: 1 });
    await la.resign();
    const lb = await pb;
    expect(lb.fencingToken).toBeGreaterThan(la.fencingToken);
    expect(await b.leader(ELECTION)).toBe("b");
    await expect(la.fencedPut(FLAG, { by: "a", desired: 99 })).rejects.toBeInstanceOf(FencingError);
    await lb.fencedPut(FLAG, { by: "b", desired: 2 });
    await lb.resign();
    const lc = await pc;
    expect(lc.fencingToken).toBeGreaterThan(lb.fencingToken);
    await expect(lb.fencedPut(FLAG, { by: "b", desired: 98 })).rejects.toThrow(
      /leadership of election "scaling-controller" with fencing token \d+ is no longer held/,
    );
    expect(await a.get(FLAG)).toEqual({ by: "b", desired: 2 });
    await lc.resign();
  });

  it("refuses the fenced write of a leader whose lease expired while it was unaware (new leader elected)", async () => {
    const [a, b, admin] = [client(2000, "/stale/"), client(2000, "/stale/"), client(2000, "/stale/")];
    const FLAG2 = configKey("controller/decision", FLAG.schema);
    const la: Leadership = await a.campaign(ELECTION, "a", { ttlSeconds: 5, timeoutMs: 5000 });
    const lost: Error[] = [];
    la.onLost((e) => lost.push(e));
    const pb = b.campaign(ELECTION, "b", { ttlSeconds: 5, timeoutMs: 10000 });
    // a's lease ends behind its back (as when a is paused/partitioned past its TTL): revoke it
    const leaseId = la.key.slice(la.key.lastIndexOf("/") + 1);
    await admin.etcd.leaseClient.leaseRevoke({ ID: leaseId });
    const lb = await pb;
    expect(lb.fencingToken).toBeGreaterThan(la.fencingToken);
    await lb.fencedPut(FLAG2, { by: "b", desired: 3 });
    const err = await la.fencedPut(FLAG2, { by: "a", desired: 100 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FencingError);
    expect((err as FencingError).fencingToken).toBe(la.fencingToken);
    expect(la.believedCurrent).toBe(false);
    expect(lost.length).toBeGreaterThanOrEqual(1);
    expect(await admin.get(FLAG2)).toEqual({ by: "b", desired: 3 });
    await lb.resign();
  });

  it("times out a campaign that cannot win and withdraws the candidacy", async () => {
    const [a, b] = [client(2000, "/timeout/"), client(2000, "/timeout/")];
    const la = await a.campaign(ELECTION, "a", { ttlSeconds: 5 });
    await expect(b.campaign(ELECTION, "b", { ttlSeconds: 5, timeoutMs: 500 })).rejects.toThrow(
      /not elected within 500 ms/,
    );
    await la.resign();
    // b withdrew: nobody leads now
    expect(await a.leader(ELECTION)).toBeUndefined();
  });
});

describe("shard map compare-and-swap on the epoch", () => {
  it("initialises once, updates with the expected epoch, and refuses stale epochs", async () => {
    const [a, b] = [client(2000, "/shards/"), client(2000, "/shards/")];
    await expect(a.updateShardMap(0, (m) => m)).rejects.toThrow(/no shard map is stored/);
    expect((await a.initShardMap(map0)).created).toBe(true);
    const again = await b.initShardMap({ ...map0, vnodesPerWeight: 1 });
    expect(again).toEqual({ created: false, map: map0 });

    const addShard =
      (name: string) =>
      (m: ShardMap): ShardMap => ({
        ...m,
        shards: [...m.shards, { name, weight: 1, host: "127.0.0.1", port: 5433, database: "app" }],
      });
    const m1 = await a.updateShardMap(0, addShard("s1"));
    expect(m1.epoch).toBe(1);
    expect(m1.shards.map((s) => s.name)).toEqual(["s0", "s1"]);
    // b still believes epoch 0
    const stale = await b.updateShardMap(0, addShard("s2")).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(StaleEpochError);
    expect((stale as StaleEpochError).actualEpoch).toBe(1);
    expect((stale as Error).message).toMatch(/expected epoch 0 but the stored map is at epoch 1/);
    expect((await b.getShardMap())?.shards).toHaveLength(2);
    // an invalid result is refused before writing
    await expect(a.updateShardMap(1, (m) => ({ ...m, replicationFactor: 5 }))).rejects.toThrow(/replicationFactor/);
    expect((await a.getShardMap())?.epoch).toBe(1);
  });

  it("lets exactly one of many concurrent writers win each epoch", async () => {
    const cs = Array.from({ length: 5 }, () => client(2000, "/race/"));
    await cs[0].initShardMap(map0);
    const results = await Promise.allSettled(
      cs.map((c, i) => c.updateShardMap(0, (m) => ({ ...m, vnodesPerWeight: 100 + i }))),
    );
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(won).toHaveLength(1);
    expect(
      lost.every((r) => r.reason instanceof StaleEpochError && (r.reason as StaleEpochError).actualEpoch === 1),
    ).toBe(true);
    const stored = await cs[0].getShardMap();
    expect(stored?.epoch).toBe(1);
    expect(stored?.vnodesPerWeight).toBe((won[0] as PromiseFulfilledResult<ShardMap>).value.vnodesPerWeight);
  });

  it("fences shard-map updates by leadership", async () => {
    const [a, b] = [client(2000, "/fenced-map/"), client(2000, "/fenced-map/")];
    await a.initShardMap(map0);
    const la = await a.campaign("rebalancer", "a", { ttlSeconds: 5 });
    const m1 = await a.updateShardMap(0, (m) => ({ ...m, vnodesPerWeight: 32 }), { fence: la });
    expect(m1.epoch).toBe(1);
    const pb = b.campaign("rebalancer", "b", { ttlSeconds: 5, timeoutMs: 5000 });
    await la.resign();
    const lb = await pb;
    await expect(a.updateShardMap(1, (m) => ({ ...m, vnodesPerWeight: 8 }), { fence: la })).rejects.toBeInstanceOf(
      FencingError,
    );
    // a concurrent stale epoch under a valid fence is a StaleEpochError, not a FencingError
    await expect(b.updateShardMap(0, (m) => m, { fence: lb })).rejects.toBeInstanceOf(StaleEpochError);
    const m2 = await b.updateShardMap(1, (m) => ({ ...m, vnodesPerWeight: 16 }), { fence: lb });
    expect(m2).toMatchObject({ epoch: 2, vnodesPerWeight: 16 });
    await lb.resign();
  });
});
