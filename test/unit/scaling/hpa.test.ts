/**
 * The hpa engine against Kubernetes: the replica calculator cases of kube-controller-manager's own
 * tests (pkg/controller/podautoscaler/replica_calculator_test.go, same inputs and expected counts),
 * the examples of the HorizontalPodAutoscaler documentation (algorithm, scaling policies,
 * selectPolicy, stabilization window, default behavior), and properties over random inputs.
 */
import fc from "fast-check";
import { createHpaEngine, replicasForMetric, type HpaState } from "../../../core/scaling/hpa";
import { parseScalingPolicy, type InstanceSample, type ScalingPolicyInput } from "../../../core/scaling";

const T = 0.1;
/** Pods with cpu percents (undefined = missing), readiness (false = not ready) and phase. */
const pods = (
  cpu: (number | undefined)[],
  ready: boolean[] = [],
  phase: ("pending" | "running")[] = [],
): InstanceSample[] =>
  cpu.map((c, i) => ({ id: `p${i}`, ready: ready[i] ?? true, phase: phase[i] ?? "running", cpuPercent: c }));
const qps = (values: (number | undefined)[], ready: boolean[] = []): InstanceSample[] =>
  values.map((v, i) => ({
    id: `p${i}`,
    ready: ready[i] ?? true,
    gauges: v === undefined ? ({} as Record<string, number>) : { qps: v },
  }));
const cpuReplicas = (current: number, target: number, instances: InstanceSample[]) => {
  const r = replicasForMetric("cpu", target, instances, current, T);
  if (!r.ok) throw new Error(r.error);
  return r.replicas;
};

