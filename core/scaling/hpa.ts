/**
 * The Kubernetes HorizontalPodAutoscaler (autoscaling/v2) algorithm, reproduced rule for rule from
 * kube-controller-manager (pkg/controller/podautoscaler: replica_calculator.go, horizontal.go) so the
 * Docker group scales exactly as the kubernetes target's native HPA would, and so the simulator's
 * reference algorithm is the real one, with its documented defaults.
 *
 * Per metric: usage ratio = current / target over the instances with metrics; within the tolerance
 * (0.1) nothing changes, else ceil(ratio × counted instances). Resource metrics (cpu, memory) use the
 * integer utilization Kubernetes computes (floor of the average percent). Instances are grouped as
 * Kubernetes groups pods:
 *  - `phase: "pending"` → ignored (set aside; counted as 0 % when the ratio says scale up);
 *  - no value for the metric → missing (0 % on a scale-up, 100 % of the request — resource — or the
 *    target — other metrics — on a scale-down), and a recomputation that would flip the direction
 *    keeps the current count;
 *  - `ready: false` with a cpu value → unready, treated like pending (cpu only, as in Kubernetes).
 * Across metrics the maximum proposal wins; a metric nobody reports is invalid, and invalid metrics
 * never let the group shrink (all invalid → no action). The proposal then passes the stabilization
 * windows (highest recommendation of the last 300 s on the way down, lowest of the last 0 s on the
 * way up) and the `behavior` rate policies (Pods/Percent per period, selectPolicy Max/Min/Disabled),
 * counting the scale events of each policy's period, then min/max.
 */
import { fmt, metricTarget, metricValue, stabilize, type TimedValue } from "./metrics";
import type { HpaScalingRulesConfig, MetricName, ScalingPolicy } from "./policy";
import type { Engine, InstanceSample, MetricContribution, ScalingDecision, ScalingInput } from "./types";

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

/** One metric's proposal, or why it has none. */
export type MetricProposal =
  | { ok: true; metric: MetricName; replicas: number; utilization: number; target: number; note?: string }
  | { ok: false; metric: MetricName; error: string };

