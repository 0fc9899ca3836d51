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
import { hpaStep, initHpaState, recordScaleEvent, type HpaState } from "./hpa";
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

      const forecastContribution = {
        metric: "forecast",
        current: predicted,
        target,
        desired: forecastDesired,
        note: forecastNote,
      };
      // The skeleton calls this only when the metrics let it act (else the forecast is only reported).
      let adjusted = false;
      const step = hpaStep(policy, state.hpa, input, (reactive, r) => {
        adjusted = true;
        return {
          wanted: p.forecastOnly || forecastDesired === undefined ? reactive : Math.max(reactive, forecastDesired),
          note: `${forecastNote}${p.forecastOnly ? " (forecast only)" : forecastDesired !== undefined && forecastDesired > reactive ? ", forecast raises it" : ""}`,
          contributions: [...r.contributions, forecastContribution],
        };
      });
      const decision: ScalingDecision = {
        engine: "predictive",
        desired: step.desired,
        current,
        reason: adjusted ? step.reason : `${step.reason}; ${forecastNote}`,
        contributions: adjusted ? step.contributions : [...step.contributions, forecastContribution],
        forecastDesired,
      };
      return { decision, state: { hpa: step.state, forecast } };
    },
    applied: (state, change) => ({ ...state, hpa: recordScaleEvent(policy, state.hpa, change) }),
  };
}
