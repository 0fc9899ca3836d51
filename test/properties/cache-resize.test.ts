/**
 * The cache resize's phase table (core/cache/topology.ts) over random node sets and keys: between
 * every pair of adjacent steps of a resize, each node a reader of either step may read or fill is
 * invalidated by every writer of both steps, so a client one step behind never misses a cached
 * copy a writer must delete. Builds two rings per step (tens of ms each): a property suite.
 */
import fc from "fast-check";
import { CacheRouter, initialTopology, type CacheNodeInput, type CacheTopology } from "../../core/cache/topology";
import { advanceResize, beginResize } from "../../core/cache/resize";

const nodes = (n: number, from = 0): CacheNodeInput[] =>
  Array.from({ length: n }, (_, i) => ({ name: `cache-${from + i}`, host: "127.0.0.1", port: 7000 + from + i }));

function steps(a: CacheTopology, target: CacheNodeInput[]): CacheTopology[] {
  const out = [a];
  let t = beginResize(a, target);
  while (t) {
    out.push(t);
    t = t.migration ? advanceResize(t) : undefined;
  }
  return out;
}

describe("cache resize phases", () => {
  it("is safe between every pair of adjacent steps: each node a reader of one may read is invalidated by every writer of both", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 1, max: 2 }),
        fc.array(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 20, maxLength: 60 }),
        (before, after, offset, replicas, keys) => {
          const a = initialTopology(nodes(before), { replicas: Math.min(replicas, before) });
          const target = nodes(after, offset);
          if (replicas > after) return;
          const s = steps(a, target);
          const routers = s.map((t) => new CacheRouter(t));
          for (let i = 0; i + 1 < routers.length; i++)
            for (const key of keys) {
              const [x, y] = [routers[i].route(key), routers[i + 1].route(key)];
              const read = new Set([...x.read.flat(), ...x.fill, ...y.read.flat(), ...y.fill]);
              for (const n of read) {
                expect(x.invalidate).toContain(n);
                expect(y.invalidate).toContain(n);
              }
            }
        },
      ),
      { numRuns: 80 },
    );
  });
});
