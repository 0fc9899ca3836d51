/**
 * From the typed `app.scaling` settings (core/scaling/settings.ts) to the engine policy
 * (core/scaling/policy.ts) a group runs, pure: the group's bounds, the CPU and memory targets, the
 * deployed HPA `behavior` (the stabilization windows and rate limits the Kubernetes target's HPA
 * gets too, so a group scales alike everywhere) and the engine's own section. Problems name the
 * `app.` key a user writes.
 */
import { ScalingPolicySchema, type ScalingPolicyInput } from "./policy";
import { COMMON_SCALING_KEYS, ENGINE_SETTING_KEYS, engineSettingsKeys, type AppScaling } from "./settings";
import defaultPrices from "./prices.json";

/** What the mapping needs of the app section (structural: core/config.ts imports this module). */
export interface AppScalingSource {
  minSize: number;
  maxSize: number;
  scaling: AppScaling;
}

/** The HPA `behavior` the group's settings give (the Kubernetes HPA gets exactly this). */
export function appHpaBehavior(scaling: AppScaling) {
  const rates =
    "hpa" in scaling
      ? scaling.hpa
      : {
          scaleUp: {
            selectPolicy: "Max" as const,
            policies: [
              { type: "Percent" as const, value: 100, periodSeconds: 15 },
              { type: "Pods" as const, value: 4, periodSeconds: 15 },
            ],
          },
          scaleDown: {
            selectPolicy: "Min" as const,
            policies: [
              { type: "Percent" as const, value: 50, periodSeconds: 60 },
              { type: "Pods" as const, value: 1, periodSeconds: 60 },
            ],
          },
        };
  return {
    scaleUp: {
      stabilizationWindowSeconds: scaling.scaleUpStabilizationSeconds,
      selectPolicy: rates.scaleUp.selectPolicy,
      policies: rates.scaleUp.policies.map((p) => ({ ...p })),
    },
    scaleDown: {
      stabilizationWindowSeconds: scaling.scaleDownStabilizationSeconds,
      selectPolicy: rates.scaleDown.selectPolicy,
      policies: rates.scaleDown.policies.map((p) => ({ ...p })),
    },
  };
}

/** The group's engine policy as input (what the controller stores and runs). */
export function appPolicyInput(app: AppScalingSource, periodSeconds: number): ScalingPolicyInput {
  const s = app.scaling;
  const targets = { cpuPercent: s.cpuTargetPercent, memoryPercent: s.memoryTargetPercent };
  const base: ScalingPolicyInput = {
    engine: s.engine,
    minSize: app.minSize,
    maxSize: app.maxSize,
    periodSeconds,
    targets,
    hpa: { behavior: appHpaBehavior(s) },
  };
  switch (s.engine) {
    case "threshold": {
      const { errorRate, ...threshold } = s.threshold;
      return { ...base, targets: { ...targets, errorRate }, threshold, metrics: ["cpu", "memory", "errorRate"] };
    }
    case "hpa":
    case "predictive":
    case "multi-metric":
    case "cost": {
      const { scaleUp: _u, scaleDown: _d, ...hpa } = s.hpa;
      const out: ScalingPolicyInput = {
        ...base,
        metrics: s.metrics,
        targets: { ...targets, ...s.targets },
        hpa: { ...hpa, behavior: appHpaBehavior(s) },
      };
      if (s.engine === "predictive" || s.engine === "cost") out.predictive = s.predictive;
      if (s.engine === "multi-metric") out.multiMetric = s.multiMetric;
      if (s.engine === "cost") out.cost = s.cost ?? defaultPrices;
      return out;
    }
  }
}

/** Where a policy path lives in `app`: bounds under app, the rest under app.scaling. */
function appPath(path: readonly PropertyKey[], scaling: AppScaling): PropertyKey[] {
  const p = typedPath(path, scaling.engine);
  // A key the user wrote under the deprecated engineSettings is named as written.
  if (p[0] === "scaling" && engineSettingsKeys(scaling).includes(String(p[1])))
    return ["scaling", "engineSettings", ...p.slice(1)];
  return p;
}

function typedPath(path: readonly PropertyKey[], engine: AppScaling["engine"]): PropertyKey[] {
  const [head, ...rest] = path;
  if (head === "minSize" || head === "maxSize") return [head];
  if (head === "hpa" && rest[0] === "behavior") {
    const [, dir, key, ...more] = rest;
    if (key === "stabilizationWindowSeconds")
      return ["scaling", dir === "scaleUp" ? "scaleUpStabilizationSeconds" : "scaleDownStabilizationSeconds"];
    return ["scaling", "hpa", dir as PropertyKey, ...(key === undefined ? [] : [key]), ...more];
  }
  if (head === "targets" && (rest[0] === "cpuPercent" || rest[0] === "memoryPercent"))
    return ["scaling", rest[0] === "cpuPercent" ? "cpuTargetPercent" : "memoryTargetPercent"];
  if (head === "targets" && rest[0] === "errorRate" && engine === "threshold")
    return ["scaling", "threshold", "errorRate"];
  return ["scaling", ...path];
}

/**
 * Problems of the policy the app's settings give, each with its `app` path (e.g.
 * `["scaling", "targets", "requestsPerSecond"]`), plus keys of the deprecated engineSettings that
 * belong to no section of the chosen engine.
 */
export function appPolicyProblems(app: AppScalingSource): { path: PropertyKey[]; message: string }[] {
  const problems: { path: PropertyKey[]; message: string }[] = [];
  const r = ScalingPolicySchema.safeParse(appPolicyInput(app, 15));
  if (!r.success)
    for (const i of r.error.issues)
      for (const path of i.code === "unrecognized_keys" ? i.keys.map((k) => [...i.path, k]) : [i.path]) {
        // The bounds are app.minSize/maxSize, checked by the app schema itself.
        if (path[0] === "minSize" || path[0] === "maxSize") continue;
        problems.push({ path: appPath(path, app.scaling), message: i.message });
      }
  // Keys a deprecated engineSettings brought in that the engine has no section for.
  const allowed = new Set(["engine", ...COMMON_SCALING_KEYS, ...ENGINE_SETTING_KEYS[app.scaling.engine]]);
  for (const k of new Set([...Object.keys(app.scaling), ...engineSettingsKeys(app.scaling)]))
    if (!allowed.has(k) || (k === "engine" && engineSettingsKeys(app.scaling).includes(k)))
      problems.push({
        path: ["scaling", "engineSettings", k],
        message:
          k === "minSize" || k === "maxSize" || k === "engine"
            ? `is set by app.${k === "engine" ? "scaling.engine" : k}; remove it here`
            : `is not a setting of engine ${app.scaling.engine}; allowed: ${ENGINE_SETTING_KEYS[app.scaling.engine].join(", ")}`,
      });
  return problems;
}
