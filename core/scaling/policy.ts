/**
 * The scaling policy: one zod schema for every engine's settings (bounds, metric targets, cooldowns,
 * the Kubernetes HPA `behavior`, predictive and cost settings). Pure, no I/O.
 *
 * It is strict (a misspelt key is refused, not silently defaulted) and every error names the field
 * as a user writes it (`scaling.minSize`, `scaling.hpa.behavior.scaleDown.policies[0].value`), so
 * the dynamic provider, the controller and the simulator refuse a bad policy before acting on it.
 * Defaults follow the documented defaults of what each engine reproduces (HPA: tolerance 0.1,
 * scale-up 0 s / scale-down 300 s stabilization, 100 % or 4 pods per 15 s up, 100 % per 15 s down).
 */
import { z } from "zod";
import { ConfigError, parseSection } from "../config-error";
import { ENGINE_NAMES, type EngineName } from "./types";

export const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

export const int = (min: number, max: number) => {
  const error = (iss: { input?: unknown }) => `must be a whole number from ${min} to ${max}; got ${show(iss.input)}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};

export const num = (min: number, max: number, what: string, exclusiveMin = false) => {
  const range = `${exclusiveMin ? ">" : "≥"} ${min} and ≤ ${max}`;
  const error = (iss: { input?: unknown }) => `must be a number ${range} (${what}); got ${show(iss.input)}`;
  const base = z.number({ error }).max(max, { error });
  return exclusiveMin ? base.gt(min, { error }) : base.min(min, { error });
};

export const bool = z.boolean({ error: (iss) => `must be true or false; got ${show(iss.input)}` });

export const oneOf = <T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: (iss) => `must be one of ${values.join(", ")}; got ${show(iss.input)}` });

/** Unknown keys are refused (a typo must not silently fall back to a default). */
export const section = <S extends z.ZodRawShape>(shape: S) =>
  z.strictObject(shape, {
    error: (iss) =>
      iss.code === "unrecognized_keys"
        ? `unknown key; allowed: ${Object.keys(shape).join(", ")}`
        : `must be an object; got ${show(iss.input)}`,
  });

/**
 * Metrics the engines read from {@link InstanceSample}; a Prometheus gauge is `gauge:<name>`, a
 * weighted sum of others with its own target `composite:<name>` (multiMetric.composites).
 */
export const BUILTIN_METRICS = ["cpu", "memory", "requestsPerSecond", "p95LatencyMs", "errorRate", "inFlight"] as const;
export type BuiltinMetric = (typeof BUILTIN_METRICS)[number];
/** `cpu`, `memory`, ..., `gauge:<prometheus gauge name>` or `composite:<name>`. */
export type MetricName = BuiltinMetric | `gauge:${string}` | `composite:${string}`;

const COMPOSITE_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Prometheus metric name rules (`[a-zA-Z_:][a-zA-Z0-9_:]*`). */
const GAUGE_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

export const metricName = z
  .string({ error: (iss) => `must be a metric name; got ${show(iss.input)}` })
  .refine(
    (m) =>
      (BUILTIN_METRICS as readonly string[]).includes(m) ||
      (m.startsWith("gauge:") && GAUGE_NAME.test(m.slice(6))) ||
      (m.startsWith("composite:") && COMPOSITE_NAME.test(m.slice(10))),
    {
      error: (iss) =>
        `unknown metric ${show(iss.input)}; allowed: ${BUILTIN_METRICS.join(", ")}, gauge:<prometheus gauge name>, composite:<name>`,
    },
  )
  .transform((m) => m as MetricName);

export const seconds = (max = 86_400) => int(0, max);

/** autoscaling/v2 HPAScalingPolicy. */
export const HpaPolicySchema = section({
  type: oneOf(["Pods", "Percent"] as const).describe(
    "Pods: a number of instances; Percent: a share of the current count.",
  ),
  value: int(1, 100_000).describe("How many instances (Pods) or percent (Percent) one period may add or remove."),
  periodSeconds: int(1, 1800).describe("The period the limit applies to, seconds."),
});

/** autoscaling/v2 HPAScalingRules (defaults filled per direction below). */
const hpaRules = (defaults: { stabilizationWindowSeconds: number; policies: z.input<typeof HpaPolicySchema>[] }) =>
  section({
    stabilizationWindowSeconds: int(0, 3600)
      .default(defaults.stabilizationWindowSeconds)
      .describe("Seconds of recommendations considered: the lowest (up) or highest (down) of them wins."),
    selectPolicy: oneOf(["Max", "Min", "Disabled"] as const)
      .default("Max")
      .describe("Max: the policy allowing the largest change; Min: the smallest; Disabled: no change this way."),
    policies: z
      .array(HpaPolicySchema)
      .min(1, { error: "must list at least one policy" })
      .default(defaults.policies.map((p) => ({ ...p })))
      .describe("Rate limits (autoscaling/v2 HPAScalingPolicy)."),
  });

/** Kubernetes' defaults (SetDefaults_HorizontalPodAutoscalerBehavior). */
export const HPA_SCALE_UP = {
  stabilizationWindowSeconds: 0,
  policies: [
    { type: "Percent" as const, value: 100, periodSeconds: 15 },
    { type: "Pods" as const, value: 4, periodSeconds: 15 },
  ],
};
export const HPA_SCALE_DOWN = {
  stabilizationWindowSeconds: 300,
  policies: [{ type: "Percent" as const, value: 100, periodSeconds: 15 }],
};

export const hpaRulesSchema = hpaRules;

export const HpaSchema = section({
  tolerance: num(0, 1, "a ratio")
    .default(0.1)
    .describe(
      "Ratios within 1 ± tolerance cause no scaling (Kubernetes: `--horizontal-pod-autoscaler-tolerance`, 0.1).",
    ),
  cpuInitializationPeriodSeconds: seconds(3600)
    .default(300)
    .describe(
      "Seconds after an instance starts during which its CPU counts only while it is ready and was measured over a full window since (`--horizontal-pod-autoscaler-cpu-initialization-period`).",
    ),
  initialReadinessDelaySeconds: seconds(3600)
    .default(30)
    .describe(
      "After the initialization period an unready instance's CPU is left out only if it was never ready: its readiness last changed within this many seconds of its start (`--horizontal-pod-autoscaler-initial-readiness-delay`).",
    ),
  behavior: section({
    scaleUp: hpaRules(HPA_SCALE_UP)
      .default(() => hpaRules(HPA_SCALE_UP).parse({}))
      .describe("Scale-up rules."),
    scaleDown: hpaRules(HPA_SCALE_DOWN)
      .default(() => hpaRules(HPA_SCALE_DOWN).parse({}))
      .describe("Scale-down rules."),
  })
    .default(() => ({ scaleUp: hpaRules(HPA_SCALE_UP).parse({}), scaleDown: hpaRules(HPA_SCALE_DOWN).parse({}) }))
    .describe("autoscaling/v2 `behavior`: stabilization windows and rate limits per direction."),
});

export const TargetsSchema = section({
  cpuPercent: num(0, 100, "percent", true).default(70).describe("Average CPU per instance, percent."),
  memoryPercent: num(0, 100, "percent", true).default(80).describe("Average memory per instance, percent."),
  errorRate: num(0, 1, "a share of requests", true)
    .default(0.05)
    .describe("Share of failed requests (0..1); the threshold engine's third threshold."),
  requestsPerSecond: num(0, 1e9, "requests/s per instance", true)
    .optional()
    .describe("Requests per second per instance; required when `requestsPerSecond` is in `metrics`."),
  p95LatencyMs: num(0, 1e7, "milliseconds", true)
    .optional()
    .describe("95th percentile latency, ms; required when `p95LatencyMs` is in `metrics`."),
  inFlight: num(0, 1e9, "requests in flight per instance", true)
    .optional()
    .describe(
      "Requests in flight per instance (the load balancer's current sessions); required when `inFlight` is in `metrics`.",
    ),
  gauges: z
    .record(
      z.string().regex(GAUGE_NAME, { error: (iss) => `must be a Prometheus metric name; got ${show(iss.input)}` }),
      num(0, 1e12, "the gauge's target average per instance", true),
    )
    .default({})
    .describe("Target average per instance of each Prometheus gauge named `gauge:<name>` in `metrics`."),
});

export const ThresholdSchema = section({
  scaleUpCooldownSeconds: seconds().default(60).describe("Seconds after a scale-out before the next scale-out."),
  scaleDownCooldownSeconds: seconds().default(300).describe("Seconds after any scaling before a scale-in."),
  scaleInBelowRatio: num(0, 1, "a share of the threshold", true)
    .default(0.6)
    .describe('Scale in only when every metric is below this share of its threshold ("well below").'),
  maxStepRatio: num(0, 10, "a share of the current count", true)
    .default(1)
    .describe("Most instances one step adds, as a share of the current count (pressure-proportional below it)."),
});

const SeasonSchema = section({
  name: z.string().min(1, { error: "must not be empty" }).describe("A name for reasons and charts (daily, weekly)."),
  seconds: int(1, 366 * 86_400).describe("The season's length, seconds."),
});

export const PredictiveSchema = section({
  warmupSeconds: seconds(7200)
    .default(180)
    .describe("Seconds from launching an instance until it serves traffic: the forecast looks this far ahead."),
  sampleSeconds: int(1, 86_400).default(300).describe("History bucket: one forecast sample per `sampleSeconds`."),
  seasons: z
    .array(SeasonSchema)
    .max(3, { error: "must list at most 3 seasons" })
    .default([
      { name: "daily", seconds: 86_400 },
      { name: "weekly", seconds: 604_800 },
    ])
    .describe("Seasons of the Holt-Winters model (additive, Taylor's multiple-seasonal form)."),
  metric: metricName
    .default("cpu" as MetricName)
    .describe("The load the forecast follows: an additive metric (total = average × ready instances)."),
  forecastOnly: bool.default(false).describe("Decide reactively (hpa) and only report the forecast."),
  alpha: num(0, 1, "a smoothing factor", true)
    .default(0.3)
    .describe("Smoothing of the level, seasonal components and error estimate."),
  gamma: num(0, 1, "a smoothing factor", true).default(0.2).describe("Smoothing of the seasonal components."),
  safety: num(0, 10, "error multiples")
    .default(0)
    .describe(
      "Expected load + `safety` × the model's running mean absolute one-bucket error (a prediction band; the hpa still reacts to what the forecast missed).",
    ),
  trendSeconds: seconds(3600)
    .default(300)
    .describe(
      "Extrapolate the load's rise over the last `trendSeconds` across the horizon (warm-up + period): a ramp is met by the time the instances launched for it serve. 0 turns it off.",
    ),
  minSkill: num(-10, 1, "a skill score")
    .default(0.2)
    .describe(
      "Use the forecast only while it beats persistence by this much at predicting the load's change to the next bucket: skill = 1 − E|actual − predicted change| / E|actual change|. Below it the engine is the hpa on the saturation-corrected load (and its trend).",
    ),
});

const InstanceTypeSchema = section({
  name: z.string().min(1, { error: "must not be empty" }).describe("Instance type name (e.g. m5.large)."),
  capacityUnits: int(1, 1000)
    .default(1)
    .describe(
      "Capacity units one instance provides (the group's counts are in units, like an ASG with instance weights).",
    ),
  onDemandPerHour: num(0, 1e6, "USD per hour", true).describe("On-demand price per instance-hour."),
  spotPerHour: num(0, 1e6, "USD per hour", true)
    .optional()
    .describe("Typical spot price per instance-hour; without it the type is never bought as spot."),
  spotInterruptionRate: num(0, 1, "a share per month")
    .default(0.1)
    .describe(
      "Share of this type's spot instances the cloud reclaims in a month (AWS Spot Instance Advisor's frequency of interruption: the upper bound of its band, e.g. 0.05 for <5 %). Priced into the type's expected spot cost; a riskier type is never given more spot.",
    ),
  reservedPerHour: num(0, 1e6, "USD per hour", true)
    .optional()
    .describe(
      "Effective hourly rate of one instance of committed capacity of this type (e.g. a 1-year no-upfront reserved instance or committed use discount), paid every hour of the term whether used or not.",
    ),
  savingsPlanPerHour: num(0, 1e6, "USD per hour", true)
    .optional()
    .describe("Hourly rate of this type under a 1-year no-upfront savings plan (AWS Compute Savings Plans)."),
});

export const CostSchema = section({
  pricesAsOf: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, { error: (iss) => `must be a date YYYY-MM-DD; got ${show(iss.input)}` })
    .describe("The date the prices were read (prices are data, not code)."),
  pricesSource: z.string().optional().describe("Where the prices come from (a URL or a note)."),
  cloud: z.string().optional().describe("The cloud and region the prices are for (e.g. aws us-east-1), for reports."),
  notes: z
    .array(z.string())
    .optional()
    .describe("Where each figure comes from and as of when; which figures are estimates."),
  currency: z.string().default("USD").describe("Currency of the prices."),
  instanceTypes: z
    .array(InstanceTypeSchema)
    .min(1, { error: "must list at least one instance type" })
    .describe("The instance types to choose from, with their prices."),
  onDemandBase: int(0, 100_000)
    .default(1)
    .describe("Capacity units never bought as spot (on-demand, or committed capacity when there is some)."),
  spotShare: num(0, 1, "a share")
    .default(0.7)
    .describe(
      "Most of the capacity above the base that may run on spot (the share of the load that tolerates interruption); the engine buys less where spot does not pay once its interruption risk is priced.",
    ),
  maxInterruptionLoss: num(0, 1, "a share of the group's capacity")
    .default(0.3)
    .describe(
      "Most of the group's capacity one spot pool (one instance type) may hold, so one interruption event cannot take more: keep it at or below the headroom of the CPU target (0.3 at 70 %). Spot is spread over types to stay within it.",
    ),
  sloPenaltyFactor: num(0, 1e6, "multiples of the on-demand price")
    .default(10)
    .describe(
      "What a capacity unit missing for an hour costs, as a multiple of its on-demand price (the SLO risk of losing an instance): with each type's interruption rate and the warm-up of its replacement, the expected cost of interruptions added to the spot price.",
    ),
  interruptionNoticeSeconds: seconds(3600)
    .default(120)
    .describe(
      "Warning the cloud gives before reclaiming a spot instance (AWS: 2 minutes); the replacement starts then.",
    ),
  committedUnits: int(0, 100_000)
    .default(0)
    .describe(
      "Capacity units bought ahead as committed capacity (reserved instances, a savings plan, committed use discounts), paid every hour whether used or not; `npm run simulate -- --cost` reports the amount that minimizes the cost over a trace.",
    ),
  commitment: oneOf(["reserved", "savingsPlan"] as const)
    .default("reserved")
    .describe(
      "How the committed units are priced: reserved (each type's reservedPerHour) or savingsPlan (savingsPlanPerHour); the cheapest type per unit under that rate carries the commitment.",
    ),
});

export const MultiMetricSchema = section({
  composites: z
    .array(
      section({
        name: z
          .string()
          .regex(COMPOSITE_NAME, { error: (iss) => `must be a name ([a-zA-Z_][a-zA-Z0-9_]*); got ${show(iss.input)}` })
          .describe("The composite's name: list it in `metrics` as composite:<name>."),
        terms: z
          .array(
            section({
              metric: metricName.describe("A per-instance metric (not a composite)."),
              weight: num(-1e9, 1e9, "a weight").describe("Its weight in the sum."),
            }),
          )
          .min(1, { error: "must list at least one term" })
          .describe("The sum Σ weight × metric, per instance."),
        target: num(0, 1e12, "the target average per instance", true).describe(
          "Target average per instance of the weighted sum.",
        ),
      }),
    )
    .default([])
    .describe(
      "Composite targets: a weighted sum of per-instance metrics with its own target (e.g. 0.7 × cpu + 10 × inFlight at 80).",
    ),
  scaleUpStabilizationSeconds: seconds(3600)
    .optional()
    .describe("Deprecated: the multi-metric engine now uses the hpa's stabilization windows (hpa.behavior)."),
  scaleDownStabilizationSeconds: seconds(3600)
    .optional()
    .describe("Deprecated: the multi-metric engine now uses the hpa's stabilization windows (hpa.behavior)."),
});

/**
 * The scaling policy. Counts are instances (or capacity units for the cost engine). `metrics` are
 * what the hpa, predictive, multi-metric and cost engines scale on; the threshold engine always uses
 * cpu, memory and errorRate.
 */
export const ScalingPolicySchema = section({
  engine: oneOf(ENGINE_NAMES as unknown as readonly [EngineName, ...EngineName[]]).default("hpa"),
  minSize: int(1, 100_000)
    .default(1)
    .describe("At least 1: a group at 0 instances reports no metric to scale up on (scale-from-zero is not offered)."),
  maxSize: int(1, 100_000).default(10),
  periodSeconds: int(1, 3600)
    .default(15)
    .describe("Seconds between controller decisions (Kubernetes' `--horizontal-pod-autoscaler-sync-period`, 15)."),
  metrics: z
    .array(metricName)
    .min(1, { error: "must list at least one metric" })
    .default(["cpu", "memory"] as MetricName[]),
  targets: TargetsSchema.default(() => TargetsSchema.parse({})),
  threshold: ThresholdSchema.default(() => ThresholdSchema.parse({})),
  hpa: HpaSchema.default(() => HpaSchema.parse({})),
  multiMetric: MultiMetricSchema.default(() => MultiMetricSchema.parse({})),
  predictive: PredictiveSchema.default(() => PredictiveSchema.parse({})),
  cost: CostSchema.optional(),
}).superRefine((p, ctx) => {
  const add = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
  if (p.minSize > p.maxSize) add(["minSize"], `must be ≤ scaling.maxSize (${p.maxSize}); got ${p.minSize}`);
  const seen = new Set<string>();
  p.metrics.forEach((m, i) => {
    if (seen.has(m)) add(["metrics", i], `${show(m)} is listed twice`);
    seen.add(m);
    if (m === "requestsPerSecond" && p.targets.requestsPerSecond === undefined)
      add(["targets", "requestsPerSecond"], `is required: metric "requestsPerSecond" is in scaling.metrics`);
    if (m === "p95LatencyMs" && p.targets.p95LatencyMs === undefined)
      add(["targets", "p95LatencyMs"], `is required: metric "p95LatencyMs" is in scaling.metrics`);
    if (m.startsWith("gauge:") && p.targets.gauges[m.slice(6)] === undefined)
      add(["targets", "gauges", m.slice(6)], `is required: metric ${show(m)} is in scaling.metrics`);
    if (m === "inFlight" && p.targets.inFlight === undefined)
      add(["targets", "inFlight"], `is required: metric "inFlight" is in scaling.metrics`);
    if (m.startsWith("composite:") && !p.multiMetric.composites.some((c) => c.name === m.slice(10)))
      add(["metrics", i], `names no composite; define ${show(m.slice(10))} in scaling.multiMetric.composites`);
  });
  const composites = new Set<string>();
  p.multiMetric.composites.forEach((c, i) => {
    if (composites.has(c.name))
      add(["multiMetric", "composites", i, "name"], `must be unique; ${show(c.name)} appears twice`);
    composites.add(c.name);
    c.terms.forEach((t, j) => {
      if (t.metric.startsWith("composite:"))
        add(["multiMetric", "composites", i, "terms", j, "metric"], "must be a plain metric, not a composite");
    });
  });
  const pm = p.predictive.metric;
  if (pm === "p95LatencyMs" || pm === "errorRate")
    add(
      ["predictive", "metric"],
      `must be an additive load metric (cpu, memory, requestsPerSecond, gauge:<name>); got ${show(pm)}`,
    );
  if (pm === "requestsPerSecond" && p.targets.requestsPerSecond === undefined)
    add(["targets", "requestsPerSecond"], `is required: scaling.predictive.metric is "requestsPerSecond"`);
  if (pm.startsWith("gauge:") && p.targets.gauges[pm.slice(6)] === undefined)
    add(["targets", "gauges", pm.slice(6)], `is required: scaling.predictive.metric is ${show(pm)}`);
  if (p.engine === "cost" && p.cost === undefined)
    add(["cost"], `is required when scaling.engine is "cost" (instance types with dated prices)`);
  const c = p.cost;
  if (c && c.committedUnits > 0) {
    const rate = c.commitment === "reserved" ? "reservedPerHour" : "savingsPlanPerHour";
    if (!c.instanceTypes.some((t) => t[rate] !== undefined))
      add(["cost", "committedUnits"], `needs an instance type with ${rate} (cost.commitment is ${show(c.commitment)})`);
  }
  const names = new Set<string>();
  p.cost?.instanceTypes.forEach((t, i) => {
    if (names.has(t.name)) add(["cost", "instanceTypes", i, "name"], `must be unique; ${show(t.name)} appears twice`);
    names.add(t.name);
  });
  p.predictive.seasons.forEach((s, i) => {
    if (s.seconds % p.predictive.sampleSeconds !== 0 || s.seconds < 2 * p.predictive.sampleSeconds)
      add(
        ["predictive", "seasons", i, "seconds"],
        `must be a multiple of scaling.predictive.sampleSeconds (${p.predictive.sampleSeconds}) and at least two samples; got ${s.seconds}`,
      );
  });
});

/** A validated, defaulted scaling policy. */
export type ScalingPolicy = z.output<typeof ScalingPolicySchema>;
/** What a user may write (everything with a default may be left out). */
export type ScalingPolicyInput = z.input<typeof ScalingPolicySchema>;
export type HpaScalingRulesConfig = ScalingPolicy["hpa"]["behavior"]["scaleUp"];
export type InstanceTypePrice = NonNullable<ScalingPolicy["cost"]>["instanceTypes"][number];

/**
 * Validates a policy; throws a {@link ConfigError} whose problems name each bad field as
 * `<prefix>.<path>` (default prefix `scaling`, e.g. `scaling.minSize`).
 */
export function parseScalingPolicy(raw: unknown, prefix = "scaling"): ScalingPolicy {
  return parseSection(ScalingPolicySchema, raw, prefix);
}

export { ConfigError };
