/**
 * `app.scaling`: the scaling settings a user writes, one shape per engine (a union discriminated by
 * `engine`), so every field is typed and documented (docs/config.md lists each with the engines it
 * belongs to) and a setting of another engine is refused naming the key. core/app/scaling.ts turns
 * it into the engine policy (core/scaling/policy.ts) the controllers, the providers and the
 * simulator share.
 *
 * Names say what they are: the HPA's windows are stabilization windows
 * (`scaleUpStabilizationSeconds`, `scaleDownStabilizationSeconds`); only the threshold engine has
 * cooldowns (`threshold.scaleUpCooldownSeconds`). Earlier names stay accepted with a deprecation
 * message ({@link scalingDeprecations}): `scaleUpCooldownSeconds` and `scaleDownCooldownSeconds`
 * (the HPA windows they always were) and `engineSettings` (its fields now live at the top of
 * `app.scaling`).
 */
import { z } from "zod";
import {
  CostSchema,
  HpaPolicySchema,
  HpaSchema,
  int,
  metricName,
  MultiMetricSchema,
  oneOf,
  PredictiveSchema,
  show,
  TargetsSchema,
  ThresholdSchema,
  type MetricName,
} from "./policy";
import { ENGINE_NAMES, type EngineName } from "./types";

/** Defaults of the deployed HPA windows (the names' old defaults, unchanged). */
export const DEFAULT_SCALE_UP_STABILIZATION_SECONDS = 60;
export const DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS = 300;

/** The rate rules a user sets per direction (the stabilization window is the top-level key). */
const rules = (defaults: { selectPolicy: "Max" | "Min"; policies: z.input<typeof HpaPolicySchema>[] }, what: string) =>
  z
    .strictObject(
      {
        selectPolicy: oneOf(["Max", "Min", "Disabled"] as const)
          .default(defaults.selectPolicy)
          .describe("Max: the policy allowing the largest change wins; Min: the smallest; Disabled: none."),
        policies: z
          .array(HpaPolicySchema)
          .min(1, { error: "must list at least one policy" })
          .default(defaults.policies.map((p) => ({ ...p })))
          .describe(
            `Rate limits of a ${what} (autoscaling/v2 HPAScalingPolicy). Defaults to ${defaults.policies.map((p) => `${p.value}${p.type === "Percent" ? " %" : " instances"} per ${p.periodSeconds} s`).join(", ")} (selectPolicy ${defaults.selectPolicy}).`,
          ),
      },
      {
        error: (iss) => (iss.code === "unrecognized_keys" ? "unknown key; allowed: selectPolicy, policies" : undefined),
      },
    )
    .default({ selectPolicy: defaults.selectPolicy, policies: defaults.policies.map((p) => ({ ...p })) });

/**
 * The deployed behavior (core/app/kubernetes.ts puts the same on the HPA): up by 100 % or 4
 * instances per 15 s, whichever is more; down by 50 % or 1 instance per 60 s, whichever is less
 * (gentle, so a burst after a lull does not meet a group that shed everything at once).
 */
export const APP_SCALE_UP = {
  selectPolicy: "Max" as const,
  policies: [
    { type: "Percent" as const, value: 100, periodSeconds: 15 },
    { type: "Pods" as const, value: 4, periodSeconds: 15 },
  ],
};
export const APP_SCALE_DOWN = {
  selectPolicy: "Min" as const,
  policies: [
    { type: "Percent" as const, value: 50, periodSeconds: 60 },
    { type: "Pods" as const, value: 1, periodSeconds: 60 },
  ],
};

