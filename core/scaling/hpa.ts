/**
 * The Kubernetes HorizontalPodAutoscaler (autoscaling/v2) algorithm, reproduced rule for rule from
 * current kube-controller-manager (pkg/controller/podautoscaler: replica_calculator.go, horizontal.go)
 * so the Docker group scales exactly as the kubernetes target's native HPA would, and so the
 * simulator's reference algorithm is the real one, with its documented defaults.
 *
 * Per metric: usage ratio = current / target over the instances with metrics; within the tolerance
 * (0.1) nothing changes, else ceil(ratio × counted instances). Resource metrics (cpu, memory) use the
 * integer utilization Kubernetes computes (floor of the average percent). Instances are grouped as
 * `groupPods` groups pods:
 *  - `terminating` / `failed` → ignored: left out entirely;
 *  - `pending` → unready (0 % when the ratio says scale up, else left out);
 *  - no value for the metric → missing: 0 on a scale-up; on a scale-down 100 % of the request (or the
 *    target when it is above 100 %) for resource metrics, the target for the others; at a ratio of
 *    exactly 1 missing instances are not counted at all;
 *  - cpu only: unready when not ready within the CPU initialization period (or measured over a window
 *    that began before its last readiness change), and after it only when it has never been ready.
 * A recomputation that would flip the direction keeps the current count. Across metrics the maximum
 * proposal wins; a metric nobody reports is invalid, and invalid metrics never let the group shrink
 * (all invalid → no action). The proposal then passes the stabilization windows (highest
 * recommendation of the last 300 s on the way down, lowest of the last 0 s on the way up) and the
 * `behavior` rate policies (Pods/Percent per period, selectPolicy Max/Min/Disabled), counting the
 * scale events of each policy's period, then min/max. Events are stored only once a change was
 * carried out (`applied`), as `storeScaleEvent` runs after the scale update succeeded.
 *
 * {@link hpaStep} is that whole tick as one skeleton: the hpa, predictive, cost and multi-metric
 * engines call it and differ only in what they ask for between stabilization and the rate limits.
 */
import { fmt, metricTarget, metricValue, stabilize, type CompositeDef, type TimedValue } from "./metrics";
import type { HpaScalingRulesConfig, MetricName, ScalingPolicy } from "./policy";
import type { InstanceSample, MetricContribution, ScaleChange, ScalingInput } from "./types";

/** A scale event as horizontal.go records it: when, and by how many replicas. */
export interface ScaleEvent {
  t: number;
  change: number;
}

/** The controller memory the algorithm needs (per group), JSON-serializable. */
export interface HpaState {
  recommendations: TimedValue[];
  scaleUpEvents: ScaleEvent[];
  scaleDownEvents: ScaleEvent[];
}

export const initHpaState = (): HpaState => ({ recommendations: [], scaleUpEvents: [], scaleDownEvents: [] });

/** One metric's proposal, or why it has none. */
export type MetricProposal =
  | { ok: true; metric: MetricName; replicas: number; utilization: number; target: number; note?: string }
  | { ok: false; metric: MetricName; error: string };

const RESOURCE_METRICS: readonly MetricName[] = ["cpu", "memory"];

/** The kube-controller-manager timings groupPods needs (ms). */
export interface PodTiming {
  nowMs: number;
  cpuInitializationPeriodMs: number;
  initialReadinessDelayMs: number;
}

/** Kubernetes' defaults (300 s, 30 s); tests of upstream cases use its testing values (120 s, 10 s). */
export const DEFAULT_POD_TIMING: Omit<PodTiming, "nowMs"> = {
  cpuInitializationPeriodMs: 300_000,
  initialReadinessDelayMs: 30_000,
};

/**
 * groupPods' CPU readiness rule for one instance with a CPU value. Without times an instance is
 * taken as started at the epoch with its readiness unchanged since (Kubernetes' zero times).
 */
function cpuUnready(i: InstanceSample, t: PodTiming): boolean {
  const started = i.startedAtMs ?? 0;
  const changed = i.readinessChangedAtMs ?? started;
  if (started + t.cpuInitializationPeriodMs > t.nowMs) {
    // Within the initialization period: unready, or no full metric window since the last transition.
    if (!i.ready) return true;
    return (
      i.metricsAtMs !== undefined && i.metricsWindowMs !== undefined && i.metricsAtMs < changed + i.metricsWindowMs
    );
  }
  // After it: left out only when unready and never ready (it turned unready right at its start).
  return !i.ready && started + t.initialReadinessDelayMs > changed;
}

