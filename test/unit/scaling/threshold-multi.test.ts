/** The threshold and multi-metric engines: their rules on hand-made inputs, and properties. */
import fc from "fast-check";
import { createEngine, parseScalingPolicy, type InstanceSample } from "../../../core/scaling";

const inst = (n: number, m: Partial<InstanceSample>, ready = true): InstanceSample[] =>
  Array.from({ length: n }, (_, i) => ({ id: `i${i}`, ready, ...m }));
const ok = { cpuPercent: 50, memoryPercent: 50, errorRate: 0 };

describe("threshold engine", () => {
  const p = parseScalingPolicy({ engine: "threshold", minSize: 1, maxSize: 50 });
  const e = createEngine(p);

  test("a step proportional to the pressure, then the scale-up cooldown", () => {
    const a = e.decide(e.init(), { nowMs: 0, current: 10, instances: inst(10, { ...ok, cpuPercent: 84 }) }); // 120 % of 70
    expect(a.decision.desired).toBe(12);
    // A decision alone starts no cooldown: the change carried out does.
    expect(
      e.decide(a.state, { nowMs: 30_000, current: 12, instances: inst(12, { ...ok, cpuPercent: 98 }) }).decision
        .desired,
    ).toBe(17);
    const applied = e.applied(a.state, { atMs: 0, from: 10, to: 12 });
    const b = e.decide(applied, { nowMs: 30_000, current: 12, instances: inst(12, { ...ok, cpuPercent: 98 }) });
    expect(b.decision.desired).toBe(12);
    expect(b.decision.reason).toMatch(/cooldown/);
    const c = e.decide(b.state, { nowMs: 60_000, current: 12, instances: inst(12, { ...ok, cpuPercent: 98 }) });
    expect(c.decision.desired).toBe(17); // 140 % → +40 % of 12 = 4.8 → 5
  });

  test("error rate above 5 % scales out by the capacity it sheds", () => {
    const r = e.decide(e.init(), { nowMs: 0, current: 10, instances: inst(10, { ...ok, errorRate: 0.2 }) });
    expect(r.decision.desired).toBe(13); // 20 % shed → needs 1/0.8 = 1.25× → +3
  });

  test("warming instances count as capacity on the way", () => {
    const instances = [
      ...inst(10, { ...ok, cpuPercent: 84 }),
      ...inst(3, {}, false).map((i, k) => ({ ...i, id: `w${k}`, phase: "pending" as const })),
    ];
    const r = e.decide(e.init(), { nowMs: 0, current: 13, instances });
    expect(r.decision.desired).toBe(13);
  });

  test("scale-in only when every metric is well below its threshold, after the cooldown", () => {
    const low = { cpuPercent: 14, memoryPercent: 20, errorRate: 0 }; // 20 %, 25 %, 0 % of thresholds
    const r = e.decide(e.init(), { nowMs: 0, current: 10, instances: inst(10, low) });
    expect(r.decision.desired).toBe(5); // worst 25 % of threshold, watermark 60 %: keep it under → −floor(10 × (1 − 0.25/0.6)) = −5
    const memHigh = e.decide(e.init(), { nowMs: 0, current: 10, instances: inst(10, { ...low, memoryPercent: 60 }) });
    expect(memHigh.decision.desired).toBe(10);
    const missing = e.decide(e.init(), {
      nowMs: 0,
      current: 10,
      instances: inst(10, { cpuPercent: 14, memoryPercent: 20 }),
    });
    expect(missing.decision.desired).toBe(10);
    expect(missing.decision.reason).toMatch(/not reported/);
    const afterUp = e.decide(
      { lastScaleUpMs: 0, lastChangeMs: 0 },
      { nowMs: 100_000, current: 10, instances: inst(10, low) },
    );
    expect(afterUp.decision.desired).toBe(10);
  });
});

