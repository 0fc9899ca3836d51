/**
 * The predictive engine: the hpa algorithm applied to the load expected when an instance launched
 * now would start serving, rather than to the load of a minute ago.
 *
 * Each tick it measures the group's load of `predictive.metric` (average × ready instances, e.g.
 * "CPU percent-instances"). CPU is capped at 100 %, so a saturated group under-measures its demand
 * exactly when it is short: while the group runs hot, the load is estimated from the request rate
 * instead, at the CPU each request cost while the group was not saturated (learnt online). The load
 * feeds a multiple-seasonal Holt-Winters model (core/scaling/forecast.ts; daily and weekly seasons
 * by default; gaps stay gaps).
 *
 * The expected load over the horizon (the warm-up plus one period: when an instance launched now
 * serves) is the load now plus the change the model predicts from now to then: the model supplies
 * the shape, the measurement the level, so a model whose level lags does not over-provision. The
 * hpa's rule then runs on it: beyond the tolerance, `ceil(expected / target)`. The model's change is
 * used only while the model beats persistence (`forecastSkill` ≥ `minSkill`): on a series without
 * a pattern the engine is the hpa on the saturation-corrected load.
 *
 * A ramp the seasons do not know (a flash crowd, a recovery after an outage) is met by its own
 * trend: the load's rise over the last `trendSeconds`, extrapolated over the horizon, when it
 * exceeds the model's change (a rise only: a falling load is left to the scale-in rules).
 *
 * Scale-out: the count is max(hpa's stabilized recommendation, the forecast count). Scale-in: the
 * hpa waits out its stabilization window (300 s) because it cannot tell a dip from a decline; a
 * skilled forecast can, so when the forecast count for the whole horizon is below the current count
 * (outside the tolerance) the group scales in to it at once, through the same rate limits. Without
 * skill scale-in is the hpa's. In forecast-only mode the decision is exactly the hpa's and the
 * reason reports the forecast.
 */
import { activeSeasons, forecastAt, forecastSkill, initForecast, observe, type ForecastState } from "./forecast";
import {
  applyRateLimits,
  hpaStep,
  initHpaState,
  metricProposals,
  recordScaleEvent,
  settleHpa,
  type HpaState,
} from "./hpa";
import { clamp, fmt, metricTarget, metricValue } from "./metrics";
import type { ScalingPolicy } from "./policy";
import type { Engine, InstanceSample, MetricContribution, ScalingDecision, ScalingInput } from "./types";

export interface PredictiveState {
  hpa: HpaState;
  forecast: ForecastState;
  /** Learnt cost of one request in the metric's units (e.g. CPU percent per request/s), while not saturated. */
  perRequest?: number;
  /** The loads measured over the last `trendSeconds` ([ms, load], oldest first). */
  recent?: [number, number][];
}

/** Average CPU at or above this share of 100 % counts as saturated (the measurement is capped). */
export const SATURATED_CPU_PERCENT = 90;
/** Smoothing of the learnt per-request cost. */
const PER_REQUEST_SMOOTHING = 0.05;

/** The group's load this tick: measured, or estimated from the request rate when saturated. */
export function measureLoad(
  instances: readonly InstanceSample[],
  metric: ScalingPolicy["predictive"]["metric"],
  perRequest: number | undefined,
): { load?: number; perRequest?: number; estimated: boolean } {
  let sum = 0;
  let n = 0;
  let rps = 0;
  let withRps = 0;
  let cpu = 0;
  let withCpu = 0;
  for (const i of instances) {
    if (!i.ready || i.phase === "pending" || i.phase === "terminating" || i.phase === "failed") continue;
    const v = metricValue(i, metric);
    if (v !== undefined) {
      sum += v;
      n++;
    }
    if (i.requestsPerSecond !== undefined && Number.isFinite(i.requestsPerSecond)) {
      rps += i.requestsPerSecond;
      withRps++;
    }
    if (i.cpuPercent !== undefined && Number.isFinite(i.cpuPercent)) {
      cpu += i.cpuPercent;
      withCpu++;
    }
  }
  if (n === 0) return { perRequest, estimated: false };
  const load = sum; // the mean × the instances reporting it
  if (metric !== "cpu" || withCpu === 0 || withRps !== withCpu) return { load, perRequest, estimated: false };
  const meanCpu = cpu / withCpu;
  if (meanCpu < SATURATED_CPU_PERCENT) {
    // Learn what a request costs while the measurement is not capped.
    const cost = rps > 0 ? load / rps : undefined;
    const learnt =
      cost === undefined
        ? perRequest
        : perRequest === undefined
          ? cost
          : perRequest + PER_REQUEST_SMOOTHING * (cost - perRequest);
    return { load, perRequest: learnt, estimated: false };
  }
  if (perRequest === undefined) return { load, perRequest, estimated: false };
  const estimate = rps * perRequest;
  return estimate > load ? { load: estimate, perRequest, estimated: true } : { load, perRequest, estimated: false };
}

