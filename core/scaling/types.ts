/**
 * The one interface every scaling engine implements. Engines are pure: a decision is a function
 * of the engine's own state and one snapshot of the group, so the same code runs in the runtime
 * controller (runtime/scaler), in the trace simulator and in unit tests, and a controller that
 * loses its leadership can hand the (JSON-serializable) state to the next leader.
 */

/** The engines `createEngine` knows. */
export type EngineName = "threshold" | "hpa" | "predictive" | "multi-metric" | "cost";
export const ENGINE_NAMES: readonly EngineName[] = ["threshold", "hpa", "predictive", "multi-metric", "cost"];

/** One instance of the group as the controller observed it (a metric is `undefined` when not scraped). */
export interface InstanceSample {
  id: string;
  /** Passed its health check and receives traffic. */
  ready: boolean;
  /**
   * `pending`: created but not started (Kubernetes' Pending phase: unready, 0 % on a scale-up);
   * `terminating` (being removed, e.g. draining) and `failed`: left out of every calculation, as the
   * HPA leaves out pods with a deletion timestamp or phase Failed. Default `running`.
   */
  phase?: "pending" | "running" | "terminating" | "failed";
  /** When the instance started (Kubernetes' `status.startTime`); for the CPU initialization period. */
  startedAtMs?: number;
  /** When `ready` last changed (the Ready condition's `lastTransitionTime`). */
  readinessChangedAtMs?: number;
  /** End of the window the metrics were measured over, and its length (metrics.k8s.io `timestamp`, `window`). */
  metricsAtMs?: number;
  metricsWindowMs?: number;
  /** CPU use, percent of the instance's limit (0..100). */
  cpuPercent?: number;
  /** Memory use, percent of the instance's limit (0..100). */
  memoryPercent?: number;
  /** Requests per second this instance receives. */
  requestsPerSecond?: number;
  /** 95th percentile request latency, milliseconds. */
  p95LatencyMs?: number;
  /** Share of requests that failed, 0..1. */
  errorRate?: number;
  /** Requests in flight now (the load balancer's current sessions to this instance). */
  inFlight?: number;
  /** Named Prometheus gauges from the instance's `/metrics`. */
  gauges?: Record<string, number>;
}

/** What an engine sees at one controller tick. */
export interface ScalingInput {
  /** Wall clock (ms since the epoch); engines use it for cooldowns, windows and forecasts. */
  nowMs: number;
  /** The group's current desired count (instances that exist or are being created). */
  current: number;
  instances: InstanceSample[];
}

/** How one metric (or one rule) contributed to a decision. */
export interface MetricContribution {
  /** `cpu`, `memory`, `requestsPerSecond`, `p95LatencyMs`, `errorRate`, `gauge:<name>`, or a rule such as `forecast`. */
  metric: string;
  /** The observed value (average per instance, or the load for `forecast`). */
  current?: number;
  /** The target for that metric. */
  target?: number;
  /** The count this metric alone asks for. */
  desired?: number;
  note?: string;
}

/** One decision: the count to run, why, and what each metric asked for. */
export interface ScalingDecision {
  engine: EngineName;
  /** The count to run, always within the policy's [minSize, maxSize]. */
  desired: number;
  current: number;
  /** Human-readable, one line. */
  reason: string;
  contributions: MetricContribution[];
  /** The cost engine's chosen mix (other engines leave it out). */
  mix?: InstanceMixEntry[];
  /** $/hour of `desired` (cost engine: of its mix; others: when the policy prices the default type). */
  costPerHour?: number;
  /** The predictive engine's forecast of the needed count (also set in forecast-only mode). */
  forecastDesired?: number;
}

/** One line of the cost engine's mix: `count` instances of `type` bought on `market` (`committed`: reserved capacity or a savings plan). */
export interface InstanceMixEntry {
  type: string;
  market: "on-demand" | "spot" | "committed";
  count: number;
  /** Capacity units per instance of this type (the group's desired count is in units). */
  capacityUnits: number;
  pricePerHour: number;
}

/** A change of the group's count that was carried out (launches started, drains begun). */
export interface ScaleChange {
  atMs: number;
  from: number;
  to: number;
}

/**
 * A scaling engine. `decide` is pure: it returns a new state (never mutates the one given), and the
 * state is JSON-serializable so a controller can persist it (etcd) and resume.
 *
 * `applied` is called once a decided change has been carried out (Kubernetes' `storeScaleEvent`
 * runs only after the scale update succeeded): rate limits count changes that happened, so a
 * change that failed does not use up the budget of the next one.
 */
export interface Engine<S = unknown> {
  readonly name: EngineName;
  init(): S;
  decide(state: S, input: ScalingInput): { decision: ScalingDecision; state: S };
  applied(state: S, change: ScaleChange): S;
  /**
   * Optional fast path for simulations of long quiet stretches: the state after deciding at every
   * tick `input.nowMs + k × periodMs ≤ untilMs` on this same input (only the time moving), provided
   * none of those decisions changes the count; `throughMs` is the last tick covered. Undefined when
   * the very first tick could act. Must equal calling `decide` tick by tick (a unit test checks it).
   */
  settle?(
    state: S,
    input: ScalingInput,
    untilMs: number,
    periodMs: number,
  ): { state: S; throughMs: number } | undefined;
}
