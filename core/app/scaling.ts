/**
 * The scaling policy (core/scaling/policy.ts) of an app group, from its typed `app.scaling`
 * settings (core/scaling/app-policy.ts does the mapping), and what the aws target makes of it.
 */
import type { AppConfig } from "../config";
import { parseScalingPolicy, type ScalingPolicy, type ScalingPolicyInput } from "../scaling/policy";
import { appPolicyInput } from "../scaling/app-policy";

/** The group's policy as input (what the ScalingGroup resource stores for the controller). */
export function appScalingPolicyInput(app: AppConfig, periodSeconds: number): ScalingPolicyInput {
  return appPolicyInput(app, periodSeconds);
}

/** The group's policy, validated (the app schema already checked it; errors name `app.scaling`). */
export function appScalingPolicy(app: AppConfig, periodSeconds: number): ScalingPolicy {
  return parseScalingPolicy(appScalingPolicyInput(app, periodSeconds), "app.scaling");
}

/** AWS predictive scaling (the ASG's native forecaster) for `app.scaling.engine: predictive`. */
export interface AwsPredictiveScalingSpec {
  /** `ForecastOnly` with `engineSettings.predictive.forecastOnly`: forecasts are published, capacity is not scheduled. */
  mode: "ForecastOnly" | "ForecastAndScale";
  /** Launch this many seconds ahead of the forecast (the instance warm-up). */
  schedulingBufferTime: string;
  /** Forecasts never push the group beyond maxSize. */
  maxCapacityBreachBehavior: "HonorMaxCapacity";
  metricSpecification: {
    targetValue: number;
    predefinedMetricPairSpecification: { predefinedMetricType: "ASGCPUUtilization" };
  };
}

/**
 * The ASG's predictive scaling policy when the app's engine is `predictive`; undefined otherwise.
 * It sits beside the target-tracking policies, which keep reacting: AWS applies the larger of the
 * forecast capacity and the reactive one, the same "forecast only adds" rule as core/scaling.
 */
export function awsPredictiveScaling(app: AppConfig): AwsPredictiveScalingSpec | undefined {
  if (app.scaling.engine !== "predictive") return undefined;
  const predictive = appScalingPolicy(app, 60).predictive;
  return {
    mode: predictive.forecastOnly ? "ForecastOnly" : "ForecastAndScale",
    // AWS caps the buffer at one hour.
    schedulingBufferTime: String(Math.min(predictive.warmupSeconds, 3600)),
    maxCapacityBreachBehavior: "HonorMaxCapacity",
    metricSpecification: {
      targetValue: app.scaling.cpuTargetPercent,
      predefinedMetricPairSpecification: { predefinedMetricType: "ASGCPUUtilization" },
    },
  };
}