describe("multi-metric engine", () => {
  const p = parseScalingPolicy({
    engine: "multi-metric",
    minSize: 1,
    maxSize: 100,
    metrics: ["cpu", "memory", "requestsPerSecond", "p95LatencyMs", "gauge:queue_depth"],
    targets: { requestsPerSecond: 100, p95LatencyMs: 200, gauges: { queue_depth: 10 } },
    hpa: { behavior: { scaleDown: { stabilizationWindowSeconds: 0 } } },
  });
  const e = createEngine(p);
  const base = {
    cpuPercent: 35,
    memoryPercent: 40,
    requestsPerSecond: 50,
    p95LatencyMs: 100,
    gauges: { queue_depth: 5 },
  };

  test("each metric asks for its own count and the maximum wins", () => {
    const cases: [Partial<InstanceSample>, number][] = [
      [{}, 5], // every metric at half its target: 10 × 0.5 (latency below target has no say in a scale-in)
      [{ cpuPercent: 140 }, 20], // the hpa's rate limit: +100 % per 15 s
      [{ requestsPerSecond: 250 }, 20],
      [{ p95LatencyMs: 600 }, 20],
      [{ gauges: { queue_depth: 11 } }, 11],
      [{ gauges: { queue_depth: 10.5 } }, 10], // ratio 1.05: within the hpa's tolerance, keeps 10
    ];
    for (const [change, expected] of cases) {
      const r = e.decide(e.init(), { nowMs: 0, current: 10, instances: inst(10, { ...base, ...change }) });
      expect(r.decision.desired).toBe(expected);
      expect(r.decision.contributions.map((c) => c.metric)).toEqual([
        "cpu",
        "memory",
        "requestsPerSecond",
        "p95LatencyMs",
        "gauge:queue_depth",
      ]);
    }
  });

  test("a composite target asks for ceil(Σ weight × metric / target) like any metric", () => {
    const c = createEngine(
      parseScalingPolicy({
        engine: "multi-metric",
        minSize: 1,
        maxSize: 100,
        metrics: ["composite:busy"],
        targets: { inFlight: 5 },
        multiMetric: {
          composites: [
            {
              name: "busy",
              terms: [
                { metric: "cpu", weight: 0.5 },
                { metric: "inFlight", weight: 10 },
              ],
              target: 60,
            },
          ],
        },
      }),
    );
    // 0.5 × 60 + 10 × 6 = 90 per instance against 60: ratio 1.5 → 15
    const r = c.decide(c.init(), { nowMs: 0, current: 10, instances: inst(10, { cpuPercent: 60, inFlight: 6 }) });
    expect(r.decision.desired).toBe(15);
    expect(r.decision.contributions[0]).toMatchObject({ metric: "composite:busy", current: 90, target: 60 });
    // a term missing on every instance: the composite is missing → no action
    const none = c.decide(c.init(), { nowMs: 0, current: 10, instances: inst(10, { cpuPercent: 60 }) });
    expect(none.decision.desired).toBe(10);
  });

  test("a composite of an unknown name, or of a composite, is refused naming the key", () => {
    expect(() => parseScalingPolicy({ metrics: ["composite:nope"] })).toThrow(
      /scaling\.metrics\[0\]: names no composite/,
    );
    expect(() =>
      parseScalingPolicy({
        metrics: ["composite:a"],
        multiMetric: { composites: [{ name: "a", terms: [{ metric: "composite:a", weight: 1 }], target: 1 }] },
      }),
    ).toThrow(/scaling\.multiMetric\.composites\[0\]\.terms\[0\]\.metric: must be a plain metric/);
  });

  test("a missing metric forbids a scale-down", () => {
    const { gauges: _g, ...noGauge } = base;
    void _g;
    const r = e.decide(e.init(), { nowMs: 0, current: 10, instances: inst(10, noGauge) });
    expect(r.decision.desired).toBe(10);
    expect(r.decision.reason).toMatch(/missing/);
  });
});

describe("engine properties", () => {
  test.each(["threshold", "multi-metric"] as const)(
    "%s: always within [min, max]; missing metrics never scale down",
    (name) => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 5 }),
          fc.integer({ min: 0, max: 40 }),
          fc.array(
            fc.record({
              current: fc.integer({ min: 0, max: 60 }),
              cpu: fc.double({ min: 0, max: 100, noNaN: true }),
              n: fc.integer({ min: 0, max: 30 }),
              dropMemory: fc.boolean(),
            }),
            { minLength: 1, maxLength: 20 },
          ),
          (min, span, ticks) => {
            const p = parseScalingPolicy({ engine: name, minSize: min, maxSize: min + span });
            const e = createEngine(p);
            let state = e.init();
            ticks.forEach((t, k) => {
              const instances = inst(t.n, {
                cpuPercent: t.cpu,
                errorRate: 0,
                ...(t.dropMemory ? {} : { memoryPercent: 30 }),
              });
              const r = e.decide(state, { nowMs: k * 400_000, current: t.current, instances });
              expect(r.decision.desired).toBeGreaterThanOrEqual(p.minSize);
              expect(r.decision.desired).toBeLessThanOrEqual(p.maxSize);
              if (t.dropMemory && t.current >= p.minSize && t.current <= p.maxSize)
                expect(r.decision.desired).toBeGreaterThanOrEqual(t.current);
              state = e.applied(r.state, { atMs: k * 400_000, from: t.current, to: r.decision.desired });
            });
          },
        ),
      );
    },
  );
});
