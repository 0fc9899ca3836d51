/** The Holt-Winters forecaster and the predictive engine built on the hpa engine. */
import fc from "fast-check";
import {
  forecastAt,
  forecastSkill,
  initForecast,
  observe,
  activeSeasons,
  updateBucket,
} from "../../../core/scaling/forecast";
import { createHpaEngine, metricProposals } from "../../../core/scaling/hpa";
import {
  createPredictiveEngine,
  measureLoad,
  withHistory,
  type PredictiveState,
} from "../../../core/scaling/predictive";
import { createEngine, parseScalingPolicy, ENGINE_NAMES, type InstanceSample } from "../../../core/scaling";

describe("forecaster", () => {
  test("level only at first; a season joins after one full period and then predicts it", () => {
    let s = initForecast(60, [24], 0.3, 0.2);
    const pattern = (i: number) => 100 + 50 * Math.sin((2 * Math.PI * i) / 24);
    for (let i = 0; i < 23; i++) s = updateBucket(s, pattern(i));
    expect(activeSeasons(s)).toEqual([]);
    s = updateBucket(s, pattern(23));
    expect(activeSeasons(s)).toEqual([24]);
    for (let i = 24; i < 24 * 6; i++) s = updateBucket(s, pattern(i));
    s = { ...s, bucketStartMs: 0 };
    // The next 24 buckets are forecast within 2 % of the pattern.
    for (let h = 0; h < 24; h++) expect(Math.abs(forecastAt(s, h * 60_000)! - pattern(24 * 6 + h))).toBeLessThan(2);
    expect(s.history).toEqual([]); // every season joined: the history ring is dropped
  });

  test("two seasons (daily within weekly) both contribute", () => {
    let s = initForecast(3600, [24, 168], 0.2, 0.3);
    const y = (i: number) => 100 + 40 * Math.sin((2 * Math.PI * i) / 24) + (Math.floor(i / 24) % 7 >= 5 ? -60 : 0);
    for (let i = 0; i < 168 * 4; i++) s = updateBucket(s, y(i));
    s = { ...s, bucketStartMs: 0 };
    expect(activeSeasons(s)).toEqual([24, 168]);
    const errors = Array.from({ length: 168 }, (_, h) => Math.abs(forecastAt(s, h * 3_600_000)! - y(168 * 4 + h)));
    expect(Math.max(...errors)).toBeLessThan(10); // weekend drop of 60 predicted, not averaged away
  });

  test("observe buckets samples by time; empty buckets are gaps, never filled", () => {
    let s = initForecast(60, [], 0.5, 0.2);
    s = observe(s, 0, 10);
    s = observe(s, 15_000, 30);
    expect(s.n).toBe(0);
    s = observe(s, 61_000, 50); // closes bucket 0 at mean 20
    expect(s.n).toBe(1);
    expect(s.level).toBe(20);
    s = observe(s, 240_000, 50); // closes bucket 1 (50); buckets 2 and 3 saw nothing: skipped
    expect(s.n).toBe(4);
    expect(s.level).toBeCloseTo(20 * 0.5 + 50 * 0.5); // one update, not three with the last value
    expect(s.bucketStartMs).toBe(240_000);
  });

  test("a season learns from a period with gaps, leaving the missed buckets at zero deviation", () => {
    let s = initForecast(60, [4], 0.3, 0.2);
    // bucket 1 of the first period is never observed
    for (const i of [0, 2, 3]) s = observe(s, i * 60_000, [10, 0, 30, 40][i]);
    s = observe(s, 4 * 60_000, 10); // closes bucket 3
    expect(s.n).toBe(4);
    expect(s.history).toEqual([]); // the season joined
    expect(activeSeasons(s)).toEqual([4]);
    const mean = (10 + 30 + 40) / 3;
    expect(s.seasons[0].values).toEqual([10 - mean, 0, 30 - mean, 40 - mean]);
  });

  test("skill: a seasonal series beats persistence, a random walk does not", () => {
    let seasonal = initForecast(60, [24], 0.3, 0.2);
    let walk = initForecast(60, [24], 0.3, 0.2);
    let x = 1000;
    let seed = 7;
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
    expect(forecastSkill(seasonal)).toBeUndefined();
    for (let i = 0; i < 24 * 10; i++) {
      seasonal = updateBucket(seasonal, 100 + 50 * Math.sin((2 * Math.PI * i) / 24));
      x = Math.max(0, x + 50 * rand());
      walk = updateBucket(walk, x);
    }
    expect(forecastSkill(seasonal)!).toBeGreaterThan(0.8);
    expect(forecastSkill(walk)!).toBeLessThan(0.2);
  });

  test("the state is plain JSON and update never mutates its input", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1e4, noNaN: true }), { minLength: 1, maxLength: 80 }), (ys) => {
        let s = initForecast(60, [4, 12], 0.3, 0.2);
        for (const y of ys) {
          const before = JSON.stringify(s);
          const next = updateBucket(s, y);
          expect(JSON.stringify(s)).toBe(before);
          expect(JSON.parse(JSON.stringify(next))).toEqual(next);
          s = next;
        }
      }),
    );
  });
});