/**
 * GetResourceReplicas / calcPlainMetricReplicas for one metric. `current` is the group's desired
 * count (Kubernetes' `scale.spec.replicas`).
 */
export function replicasForMetric(
  metric: MetricName,
  target: number,
  instances: readonly InstanceSample[],
  current: number,
  tolerance: number,
  timing: PodTiming = { nowMs: 0, ...DEFAULT_POD_TIMING },
  composites: readonly CompositeDef[] = [],
): MetricProposal {
  const isResource = RESOURCE_METRICS.includes(metric);
  const values: number[] = [];
  let unready = 0;
  let missing = 0;
  for (const i of instances) {
    if (i.phase === "terminating" || i.phase === "failed") continue;
    if (i.phase === "pending") {
      unready++;
      continue;
    }
    const v = metricValue(i, metric, composites);
    if (v === undefined) {
      missing++;
      continue;
    }
    if (metric === "cpu" && cpuUnready(i, timing)) {
      unready++;
      continue;
    }
    values.push(v);
  }
  if (values.length === 0 && unready + missing === 0) return { ok: false, metric, error: "no instances" };
  const readyCount = values.length;
  if (readyCount === 0) return { ok: false, metric, error: "no metrics for any ready instance" };

  // Resource metrics: utilization = floor(100 × Σ usage / Σ request), i.e. floor of the mean percent.
  const ratioOf = (sum: number, count: number): { ratio: number; utilization: number } => {
    const mean = sum / count;
    const utilization = isResource ? Math.floor(mean + 1e-9) : mean;
    return { ratio: utilization / target, utilization };
  };
  let sum = values.reduce((a, b) => a + b, 0);
  const { ratio, utilization } = ratioOf(sum, readyCount);
  const within = (r: number) => Math.abs(1 - r) <= tolerance;
  const scaleUpWithUnready = unready > 0 && ratio > 1;
  if (!scaleUpWithUnready && missing === 0) {
    if (within(ratio)) return { ok: true, metric, replicas: current, utilization, target, note: "within tolerance" };
    return { ok: true, metric, replicas: Math.ceil(ratio * readyCount), utilization, target };
  }
  let counted = readyCount;
  if (missing > 0 && ratio < 1) {
    sum += missing * (isResource ? Math.max(100, target) : target);
    counted += missing;
  } else if (missing > 0 && ratio > 1) counted += missing; // at 0
  if (scaleUpWithUnready) counted += unready; // at 0
  const { ratio: newRatio } = ratioOf(sum, counted);
  const note = `${missing} missing, ${unready} not ready: recomputed ratio ${fmt(newRatio, 3)}`;
  if (within(newRatio) || (ratio < 1 && newRatio > 1) || (ratio > 1 && newRatio < 1))
    return { ok: true, metric, replicas: current, utilization, target, note: `${note}; keeps ${current}` };
  const replicas = Math.ceil(newRatio * counted);
  if ((newRatio < 1 && replicas > current) || (newRatio > 1 && replicas < current))
    return { ok: true, metric, replicas: current, utilization, target, note: `${note}; keeps ${current}` };
  return { ok: true, metric, replicas, utilization, target, note };
}

/** Replicas added (or removed) by the events of the last `periodSeconds` (getReplicasChangePerPeriod). */
function changeInPeriod(events: readonly ScaleEvent[], nowMs: number, periodSeconds: number): number {
  const cutoff = nowMs - periodSeconds * 1000;
  return events.reduce((s, e) => (e.t > cutoff ? s + e.change : s), 0);
}

/**
 * calculateScaleUpLimitWithScalingRules (`direction` 1) and calculateScaleDownLimitWithBehaviors
 * (`direction` -1): the count each policy allows from where the group stood at the start of its
 * period, combined by selectPolicy (Max picks the largest change, Min the smallest).
 */
