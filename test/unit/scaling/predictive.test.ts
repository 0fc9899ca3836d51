/** The Holt-Winters forecaster and the predictive engine built on the hpa engine. */
import fc from "fast-check";
import { forecastAt, initForecast, observe, activeSeasons, updateBucket } from "../../../core/scaling/forecast";
import { createHpaEngine } from "../../../core/scaling/hpa";
import { createPredictiveEngine, type PredictiveState } from "../../../core/scaling/predictive";
import { parseScalingPolicy, type InstanceSample } from "../../../core/scaling";

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

  test("observe buckets samples by time and carries the last value over empty buckets", () => {
    let s = initForecast(60, [], 0.5, 0.2);
    s = observe(s, 0, 10);
    s = observe(s, 15_000, 30);
    expect(s.n).toBe(0);
    s = observe(s, 61_000, 50); // closes bucket 0 at mean 20
    expect(s.n).toBe(1);
    expect(s.level).toBe(20);
    s = observe(s, 240_000, 50); // closes bucket 1 (50) and empty buckets 2, 3 with the last value
    expect(s.n).toBe(4);
    expect(s.level).toBeCloseTo(20 * 0.125 + 50 * 0.875);
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

  test("never below the hpa decision on the same state and input", () => {
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
            expect(r.decision.desired).toBeGreaterThanOrEqual(reactive);
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
        expect(a.decision.forecastDesired).toBeDefined();
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