const policy = (extra: Record<string, unknown> = {}) =>
  parseScalingPolicy({
    engine: "predictive",
    minSize: 1,
    maxSize: 200,
    predictive: { warmupSeconds: 180, sampleSeconds: 60, seasons: [{ name: "day", seconds: 1440 }], ...extra },
  });
const cpu = (n: number, value: number): InstanceSample[] =>
  Array.from({ length: n }, (_, i) => ({ id: `i${i}`, ready: true, cpuPercent: value, memoryPercent: 40 }));

/** Drives an engine through a periodic load (total CPU-percent units), following its own decisions. */
function drive(
  engine: ReturnType<typeof createPredictiveEngine> | ReturnType<typeof createHpaEngine>,
  minutes: number,
  loadAt: (minute: number) => number,
) {
  let state: unknown = engine.init();
  let current = 10;
  const out: { minute: number; desired: number; forecast?: number }[] = [];
  for (let t = 0; t < minutes * 60; t += 15) {
    const minute = t / 60;
    const per = Math.min(100, loadAt(minute) / current);
    const r = (
      engine.decide as (
        s: unknown,
        i: unknown,
      ) => { decision: { desired: number; forecastDesired?: number }; state: unknown }
    )(state, { nowMs: t * 1000, current, instances: cpu(current, per) });
    state = r.state;
    current = r.decision.desired;
    out.push({ minute, desired: current, forecast: r.decision.forecastDesired });
  }
  return out;
}

describe("predictive engine", () => {
  const load = (m: number) => 700 + 1400 * Math.max(0, Math.sin((2 * Math.PI * (m % 24)) / 24)); // a 24-minute "day"

  test("after one season it provisions ahead of the ramp, before the hpa does", () => {
    const pred = drive(createPredictiveEngine(policy()), 24 * 4, load);
    const hpa = drive(createHpaEngine(policy()), 24 * 4, load);
    // On day 4's ramp (minutes 72..78) the predictive count leads the hpa's.
    const window = (xs: typeof pred) =>
      xs.filter((x) => x.minute >= 72 && x.minute < 78).reduce((s, x) => s + x.desired, 0);
    expect(window(pred)).toBeGreaterThan(window(hpa));
  });

  test("never below the hpa decision, except where a skilled forecast leads a scale-in, and then never below what the metrics ask now", () => {
    const p = policy();
    const pe = createPredictiveEngine(p);
    const he = createHpaEngine(p);
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ current: fc.integer({ min: 1, max: 60 }), cpu: fc.double({ min: 0, max: 100, noNaN: true }) }),
          { minLength: 1, maxLength: 120 },
        ),
        (ticks) => {
          let state: PredictiveState = pe.init();
          ticks.forEach((t, k) => {
            const input = { nowMs: k * 15_000, current: t.current, instances: cpu(t.current, t.cpu) };
            const r = pe.decide(state, input);
            const reactive = he.decide(state.hpa, input).decision.desired;
            if (/forecast leads the scale-in/.test(r.decision.reason)) {
              const now = metricProposals(p, input).desired ?? reactive;
              expect(r.decision.desired).toBeGreaterThanOrEqual(Math.min(reactive, now));
            } else expect(r.decision.desired).toBeGreaterThanOrEqual(reactive);
            expect(r.decision.desired).toBeLessThanOrEqual(p.maxSize);
            state = r.state;
          });
        },
      ),
    );
  });

  test("forecast-only mode decides exactly as the hpa and reports the forecast", () => {
    const p = policy({ forecastOnly: true });
    const pe = createPredictiveEngine(p);
    const he = createHpaEngine(p);
    let ps = pe.init();
    let hs = he.init();
    for (let t = 0; t < 24 * 3 * 60; t += 15) {
      const current = 10 + (Math.floor(t / 600) % 7);
      const input = { nowMs: t * 1000, current, instances: cpu(current, Math.min(100, load(t / 60) / current)) };
      const a = pe.decide(ps, input);
      const b = he.decide(hs, input);
      expect(a.decision.desired).toBe(b.decision.desired);
      ps = a.state;
      hs = b.state;
      if (t > 30 * 60) {
        expect(a.decision.reason).toMatch(/forecast .* \(forecast only\)/);
        expect(a.decision.reason).toMatch(/skill/); // the forecast and how far it is trusted
      }
    }
  });
});