function rateLimit(
  direction: 1 | -1,
  current: number,
  state: HpaState,
  nowMs: number,
  rules: HpaScalingRulesConfig,
): number {
  if (rules.selectPolicy === "Disabled") return current;
  const largest = (rules.selectPolicy === "Max") === (direction === 1);
  let result = largest ? Number.MIN_SAFE_INTEGER : Number.MAX_SAFE_INTEGER;
  for (const p of rules.policies) {
    const start =
      current -
      changeInPeriod(state.scaleUpEvents, nowMs, p.periodSeconds) +
      changeInPeriod(state.scaleDownEvents, nowMs, p.periodSeconds);
    // Go's int32(float64) truncates toward zero (a scale-down of 10 % of 72 keeps 64).
    const proposed =
      p.type === "Pods"
        ? start + direction * p.value
        : direction === 1
          ? Math.ceil(start * (1 + p.value / 100))
          : Math.trunc(start * (1 - p.value / 100));
    result = largest ? Math.max(result, proposed) : Math.min(result, proposed);
  }
  return result;
}

export const scaleUpLimit = (current: number, state: HpaState, nowMs: number, rules: HpaScalingRulesConfig): number =>
  rateLimit(1, current, state, nowMs, rules);
export const scaleDownLimit = (current: number, state: HpaState, nowMs: number, rules: HpaScalingRulesConfig): number =>
  rateLimit(-1, current, state, nowMs, rules);

/** convertDesiredReplicasWithBehaviorRate: the rate policies, then min/max. */
export function applyRateLimits(
  policy: ScalingPolicy,
  state: HpaState,
  nowMs: number,
  current: number,
  desired: number,
): { value: number; limit?: "ScaleUpLimit" | "TooManyReplicas" | "ScaleDownLimit" | "TooFewReplicas" } {
  const { scaleUp, scaleDown } = policy.hpa.behavior;
  if (desired > current) {
    const limit = Math.max(current, scaleUpLimit(current, state, nowMs, scaleUp));
    const [allowed, why] =
      policy.maxSize > limit ? [limit, "ScaleUpLimit" as const] : [policy.maxSize, "TooManyReplicas" as const];
    return desired > allowed ? { value: allowed, limit: why } : { value: desired };
  }
  if (desired < current) {
    const limit = Math.min(current, scaleDownLimit(current, state, nowMs, scaleDown));
    const [allowed, why] =
      policy.minSize < limit ? [limit, "ScaleDownLimit" as const] : [policy.minSize, "TooFewReplicas" as const];
    return desired < allowed ? { value: allowed, limit: why } : { value: desired };
  }
  return { value: desired };
}

/**
 * storeScaleEvent, for a change that was carried out: events older than the direction's longest
 * policy period no longer count.
 */
export function recordScaleEvent(policy: ScalingPolicy, state: HpaState, change: ScaleChange): HpaState {
  const { from, to, atMs } = change;
  if (to === from) return state;
  const up = to > from;
  const rules = up ? policy.hpa.behavior.scaleUp : policy.hpa.behavior.scaleDown;
  const longest = Math.max(...rules.policies.map((p) => p.periodSeconds));
  const keep = (events: ScaleEvent[]) => [
    ...events.filter((e) => e.t > atMs - longest * 1000),
    { t: atMs, change: Math.abs(to - from) },
  ];
  return up
    ? { ...state, scaleUpEvents: keep(state.scaleUpEvents) }
    : { ...state, scaleDownEvents: keep(state.scaleDownEvents) };
}

/** The metric part of one HPA tick: the maximum proposal, or none when the metrics forbid acting. */
export function metricProposals(
  policy: ScalingPolicy,
  input: ScalingInput,
  adjustProposal: (p: MetricProposal) => MetricProposal = (p) => p,
): { proposals: MetricProposal[]; desired?: number; blocked?: string } {
  const timing: PodTiming = {
    nowMs: input.nowMs,
    cpuInitializationPeriodMs: policy.hpa.cpuInitializationPeriodSeconds * 1000,
    initialReadinessDelayMs: policy.hpa.initialReadinessDelaySeconds * 1000,
  };
  const proposals = policy.metrics
    .map((m) =>
      replicasForMetric(
        m,
        metricTarget(policy, m),
        input.instances,
        input.current,
        policy.hpa.tolerance,
        timing,
        policy.multiMetric.composites,
      ),
    )
    .map(adjustProposal);
  const valid = proposals.filter((p): p is Extract<MetricProposal, { ok: true }> => p.ok);
  const invalid = proposals.filter((p): p is Extract<MetricProposal, { ok: false }> => !p.ok);
  const desired = valid.length > 0 ? Math.max(...valid.map((p) => p.replicas)) : undefined;
  if (desired === undefined)
    return {
      proposals,
      blocked: `no metrics (${invalid.map((p) => `${p.metric}: ${p.error}`).join("; ")}): keeps ${input.current}`,
    };
  if (invalid.length > 0 && desired < input.current)
    return {
      proposals,
      blocked: `${invalid.map((p) => p.metric).join(", ")} missing, so no scale-down below ${input.current} (metrics ask for ${desired})`,
    };
  return { proposals, desired };
}