const AppHpaSchema = z
  .strictObject(
    {
      tolerance: HpaSchema.shape.tolerance,
      cpuInitializationPeriodSeconds: HpaSchema.shape.cpuInitializationPeriodSeconds,
      initialReadinessDelaySeconds: HpaSchema.shape.initialReadinessDelaySeconds,
      scaleUp: rules(APP_SCALE_UP, "scale-up").describe("How fast the group may grow."),
      scaleDown: rules(APP_SCALE_DOWN, "scale-down").describe("How fast the group may shrink."),
    },
    {
      error: (iss) =>
        iss.code === "unrecognized_keys"
          ? "unknown key; allowed: tolerance, cpuInitializationPeriodSeconds, initialReadinessDelaySeconds, scaleUp, scaleDown"
          : undefined,
    },
  )
  .describe(
    "The Kubernetes HPA algorithm's settings (kube-controller-manager flags and `behavior` rate limits). Defaults to the defaults of its fields.",
  );

/** `targets` without cpu/memory (those are cpuTargetPercent/memoryTargetPercent, used by every target). */
const AppTargetsSchema = TargetsSchema.omit({ cpuPercent: true, memoryPercent: true }).describe(
  "Per-instance targets of the other metrics. Defaults to the defaults of its fields.",
);

const common = {
  cpuTargetPercent: int(1, 100)
    .default(70)
    .describe(
      "Target average CPU utilisation of the app instances, in percent: the group scales out above it and in below it.",
    ),
  memoryTargetPercent: int(1, 100)
    .default(80)
    .describe("Target average memory utilisation of the app instances, in percent."),
  scaleUpStabilizationSeconds: int(0, 3600)
    .optional()
    .describe(
      `Scale-up stabilization window: a scale-out happens only to the lowest count recommended over this many seconds (the HPA's behavior.scaleUp.stabilizationWindowSeconds on every target). Defaults to \`${DEFAULT_SCALE_UP_STABILIZATION_SECONDS}\`.`,
    ),
  scaleDownStabilizationSeconds: int(0, 3600)
    .optional()
    .describe(
      `Scale-down stabilization window: a scale-in happens only to the highest count recommended over this many seconds (behavior.scaleDown.stabilizationWindowSeconds). Defaults to \`${DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS}\`.`,
    ),
  healthCheckGraceSeconds: int(0, 3600)
    .default(60)
    .describe("Seconds a new instance has before its health checks count."),
  drainSeconds: int(0, 3600)
    .default(30)
    .describe(
      "Seconds an instance drains (deregistered, finishing in-flight requests) before it is stopped; also the bound of the wait for its in-flight requests.",
    ),
  scaleUpCooldownSeconds: int(0, 3600)
    .optional()
    .describe("Deprecated: the old name of scaleUpStabilizationSeconds (it always was that window)."),
  scaleDownCooldownSeconds: int(0, 3600)
    .optional()
    .describe("Deprecated: the old name of scaleDownStabilizationSeconds (it always was that window)."),
  engineSettings: z
    .record(z.string(), z.unknown())
    .optional()
    .describe(
      "Deprecated: the engine's settings as one untyped map; its fields (metrics, targets, hpa, threshold, predictive, multiMetric, cost) now sit directly under app.scaling, typed.",
    ),
};

/** Keys every engine's settings have. */
export const COMMON_SCALING_KEYS: readonly string[] = Object.keys(common);

const hpaFamily = {
  metrics: z
    .array(metricName)
    .min(1, { error: "must list at least one metric" })
    .default(["cpu", "memory"] as MetricName[])
    .describe(
      "Metrics the group scales on: cpu, memory, requestsPerSecond, p95LatencyMs, errorRate, inFlight, gauge:<prometheus gauge>, composite:<name>; the largest count any of them asks for wins.",
    ),
  targets: AppTargetsSchema.default(() => AppTargetsSchema.parse({})),
  hpa: AppHpaSchema.default(() => AppHpaSchema.parse({})),
};

const ENGINE_DESCRIPTION =
  "Scaling engine: hpa (the Kubernetes HPA algorithm, the default), threshold (step scaling on thresholds with cooldowns), predictive (seasonal forecast of the load ahead of the warm-up, with the hpa as its floor), multi-metric (several metrics and composites through the hpa's tolerance and rate limits), cost (the predictive engine's capacity bought as the cheapest mix of committed, risk-priced and diversified spot, and on-demand instances from a dated price table). Docker: the controller runs it; aws: predictive adds AWS predictive scaling and cost chooses the mixed-instances policy; kubernetes: predictive raises the HPA's minReplicas ahead of forecast load.";

