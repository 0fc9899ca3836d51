/**
 * Reading one metric off the instance samples, and the small helpers every engine shares (bounds,
 * stabilization windows). Kept here so the engines differ only in their decision rules.
 */
import type { MetricName, ScalingPolicy } from "./policy";
import type { InstanceSample } from "./types";

/** A composite metric's definition (policy.multiMetric.composites). */
export interface CompositeDef {
  name: string;
  terms: readonly { metric: MetricName; weight: number }[];
  target: number;
}

/**
 * The value of `metric` on one instance, or `undefined` when it was not scraped. A composite is
 * its weighted sum, undefined when any of its terms is.
 */
export function metricValue(
  sample: InstanceSample,
  metric: MetricName,
  composites: readonly CompositeDef[] = [],
): number | undefined {
  if (metric.startsWith("composite:")) {
    const def = composites.find((c) => c.name === metric.slice("composite:".length));
    if (!def) return undefined;
    let sum = 0;
    for (const t of def.terms) {
      const v = metricValue(sample, t.metric);
      if (v === undefined) return undefined;
      sum += t.weight * v;
    }
    return sum;
  }
  let v: number | undefined;
  switch (metric) {
    case "cpu":
      v = sample.cpuPercent;
      break;
    case "memory":
      v = sample.memoryPercent;
      break;
    case "requestsPerSecond":
      v = sample.requestsPerSecond;
      break;
    case "p95LatencyMs":
      v = sample.p95LatencyMs;
      break;
    case "errorRate":
      v = sample.errorRate;
      break;
    case "inFlight":
      v = sample.inFlight;
      break;
    default:
      v = sample.gauges?.[metric.slice("gauge:".length)];
  }
  return v === undefined || !Number.isFinite(v) ? undefined : v;
}

/** The policy's per-instance target for `metric` (the schema guarantees one for every listed metric). */
export function metricTarget(policy: ScalingPolicy, metric: MetricName): number {
  const t = policy.targets;
  switch (metric) {
    case "cpu":
      return t.cpuPercent;
    case "memory":
      return t.memoryPercent;
    case "errorRate":
      return t.errorRate;
    case "requestsPerSecond":
      if (t.requestsPerSecond === undefined)
        throw new Error("scaling.targets.requestsPerSecond is required for metric requestsPerSecond");
      return t.requestsPerSecond;
    case "p95LatencyMs":
      if (t.p95LatencyMs === undefined)
        throw new Error("scaling.targets.p95LatencyMs is required for metric p95LatencyMs");
      return t.p95LatencyMs;
    case "inFlight":
      if (t.inFlight === undefined) throw new Error("scaling.targets.inFlight is required for metric inFlight");
      return t.inFlight;
    default: {
      if (metric.startsWith("composite:")) {
        const c = policy.multiMetric.composites.find((x) => x.name === metric.slice("composite:".length));
        if (!c) throw new Error(`scaling.multiMetric.composites has no ${metric.slice(10)} (metric ${metric})`);
        return c.target;
      }
      const g = t.gauges[metric.slice("gauge:".length)];
      if (g === undefined)
        throw new Error(`scaling.targets.gauges.${metric.slice(6)} is required for metric ${metric}`);
      return g;
    }
  }
}

/** The mean of `metric` over the ready instances that report it, and how many report it. */
export function readyAverage(
  instances: readonly InstanceSample[],
  metric: MetricName,
): { mean: number; reporting: number } | undefined {
  let sum = 0;
  let n = 0;
  for (const i of instances) {
    if (!i.ready || i.phase === "pending") continue;
    const v = metricValue(i, metric);
    if (v === undefined) continue;
    sum += v;
    n++;
  }
  return n === 0 ? undefined : { mean: sum / n, reporting: n };
}

export const clamp = (n: number, min: number, max: number): number => Math.min(max, Math.max(min, n));

/** A recommendation with the time it was made (for stabilization windows). */
export interface TimedValue {
  t: number;
  v: number;
}

/**
 * Stabilization as Kubernetes does it: the result is `current` moved towards `desired` only as far
 * as every recommendation in the scale-up window (the minimum) or scale-down window (the maximum)
 * allows. `history` must not include `desired` itself; returns the new history with it appended and
 * entries older than both windows dropped.
 */
export function stabilize(
  history: readonly TimedValue[],
  nowMs: number,
  current: number,
  desired: number,
  upWindowSeconds: number,
  downWindowSeconds: number,
): { value: number; history: TimedValue[] } {
  const upCutoff = nowMs - upWindowSeconds * 1000;
  const downCutoff = nowMs - downWindowSeconds * 1000;
  let up = desired;
  let down = desired;
  for (const r of history) {
    if (r.t > upCutoff) up = Math.min(up, r.v);
    if (r.t > downCutoff) down = Math.max(down, r.v);
  }
  let value = current;
  if (value < up) value = up;
  if (value > down) value = down;
  const oldest = Math.min(upCutoff, downCutoff);
  return { value, history: [...history.filter((r) => r.t > oldest), { t: nowMs, v: desired }] };
}

/** `12.345` → `"12.3"` for reasons. */
export const fmt = (x: number, digits = 1): string => (Number.isInteger(x) ? String(x) : x.toFixed(digits));
