/**
 * The lease protocol (core/cache/lease.ts) under every interleaving fast-check finds: readers
 * doing read-through (lookup, database read, fill; near-cache copies of hits), writers doing
 * delete-after-write (database write, invalidate, wait out near-cache copies, acknowledge), node
 * restarts that lose everything, and time passing (leases and values expire). Every read's
 * result is checked against the history: it is never older than the newest write acknowledged
 * before the read began. Removing any one rule of the protocol (the lease check in `fill`, the
 * lease deletion in `invalidate`, the near-cache wait) makes this test find a stale read; the
 * mutation cases at the end prove it.
 */
import fc from "fast-check";
import * as lease from "../../../core/cache/lease";

interface Mutations {
  fillIgnoresLease?: boolean;
  invalidateKeepsLease?: boolean;
  writerSkipsNearWait?: boolean;
}

const KEY = "k";
const GEN = 1;
const LEASE_MS = 40;
const NEAR_MS = 15;

type Reader = {
  kind: "reader";
  step: "idle" | "looked" | "loaded";
  startAcked: number;
  token: string;
  loaded: number;
  waits: number;
  sentAt: number;
  near?: { version: number; until: number };
};
type Writer = { kind: "writer"; step: "idle" | "written" | "waiting"; version: number; waitUntil: number };

/** Runs a schedule; returns the stale reads found and the most concurrent loaders seen. */
function run(schedule: number[], readers: number, writers: number, m: Mutations = {}) {
  const node: lease.NodeModel = { generation: GEN, keys: new Map() };
  let db = 0; // the newest version written
  let acked = 0; // the newest version acknowledged to its writer
  let now = 0;
  let tokens = 0;
  const stale: string[] = [];
  let loaders = 0;
  let maxLoaders = 0;
  const actors: (Reader | Writer)[] = [
    ...Array.from({ length: readers }, (): Reader => ({
      kind: "reader",
      step: "idle",
      startAcked: 0,
      token: "",
      loaded: 0,
      waits: 0,
      sentAt: 0,
    })),
    ...Array.from({ length: writers }, (): Writer => ({ kind: "writer", step: "idle", version: 0, waitUntil: 0 })),
  ];
  const finishRead = (r: Reader, version: number, how: string) => {
    if (version < r.startAcked)
      stale.push(`${how}: read ${version} but ${r.startAcked} was acknowledged before the read began`);
    r.step = "idle";
  };
  const model = {
    fill: (o: Parameters<typeof lease.fill>[2]) => {
      if (!m.fillIgnoresLease) return lease.fill(node, KEY, o);
      const s = node.keys.get(KEY) ?? {};
      s.value = { data: o.data, expiresAt: o.now + o.ttlMs, deltaMs: o.deltaMs };
      node.keys.set(KEY, s);
      return "stored" as const;
    },
    invalidate: () => {
      const before = node.keys.get(KEY)?.lease;
      const r = lease.invalidate(node, KEY, now);
      if (m.invalidateKeepsLease && before) node.keys.get(KEY)!.lease = before;
      return r;
    },
  };
  for (const choice of schedule) {
    const a = actors[choice % (actors.length + 2)];
    if (a === undefined) {
      // time passes; or (rarely) the node restarts empty
      if (choice % (actors.length + 2) === actors.length) now += 1 + (choice % 7);
      else if (choice % 13 === 0) {
        node.keys.clear();
        node.generation = undefined;
      } else now += 1;
      continue;
    }
    if (a.kind === "writer") {
      if (a.step === "idle") {
        a.version = ++db;
        a.step = "written";
      } else if (a.step === "written") {
        const r = model.invalidate();
        // a node that lost its state has no markers: near copies may live a whole near TTL
        const wait = r.stored === undefined ? NEAR_MS : r.nearMs;
        a.waitUntil = now + (m.writerSkipsNearWait ? 0 : wait);
        a.step = "waiting";
      } else if (now >= a.waitUntil) {
        acked = Math.max(acked, a.version);
        a.step = "idle";
      }
      continue;
    }
    const r = a;
    if (r.step === "idle") {
      r.startAcked = acked;
      if (r.near && now < r.near.until) {
        finishRead(r, r.near.version, "near cache");
        continue;
      }
      r.sentAt = now;
      r.token = `t${++tokens}`;
      r.waits = 0;
      r.step = "looked";
    }
    if (r.step === "looked") {
      const res = lease.lookup(node, KEY, { generation: GEN, token: r.token, leaseMs: LEASE_MS, nearMs: NEAR_MS, now });
      if (res.kind === "fenced") {
        lease.admit(node, GEN, now, NEAR_MS);
        continue;
      }
      if (res.kind === "hit") {
        const version = Number(res.data);
        r.near = { version, until: r.sentAt + NEAR_MS };
        finishRead(r, version, "hit");
      } else if (res.kind === "lease") {
        r.loaded = db; // the database read happens here
        loaders++;
        maxLoaders = Math.max(maxLoaders, loaders);
        r.step = "loaded";
      } else if (++r.waits > 50) {
        finishRead(r, db, "database after waiting"); // gave up waiting: read the database directly
      }
      continue;
    }
    // fill what was loaded, then answer with it
    loaders--;
    model.fill({ generation: GEN, token: r.token, data: String(r.loaded), ttlMs: 100, deltaMs: 1, now });
    finishRead(r, r.loaded, "loaded");
  }
  return { stale, maxLoaders };
}