/** The error of an unknown key in engine `engine`'s settings, naming the engine a known key belongs to. */
const unknownKey =
  (engine: EngineName, keys: readonly string[]) => (iss: { code?: string; keys?: string[]; input?: unknown }) => {
    if (iss.code !== "unrecognized_keys") return `must be an object; got ${show(iss.input)}`;
    const elsewhere = (iss.keys ?? [])
      .filter((k) => OWNERS[k] !== undefined)
      .map((k) => `${k} is a setting of engine ${OWNERS[k].join(" or ")}`);
    return `unknown key for engine ${engine}${elsewhere.length > 0 ? ` (${elsewhere.join("; ")})` : ""}; allowed: ${keys.join(", ")}`;
  };

/** One variant per engine: `engine`, the shared keys, then the engine's own keys. */
function variant<E extends EngineName, S extends z.ZodRawShape>(engine: E, shape: S) {
  const all = { engine: z.literal(engine).describe(ENGINE_DESCRIPTION), ...common, ...shape };
  return z.strictObject(all, { error: unknownKey(engine, Object.keys(all)) });
}

/** Which engines each engine-specific key belongs to (for the message when it is used with another). */
const OWNERS: Record<string, EngineName[]> = {
  metrics: ["hpa", "predictive", "multi-metric", "cost"],
  hpa: ["hpa", "predictive", "multi-metric", "cost"],
  threshold: ["threshold"],
  predictive: ["predictive", "cost"],
  multiMetric: ["multi-metric"],
  cost: ["cost"],
};

const MultiMetricSettingsSchema = MultiMetricSchema.omit({
  scaleUpStabilizationSeconds: true,
  scaleDownStabilizationSeconds: true,
}).describe("The multi-metric engine's composite targets. Defaults to the defaults of its fields.");

const ThresholdSettingsSchema = ThresholdSchema.extend({
  errorRate: TargetsSchema.shape.errorRate,
}).describe(
  "The threshold engine: cooldowns (real ones: time since the last change), scale-in watermark, step size and error-rate threshold. Defaults to the defaults of its fields.",
);

// hpa is the default: its `engine` may be left out.
const HpaVariant = z.strictObject(
  { engine: z.literal("hpa").default("hpa").describe(ENGINE_DESCRIPTION), ...common, ...hpaFamily },
  { error: unknownKey("hpa", ["engine", ...Object.keys(common), ...Object.keys(hpaFamily)]) },
);
const ThresholdVariant = variant("threshold", {
  threshold: ThresholdSettingsSchema.default(() => ThresholdSettingsSchema.parse({})),
});
const PredictiveVariant = variant("predictive", {
  ...hpaFamily,
  predictive: PredictiveSchema.default(() => PredictiveSchema.parse({})).describe(
    "The predictive engine's forecast. Defaults to the defaults of its fields.",
  ),
});
const MultiMetricVariant = variant("multi-metric", {
  ...hpaFamily,
  multiMetric: MultiMetricSettingsSchema.default(() => MultiMetricSettingsSchema.parse({})),
});
const CostVariant = variant("cost", {
  ...hpaFamily,
  predictive: PredictiveSchema.default(() => PredictiveSchema.parse({})).describe(
    "The forecast the cost engine's count follows (the predictive engine's rule). Defaults to the defaults of its fields.",
  ),
  cost: CostSchema.optional().describe(
    "The cost engine's dated price table and market rules. Defaults to the shipped price table of the target's cloud.",
  ),
});

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** Deep merge of plain objects (arrays and values replace). */
function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObject(v) && isObject(out[k]) ? merge(out[k], v) : v;
  return out;
}

const Union = z.discriminatedUnion(
  "engine",
  [HpaVariant, ThresholdVariant, PredictiveVariant, MultiMetricVariant, CostVariant],
  {
    error: (iss) =>
      iss.code === "invalid_union"
        ? `engine must be one of ${ENGINE_NAMES.join(", ")}; got ${show((iss.input as Record<string, unknown> | undefined)?.engine)}`
        : undefined,
  },
);

