/**
 * The trace simulator's model, pure: a (timestamp, demand) trace replayed through scaling engines
 * under one model, the same for every engine, so their figures compare.
 *
 * The model (every number is an option; defaults in {@link DEFAULT_MODEL}):
 *  - Time: one trace row is `stepSeconds` of simulated time (default 60 s), whatever the trace's own
 *    interval (irregular gaps scale the same way); demand between rows is linearly interpolated.
 *    Seasons (daily, weekly) are taken in the trace's own time and scaled the same way, so an hourly
 *    trace's day is 24 simulated minutes.
 *  - Demand is in requests/s; an instance serves `capacityPerInstance` of it at 100 % CPU. Ready
 *    instances share demand evenly (a load balancer); what exceeds their capacity is shed.
 *  - Every `periodSeconds` (15 s, Kubernetes' sync period) the engine sees each instance's metrics as
 *    they were `metricLagSeconds` earlier (30 s): cpu = min(100, 100·u) with u = demand/capacity,
 *    memory = 30 + 30·min(u, 1) %, requests/s = demand/ready, error rate = shed share, p95 =
 *    50 ms/(1 − min(u, 0.95)). Instances still warming up are `pending` with no metrics; instances
 *    ready for less than the lag report nothing yet (missing).
 *  - A new instance serves after `warmupSeconds` (180 s); a removed one stops at once (warming ones
 *    go first, then the newest). Engines never see the future.
 *  - Figures: SLO-violation minutes = simulated time with demand above ready capacity (1 s
 *    resolution); instance-hours = instances that exist (warming included) × time; cost =
 *    instance-hours × the on-demand price per capacity unit of the first priced type, except the
 *    cost engine, billed at its own mix's $/hour.
 */
import type { ScalingPolicy } from "./policy";
import type { Engine, EngineName, InstanceSample, ScalingDecision } from "./types";

export interface TracePoint {
  /** Trace timestamp, ms since the epoch. */
  t: number;
  demand: number;
}

/** Thrown for an unreadable trace; the message names the line (1-based, as an editor shows it). */
export class TraceError extends Error {
  constructor(
    readonly source: string,
    readonly line: number,
    message: string,
  ) {
    super(`${source}:${line}: ${message}`);
    this.name = "TraceError";
  }
}

/** `2023-04-01 00:00:00`, `2007-12-10`, ISO 8601, or a number (epoch seconds) → ms, UTC. */
export function parseTimestamp(raw: string): number | undefined {
  const s = raw.trim();
  if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  const m = /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?))?(Z|[+-]\d{2}:?\d{2})?$/.exec(s);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}T${m[2] ?? "00:00:00"}${m[3] ?? "Z"}`);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * Parses a trace CSV: an optional header (`ds,y`, `timestamp,demand`, ...), then `timestamp,demand`
 * rows. Refuses non-numeric or negative demand, unreadable timestamps and rows not strictly after
 * the previous one, naming the line.
 */
export function parseTraceCsv(text: string, source = "trace"): TracePoint[] {
  const points: TracePoint[] = [];
  const lines = text.split(/\r?\n/);
  let first = true;
  lines.forEach((line, i) => {
    const n = i + 1;
    if (line.trim() === "" || line.trimStart().startsWith("#")) return;
    const cells = line.split(",").map((c) => c.trim().replace(/^"(.*)"$/, "$1"));
    const isHeader =
      first && cells.length >= 2 && parseTimestamp(cells[0]) === undefined && !Number.isFinite(Number(cells[1]));
    first = false;
    if (isHeader) return;
    if (cells.length < 2) throw new TraceError(source, n, `expected "timestamp,demand"; got ${JSON.stringify(line)}`);
    const t = parseTimestamp(cells[0]);
    if (t === undefined)
      throw new TraceError(
        source,
        n,
        `timestamp ${JSON.stringify(cells[0])} is not a date (YYYY-MM-DD[ HH:MM[:SS]]) or a number of seconds`,
      );
    const demand = cells[1] === "" ? NaN : Number(cells[1]);
    if (!Number.isFinite(demand)) throw new TraceError(source, n, `demand ${JSON.stringify(cells[1])} is not a number`);
    if (demand < 0) throw new TraceError(source, n, `demand ${demand} is negative`);
    const prev = points[points.length - 1];
    if (prev && t <= prev.t)
      throw new TraceError(
        source,
        n,
        `timestamp ${cells[0]} is not after the previous row's (rows must be sorted by time, without duplicates)`,
      );
    points.push({ t, demand });
  });
  if (points.length < 2) throw new TraceError(source, lines.length, `needs at least two rows; got ${points.length}`);
  return points;
}