/**
 * The state with a stored load history folded into its forecast, before the first decision (a
 * restarted scaler resumes its seasons instead of relearning them for a day and a week):
 * `[bucket start ms, load]` points, oldest first; a bucket without a point stays a gap.
 */
export function withHistory(state: PredictiveState, points: readonly [number, number][]): PredictiveState {
  let forecast = state.forecast;
  let last = -Infinity;
  for (const [t, v] of points) {
    if (!Number.isFinite(v) || v < 0 || t <= last) continue;
    forecast = observe(forecast, t, v);
    last = t;
  }
  return { ...state, forecast };
}

interface ForecastView {
  /** The count the expected load asks for (the hpa's rule on it); undefined without a load. */
  desired?: number;
  /** Whether the forecast (used: skilled) or the trend shaped `desired`, i.e. it is a forecast, not the load now. */
  forecasting?: boolean;
  /** Scale-in led by a skilled forecast (the count for the whole horizon), when it is below current. */
  leadIn?: number;
  expected?: number;
  note: string;
  contribution: MetricContribution;
}

export function createPredictiveEngine(policy: ScalingPolicy): Engine<PredictiveState> {
  const p = policy.predictive;
  const target = metricTarget(policy, p.metric);
  const tolerance = policy.hpa.tolerance;
  const horizonMs = (p.warmupSeconds + policy.periodSeconds) * 1000;

  /** The forecast's view at `nowMs` given the load measured now. */
  function view(
    forecast: ForecastState,
    nowMs: number,
    load: number | undefined,
    current: number,
    recent: readonly [number, number][],
  ): ForecastView {
    const skill = forecastSkill(forecast);
    // Before two contiguous buckets the model has shown nothing: skill 0 (no better than persistence).
    const skilled = (skill ?? 0) >= p.minSkill;
    const now = forecastAt(forecast, nowMs);
    let change: number | undefined;
    if (now !== undefined && skilled) {
      change = -Infinity;
      for (let t = nowMs; t <= nowMs + horizonMs; t += forecast.sampleMs)
        change = Math.max(change, forecastAt(forecast, t)! - now);
      change = Math.max(change, forecastAt(forecast, nowMs + horizonMs)! - now);
    }
    const contribution: MetricContribution = { metric: "forecast", target };
    if (load === undefined) return { note: "no load measured", contribution };
    const band = change === undefined ? 0 : p.safety * (forecast.mae ?? 0);
    const trend = trendChange(recent, nowMs, load);
    const rising = trend > Math.max(0, change ?? 0);
    const expected = Math.max(0, load + (rising ? trend : (change ?? 0)) + band);
    const ratio = current > 0 ? expected / (current * target) : Infinity;
    const count = clamp(Math.ceil(expected / target - 1e-9), policy.minSize, policy.maxSize);
    const desired = Math.abs(1 - ratio) <= tolerance ? current : count;
    const leadIn = skilled && ratio < 1 - tolerance && count < current ? count : undefined;
    const seasons = activeSeasons(forecast);
    const trendNote = rising
      ? `, rising +${fmt(trend)} in ${p.warmupSeconds + policy.periodSeconds} s on its trend`
      : "";
    const note =
      (change === undefined
        ? `load ${fmt(load)} (${now === undefined ? "no forecast yet" : `forecast skill ${fmt(skill ?? 0, 2)} < ${p.minSkill}: not used`}) → ${desired}`
        : `load ${fmt(load)}, forecast change ${change >= 0 ? "+" : ""}${fmt(change)} in ${p.warmupSeconds + policy.periodSeconds} s (${seasons.length > 0 ? `seasons ${seasons.map((l) => `${fmt((l * forecast.sampleMs) / 3_600_000)} h`).join(" + ")}` : "level only"}, skill ${skill === undefined ? "not yet known" : fmt(skill, 2)}) → ${desired}`) +
      trendNote;
    return {
      desired,
      forecasting: change !== undefined || rising,
      leadIn,
      expected,
      note,
      contribution: { metric: "forecast", current: expected, target, desired, note },
    };
  }

  /** What the engine asks of the rate limits given the hpa's stabilized count and the forecast. */
  function wanted(stabilized: number, raw: number, v: ForecastView): { wanted: number; note: string } {
    if (p.forecastOnly || v.desired === undefined)
      return { wanted: stabilized, note: `${v.note}${p.forecastOnly ? " (forecast only)" : ""}` };
    if (v.desired > stabilized) return { wanted: v.desired, note: `${v.note}, forecast raises it` };
    if (v.leadIn !== undefined && v.leadIn < stabilized) {
      // The forecast leads the scale-in, never below what the metrics ask now.
      const to = Math.max(v.leadIn, Math.min(raw, stabilized));
      if (to < stabilized) return { wanted: to, note: `${v.note}, forecast leads the scale-in` };
    }
    return { wanted: stabilized, note: v.note };
  }

  /** The rise of the measured load over the last `trendSeconds`, extrapolated over the horizon (≥ 0; 0 before half of that span is known). */
  function trendChange(recent: readonly [number, number][], nowMs: number, load: number): number {
    if (p.trendSeconds <= 0 || recent.length === 0) return 0;
    const [t0, l0] = recent[0];
    if (nowMs - t0 < (p.trendSeconds * 1000) / 2) return 0;
    return Math.max(0, ((load - l0) / (nowMs - t0)) * horizonMs);
  }

  function measure(state: PredictiveState, input: ScalingInput) {
    const m = measureLoad(input.instances, p.metric, state.perRequest);
    const forecast = m.load === undefined ? state.forecast : observe(state.forecast, input.nowMs, m.load);
    // The trend's window, before this measurement is added (a gap in measurements empties it).
    const from = input.nowMs - p.trendSeconds * 1000;
    const recent = (state.recent ?? []).filter(([t]) => t >= from && t < input.nowMs);
    const next: [number, number][] =
      m.load === undefined || p.trendSeconds <= 0 ? recent : [...recent, [input.nowMs, m.load]];
    return { m, forecast, recent, next };
  }

  return {
    name: "predictive",
    init: () => ({
      hpa: initHpaState(),
      forecast: initForecast(
        p.sampleSeconds,
        p.seasons.map((s) => s.seconds / p.sampleSeconds),
        p.alpha,
        p.gamma,
      ),
    }),
    decide(state, input) {
      const { nowMs, current } = input;
      const { m, forecast, recent, next } = measure(state, input);
      const v = view(forecast, nowMs, m.load, current, recent);
      const estimatedNote = m.estimated ? " (estimated from the request rate: the group is saturated)" : "";
      let adjusted = false;
      const step = hpaStep(policy, state.hpa, input, (stabilized, r) => {
        adjusted = true;
        const w = wanted(stabilized, r.raw, v);
        return {
          wanted: w.wanted,
          note: `${w.note}${estimatedNote}`,
          contributions: [...r.contributions, v.contribution],
        };
      });
      const decision: ScalingDecision = {
        engine: "predictive",
        desired: step.desired,
        current,
        reason: adjusted ? step.reason : `${step.reason}; ${v.note}`,
        contributions: adjusted ? step.contributions : [...step.contributions, v.contribution],
        forecastDesired: v.forecasting ? v.desired : undefined,
      };
      return { decision, state: { hpa: step.state, forecast, perRequest: m.perRequest, recent: next } };
    },
    applied: (state, change) => ({ ...state, hpa: recordScaleEvent(policy, state.hpa, change) }),
    settle(state, input, untilMs, periodMs) {
      // Only while the metrics ask for the current count (then the hpa's part keeps it at every tick)
      // does the forecast decide alone; it is followed tick by tick until it would act.
      const { current } = input;
      const raw = metricProposals(policy, input).desired;
      if (raw !== current) return undefined;
      let s = state;
      let through = input.nowMs - periodMs;
      for (let t = input.nowMs; t <= untilMs; t += periodMs) {
        const { m, forecast, recent, next } = measure(s, { ...input, nowMs: t });
        const w = wanted(current, raw, view(forecast, t, m.load, current, recent));
        if (w.wanted !== current && applyRateLimits(policy, state.hpa, t, current, w.wanted).value !== current) break;
        s = { ...s, forecast, perRequest: m.perRequest, recent: next };
        through = t;
      }
      if (through < input.nowMs) return undefined;
      const hpa = settleHpa(policy, state.hpa, input, through, periodMs);
      return hpa && { state: { ...s, hpa: hpa.state }, throughMs: hpa.throughMs };
    },
  };
}
