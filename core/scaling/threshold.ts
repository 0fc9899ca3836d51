/**
 * A classic threshold scaler (the intent of AWS step scaling / simple CloudWatch alarms): CPU,
 * memory and error-rate thresholds (policy targets: 70 %, 80 %, 5 % by default). Above any threshold
 * it adds a step proportional to the worst pressure (the capacity missing: value/threshold − 1 for
 * cpu and memory, e/(1 − e) for a shed share e of requests; at least one instance,
 * at most `maxStepRatio` × current), then waits `scaleUpCooldownSeconds`; instances still warming
 * up count as capacity about to arrive (AWS step scaling's instance warm-up), so a long warm-up
 * does not stack steps. It scales in only when
 * every metric is reported and well below its threshold (below `scaleInBelowRatio` of it), by as much
 * as keeps the worst metric under that watermark, after `scaleDownCooldownSeconds` since any change.
 */
import { clamp, fmt, readyAverage } from "./metrics";
import type { MetricName, ScalingPolicy } from "./policy";
import type { Engine, MetricContribution } from "./types";

export interface ThresholdState {
  /** When the last scale-out happened (ms), if any. */
  lastScaleUpMs?: number;
  /** When the last change of either direction happened (ms), if any. */
  lastChangeMs?: number;
}

const THRESHOLD_METRICS: readonly MetricName[] = ["cpu", "memory", "errorRate"];

export function createThresholdEngine(policy: ScalingPolicy): Engine<ThresholdState> {
  const t = policy.threshold;
  const thresholdOf = (m: MetricName): number =>
    m === "cpu" ? policy.targets.cpuPercent : m === "memory" ? policy.targets.memoryPercent : policy.targets.errorRate;
  return {
    name: "threshold",
    init: () => ({}),
    decide(state, input) {
      const { current, nowMs } = input;
      const contributions: MetricContribution[] = [];
      const ratios: number[] = [];
      const pressures: number[] = [];
      let missing = 0;
      for (const m of THRESHOLD_METRICS) {
        const avg = readyAverage(input.instances, m);
        const threshold = thresholdOf(m);
        if (avg === undefined) {
          missing++;
          contributions.push({ metric: m, target: threshold, note: "not reported" });
          continue;
        }
        ratios.push(avg.mean / threshold);
        // Capacity missing: cpu/memory at r × threshold need r× the instances; a shed share e needs 1/(1 − e)×.
        pressures.push(
          m === "errorRate" ? (avg.mean >= 1 ? t.maxStepRatio : avg.mean / (1 - avg.mean)) : avg.mean / threshold - 1,
        );
        contributions.push({
          metric: m,
          current: avg.mean,
          target: threshold,
          note: `${fmt((100 * avg.mean) / threshold)} % of threshold`,
        });
      }
      const worst = ratios.length > 0 ? Math.max(...ratios) : undefined;
      const ready = input.instances.filter((i) => i.ready && i.phase !== "pending").length;
      const warming = Math.max(0, current - ready);
      const inRange = clamp(current, policy.minSize, policy.maxSize);
      let desired = inRange;
      let reason: string;
      const sinceUp = state.lastScaleUpMs === undefined ? Infinity : (nowMs - state.lastScaleUpMs) / 1000;
      const sinceChange = state.lastChangeMs === undefined ? Infinity : (nowMs - state.lastChangeMs) / 1000;
      if (inRange !== current) reason = `${current} is outside [${policy.minSize}, ${policy.maxSize}]`;
      else if (worst !== undefined && worst > 1 && warming > 0 && ((1 + Math.max(...pressures)) * ready) / current <= 1)
        reason = `over threshold (${fmt(100 * worst)} %) but ${warming} warming instance(s) cover it`;
      else if (worst !== undefined && worst > 1) {
        // Pressure once the warming instances serve too (AWS step scaling's instance warm-up).
        const pressure = Math.min(((1 + Math.max(...pressures)) * ready) / current - 1, t.maxStepRatio);
        const step = Math.max(1, Math.ceil(current * pressure));
        if (sinceUp < t.scaleUpCooldownSeconds)
          reason = `over threshold (${fmt(100 * worst)} %) but in scale-up cooldown (${fmt(sinceUp, 0)}/${t.scaleUpCooldownSeconds} s)`;
        else {
          desired = Math.min(policy.maxSize, current + step);
          reason = `worst metric at ${fmt(100 * worst)} % of its threshold: +${step}${desired < current + step ? ` (capped by maxSize ${policy.maxSize})` : ""}`;
        }
      } else if (worst !== undefined && missing === 0 && worst < t.scaleInBelowRatio) {
        const step = Math.max(1, Math.floor(current * (1 - worst / t.scaleInBelowRatio)));
        if (sinceChange < t.scaleDownCooldownSeconds)
          reason = `every metric well below threshold but in scale-down cooldown (${fmt(sinceChange, 0)}/${t.scaleDownCooldownSeconds} s)`;
        else {
          desired = Math.max(policy.minSize, current - step);
          reason =
            desired < current
              ? `every metric below ${fmt(100 * t.scaleInBelowRatio)} % of its threshold (worst ${fmt(100 * worst)} %): −${current - desired}`
              : `at minSize ${policy.minSize}`;
        }
      } else if (missing > 0) reason = `${missing} metric(s) not reported: no scale-in`;
      else reason = `within thresholds (worst ${fmt(100 * (worst ?? 0))} %)`;
      for (const c of contributions) if (c.current !== undefined) c.desired = desired;
      return { decision: { engine: "threshold", desired, current, reason, contributions }, state };
    },
    // Cooldowns run from changes that happened, not from decisions.
    applied(state, change) {
      if (change.to === change.from) return state;
      return {
        ...state,
        lastChangeMs: change.atMs,
        ...(change.to > change.from ? { lastScaleUpMs: change.atMs } : {}),
      };
    },
  };
}
