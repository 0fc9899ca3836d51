/** Count-min sketch, hot-key detection, TTL jitter and XFetch (core/cache/sketch.ts, core/cache/ttl.ts). */
import fc from "fast-check";
import { CountMinSketch, HotKeyDetector } from "../../../core/cache/sketch";
import { jitteredTtl, xfetchProbability, xfetchShouldRefresh } from "../../../core/cache/ttl";

describe("count-min sketch", () => {
  it("never underestimates, and overestimates within e/w × total for most keys", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 3000 }), (stream) => {
        const s = new CountMinSketch({ width: 256, depth: 4, decayEvery: 1e9 });
        const truth = new Map<number, number>();
        for (const k of stream) {
          s.add(`k${k}`);
          truth.set(k, (truth.get(k) ?? 0) + 1);
        }
        let beyond = 0;
        for (const [k, n] of truth) {
          const e = s.estimate(`k${k}`);
          expect(e).toBeGreaterThanOrEqual(n);
          if (e - n > (Math.E / 256) * stream.length) beyond++;
        }
        expect(beyond / truth.size).toBeLessThanOrEqual(0.1);
      }),
      // a pair (k129, k176) that shared a counter in every row under the old double hashing
      { numRuns: 100, examples: [[[129, 176, 0]]] },
    );
  });

  it("halves its counts as it decays", () => {
    const s = new CountMinSketch({ width: 64, depth: 2, decayEvery: 100 });
    for (let i = 0; i < 99; i++) s.add("a");
    expect(s.estimate("a")).toBe(99);
    s.add("a");
    expect(s.estimate("a")).toBe(50);
    expect(s.total).toBe(50);
    expect(() => new CountMinSketch({ width: 3 })).toThrow(/width/);
  });
});

describe("hot keys", () => {
  it("finds the heavy hitters of a Zipf stream and not the tail", () => {
    const d = new HotKeyDetector({ minShare: 0.02, minCount: 20, topK: 5, width: 1024 });
    // Zipf(s=1) over 1000 keys by inverse-CDF sampling with a fixed LCG
    const weights = Array.from({ length: 1000 }, (_, i) => 1 / (i + 1));
    const sum = weights.reduce((a, b) => a + b);
    const cdf: number[] = [];
    weights.reduce((acc, w, i) => ((cdf[i] = (acc + w) / sum), acc + w), 0);
    let x = 12345;
    for (let i = 0; i < 20000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const u = x / 2 ** 32;
      let lo = 0;
      let hi = cdf.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cdf[mid] < u) lo = mid + 1;
        else hi = mid;
      }
      d.record(`key-${lo}`);
    }
    expect(d.isHot("key-0")).toBe(true);
    expect(d.isHot("key-1")).toBe(true);
    expect(d.isHot("key-900")).toBe(false);
    expect(
      d
        .hottest()
        .slice(0, 2)
        .map((h) => h.key),
    ).toEqual(["key-0", "key-1"]);
    expect(d.hottest()[0].share).toBeGreaterThan(0.1);
  });
});

describe("TTL jitter and XFetch", () => {
  it("jitters within [ttl × (1 − jitter), ttl]", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1e7 }),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (ttl, j, u) => {
          const t = jitteredTtl(ttl, j, u);
          expect(t).toBeLessThanOrEqual(ttl);
          expect(t).toBeGreaterThanOrEqual(Math.max(1, Math.floor(ttl * (1 - j))));
        },
      ),
    );
    expect(() => jitteredTtl(0, 0.1, 0.5)).toThrow(/ttlMs/);
  });

  it("refreshes early with probability exp(−ttlLeft / (Δβ)), never with β = 0", () => {
    const n = 20000;
    let hits = 0;
    let x = 1;
    for (let i = 0; i < n; i++) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      if (xfetchShouldRefresh(200, 100, 1, (x + 1) / 2 ** 32)) hits++;
    }
    expect(hits / n).toBeCloseTo(xfetchProbability(200, 100, 1), 1);
    expect(xfetchShouldRefresh(0, 100, 1, 0.5)).toBe(true);
    expect(xfetchShouldRefresh(10, 100, 0, 0.0001)).toBe(false);
  });
});