/**
 * The typed settings after the old names were resolved: the stabilization windows filled in, the
 * deprecated keys gone (so the result is itself a valid input: components re-validate what the
 * Platform passes them).
 */
export const AppScalingSchema = Union.transform((s) => {
  const { scaleUpCooldownSeconds, scaleDownCooldownSeconds, engineSettings, ...rest } = s;
  let out: Record<string, unknown> = {
    ...rest,
    scaleUpStabilizationSeconds:
      rest.scaleUpStabilizationSeconds ?? scaleUpCooldownSeconds ?? DEFAULT_SCALE_UP_STABILIZATION_SECONDS,
    scaleDownStabilizationSeconds:
      rest.scaleDownStabilizationSeconds ?? scaleDownCooldownSeconds ?? DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS,
  };
  // engineSettings: its sections merged over the typed ones (checked by the app schema's policy check,
  // whose messages name the keys as written: the merged keys are remembered, not enumerable).
  if (engineSettings) {
    // engine/minSize/maxSize are set elsewhere: never taken from here (the check names them).
    const { engine: _e, minSize: _min, maxSize: _max, ...settings } = engineSettings;
    out = merge(out, settings);
    Object.defineProperty(out, FROM_ENGINE_SETTINGS, { value: Object.keys(engineSettings), enumerable: false });
  }
  return out as typeof rest & { scaleUpStabilizationSeconds: number; scaleDownStabilizationSeconds: number };
});

export type AppScaling = z.output<typeof AppScalingSchema>;

/** The property (not enumerable) listing the keys a deprecated engineSettings set. */
export const FROM_ENGINE_SETTINGS = Symbol("fromEngineSettings");

/** Keys of `app.scaling` the user wrote under engineSettings. */
export const engineSettingsKeys = (s: AppScaling): readonly string[] =>
  ((s as unknown as Record<symbol, string[] | undefined>)[FROM_ENGINE_SETTINGS] ?? []) as readonly string[];
export type AppScalingInput = z.input<typeof AppScalingSchema>;

/** Keys of engine variants, for the engineSettings check. */
export const ENGINE_SETTING_KEYS: Record<EngineName, readonly string[]> = {
  hpa: ["metrics", "targets", "hpa"],
  threshold: ["threshold"],
  predictive: ["metrics", "targets", "hpa", "predictive"],
  "multi-metric": ["metrics", "targets", "hpa", "multiMetric"],
  cost: ["metrics", "targets", "hpa", "predictive", "cost"],
};

/** One deprecation: the key as written, and what to write instead. */
export interface ScalingDeprecation {
  key: string;
  message: string;
}

/**
 * The old names in raw `app.scaling` input (`prefix` names it, e.g. `scaleplane:app.scaling`), each
 * with what to write instead; the settings still take effect.
 */
export function scalingDeprecations(raw: unknown, prefix: string): ScalingDeprecation[] {
  if (!isObject(raw)) return [];
  const out: ScalingDeprecation[] = [];
  if (raw.scaleUpCooldownSeconds !== undefined)
    out.push({
      key: `${prefix}.scaleUpCooldownSeconds`,
      message: "is deprecated: it is the scale-up stabilization window; write scaleUpStabilizationSeconds",
    });
  if (raw.scaleDownCooldownSeconds !== undefined)
    out.push({
      key: `${prefix}.scaleDownCooldownSeconds`,
      message: "is deprecated: it is the scale-down stabilization window; write scaleDownStabilizationSeconds",
    });
  if (raw.engineSettings !== undefined)
    out.push({
      key: `${prefix}.engineSettings`,
      message: `is deprecated: write its fields (${Object.keys(isObject(raw.engineSettings) ? raw.engineSettings : {}).join(", ") || "none"}) directly under ${prefix.replace(/^scaleplane:/, "")}`,
    });
  return out;
}
