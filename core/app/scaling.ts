/**
 * The scaling policy (core/scaling/policy.ts) of an app group, from its config: the engine of
 * `app.scaling.engine`, the group's bounds, CPU and memory targets and the same HPA `behavior` the
 * Kubernetes target gets (so a group scales alike everywhere), with `app.scaling.engineSettings`
 * merged over them (one level deep: `targets: {requestsPerSecond}` keeps the CPU target).
 */
import type { AppConfig } from "../config";
import { parseScalingPolicy, type ScalingPolicy, type ScalingPolicyInput } from "../scaling/policy";
import { hpaBehavior } from "./kubernetes";

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** The group's policy as input (what the ScalingPolicy resource stores for the controller). */
export function appScalingPolicyInput(app: AppConfig, periodSeconds: number): ScalingPolicyInput {
  const base: Record<string, unknown> = {
    periodSeconds,
    metrics: ["cpu", "memory"],
    targets: { cpuPercent: app.scaling.cpuTargetPercent, memoryPercent: app.scaling.memoryTargetPercent },
    hpa: { behavior: hpaBehavior(app.scaling) },
  };
  const merged: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(app.scaling.engineSettings))
    merged[k] = isObject(v) && isObject(base[k]) ? { ...base[k], ...v } : v;
  return { ...merged, engine: app.scaling.engine, minSize: app.minSize, maxSize: app.maxSize } as ScalingPolicyInput;
}

/** The group's policy, validated; errors name `app.scaling.engineSettings.<field>`. */
export function appScalingPolicy(app: AppConfig, periodSeconds: number): ScalingPolicy {
  return parseScalingPolicy(appScalingPolicyInput(app, periodSeconds), "app.scaling.engineSettings");
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
