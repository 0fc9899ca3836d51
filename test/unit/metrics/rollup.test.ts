import fc from "fast-check";
import {
  applyRangeFunction,
  coarsen,
  isStaleAt,
  latestFromBuckets,
  RANGE_FUNCTIONS,
  rollup,
  staleMarker,
  summarizeBuckets,
  summarizeRaw,
} from "../../../core/metrics/rollup";

/** |a - b| ≤ 1e-9 × max(|a|, |b|, scale × 1e-3): relative, with a floor for results near zero. */
function close(a: number | undefined, b: number | undefined, scale: number): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return a === b;
  return Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b), scale * 1e-3);
}

const STALE = staleMarker()[0];

/** Random scrapes: sorted distinct timestamps, counters with resets, gauges, stale markers. */
const scrapes = fc
  .record({
    n: fc.integer({ min: 0, max: 400 }),
    step: fc.constantFrom(1000, 5000, 15_000, 60_000),
    jitter: fc.integer({ min: 0, max: 4000 }),
    counter: fc.boolean(),
    staleEvery: fc.integer({ min: 0, max: 50 }),
    seed: fc.integer(),
  })
  .map(({ n, step, jitter, counter, staleEvery, seed }) => {
    let x = seed >>> 0;
    const rnd = () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    const t: number[] = [];
    const v = new Float64Array(n);
    let c = rnd() * 1000;
    let last = 3_600_000 * 1000;
    for (let i = 0; i < n; i++) {
      last += Math.max(1, step + Math.round((rnd() - 0.5) * jitter));
      t.push(last);
      if (staleEvery > 0 && i % staleEvery === staleEvery - 1) v.set(staleMarker(), i);
      else if (counter) v[i] = c = rnd() < 0.03 ? rnd() * 10 : c + rnd() * 500;
      else v[i] = Math.round((rnd() * 2000 - 1000) * 100) / 100;
    }
    return { t, v };
  });

const indexRange = (t: number[], lo: number, hi: number): [number, number] => {
  let a = 0;
  while (a < t.length && t[a] < lo) a++;
  let b = a;
  while (b < t.length && t[b] <= hi) b++;
  return [a, b];
};

describe("rollups", () => {
  it("rate, increase and every *_over_time from rollups equal the raw answer (1e-9 relative)", () => {
    fc.assert(
      fc.property(
        scrapes,
        fc.constantFrom(1000, 60_000),
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 0, max: 400 }),
        ({ t, v }, r, rangeBuckets, at) => {
          const buckets = rollup(t, v, r);
          const scale = Math.max(1, ...Array.from(v).filter(Number.isFinite).map(Math.abs));
          const first = t.length ? Math.ceil(t[0] / r) * r : 0;
          const T = first + at * r;
          const range = rangeBuckets * r;
          const [a, b] = indexRange(t, T - range, T);
          const raw = summarizeRaw(t, v, a, b);
          const rolled = summarizeBuckets(buckets, T - range, T);
          expect(rolled.count).toBe(raw.count);
          for (const fn of RANGE_FUNCTIONS) {
            const x = applyRangeFunction(fn, raw, T - range, T);
            const y = applyRangeFunction(fn, rolled, T - range, T);
            if (!close(x, y, scale)) throw new Error(`${fn} at ${T} over ${range}: raw ${x} rollup ${y}`);
          }
          // the instant selector's lookback (5 minutes of buckets)
          const lb = 300_000 - (300_000 % r) || r;
          const [c, d] = indexRange(t, T - lb, T);
          const rawLatest = d > c && !isStaleAt(v, d - 1) ? v[d - 1] : undefined;
          const rollLatest = latestFromBuckets(buckets, T - lb, T);
          expect(Object.is(rawLatest, rollLatest) || close(rawLatest, rollLatest, scale)).toBe(true);
        },
      ),
      { numRuns: 400 },
    );
  });

  it("coarsening 1m buckets gives the 1h buckets of the raw samples", () => {
    fc.assert(
      fc.property(scrapes, ({ t, v }) => {
        const direct = rollup(t, v, 3_600_000);
        const viaMinutes = coarsen(rollup(t, v, 60_000), 3_600_000);
        expect(viaMinutes.map((b) => [b.end, b.count, b.firstT, b.lastT, b.staleT])).toEqual(
          direct.map((b) => [b.end, b.count, b.firstT, b.lastT, b.staleT]),
        );
        viaMinutes.forEach((b, i) => {
          for (const k of ["sum", "min", "max", "firstV", "lastV", "resetSum"] as const)
            expect(close(b[k], direct[i][k], 1e6)).toBe(true);
        });
      }),
      { numRuns: 200 },
    );
  });

  it("keeps stale markers out of the statistics and hides a stale series", () => {
    const t = [60_000, 75_000, 90_000];
    const v = new Float64Array([1, 2, STALE]);
    v.set(staleMarker(), 2);
    const [b] = rollup(t, v, 60_000 * 2);
    expect(b.count).toBe(2);
    expect(b.sum).toBe(3);
    expect(b.staleT).toBe(90_000);
    expect(latestFromBuckets([b], 0, 120_000)).toBeUndefined();
  });

  it("counts a counter reset across a bucket boundary", () => {
    const t = [30_000, 60_000, 90_000, 120_000];
    const v = new Float64Array([10, 20, 5, 15]);
    const raw = summarizeRaw(t, v, 0, 4);
    const rolled = summarizeBuckets(rollup(t, v, 60_000), 0, 120_000);
    expect(raw.resetSum).toBe(20);
    expect(rolled.resetSum).toBe(20);
    expect(applyRangeFunction("increase", rolled, 0, 120_000)).toBeCloseTo(
      applyRangeFunction("increase", raw, 0, 120_000)!,
      12,
    );
  });
});