describe("hpa replica calculator (kube-controller-manager replica_calculator_test.go cases)", () => {
  test.each([
    // name, current, cpu % per pod (1.0 cpu requests, levels/10), readiness, phase, target, expected
    ["ScaleUp", 3, [30, 50, 70], [], [], 30, 5],
    ["ScaleUpUnreadyLessScale", 3, [30, 50, 70], [false, true, true], [], 30, 4],
    ["ScaleUpUnreadyNoScale", 3, [40, 50, 70], [true, false, false], [], 30, 3],
    ["ScaleDown", 5, [10, 30, 50, 25, 25], [], [], 50, 3],
    ["ScaleDownIncludeUnreadyPods", 5, [10, 30, 50, 25, 25], [true, true, true, false, false], [], 50, 2],
    [
      "ScaleDownExcludeUnscheduledPods",
      5,
      [10, undefined, undefined, undefined, undefined],
      [true, false, false, false, false],
      ["running", "pending", "pending", "pending", "pending"],
      50,
      1,
    ],
    ["MissingMetricsNoChangeEq", 2, [100, undefined], [], [], 100, 2],
    ["MissingMetricsNoChangeGt", 2, [190, undefined], [], [], 100, 2],
    ["MissingMetricsNoChangeLt", 2, [60, undefined], [], [], 100, 2],
    ["MissingMetricsUnreadyChange", 3, [10, 45, undefined], [false, true, true], [], 50, 3],
    ["MissingMetricsUnreadyScaleUp", 3, [10, 200, undefined], [false, true, true], [], 50, 4],
    ["MissingMetricsUnreadyScaleDown", 4, [10, 10, 10, undefined], [false, true, true, true], [], 50, 3],
  ] as const)("%s", (_name, current, cpu, ready, phase, target, expected) => {
    expect(cpuReplicas(current, target, pods([...cpu], [...ready], [...phase]))).toBe(expected);
  });

  // Upstream's testing timings (defaultTestingCPUInitializationPeriod 2 min, ...InitialReadinessStatus 10 s);
  // hot = started now, cool = started 3 minutes ago; metrics stamped at the zero time over 1 minute.
  const NOW = 1_000_000_000;
  const timing = { nowMs: NOW, cpuInitializationPeriodMs: 120_000, initialReadinessDelayMs: 10_000 };
  const hot = NOW;
  const cool = NOW - 180_000;
  const timed = (cpu: (number | undefined)[], start: number[], ready: boolean[] = []): InstanceSample[] =>
    cpu.map((c, i) => ({
      id: `p${i}`,
      ready: ready[i] ?? true,
      cpuPercent: c,
      startedAtMs: start[i],
      readinessChangedAtMs: 0,
      metricsAtMs: 0,
      metricsWindowMs: 60_000,
    }));
  const at = (current: number, target: number, inst: InstanceSample[], metric: "cpu" | "gauge:qps" = "cpu") => {
    const r = replicasForMetric(metric, target, inst, current, T, timing);
    if (!r.ok) throw new Error(r.error);
    return r.replicas;
  };

  test.each([
    ["ScaleUpHotCpuLessScale", 3, [30, 50, 70], [hot, cool, cool], [], 30, 4],
    ["ScaleHotCpuNoScale", 3, [40, 50, 70], [cool, hot, hot], [true, false, false], 30, 3],
    ["ScaleDownIgnoreHotCpuPods", 5, [10, 30, 50, 25, 25], [cool, cool, cool, hot, hot], [], 50, 2],
    ["MissingMetricsHotCpuNoChange", 3, [10, 45, undefined], [hot, cool, cool], [], 50, 3],
    ["MissingMetricsHotCpuScaleUp", 3, [10, 200, undefined], [hot, cool, cool], [false, true, true], 50, 4],
  ] as const)("%s (CPU initialization period)", (_name, current, cpu, start, ready, target, expected) => {
    expect(at(current, target, timed([...cpu], [...start], [...ready]))).toBe(expected);
  });

  test("after the initialization period an unready instance's CPU counts unless it was never ready (TestGroupPods)", () => {
    const one = (startedAtMs: number, readinessChangedAtMs: number, ready: boolean): InstanceSample[] => [
      { id: "a", ready: true, cpuPercent: 100, startedAtMs: cool, readinessChangedAtMs: cool },
      { id: "b", ready, cpuPercent: 100, startedAtMs, readinessChangedAtMs },
    ];
    // "count in an unready pod that was ready after initialization period": both count, 100/70 → 3.
    expect(at(2, 70, one(NOW - 600_000, NOW - 540_000, false))).toBe(3);
    // "unready an unready pod ..." (never ready: it turned unready 6 s after its start): set aside.
    expect(at(2, 70, one(NOW - 600_000, NOW - 594_000, false))).toBe(2);
    // The case: 2 ready + 2 unready (ready before, past the period) at 100 % with target 70 → 6.
    const four: InstanceSample[] = [0, 1, 2, 3].map((i) => ({
      id: `p${i}`,
      ready: i < 2,
      cpuPercent: 100,
      startedAtMs: NOW - 3_600_000,
      readinessChangedAtMs: i < 2 ? NOW - 3_600_000 : NOW - 20_000,
    }));
    expect(at(4, 70, four)).toBe(6);
    // "count in a ready pod with fresh metrics during initialization period" / "... without fresh metrics".
    const fresh = (windowMs: number): InstanceSample[] => [
      { id: "a", ready: true, cpuPercent: 100, startedAtMs: cool, readinessChangedAtMs: cool },
      {
        id: "b",
        ready: true,
        cpuPercent: 100,
        startedAtMs: NOW - 60_000,
        readinessChangedAtMs: NOW - 30_000,
        metricsAtMs: NOW,
        metricsWindowMs: windowMs,
      },
    ];
    expect(at(2, 70, fresh(30_000))).toBe(3);
    // b measured over a window that began before it turned ready: set aside, and at 0 % the ratio flips → keeps 2.
    expect(at(2, 70, fresh(60_000))).toBe(2);
  });

  test.each([
    ["ScaleUpIgnoresFailedPods", "failed"],
    ["ScaleUpIgnoresDeletionPods", "terminating"],
  ] as const)("%s: failed and terminating instances are left out entirely", (_name, phase) => {
    const inst: InstanceSample[] = [
      { id: "a", ready: true, cpuPercent: 50 },
      { id: "b", ready: true, cpuPercent: 70 },
      { id: "c", ready: false, phase },
      { id: "d", ready: false, phase },
    ];
    expect(at(2, 30, inst)).toBe(4);
    const down: InstanceSample[] = [10, 30, 50, 25, 25].map((c, i) => ({ id: `p${i}`, ready: true, cpuPercent: c }));
    expect(at(5, 50, [...down, { id: "x", ready: false, phase }, { id: "y", ready: false, phase }])).toBe(3);
  });

  test("plain metrics: missing instances at a ratio of exactly 1 are not counted (PlainMetricReplicaCalcMissingMetricsNoChangeEq), hot CPU does not matter (ScaleUpCMUnreadyHotCpuScaleWouldScaleDown)", () => {
    expect(at(5, 20, qps([20, 19, 21, undefined, undefined]), "gauge:qps")).toBe(5);
    const cm: InstanceSample[] = [50, 15, 30].map((v, i) => ({
      id: `p${i}`,
      ready: i === 1,
      startedAtMs: i === 1 ? cool : hot,
      gauges: { qps: v },
    }));
    expect(at(3, 15, cm, "gauge:qps")).toBe(7);
  });

  test("on a scale-down a missing instance counts at its full request, or at the target when that is above 100 %", () => {
    // ratio 0.2 with target 50: missing at 100 % → (10+10+10+100)/4 = 32.5 → 0.65 → ceil(2.6) = 3 (MissingMetricsUnreadyScaleDown's shape)
    expect(at(4, 50, pods([10, 10, 10, undefined]))).toBe(3);
    // target 300: the missing one counts at 300 % → (6+6+6+300)/4 = 79.5 → 0.265 → ceil(1.06) = 2
    expect(at(4, 300, pods([6, 6, 6, undefined]))).toBe(2);
  });

  test("pod (custom) metrics: ScaleUpCM, ScaleDownCM, and unready pods are not set aside (ScaleUpCMUnreadyHotCpuNoLessScale)", () => {
    const r = (current: number, target: number, inst: InstanceSample[]) => {
      const p = replicasForMetric("gauge:qps", target, inst, current, T);
      return p.ok ? p.replicas : NaN;
    };
    expect(r(3, 15, qps([20, 10, 30]))).toBe(4);
    expect(r(5, 20, qps([12, 12, 12, 12, 12]))).toBe(3);
    expect(r(3, 15, qps([50, 10, 30], [true, true, false]))).toBe(6);
  });

  test("no metrics for any ready instance is an error (TestReplicaCalcEmptyMetrics)", () => {
    expect(replicasForMetric("cpu", 100, pods([undefined, undefined, undefined]), 4, T)).toMatchObject({ ok: false });
  });

  test("utilization is the integer percent Kubernetes computes (floor of the mean)", () => {
    // mean 84.5 % → 84 %: ratio 1.2 → 12 (the float mean would give 1.207 → 13).
    expect(cpuReplicas(10, 70, pods(Array(10).fill(84.5)))).toBe(12);
  });
});

