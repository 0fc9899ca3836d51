/**
 * The predictive engine: the hpa engine's reactive decision, raised (never lowered) to what a
 * seasonal forecast of the load says will be needed once a new instance has warmed up.
 *
 * Each tick adds the observed load of `predictive.metric` (average × ready instances, e.g. "CPU
 * percent-instances") to a multiple-seasonal Holt-Winters model (core/scaling/forecast.ts; seasons
 * from the policy, daily and weekly by default). The forecast for the buckets covering
 * [now + warmup, now + warmup + period] — when instances launched now start serving — plus
 * `safety` × the model's mean absolute error, divided by the metric's per-instance target, is the
 * forecast count. The decision is max(hpa's stabilized recommendation, forecast count), through the
 * hpa's `behavior` rate limits and [minSize, maxSize]; scale-in stays the hpa's (stabilized). In
 * forecast-only mode the decision is exactly the hpa's and the reason reports the forecast.
 */
import { activeSeasons, forecastAt, initForecast, observe, type ForecastState } from "./forecast";
import { applyRateLimits, describe, hpaRecommendation, recordScaleEvent, type HpaState } from "./hpa";
import { clamp, fmt, metricTarget, readyAverage } from "./metrics";
import type { ScalingPolicy } from "./policy";
import type { Engine, ScalingDecision } from "./types";

export interface PredictiveState {
  hpa: HpaState;
  forecast: ForecastState;
}

export function createPredictiveEngine(policy: ScalingPolicy): Engine<PredictiveState> {
  const p = policy.predictive;
  const target = metricTarget(policy, p.metric);
  return {
    name: "predictive",
    init: () => ({
      hpa: { recommendations: [], scaleUpEvents: [], scaleDownEvents: [] },
      forecast: initForecast(
        p.sampleSeconds,
        p.seasons.map((s) => s.seconds / p.sampleSeconds),
        p.alpha,
        p.gamma,
      ),
    }),
    decide(state, input) {
      const { nowMs, current } = input;
      const avg = readyAverage(input.instances, p.metric);
      const ready = input.instances.filter((i) => i.ready && i.phase !== "pending").length;
      const forecast = avg === undefined ? state.forecast : observe(state.forecast, nowMs, avg.mean * ready);
      const from = nowMs + p.warmupSeconds * 1000;
      const to = from + policy.periodSeconds * 1000;
      let predicted: number | undefined;
      for (let t = from; t <= to; t += forecast.sampleMs)
        predicted = Math.max(predicted ?? -Infinity, forecastAt(forecast, t, p.safety) ?? -Infinity);
      const last = forecastAt(forecast, to, p.safety);
      if (last !== undefined) predicted = Math.max(predicted ?? -Infinity, last);
      const forecastDesired =
        predicted === undefined || !Number.isFinite(predicted)
          ? undefined
          : clamp(Math.ceil(Math.max(0, predicted) / target - 1e-9), policy.minSize, policy.maxSize);
      const seasons = activeSeasons(forecast);
      const forecastNote =
        forecastDesired === undefined
          ? "no forecast yet"
          : `forecast ${p.metric} load ${fmt(predicted!)} in ${p.warmupSeconds} s (${seasons.length > 0 ? `seasons ${seasons.map((l) => `${fmt((l * p.sampleSeconds) / 3600)} h`).join(" + ")}` : "level only"}) → ${forecastDesired}`;

      const r = hpaRecommendation(policy, state.hpa, input);
      let hpaState = r.state;
      let desired: number;
      let reason: string;
      if (r.fixed) {
        desired = r.fixed.desired;
        reason = `${r.fixed.reason}; ${forecastNote}`;
      } else {
        const reactive = r.stabilized!;
        const wanted = p.forecastOnly || forecastDesired === undefined ? reactive : Math.max(reactive, forecastDesired);
        const limited = applyRateLimits(policy, hpaState, nowMs, current, wanted);
        desired = limited.value;
        reason = `${describe(r.contributions, r.raw!, reactive, desired, limited.limit)}; ${forecastNote}${p.forecastOnly ? " (forecast only)" : wanted > reactive ? ", forecast raises it" : ""}`;
      }
      hpaState = recordScaleEvent(policy, hpaState, nowMs, current, desired);
      const contributions = [
        ...r.contributions,
        { metric: "forecast", current: predicted, target, desired: forecastDesired, note: forecastNote },
      ];
      const decision: ScalingDecision = {
        engine: "predictive",
        desired,
        current,
        reason,
        contributions,
        forecastDesired,
      };
      return { decision, state: { hpa: hpaState, forecast } };
    },
  };
}
