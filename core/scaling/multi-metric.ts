/**
 * The multi-metric engine: the hpa engine's algorithm (tolerance, missing/unready rules,
 * stabilization windows, `behavior` rate limits) over several kinds of metric at once —
 * resources (cpu, memory), load-balancer metrics (requests/s, in-flight, p95 latency, error rate:
 * on Docker HAProxy measures them for any image), Prometheus gauges, and composite targets (a
 * weighted sum of per-instance metrics with its own target, `multiMetric.composites`) — the
 * largest count any of them asks for wins.
 *
 * One rule of its own: latency and error rate are not proportional to load (a p95 at half its
 * target does not mean half the instances suffice), so they may raise the count but have no say in a
 * scale-in, which is left to the additive metrics. Everything else is the hpa's {@link hpaStep}.
 */
import { contributionsOf, hpaStep, initHpaState, metricProposals, recordScaleEvent, type HpaState } from "./hpa";
import type { MetricName, ScalingPolicy } from "./policy";
import type { Engine } from "./types";

/** Metrics that may only raise the count. */
export const GUARD_METRICS: readonly MetricName[] = ["p95LatencyMs", "errorRate"];

export type MultiMetricState = HpaState;

export function createMultiMetricEngine(policy: ScalingPolicy): Engine<MultiMetricState> {
  return {
    name: "multi-metric",
    init: initHpaState,
    decide(state, input) {
      const m = metricProposals(policy, input, (p) =>
        p.ok && GUARD_METRICS.includes(p.metric) && p.replicas < input.current
          ? { ...p, replicas: policy.minSize, note: "below its target: no say in a scale-in" }
          : p,
      );
      const step = hpaStep(policy, state, input, undefined, {
        desired: m.desired,
        blocked: m.blocked,
        contributions: contributionsOf(m.proposals),
      });
      return {
        decision: {
          engine: "multi-metric",
          desired: step.desired,
          current: input.current,
          reason: step.reason,
          contributions: step.contributions,
        },
        state: step.state,
      };
    },
    applied: (state, change) => recordScaleEvent(policy, state, change),
  };
}