const policy = (p: ScalingPolicyInput = {}) =>
  parseScalingPolicy({ minSize: 1, maxSize: 1000, metrics: ["gauge:load"], targets: { gauges: { load: 100 } }, ...p });
const load = (n: number, value: number): InstanceSample[] =>
  Array.from({ length: n }, (_, i) => ({ id: `p${i}`, ready: true, gauges: { load: value } }));

describe("hpa documentation examples (kubernetes.io, Horizontal Pod Autoscaling)", () => {
  test("algorithm: 200m against 100m doubles, 50m halves, 105m stays (tolerance 0.1)", () => {
    const e = createHpaEngine(policy());
    expect(e.decide(e.init(), { nowMs: 0, current: 4, instances: load(4, 200) }).decision.desired).toBe(8);
    expect(e.decide(e.init(), { nowMs: 0, current: 4, instances: load(4, 50) }).decision.desired).toBe(2);
    expect(e.decide(e.init(), { nowMs: 0, current: 4, instances: load(4, 105) }).decision.desired).toBe(4);
  });

  test("scaling policies: scaleDown Pods 4 / Percent 10 per 60 s — 80 → 72 → 64, and 4 at a time below 40", () => {
    const e = createHpaEngine(
      policy({
        minSize: 10,
        hpa: {
          behavior: {
            scaleDown: {
              stabilizationWindowSeconds: 0,
              policies: [
                { type: "Pods", value: 4, periodSeconds: 60 },
                { type: "Percent", value: 10, periodSeconds: 60 },
              ],
            },
          },
        },
      }),
    );
    let state = e.init();
    let current = 80;
    const seen = [current];
    for (let k = 0; current > 10 && k < 30; k++) {
      // Load that asks for 10 replicas; one decision per period (60 s apart).
      const r = e.decide(state, { nowMs: k * 60_000, current, instances: load(current, (1000 - 1e-6) / current) });
      state = e.applied(r.state, { atMs: k * 60_000, from: current, to: r.decision.desired });
      current = r.decision.desired;
      seen.push(current);
    }
    expect(seen.slice(0, 3)).toEqual([80, 72, 64]); // 10 % of 72 is 7.2: 8 pods go (64.8 truncated to 64)
    const below40 = seen.filter((n) => n < 40);
    for (let i = 1; i < below40.length; i++) expect(below40[i - 1] - below40[i]).toBeLessThanOrEqual(4);
    expect(seen.at(-1)).toBe(10);
    expect(seen).toEqual([80, 72, 64, 57, 51, 45, 40, 36, 32, 28, 24, 20, 16, 12, 10]);
  });

  test("within one period the policies count the replicas already removed, and only those (storeScaleEvent after success)", () => {
    const e = createHpaEngine(
      policy({
        hpa: {
          behavior: {
            scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: "Pods", value: 4, periodSeconds: 60 }] },
          },
        },
      }),
    );
    const a = e.decide(e.init(), { nowMs: 0, current: 20, instances: load(20, 10) });
    expect(a.decision.desired).toBe(16);
    // A scale-in that was not carried out (nothing applied) uses up no budget: the next tick may take the step again.
    expect(e.decide(a.state, { nowMs: 15_000, current: 20, instances: load(20, 10) }).decision.desired).toBe(16);
    const removed = e.applied(a.state, { atMs: 0, from: 20, to: 16 });
    const b = e.decide(removed, { nowMs: 30_000, current: 16, instances: load(16, 10) });
    expect(b.decision.desired).toBe(16);
    const c = e.decide(b.state, { nowMs: 60_000, current: 16, instances: load(16, 10) });
    expect(c.decision.desired).toBe(12);
  });

  test("selectPolicy Min: Percent 10 and Pods 5 per 60 s remove the smaller number", () => {
    const e = createHpaEngine(
      policy({
        hpa: {
          behavior: {
            scaleDown: {
              stabilizationWindowSeconds: 0,
              selectPolicy: "Min",
              policies: [
                { type: "Percent", value: 10, periodSeconds: 60 },
                { type: "Pods", value: 5, periodSeconds: 60 },
              ],
            },
          },
        },
      }),
    );
    expect(e.decide(e.init(), { nowMs: 0, current: 100, instances: load(100, 10) }).decision.desired).toBe(95);
    expect(e.decide(e.init(), { nowMs: 0, current: 30, instances: load(30, 10) }).decision.desired).toBe(27);
  });

  test("scaleUp Percent 900 per 60 s: 1 → 10 at once", () => {
    const e = createHpaEngine(
      policy({ hpa: { behavior: { scaleUp: { policies: [{ type: "Percent", value: 900, periodSeconds: 60 }] } } } }),
    );
    expect(e.decide(e.init(), { nowMs: 0, current: 1, instances: load(1, 5000) }).decision.desired).toBe(10);
  });

  test("selectPolicy Disabled: scale-down never happens", () => {
    const e = createHpaEngine(policy({ hpa: { behavior: { scaleDown: { selectPolicy: "Disabled" } } } }));
    let state = e.init();
    for (let k = 0; k < 40; k++) {
      const r = e.decide(state, { nowMs: k * 15_000, current: 10, instances: load(10, 5) });
      expect(r.decision.desired).toBe(10);
      state = r.state;
    }
  });

  test("default behavior: up by max(100 %, 4 pods) per 15 s; down by 100 % per 15 s after a 300 s window", () => {
    const e = createHpaEngine(policy());
    expect(e.decide(e.init(), { nowMs: 0, current: 1, instances: load(1, 10_000) }).decision.desired).toBe(5);
    expect(e.decide(e.init(), { nowMs: 0, current: 10, instances: load(10, 10_000) }).decision.desired).toBe(20);
    // Stabilization: the highest recommendation of the last 300 s holds the count.
    let state: HpaState = e.init();
    let r = e.decide(state, { nowMs: 0, current: 10, instances: load(10, 100) });
    expect(r.decision.desired).toBe(10);
    state = r.state;
    for (let t = 15; t < 300; t += 15) {
      r = e.decide(state, { nowMs: t * 1000, current: 10, instances: load(10, 10) });
      expect(r.decision.desired).toBe(10);
      state = r.state;
    }
    r = e.decide(state, { nowMs: 300_000, current: 10, instances: load(10, 10) });
    expect(r.decision.desired).toBe(1);
  });

  test("a scale-up is not stabilized by default (window 0) but is with stabilizationWindowSeconds", () => {
    const e = createHpaEngine(policy({ hpa: { behavior: { scaleUp: { stabilizationWindowSeconds: 60 } } } }));
    const a = e.decide(e.init(), { nowMs: 0, current: 4, instances: load(4, 100) });
    const b = e.decide(a.state, { nowMs: 15_000, current: 4, instances: load(4, 300) });
    expect(b.decision.desired).toBe(4); // the lowest recommendation of the last 60 s is 4
    const c = e.decide(b.state, { nowMs: 60_000, current: 4, instances: load(4, 300) });
    expect(c.decision.desired).toBe(8); // 4 × 300/100 = 12, at most +100 % per 15 s
  });

  test("missing metrics never scale down; all metrics missing: no action", () => {
    const p = parseScalingPolicy({ minSize: 1, maxSize: 100 });
    const e = createHpaEngine(p);
    const cpuOnly: InstanceSample[] = Array.from({ length: 6 }, (_, i) => ({
      id: `p${i}`,
      ready: true,
      cpuPercent: 10,
    }));
    const r = e.decide(e.init(), { nowMs: 0, current: 6, instances: cpuOnly });
    expect(r.decision.desired).toBe(6);
    expect(r.decision.reason).toMatch(/memory missing/);
    const up = e.decide(e.init(), { nowMs: 0, current: 6, instances: cpuOnly.map((i) => ({ ...i, cpuPercent: 140 })) });
    expect(up.decision.desired).toBe(12);
    const none = e.decide(e.init(), {
      nowMs: 0,
      current: 6,
      instances: cpuOnly.map((i) => ({ id: i.id, ready: true })),
    });
    expect(none.decision.desired).toBe(6);
  });

  test("outside [min, max] the range itself is the answer", () => {
    const e = createHpaEngine(policy({ minSize: 3, maxSize: 8 }));
    expect(e.decide(e.init(), { nowMs: 0, current: 1, instances: load(1, 10) }).decision.desired).toBe(3);
    expect(e.decide(e.init(), { nowMs: 0, current: 12, instances: load(12, 1000) }).decision.desired).toBe(8);
  });
});