describe("forecaster gaps", () => {
  test("a gap longer than the longest season jumps ahead keeping the seasonal phase", () => {
    let s = initForecast(60, [4], 0.3, 0.2);
    for (let i = 0; i < 8; i++) s = observe(s, i * 60_000, 10 * (i % 4));
    const before = s.n;
    s = observe(s, (8 + 1000) * 60_000, 20); // 1000 minutes later
    expect(s.n).toBe(before + 1000 + 1);
    expect(s.bucketStartMs).toBe((8 + 1000) * 60_000);
    expect(s.n % 4).toBe((8 + 1000) % 4);
  });
});

describe("trend", () => {
  const ramp = (trendSeconds: number) => {
    const e = createPredictiveEngine(policy({ trendSeconds }));
    let state = e.init();
    const out: number[] = [];
    // 10 instances; the load climbs 2 CPU-%-instances per second from 500 (50 % each).
    for (let t = 0; t <= 240; t += 15) {
      const r = e.decide(state, { nowMs: t * 1000, current: 10, instances: cpu(10, (500 + 2 * t) / 10) });
      state = r.state;
      out.push(r.decision.desired);
    }
    return { out, state };
  };

  test("a ramp is met by its trend: the count launched now covers the load when it serves", () => {
    const { out } = ramp(300);
    // At 240 s: load 980 rising 2/s; in 195 s (warm-up + period) 1370 → ceil(1370 / 70) = 20.
    expect(out[out.length - 1]).toBe(20);
    expect(ramp(0).out[out.length - 1]).toBe(14); // the hpa alone: ceil(10 × 98 / 70)
  });

  test("a falling or flat load adds nothing; the window forgets what is older than trendSeconds", () => {
    const e = createPredictiveEngine(policy({ trendSeconds: 60 }));
    let state = e.init();
    for (let t = 0; t <= 300; t += 15) {
      const r = e.decide(state, { nowMs: t * 1000, current: 10, instances: cpu(10, 60 - t / 30) });
      state = r.state;
      expect(r.decision.desired).toBeLessThanOrEqual(10);
      expect(r.decision.reason).not.toMatch(/rising/);
    }
    expect(state.recent!.every(([t]) => t >= 240_000)).toBe(true);
  });
});

describe("load beyond 100 % CPU", () => {
  const group = (n: number, cpuPercent: number, rps: number): InstanceSample[] =>
    Array.from({ length: n }, (_, i) => ({ id: `i${i}`, ready: true, cpuPercent, requestsPerSecond: rps }));

  test("learns what a request costs while not saturated, and estimates the demand from the request rate when saturated", () => {
    let m = measureLoad(group(10, 50, 100), "cpu", undefined); // 500 CPU-% for 1000 req/s
    expect(m).toMatchObject({ load: 500, estimated: false });
    expect(m.perRequest).toBeCloseTo(0.5);
    m = measureLoad(group(10, 100, 300), "cpu", m.perRequest); // capped at 100 %, 3000 req/s served
    expect(m.estimated).toBe(true);
    expect(m.load).toBeCloseTo(1500);
    expect(m.perRequest).toBeCloseTo(0.5); // nothing learnt from a capped measurement
  });

  test("without a learnt cost, or without request rates, the measurement is used as it is", () => {
    expect(measureLoad(group(4, 100, 300), "cpu", undefined)).toMatchObject({ load: 400, estimated: false });
    const noRps = Array.from({ length: 4 }, (_, i) => ({ id: `i${i}`, ready: true, cpuPercent: 100 }));
    expect(measureLoad(noRps, "cpu", 0.5)).toMatchObject({ load: 400, estimated: false });
    expect(measureLoad([], "cpu", 0.5)).toEqual({ perRequest: 0.5, estimated: false });
  });
});