export const contributionsOf = (proposals: readonly MetricProposal[]): MetricContribution[] =>
  proposals.map((p) =>
    p.ok
      ? { metric: p.metric, current: p.utilization, target: p.target, desired: p.replicas, note: p.note }
      : { metric: p.metric, note: p.error },
  );

/** What an engine may ask for between stabilization and the rate limits. */
export interface HpaAdjustment {
  /** The count to ask the rate limits for. */
  wanted: number;
  /** Appended to the reason. */
  note?: string;
  contributions?: MetricContribution[];
}

/** One tick through the skeleton. */
export interface HpaStep {
  state: HpaState;
  desired: number;
  reason: string;
  contributions: MetricContribution[];
}

/**
 * One HPA tick, the skeleton every HPA-based engine calls: outside [min, max] the range is the
 * answer; metrics that forbid acting keep the count; else the metric proposals, stabilized, then
 * `adjust` (the engine's own rule: a forecast, a composite target, a recomputed proposal), then the
 * `behavior` rate limits and [min, max], and the reason line. The state carries the new
 * recommendation; scale events join it through {@link recordScaleEvent} once the change is applied.
 */
export function hpaStep(
  policy: ScalingPolicy,
  state: HpaState,
  input: ScalingInput,
  adjust?: (stabilized: number, recommended: { raw: number; contributions: MetricContribution[] }) => HpaAdjustment,
  proposals: { desired?: number; blocked?: string; contributions: MetricContribution[] } = (() => {
    const m = metricProposals(policy, input);
    return { desired: m.desired, blocked: m.blocked, contributions: contributionsOf(m.proposals) };
  })(),
): HpaStep {
  const { current, nowMs } = input;
  if (current > policy.maxSize || current < policy.minSize) {
    const desired = current > policy.maxSize ? policy.maxSize : policy.minSize;
    const which = current > policy.maxSize ? `above maxSize ${policy.maxSize}` : `below minSize ${policy.minSize}`;
    return { state, desired, reason: `${current} is ${which}`, contributions: [] };
  }
  let { contributions } = proposals;
  if (proposals.desired === undefined)
    return { state, desired: current, reason: proposals.blocked ?? "no metrics", contributions };
  const raw = proposals.desired;
  const { scaleUp, scaleDown } = policy.hpa.behavior;
  const s = stabilize(
    state.recommendations,
    nowMs,
    current,
    raw,
    scaleUp.stabilizationWindowSeconds,
    scaleDown.stabilizationWindowSeconds,
  );
  const next: HpaState = { ...state, recommendations: s.history };
  const adjusted = adjust?.(s.value, { raw, contributions }) ?? { wanted: s.value };
  if (adjusted.contributions) contributions = adjusted.contributions;
  const limited = applyRateLimits(policy, next, nowMs, current, adjusted.wanted);
  const parts = contributions
    .filter((c) => c.metric !== "forecast")
    .map((c) =>
      c.desired === undefined
        ? `${c.metric}: ${c.note}`
        : `${c.metric} ${fmt(c.current ?? 0)}/${fmt(c.target ?? 0)} → ${c.desired}`,
    );
  let reason = `${parts.join(", ")}; metrics ask ${raw}`;
  if (s.value !== raw) reason += `, stabilized ${s.value}`;
  if (adjusted.note) reason += `; ${adjusted.note}`;
  if (limited.limit) reason += `; ${limited.limit} ${limited.value}`;
  return { state: next, desired: limited.value, reason, contributions };
}

export function createHpaEngine(policy: ScalingPolicy) {
  return {
    name: "hpa" as const,
    init: initHpaState,
    decide(state: HpaState, input: ScalingInput) {
      const s = hpaStep(policy, state, input);
      return {
        decision: {
          engine: "hpa" as const,
          desired: s.desired,
          current: input.current,
          reason: s.reason,
          contributions: s.contributions,
        },
        state: s.state,
      };
    },
    applied: (state: HpaState, change: ScaleChange): HpaState => recordScaleEvent(policy, state, change),
  };
}