/** The trace's own step: the median interval between rows, ms. */
export function traceStepMs(points: readonly TracePoint[]): number {
  const d = points
    .slice(1)
    .map((p, i) => p.t - points[i].t)
    .sort((a, b) => a - b);
  return d[Math.floor(d.length / 2)];
}

export interface SimulationModel {
  /** Simulated seconds one trace row stands for. */
  stepSeconds: number;
  /** Demand (requests/s) one instance serves at 100 % CPU. */
  capacityPerInstance: number;
  warmupSeconds: number;
  metricLagSeconds: number;
  periodSeconds: number;
  /** Instances at the start (default: what the first row needs at the cpu target). */
  initialInstances?: number;
}

export const DEFAULT_MODEL: Omit<SimulationModel, "capacityPerInstance"> = {
  stepSeconds: 60,
  warmupSeconds: 180,
  metricLagSeconds: 30,
  periodSeconds: 15,
};

/** Default capacity: the trace's peak is served by this many instances at 100 % CPU. */
export const PEAK_INSTANCES_AT_FULL_CPU = 20;

/** One engine's figures on one trace. */
export interface EngineFigures {
  engine: EngineName;
  violationMinutes: number;
  /** Share of the simulated time in violation. */
  violationShare: number;
  /** Requests shed (demand above capacity), as a share of all demand. */
  unservedShare: number;
  instanceHours: number;
  cost: number;
  maxInstances: number;
  scaleEvents: number;
  decisions: number;
}

/** Demand per simulated second (index = second), interpolated linearly between rows. */
export function demandPerSecond(points: readonly TracePoint[], stepSeconds: number): Float64Array {
  const stepMs = traceStepMs(points);
  const simOf = (t: number) => ((t - points[0].t) / stepMs) * stepSeconds;
  const total = Math.floor(simOf(points[points.length - 1].t));
  const out = new Float64Array(total + 1);
  let j = 0;
  for (let s = 0; s <= total; s++) {
    while (j < points.length - 2 && simOf(points[j + 1].t) < s) j++;
    const a = simOf(points[j].t);
    const b = simOf(points[j + 1].t);
    const f = b > a ? Math.min(1, Math.max(0, (s - a) / (b - a))) : 0;
    out[s] = points[j].demand + f * (points[j + 1].demand - points[j].demand);
  }
  return out;
}

interface Instance {
  id: number;
  readyAt: number;
}

/** Per-tick series for the chart: time (s), demand, ready capacity (requests/s), instances. */
export interface SimulationSeries {
  t: number[];
  demand: number[];
  capacity: number[];
  instances: number[];
}

export interface EngineRun {
  figures: EngineFigures;
  series: SimulationSeries;
  /** The last decision (for a look at the reason). */
  lastDecision?: ScalingDecision;
}

/**
 * Replays `demand` (per simulated second) through one engine. `pricePerUnitHour` bills every engine
 * but the cost engine, whose decisions carry their own $/hour.
 */