const RESOURCE_METRICS: readonly MetricName[] = ["cpu", "memory"];

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
): MetricProposal {
  if (instances.length === 0) return { ok: false, metric, error: "no instances" };
  const isResource = RESOURCE_METRICS.includes(metric);
  // Values of the instances counted (ready ones with the metric); missing/ignored filled in below.
  const values: number[] = [];
  let ignored = 0;
  let missing = 0;
  for (const i of instances) {
    if (i.phase === "pending") {
      ignored++;
      continue;
    }
    const v = metricValue(i, metric);
    if (v === undefined) {
      missing++;
      continue;
    }
    if (metric === "cpu" && !i.ready) {
      ignored++;
      continue;
    }
    values.push(v);
  }
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
  const rebalanceIgnored = ignored > 0 && ratio > 1;
  if (!rebalanceIgnored && missing === 0) {
    if (Math.abs(1 - ratio) <= tolerance)
      return { ok: true, metric, replicas: current, utilization, target, note: "within tolerance" };
    return { ok: true, metric, replicas: Math.ceil(ratio * readyCount), utilization, target };
  }
  let counted = readyCount;
  if (missing > 0) {
    if (ratio < 1) {
      sum += missing * (isResource ? 100 : target);
      counted += missing;
    } else if (ratio > 1 || !isResource) counted += missing; // at 0
  }
  if (rebalanceIgnored) counted += ignored; // at 0
  const { ratio: newRatio } = ratioOf(sum, counted);
  const note = `${missing} missing, ${ignored} not ready: recomputed ratio ${fmt(newRatio, 3)}`;
  if (Math.abs(1 - newRatio) <= tolerance || (ratio < 1 && newRatio > 1) || (ratio > 1 && newRatio < 1))
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

/** calculateScaleUpLimitWithScalingRules. */
export function scaleUpLimit(current: number, state: HpaState, nowMs: number, rules: HpaScalingRulesConfig): number {
  if (rules.selectPolicy === "Disabled") return current;
  const pick = rules.selectPolicy === "Min" ? Math.min : Math.max;
  let result = rules.selectPolicy === "Min" ? Number.MAX_SAFE_INTEGER : Number.MIN_SAFE_INTEGER;
  for (const p of rules.policies) {
    const start =
      current -
      changeInPeriod(state.scaleUpEvents, nowMs, p.periodSeconds) +
      changeInPeriod(state.scaleDownEvents, nowMs, p.periodSeconds);
    const proposed = p.type === "Pods" ? start + p.value : Math.ceil(start * (1 + p.value / 100));
    result = pick(result, proposed);
  }
  return result;
}

/** calculateScaleDownLimitWithBehaviors. */
export function scaleDownLimit(current: number, state: HpaState, nowMs: number, rules: HpaScalingRulesConfig): number {
  if (rules.selectPolicy === "Disabled") return current;
  const pick = rules.selectPolicy === "Min" ? Math.max : Math.min;
  let result = rules.selectPolicy === "Min" ? Number.MIN_SAFE_INTEGER : Number.MAX_SAFE_INTEGER;
  for (const p of rules.policies) {
    const start =
      current -
      changeInPeriod(state.scaleUpEvents, nowMs, p.periodSeconds) +
      changeInPeriod(state.scaleDownEvents, nowMs, p.periodSeconds);
    // Go's int32(float64) truncates toward zero.
    const proposed = p.type === "Pods" ? start - p.value : Math.trunc(start * (1 - p.value / 100));
    result = pick(result, proposed);
  }
  return result;
}

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

/** storeScaleEvent: events older than the direction's longest policy period no longer count. */
export function recordScaleEvent(
  policy: ScalingPolicy,
  state: HpaState,
  nowMs: number,
  from: number,
  to: number,
): HpaState {
  if (to === from) return state;
  const up = to > from;
  const rules = up ? policy.hpa.behavior.scaleUp : policy.hpa.behavior.scaleDown;
  const longest = Math.max(...rules.policies.map((p) => p.periodSeconds));
  const keep = (events: ScaleEvent[]) => [
    ...events.filter((e) => e.t > nowMs - longest * 1000),
    { t: nowMs, change: Math.abs(to - from) },
  ];
  return up
    ? { ...state, scaleUpEvents: keep(state.scaleUpEvents) }
    : { ...state, scaleDownEvents: keep(state.scaleDownEvents) };
}

/** The metric part of one HPA tick: the maximum proposal, or none when the metrics forbid acting. */
export function metricProposals(
  policy: ScalingPolicy,
  input: ScalingInput,
): { proposals: MetricProposal[]; desired?: number; blocked?: string } {
  const proposals = policy.metrics.map((m) =>
    replicasForMetric(m, metricTarget(policy, m), input.instances, input.current, policy.hpa.tolerance),
  );
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

/**
 * One HPA tick up to the stabilized recommendation (before rate limits): shared by the hpa, predictive
 * and cost engines. Returns `undefined` for `stabilized` when the group is outside [min, max] (the
 * range itself is the answer) or the metrics block any action.
 */
export function hpaRecommendation(
  policy: ScalingPolicy,
  state: HpaState,
  input: ScalingInput,
): {
  state: HpaState;
  contributions: MetricContribution[];
  fixed?: { desired: number; reason: string };
  raw?: number;
  stabilized?: number;
} {
  const { current, nowMs } = input;
  if (current > policy.maxSize)
    return {
      state,
      contributions: [],
      fixed: { desired: policy.maxSize, reason: `${current} is above maxSize ${policy.maxSize}` },
    };
  if (current < policy.minSize)
    return {
      state,
      contributions: [],
      fixed: { desired: policy.minSize, reason: `${current} is below minSize ${policy.minSize}` },
    };
  const { proposals, desired, blocked } = metricProposals(policy, input);
  const contributions = contributionsOf(proposals);
  if (desired === undefined)
    return { state, contributions, fixed: { desired: current, reason: blocked ?? "no metrics" } };
  const { scaleUp, scaleDown } = policy.hpa.behavior;
  const s = stabilize(
    state.recommendations,
    nowMs,
    current,
    desired,
    scaleUp.stabilizationWindowSeconds,
    scaleDown.stabilizationWindowSeconds,
  );
  return { state: { ...state, recommendations: s.history }, contributions, raw: desired, stabilized: s.value };
}

/** The reason line of an hpa-style decision. */
export function describe(
  contributions: readonly MetricContribution[],
  raw: number,
  stabilized: number,
  final: number,
  limit?: string,
): string {
  const parts = contributions.map((c) =>
    c.desired === undefined
      ? `${c.metric}: ${c.note}`
      : `${c.metric} ${fmt(c.current ?? 0)}/${fmt(c.target ?? 0)} → ${c.desired}`,
  );
  let reason = `${parts.join(", ")}; metrics ask ${raw}`;
  if (stabilized !== raw) reason += `, stabilized ${stabilized}`;
  if (limit) reason += `, ${limit} ${final}`;
  return reason;
}

export function createHpaEngine(policy: ScalingPolicy): Engine<HpaState> {
  return {
    name: "hpa",
    init: () => ({ recommendations: [], scaleUpEvents: [], scaleDownEvents: [] }),
    decide(state, input) {
      const r = hpaRecommendation(policy, state, input);
      let desired: number;
      let reason: string;
      let next = r.state;
      if (r.fixed) {
        desired = r.fixed.desired;
        reason = r.fixed.reason;
      } else {
        const limited = applyRateLimits(policy, next, input.nowMs, input.current, r.stabilized!);
        desired = limited.value;
        reason = describe(r.contributions, r.raw!, r.stabilized!, desired, limited.limit);
      }
      next = recordScaleEvent(policy, next, input.nowMs, input.current, desired);
      const decision: ScalingDecision = {
        engine: "hpa",
        desired,
        current: input.current,
        reason,
        contributions: r.contributions,
      };
      return { decision, state: next };
    },
  };
}
