/**
 * The multi-metric engine: every metric in `policy.metrics` (cpu, memory, request rate per instance,
 * p95 latency, any Prometheus gauge) asks for a count on its own, and the group runs the maximum.
 * Additive metrics (cpu, memory, requests/s, gauges) ask for ceil(total over the ready instances /
 * per-instance target) — the load, not the ratio, so instances that report nothing yet do not
 * dilute it; latency is not additive and asks for ceil(ready × p95 / target). A metric nobody
 * reports asks for nothing and forbids a scale-down. The result passes the policy's stabilization
 * windows (`multiMetric.*StabilizationSeconds`) and [minSize, maxSize].
 */
import { clamp, fmt, metricTarget, readyAverage, stabilize, type TimedValue } from "./metrics";
import type { ScalingPolicy } from "./policy";
import type { Engine, MetricContribution } from "./types";

export interface MultiMetricState {
  recommendations: TimedValue[];
}

export function createMultiMetricEngine(policy: ScalingPolicy): Engine<MultiMetricState> {
  return {
    name: "multi-metric",
    init: () => ({ recommendations: [] }),
    decide(state, input) {
      const { current, nowMs } = input;
      const ready = input.instances.filter((i) => i.ready && i.phase !== "pending").length;
      const contributions: MetricContribution[] = [];
      let missing = 0;
      let asked = 0;
      for (const m of policy.metrics) {
        const target = metricTarget(policy, m);
        const avg = readyAverage(input.instances, m);
        if (avg === undefined) {
          missing++;
          contributions.push({ metric: m, target, note: "not reported" });
          continue;
        }
        // Instances that are ready but did not report are assumed to carry the same average.
        const desired = Math.ceil((avg.mean * ready) / target - 1e-9);
        asked = Math.max(asked, desired);
        contributions.push({
          metric: m,
          current: avg.mean,
          target,
          desired,
          note: m === "p95LatencyMs" ? "latency: ready × p95/target" : "total load / target per instance",
        });
      }
      if (missing === policy.metrics.length) {
        const desired = clamp(current, policy.minSize, policy.maxSize);
        return {
          decision: {
            engine: "multi-metric",
            desired,
            current,
            reason: "no metric reported: keeps the count",
            contributions,
          },
          state,
        };
      }
      let raw = asked;
      let reason = `max of per-metric counts: ${contributions.map((c) => `${c.metric} ${c.desired ?? "—"}`).join(", ")}`;
      if (missing > 0 && raw < current) {
        raw = current;
        reason += `; ${missing} metric(s) missing, so no scale-down`;
      }
      const s = stabilize(
        state.recommendations,
        nowMs,
        current,
        raw,
        policy.multiMetric.scaleUpStabilizationSeconds,
        policy.multiMetric.scaleDownStabilizationSeconds,
      );
      const desired = clamp(s.value, policy.minSize, policy.maxSize);
      if (s.value !== raw) reason += `; stabilized ${s.value}`;
      if (desired !== s.value) reason += `; bounded to ${desired}`;
      return {
        decision: {
          engine: "multi-metric",
          desired,
          current,
          reason: `${reason} (${fmt(ready, 0)} ready)`,
          contributions,
        },
        state: { recommendations: s.history },
      };
    },
    applied: (state) => state,
  };
}