export function simulateEngine(
  engine: Engine,
  policy: ScalingPolicy,
  demand: Float64Array,
  model: SimulationModel,
  pricePerUnitHour: number,
  onTick?: () => void,
): EngineRun {
  const { periodSeconds, warmupSeconds, metricLagSeconds, capacityPerInstance: cap } = model;
  const total = demand.length - 1;
  const initial = Math.min(
    policy.maxSize,
    Math.max(
      policy.minSize,
      model.initialInstances ?? Math.ceil(demand[0] / (cap * (policy.targets.cpuPercent / 100))),
    ),
  );
  let nextId = 0;
  let instances: Instance[] = Array.from({ length: initial }, () => ({ id: nextId++, readyAt: -Infinity }));
  // Ready count per second (for lagged metrics); -1 = not simulated yet.
  const readyAt = new Int32Array(total + 1);
  let state = engine.init();
  let violation = 0;
  let shed = 0;
  let demandSum = 0;
  let instanceSeconds = 0;
  let cost = 0;
  let costPerHour = instances.length * pricePerUnitHour;
  let maxInstances = instances.length;
  let scaleEvents = 0;
  let decisions = 0;
  let lastDecision: ScalingDecision | undefined;
  const series: SimulationSeries = { t: [], demand: [], capacity: [], instances: [] };
  for (let tick = 0; tick <= total; tick += periodSeconds) {
    // 1. The controller decides on what it can see now (metrics lagged).
    const lagT = Math.max(0, tick - metricLagSeconds);
    const lagReady = lagT >= tick ? instances.filter((i) => i.readyAt <= tick).length : readyAt[lagT];
    const u = lagReady > 0 ? demand[lagT] / (lagReady * cap) : 0;
    const samples: InstanceSample[] = instances.map((i) => {
      if (i.readyAt > tick) return { id: `i-${i.id}`, ready: false, phase: "pending" };
      if (i.readyAt > lagT) return { id: `i-${i.id}`, ready: true };
      return {
        id: `i-${i.id}`,
        ready: true,
        cpuPercent: Math.min(100, 100 * u),
        memoryPercent: 30 + 30 * Math.min(u, 1),
        requestsPerSecond: lagReady > 0 ? demand[lagT] / lagReady : 0,
        errorRate: u > 1 ? 1 - 1 / u : 0,
        p95LatencyMs: 50 / (1 - Math.min(u, 0.95)),
      };
    });
    const r = engine.decide(state, { nowMs: tick * 1000, current: instances.length, instances: samples });
    state = r.state;
    decisions++;
    lastDecision = r.decision;
    const desired = r.decision.desired;
    const before = instances.length;
    if (desired > instances.length) {
      while (instances.length < desired) instances.push({ id: nextId++, readyAt: tick + warmupSeconds });
      scaleEvents++;
    } else if (desired < instances.length) {
      // Warming instances first, then the newest.
      instances = [...instances].sort((a, b) => a.readyAt - b.readyAt || a.id - b.id).slice(0, desired);
      scaleEvents++;
    }
    if (instances.length !== before)
      state = engine.applied(state, { atMs: tick * 1000, from: before, to: instances.length });
    if (r.decision.costPerHour !== undefined) costPerHour = r.decision.costPerHour;
    else costPerHour = instances.length * pricePerUnitHour;
    maxInstances = Math.max(maxInstances, instances.length);
    onTick?.();
    // 2. The period plays out, second by second.
    const end = Math.min(total, tick + periodSeconds - 1);
    let capSum = 0;
    let ready = 0;
    const becoming: number[] = [];
    for (const i of instances) {
      if (i.readyAt <= tick) ready++;
      else if (i.readyAt <= end) becoming.push(i.readyAt);
    }
    becoming.sort((a, b) => a - b);
    let next = 0;
    for (let s = tick; s <= end; s++) {
      while (next < becoming.length && becoming[next] <= s) {
        ready++;
        next++;
      }
      readyAt[s] = ready;
      const capacity = ready * cap;
      const d = demand[s];
      if (d > capacity + 1e-9) {
        violation++;
        shed += d - capacity;
      }
      demandSum += d;
      capSum += capacity;
      instanceSeconds += instances.length;
      cost += costPerHour / 3600;
    }
    const n = end - tick + 1;
    series.t.push(tick);
    series.demand.push(demand[tick]);
    series.capacity.push(capSum / n);
    series.instances.push(instances.length);
  }
  const seconds = total + 1;
  return {
    figures: {
      engine: engine.name,
      violationMinutes: violation / 60,
      violationShare: violation / seconds,
      unservedShare: demandSum > 0 ? shed / demandSum : 0,
      instanceHours: instanceSeconds / 3600,
      cost,
      maxInstances,
      scaleEvents,
      decisions,
    },
    series,
    lastDecision,
  };
}

/**
 * The policy the simulator gives every engine for one trace: `base` (user options) with the
 * predictive settings mapped into simulated time — history buckets of one trace row, seasons of
 * one day and one week of the trace's own time (dropped when shorter than two rows), warm-up and
 * period from the model.
 */