describe("Engine.settle", () => {
  // The simulator's fast path must be exactly deciding tick by tick on the same input.
  const engines = ENGINE_NAMES;
  test.each(engines)("%s: settle equals deciding at every tick", (name) => {
    const p = parseScalingPolicy({
      engine: name,
      minSize: 1,
      maxSize: 60,
      metrics: ["cpu", "memory"],
      predictive: { warmupSeconds: 60, sampleSeconds: 60, seasons: [{ name: "s", seconds: 600 }] },
      cost: { pricesAsOf: "2026-12-01", instanceTypes: [{ name: "a", capacityUnits: 1, onDemandPerHour: 0.02 }] },
    });
    const e = createEngine(p);
    let settled = 0;
    fc.assert(
      fc.property(
        fc.array(fc.record({ cpu: fc.integer({ min: 0, max: 100 }), n: fc.integer({ min: 1, max: 30 }) }), {
          minLength: 0,
          maxLength: 60,
        }),
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 0, max: 80 }),
        (history, current, cpuNow, ticks) => {
          let state = e.init();
          let t = 0;
          for (const h of history) {
            const r = e.decide(state, { nowMs: t, current: h.n, instances: cpu(h.n, h.cpu) });
            state = r.state;
            if (r.decision.desired !== h.n) state = e.applied(state, { atMs: t, from: h.n, to: r.decision.desired });
            t += 15_000;
          }
          const input = { nowMs: t, current, instances: cpu(current, cpuNow) };
          const until = t + ticks * 15_000 + 7_000;
          const fast = e.settle?.(state, input, until, 15_000);
          // Tick by tick, up to the first tick that acts.
          let slow = state;
          let through = t - 15_000;
          for (let x = t; x <= until; x += 15_000) {
            const r = e.decide(slow, { ...input, nowMs: x });
            if (r.decision.desired !== current) break;
            slow = r.state;
            through = x;
          }
          if (fast === undefined) return; // declining is always allowed
          settled++;
          expect(fast.throughMs).toBeLessThanOrEqual(through);
          let replay = state;
          for (let x = t; x <= fast.throughMs; x += 15_000) replay = e.decide(replay, { ...input, nowMs: x }).state;
          expect(JSON.parse(JSON.stringify(fast.state))).toEqual(JSON.parse(JSON.stringify(replay)));
        },
      ),
      { numRuns: 150 },
    );
    expect(settled).toBeGreaterThan(10); // the fast path is taken, not only declined
  });
});

describe("stored history", () => {
  const p = policy({ sampleSeconds: 60, seasons: [{ name: "s", seconds: 24 * 60 }] });
  const shape = (bucket: number) => 700 + 500 * Math.sin((2 * Math.PI * bucket) / 24);

  test("a restarted engine resumes its season from the stored load: no period to relearn", () => {
    const e = createPredictiveEngine(p);
    // Three periods of history, one point per bucket, with buckets 30..35 missing (the scaler was down).
    const points: [number, number][] = [];
    for (let b = 0; b < 72; b++) if (b < 30 || b > 35) points.push([b * 60_000, shape(b)]);
    const seeded = withHistory(e.init(), points);
    expect(activeSeasons(seeded.forecast)).toEqual([24]);
    expect(seeded.forecast.n).toBe(71); // the last point's bucket is still open
    const fresh = e.init();
    const input = { nowMs: 72 * 60_000, current: 10, instances: cpu(10, shape(72) / 10) };
    expect(e.decide(seeded, input).decision.reason).toMatch(/forecast change/);
    expect(e.decide(fresh, input).decision.reason).toMatch(/no forecast yet/);
  });

  test("the points are taken oldest first; a repeated or negative point is skipped", () => {
    const e = createPredictiveEngine(p);
    const a = withHistory(e.init(), [
      [0, 10],
      [60_000, 20],
    ]);
    const b = withHistory(e.init(), [
      [0, 10],
      [0, 99],
      [30_000, -5],
      [60_000, 20],
    ]);
    expect(b).toEqual(a);
  });
});
