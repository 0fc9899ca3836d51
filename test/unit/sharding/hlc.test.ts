import fc from "fast-check";
import {
  HLC_ZERO,
  HlcError,
  ClockOffsetExceeded,
  HybridClock,
  compareStored,
  MAX_LOGICAL,
  checkNodeId,
  compareTimestamps,
  compareVersions,
  hlcNow,
  hlcObserve,
  newerVersion,
  type HlcTimestamp,
  type Version,
} from "../../../core/sharding/hlc";

const physical = fc.integer({ min: 0, max: 2 ** 45 });
const timestamp = fc.record({ wall: physical, logical: fc.integer({ min: 0, max: MAX_LOGICAL }) });
const nodeId = fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/);
const version = fc.record({ wall: physical, logical: fc.integer({ min: 0, max: MAX_LOGICAL }), node: nodeId });

/** A run of clock events: local writes at a physical time, or observations of a remote timestamp. */
const events = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant("now" as const), at: physical }),
    fc.record({ kind: fc.constant("observe" as const), at: physical, remote: timestamp }),
  ),
  {
    maxLength: 200,
  },
);

describe("hybrid logical clock", () => {
  it("is strictly monotonic whatever the physical clock does (including going backwards)", () => {
    fc.assert(
      fc.property(events, (evs) => {
        let t: HlcTimestamp = HLC_ZERO;
        for (const e of evs) {
          const next = e.kind === "now" ? hlcNow(t, e.at) : hlcObserve(t, e.remote, e.at);
          expect(compareTimestamps(next, t)).toBeGreaterThan(0);
          if (e.kind === "observe") expect(compareTimestamps(next, e.remote)).toBeGreaterThan(0);
          t = next;
        }
      }),
    );
  });

  it("stays close to physical time: wall = max(physical seen, remote seen), counter reset when physical time leads", () => {
    fc.assert(
      fc.property(events, (evs) => {
        let t: HlcTimestamp = HLC_ZERO;
        let maxSeen = 0;
        for (const e of evs) {
          maxSeen = Math.max(maxSeen, e.at, e.kind === "observe" ? e.remote.wall : 0);
          const before = t;
          t = e.kind === "now" ? hlcNow(t, e.at) : hlcObserve(t, e.remote, e.at);
          // the wall component only exceeds everything seen by counter overflow (one ms per 2^31 events)
          expect(t.wall).toBeGreaterThanOrEqual(maxSeen);
          expect(t.wall).toBeLessThanOrEqual(maxSeen + 1);
          if (e.at > Math.max(before.wall, e.kind === "observe" ? e.remote.wall : 0))
            expect(t).toEqual({ wall: e.at, logical: 0 });
        }
      }),
    );
  });

  it("survives the wall clock stepping back: versions keep increasing at the old wall time", () => {
    let now = 1_000_000;
    const c = new HybridClock("node-a", () => now);
    const a = c.now();
    now = 900_000;
    const b = c.now();
    const d = c.now();
    expect(a).toEqual({ wall: 1_000_000, logical: 0, node: "node-a" });
    expect(b).toEqual({ wall: 1_000_000, logical: 1, node: "node-a" });
    expect(d).toEqual({ wall: 1_000_000, logical: 2, node: "node-a" });
    now = 1_000_001;
    expect(c.now()).toEqual({ wall: 1_000_001, logical: 0, node: "node-a" });
  });

  it("carries over into the wall component when the counter is full", () => {
    expect(hlcNow({ wall: 5, logical: MAX_LOGICAL }, 5)).toEqual({ wall: 6, logical: 0 });
    expect(hlcObserve({ wall: 5, logical: 1 }, { wall: 5, logical: MAX_LOGICAL }, 0)).toEqual({ wall: 6, logical: 0 });
  });

  it("after observing a timestamp, every local version is newer (causality across writers)", () => {
    fc.assert(
      fc.property(timestamp, physical, nodeId, (remote, at, node) => {
        const c = new HybridClock(node, () => at, Number.MAX_SAFE_INTEGER);
        c.observe(remote);
        expect(compareTimestamps(c.now(), remote)).toBeGreaterThan(0);
      }),
    );
  });

  it("refuses (never ignores) a remote timestamp further ahead of the physical clock than the max offset", () => {
    const c = new HybridClock("n", () => 10_000, 1_000);
    let err: unknown;
    try {
      c.observe({ wall: 20_000, logical: 0 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ClockOffsetExceeded);
    expect(err).toMatchObject({ aheadMs: 10_000, maxOffsetMs: 1_000 });
    expect((err as Error).message).toMatch(
      /10000 ms ahead .* maximum clock offset \(1000 ms, scaleplane:database\.maxClockOffsetMs\)/,
    );
    // not observed: the clock did not move into the future
    expect(c.now()).toEqual({ wall: 10_000, logical: 0, node: "n" });
    c.observe({ wall: 10_500, logical: 3 });
    expect(c.now()).toEqual({ wall: 10_500, logical: 5, node: "n" });
    // the bound follows the shard map's
    c.maxOffsetMs = 20_000;
    c.observe({ wall: 20_000, logical: 0 });
    expect(c.now()).toEqual({ wall: 20_000, logical: 2, node: "n" });
    expect(() => (c.maxOffsetMs = 0)).toThrow(/^maxOffsetMs must be a whole number/);
  });

  it("refuses bad input with the argument named", () => {
    expect(() => hlcNow(HLC_ZERO, -1)).toThrow(HlcError);
    expect(() => hlcNow(HLC_ZERO, 1.5)).toThrow(/^physicalMs must be a whole number/);
    expect(() => hlcNow({ wall: 1, logical: -1 }, 1)).toThrow(
      /^last\.logical must be a whole number from 0 to 2147483647/,
    );
    expect(() => hlcObserve(HLC_ZERO, { wall: NaN, logical: 0 }, 1)).toThrow(/^remote\.wall/);
    expect(() => checkNodeId("bad id")).toThrow(/^nodeId must be 1-64 ASCII letters/);
    expect(() => checkNodeId("é")).toThrow(HlcError);
    expect(() => new HybridClock("")).toThrow(/^node must be/);
  });
});

describe("version order", () => {
  it("is a total order: antisymmetric, transitive, equal only when identical", () => {
    fc.assert(
      fc.property(version, version, version, (a, b, c) => {
        expect(Math.sign(compareVersions(a, b))).toBe(-Math.sign(compareVersions(b, a)));
        if (compareVersions(a, b) <= 0 && compareVersions(b, c) <= 0)
          expect(compareVersions(a, c)).toBeLessThanOrEqual(0);
        expect(compareVersions(a, b) === 0).toBe(a.wall === b.wall && a.logical === b.logical && a.node === b.node);
      }),
    );
  });

  it("is lexicographic: wall, then logical, then node (byte order, as PostgreSQL's C collation)", () => {
    const v = (wall: number, logical: number, node: string): Version => ({ wall, logical, node });
    expect(compareVersions(v(2, 0, "a"), v(1, 9, "z"))).toBeGreaterThan(0);
    expect(compareVersions(v(1, 2, "a"), v(1, 1, "z"))).toBeGreaterThan(0);
    expect(compareVersions(v(1, 1, "b"), v(1, 1, "a"))).toBeGreaterThan(0);
    expect(compareVersions(v(1, 1, "B"), v(1, 1, "a"))).toBeLessThan(0); // "B" (0x42) < "a" (0x61)
    expect(compareVersions(v(1, 1, "a"), v(1, 1, "a-"))).toBeLessThan(0);
  });

  it("stored rows: equal versions order by value text (code point order, a tombstone lowest), a total order", () => {
    const row = (value: string | null) => ({ wall: 1, logical: 1, node: "n", value });
    expect(compareStored(row('{"a":2}'), row('{"a":1}'))).toBeGreaterThan(0);
    expect(compareStored(row(null), row("0"))).toBeLessThan(0);
    expect(compareStored(row("\uffff"), row("\u{10000}"))).toBeLessThan(0); // code points, not UTF-16 units
    expect(compareStored({ ...row(null), wall: 2 }, row('"z"'))).toBeGreaterThan(0);
    fc.assert(
      fc.property(
        fc.tuple(version, fc.option(fc.string({ unit: "grapheme" }), { nil: null })),
        fc.tuple(version, fc.option(fc.string({ unit: "grapheme" }), { nil: null })),
        ([a, x], [b, y]) => {
          const ra = { ...a, value: x };
          const rb = { ...b, value: y };
          expect(Math.sign(compareStored(ra, rb))).toBe(-Math.sign(compareStored(rb, ra)));
          if (compareVersions(a, b) !== 0)
            expect(Math.sign(compareStored(ra, rb))).toBe(Math.sign(compareVersions(a, b)));
          expect(compareStored(ra, rb) === 0).toBe(compareVersions(a, b) === 0 && (x ?? "") === (y ?? ""));
        },
      ),
    );
  });

  it("newerVersion picks the maximum and treats undefined as oldest", () => {
    fc.assert(
      fc.property(fc.array(fc.option(version, { nil: undefined }), { maxLength: 20 }), (vs) => {
        const best = vs.reduce<Version | undefined>((m, v) => newerVersion(m, v), undefined);
        const defined = vs.filter((v): v is Version => v !== undefined);
        if (defined.length === 0) expect(best).toBeUndefined();
        else for (const v of defined) expect(compareVersions(best!, v)).toBeGreaterThanOrEqual(0);
      }),
    );
  });
});
