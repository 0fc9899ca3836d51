/**
 * Cache placement and resize (core/cache/topology.ts, core/cache/resize.ts): the shared ring with
 * the cache's own nodes, the phase table's safety between adjacent phases, minimal movement, and
 * generations that are never reused.
 */
import {
  CacheRouter,
  fenceWaitMs,
  initialTopology,
  type CacheNodeInput,
  type CacheTopology,
} from "../../../core/cache/topology";
import {
  advanceResize,
  beginResize,
  bumpGeneration,
  CacheResizeError,
  movedRanges,
  removedNodes,
} from "../../../core/cache/resize";
import { buildRing, ownerOf, PARTITION_SPAN } from "../../../core/sharding/ring";

const nodes = (n: number, from = 0): CacheNodeInput[] =>
  Array.from({ length: n }, (_, i) => ({ name: `cache-${from + i}`, host: "127.0.0.1", port: 7000 + from + i }));

/** Every topology of a resize from `a` to `b`, the unchanged one first and the finished one last. */
function steps(a: CacheTopology, target: CacheNodeInput[]): CacheTopology[] {
  const out = [a];
  let t = beginResize(a, target);
  while (t) {
    out.push(t);
    t = t.migration ? advanceResize(t) : undefined;
  }
  return out;
}

describe("cache placement", () => {
  it("places keys with the shared ring and the cache's own node set", () => {
    const t = initialTopology(nodes(3));
    const r = new CacheRouter(t);
    const ring = buildRing(t.nodes);
    for (let i = 0; i < 500; i++) expect(r.owners(`k${i}`)[0]).toBe(ownerOf(ring, `k${i}`));
  });

  it("puts replicas on distinct zones first", () => {
    const t = initialTopology(
      [
        { name: "a1", host: "h", port: 1, zone: "a" },
        { name: "a2", host: "h", port: 2, zone: "a" },
        { name: "b1", host: "h", port: 3, zone: "b" },
      ],
      { replicas: 2 },
    );
    const r = new CacheRouter(t);
    for (let i = 0; i < 300; i++) {
      const zones = r.owners(`k${i}`).map((n) => r.nodes.get(n)!.zone);
      expect(new Set(zones).size).toBe(2);
    }
  });

  it("refuses a bad topology naming the field", () => {
    expect(() => initialTopology([...nodes(2), { name: "cache-0", host: "x", port: 1 }])).toThrow(/duplicate node/);
    expect(() => initialTopology(nodes(1), { replicas: 2 })).toThrow(/replicas/);
    expect(() => initialTopology([{ name: "Bad Name", host: "x", port: 1 }])).toThrow(/lowercase node name/);
  });
});

describe("resize phases", () => {
  it("walks prepare → migrating → finishing → done, one epoch per step", () => {
    const s = steps(initialTopology(nodes(3)), nodes(4));
    expect(s.map((t) => t.migration?.phase ?? "none")).toEqual(["none", "prepare", "migrating", "finishing", "none"]);
    expect(s.map((t) => t.epoch)).toEqual([1, 2, 3, 4, 5]);
    // a joining node's generation is the epoch that added it
    expect(s[4].generations).toEqual({ "cache-0": 1, "cache-1": 1, "cache-2": 1, "cache-3": 2 });
    expect(() => advanceResize(s[4])).toThrow(CacheResizeError);
    expect(() => beginResize(s[1], nodes(5))).toThrow(/already resizing/);
    expect(beginResize(s[4], nodes(4))).toBeUndefined();
  });

  it("reads through the old owner only while migrating", () => {
    const s = steps(initialTopology(nodes(3)), nodes(4));
    const r = new CacheRouter(s[2]);
    let moved = 0;
    for (let i = 0; i < 2000; i++) {
      const route = r.route(`k${i}`);
      if (route.read.length === 2) {
        moved++;
        expect(route.read[0]).toEqual(route.fill);
        expect(route.read[0][0]).toBe("cache-3");
      }
    }
    expect(moved / 2000).toBeGreaterThan(0.2);
    expect(moved / 2000).toBeLessThan(0.3);
  });

  it("moves only what the ring moves: 3 → 4 nodes moves ~1/4 of the key space, all to the new node", () => {
    const a = initialTopology(nodes(3));
    const b = steps(a, nodes(4)).at(-1)!;
    const moves = movedRanges(a, b);
    const span = moves.reduce((s, m) => s + (m.end - m.start), 0) / 2 ** 32;
    expect(moves.every((m) => m.to === "cache-3")).toBe(true);
    expect(span / 0.25).toBeGreaterThan(0.97);
    expect(span / 0.25).toBeLessThan(1.03);
    expect(moves.every((m) => (m.end - m.start) % PARTITION_SPAN === 0)).toBe(true);
    expect(removedNodes(b, a)).toEqual(["cache-3"]);
  });

  it("never gives a node a generation it held before (rejoin, fence, new address)", () => {
    // the very first change a fence: its generation must differ from the initial one
    const first = initialTopology(nodes(3));
    expect(bumpGeneration(first, "cache-0").generations["cache-0"]).not.toBe(first.generations["cache-0"]);
    let t = initialTopology(nodes(3));
    const seen = new Map<string, Set<number>>();
    const note = (x: CacheTopology) => {
      for (const [n, g] of Object.entries(x.generations)) {
        const set = seen.get(n) ?? new Set();
        seen.set(n, set.add(g));
      }
    };
    note(t);
    const check = (x: CacheTopology, prev: CacheTopology) => {
      for (const [n, g] of Object.entries(x.generations))
        if (prev.generations[n] !== g) expect(seen.get(n)?.has(g) ?? false).toBe(false);
      note(x);
    };
    for (const target of [nodes(2), nodes(3), nodes(4)]) {
      for (const x of steps(t, target).slice(1)) {
        check(x, t);
        t = x;
      }
      const f = bumpGeneration(t, "cache-1");
      check(f, t);
      t = f;
    }
    const moved = beginResize(
      t,
      t.nodes.map((n) => (n.name === "cache-0" ? { ...n, port: 9999 } : n)),
    )!;
    expect(moved.migration).toBeUndefined();
    expect(moved.generations["cache-0"]).toBe(moved.epoch);
    expect(() => bumpGeneration(t, "nope")).toThrow(/not in topology/);
  });

  it("waits one view lease (and the near TTL) plus a margin between steps", () => {
    expect(fenceWaitMs({ viewLeaseMs: 1000, nearTtlMs: 100 })).toBe(1030);
    expect(fenceWaitMs({ viewLeaseMs: 100, nearTtlMs: 500 })).toBe(525);
  });
});