export function simulationPolicyInput(
  base: Record<string, unknown>,
  points: readonly TracePoint[],
  model: SimulationModel,
): Record<string, unknown> {
  const stepMs = traceStepMs(points);
  const rowsPer = (seconds: number) => Math.round((seconds * 1000) / stepMs);
  const seasons = [
    { name: "daily", rows: rowsPer(86_400) },
    { name: "weekly", rows: rowsPer(7 * 86_400) },
  ]
    .filter((s) => s.rows >= 2)
    .map((s) => ({ name: s.name, seconds: s.rows * model.stepSeconds }));
  const predictive = (base.predictive ?? {}) as Record<string, unknown>;
  return {
    ...base,
    periodSeconds: model.periodSeconds,
    predictive: { ...predictive, warmupSeconds: model.warmupSeconds, sampleSeconds: model.stepSeconds, seasons },
  };
}

/** Options of one simulation run (the CLI's flags). */
export interface SimulationOptions {
  model: Partial<SimulationModel>;
  /** Policy settings shared by every engine (bounds, targets, ...); the simulator sets the timing. */
  policy?: Record<string, unknown>;
  /** Prices for the cost engine and the bill of the others (core/scaling/prices.json shape). */
  prices: NonNullable<ScalingPolicy["cost"]>;
  engines?: readonly EngineName[];
}

export interface TraceRun {
  model: SimulationModel;
  policy: ScalingPolicy;
  /** Simulated seconds. */
  seconds: number;
  /** What one trace row stands for, in words. */
  stepNote: string;
  runs: EngineRun[];
}

/** Everything `simulateTrace` needs before running: the resolved model and policy, and the demand. */
export function prepareTrace(
  points: readonly TracePoint[],
  options: SimulationOptions,
  parsePolicy: (raw: unknown) => ScalingPolicy,
): { model: SimulationModel; policy: ScalingPolicy; demand: Float64Array; stepNote: string } {
  const peak = Math.max(...points.map((p) => p.demand));
  const model: SimulationModel = {
    ...DEFAULT_MODEL,
    capacityPerInstance: Math.max(peak / PEAK_INSTANCES_AT_FULL_CPU, 1e-9),
    ...stripUndefined(options.model),
  };
  const base = { minSize: 1, maxSize: 1000, ...(options.policy ?? {}), cost: { ...options.prices } };
  const policy = parsePolicy(simulationPolicyInput(base, points, model));
  const demand = demandPerSecond(points, model.stepSeconds);
  const stepMs = traceStepMs(points);
  const stepNote = `one trace row (${humanDuration(stepMs / 1000)}) = ${humanDuration(model.stepSeconds)} simulated`;
  return { model, policy, demand, stepNote };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function humanDuration(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400} d`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** The on-demand price of one capacity unit of the first priced type: the bill of non-cost engines. */
export const unitPrice = (prices: NonNullable<ScalingPolicy["cost"]>): number =>
  prices.instanceTypes[0].onDemandPerHour / prices.instanceTypes[0].capacityUnits;

/** Every engine, in report order (hpa, the reference, first). */
export const SIMULATED_ENGINES: readonly EngineName[] = ["hpa", "threshold", "predictive", "multi-metric", "cost"];

/**
 * Runs the trace through every engine (or `options.engines`) under one model and one policy.
 * `wrap` lets a caller decorate each engine (the bench times `decide`); `onTick` reports progress.
 */
export function runSimulation(
  points: readonly TracePoint[],
  options: SimulationOptions,
  deps: {
    parsePolicy: (raw: unknown) => ScalingPolicy;
    createEngine: (policy: ScalingPolicy, name: EngineName) => Engine;
  },
  hooks: { wrap?: (engine: Engine) => Engine; onTick?: () => void } = {},
): TraceRun {
  const { model, policy, demand, stepNote } = prepareTrace(points, options, deps.parsePolicy);
  const price = unitPrice(options.prices);
  const runs = (options.engines ?? SIMULATED_ENGINES).map((name) => {
    const engine = deps.createEngine(policy, name);
    return simulateEngine(hooks.wrap ? hooks.wrap(engine) : engine, policy, demand, model, price, hooks.onTick);
  });
  return { model, policy, seconds: demand.length, stepNote, runs };
}

/** Controller ticks `runSimulation` will make (for a progress bar). */
export function ticksFor(
  points: readonly TracePoint[],
  model: Partial<SimulationModel>,
  engines = SIMULATED_ENGINES.length,
): number {
  const m = { ...DEFAULT_MODEL, ...stripUndefined(model) };
  const seconds = Math.floor(((points[points.length - 1].t - points[0].t) / traceStepMs(points)) * m.stepSeconds) + 1;
  return Math.ceil(seconds / m.periodSeconds) * engines;
}