describe("hpa properties", () => {
  const sample = fc.record({
    ready: fc.boolean(),
    pending: fc.boolean(),
    cpu: fc.option(fc.double({ min: 0, max: 100, noNaN: true }), { nil: undefined }),
    memory: fc.option(fc.double({ min: 0, max: 100, noNaN: true }), { nil: undefined }),
  });
  const tick = fc.record({
    current: fc.integer({ min: 0, max: 60 }),
    samples: fc.array(sample, { maxLength: 40 }),
    dt: fc.integer({ min: 1, max: 120 }),
  });

  test("always within [minSize, maxSize], state stays JSON and decide never mutates it", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 0, max: 50 }),
        fc.array(tick, { minLength: 1, maxLength: 30 }),
        (min, span, ticks) => {
          const p = parseScalingPolicy({ minSize: min, maxSize: Math.max(1, min + span) });
          const e = createHpaEngine(p);
          let state = e.init();
          let now = 0;
          for (const t of ticks) {
            now += t.dt * 1000;
            const instances = t.samples.map((s, i) => ({
              id: `i${i}`,
              ready: s.ready,
              phase: s.pending ? ("pending" as const) : ("running" as const),
              cpuPercent: s.cpu,
              memoryPercent: s.memory,
            }));
            const frozen = JSON.stringify(state);
            const r = e.decide(JSON.parse(frozen) as HpaState, { nowMs: now, current: t.current, instances });
            expect(r.decision.desired).toBeGreaterThanOrEqual(p.minSize);
            expect(r.decision.desired).toBeLessThanOrEqual(p.maxSize);
            expect(JSON.parse(JSON.stringify(r.state))).toEqual(r.state);
            // Same state, same input → same decision (pure).
            expect(
              e.decide(JSON.parse(frozen) as HpaState, { nowMs: now, current: t.current, instances }).decision,
            ).toEqual(r.decision);
            state = r.state;
          }
        },
      ),
    );
  });

  test("a metric nobody reports never lets the group shrink", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.double({ min: 0, max: 100, noNaN: true }), { minLength: 1, maxLength: 40 }),
        (current, cpus) => {
          const e = createHpaEngine(parseScalingPolicy({ minSize: 1, maxSize: 100 }));
          const instances = cpus.map((c, i) => ({ id: `i${i}`, ready: true, cpuPercent: c })); // memory missing everywhere
          const r = e.decide(e.init(), { nowMs: 0, current, instances });
          expect(r.decision.desired).toBeGreaterThanOrEqual(Math.min(current, 100));
        },
      ),
    );
  });
});