const schedules = fc.array(fc.nat({ max: 10_000 }), { minLength: 20, maxLength: 400 });

describe("lease protocol model", () => {
  it("never serves a value older than a write acknowledged before the read began", () => {
    fc.assert(
      fc.property(schedules, fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 }), (s, readers, writers) => {
        expect(run(s, readers, writers).stale).toEqual([]);
      }),
      { numRuns: 3000 },
    );
  });

  it("lets one loader per key load at a time while its lease is live", () => {
    // no writers: nothing invalidates the lease, so only lease expiry can admit a second loader
    const n: lease.NodeModel = { generation: GEN, keys: new Map() };
    const o = { generation: GEN, leaseMs: LEASE_MS, nearMs: 0, now: 0 };
    const results = Array.from({ length: 1000 }, (_, i) => lease.lookup(n, KEY, { ...o, token: `t${i}` }));
    expect(results.filter((r) => r.kind === "lease")).toHaveLength(1);
    expect(results.filter((r) => r.kind === "wait")).toHaveLength(999);
    expect(lease.fill(n, KEY, { generation: GEN, token: "t1", data: "x", ttlMs: 10, deltaMs: 1, now: 1 })).toBe(
      "refused",
    );
    expect(lease.fill(n, KEY, { generation: GEN, token: "t0", data: "x", ttlMs: 10, deltaMs: 1, now: 1 })).toBe(
      "stored",
    );
    expect(lease.lookup(n, KEY, { ...o, now: 2, token: "t2" })).toMatchObject({ kind: "hit", data: "x" });
    // after expiry exactly one new lease
    const again = Array.from({ length: 100 }, (_, i) => lease.lookup(n, KEY, { ...o, now: 11, token: `u${i}` }));
    expect(again.filter((r) => r.kind === "lease")).toHaveLength(1);
  });

  it("refuses everything on a fenced node and admits only newer generations", () => {
    const n: lease.NodeModel = { generation: 3, keys: new Map() };
    lease.lookup(n, KEY, { generation: 3, token: "a", leaseMs: 10, nearMs: 0, now: 0 });
    lease.fill(n, KEY, { generation: 3, token: "a", data: "old", ttlMs: 100, deltaMs: 1, now: 0 });
    expect(lease.lookup(n, KEY, { generation: 4, token: "b", leaseMs: 10, nearMs: 0, now: 1 })).toEqual({
      kind: "fenced",
      stored: 3,
    });
    expect(lease.peek(n, KEY, { generation: 4, now: 1 })).toBe("fenced");
    expect(lease.admit(n, 2, 1, 5)).toBe("newer");
    expect(lease.admit(n, 4, 1, 5)).toBe("admitted");
    expect(lease.lookup(n, KEY, { generation: 4, token: "b", leaseMs: 10, nearMs: 0, now: 1 }).kind).toBe("lease");
    expect(lease.invalidate(n, KEY, 2).nearMs).toBe(4); // the admission's near floor
  });

  describe("each rule is needed (mutations are caught)", () => {
    const find = (m: Mutations) =>
      fc.check(
        fc.property(schedules, (s) => run(s, 3, 2, m).stale.length === 0),
        { numRuns: 5000, seed: 7 },
      ).failed;
    it("fill without the lease check", () => expect(find({ fillIgnoresLease: true })).toBe(true));
    it("invalidate without deleting the lease", () => expect(find({ invalidateKeepsLease: true })).toBe(true));
    it("writer not waiting for near-cache copies", () => expect(find({ writerSkipsNearWait: true })).toBe(true));
  });
});
