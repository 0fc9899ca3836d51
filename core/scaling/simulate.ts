/**
 * The trace simulator's model, pure: a (timestamp, demand) trace replayed through scaling engines
 * under one model, the same for every engine, so their figures compare.
 *
 * The model (every number is an option; defaults in {@link DEFAULT_MODEL}):
 *  - Time: a trace plays at its own time scale (an hourly row is an hour, a daily row a day) unless
 *    `stepSeconds` says how many simulated seconds one row stands for; demand between rows is
 *    linear. It is evaluated from the rows (a {@link DemandStream}), never expanded per second, so a
 *    trace of years costs its rows and its controller ticks. Replayed at another scale, the seasons
 *    (daily, weekly) are taken in the trace's own time and scaled the same way.
 *  - Demand is in requests/s; an instance serves `capacityPerInstance` of it at 100 % CPU. Ready
 *    instances share demand evenly (a load balancer); what exceeds their capacity is shed.
 *  - Every `periodSeconds` (15 s, Kubernetes' sync period) the engine sees each instance's metrics as
 *    they were `metricLagSeconds` earlier (30 s): cpu = min(100, 100·u) with u = demand/capacity,
 *    memory = 30 + 30·min(u, 1) %, requests/s = demand/ready, error rate = shed share, p95 =
 *    50 ms/(1 − min(u, 0.95)). Instances still warming up are `pending` with no metrics; instances
 *    ready for less than the lag report nothing yet (missing).
 *  - A new instance serves after `warmupSeconds` (180 s); a removed one stops at once (warming ones
 *    go first, then the newest). Engines never see the future.
 *  - Spot: a cost engine's spot instances are reclaimed at random (seeded, so runs repeat) at each
 *    type's interruption rate; the replacement launches at the notice and serves after its warm-up.
 *  - Figures: SLO-violation minutes = simulated time with demand above ready capacity (exact for
 *    the piecewise-linear demand); instance-hours = instances that exist (warming included) × time; cost =
 *    instance-hours × the on-demand price per capacity unit of the first priced type, except the
 *    cost engine, billed at its own mix's $/hour.
 */
import { interruptionsPerHour } from "./cost";
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
  /** Simulated seconds one trace row stands for; default: the trace's own step (an hourly row is an hour). */
  stepSeconds: number;
  /** Demand (requests/s) one instance serves at 100 % CPU. */
  capacityPerInstance: number;
  warmupSeconds: number;
  metricLagSeconds: number;
  periodSeconds: number;
  /** Instances at the start (default: what the first row needs at the cpu target). */
  initialInstances?: number;
}

export const DEFAULT_MODEL: Omit<SimulationModel, "capacityPerInstance" | "stepSeconds"> = {
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
  /** Spot instances the cloud reclaimed (cost engine: drawn from each spot type's interruption rate). */
  interruptions: number;
  decisions: number;
}

/**
 * The trace as a function of simulated time, evaluated from its rows (nothing per second is kept,
 * so an eight-year daily trace at its own time scale costs what its rows cost): demand is linear
 * between rows; `excess` integrates it against a capacity in closed form.
 */
export class DemandStream {
  /** Simulated second of each row, and its demand. */
  private readonly xs: Float64Array;
  private readonly ys: Float64Array;
  /** Simulated seconds from the first row to the last. */
  readonly seconds: number;
  private cursor = 0;

  constructor(points: readonly TracePoint[], stepSeconds: number) {
    const stepMs = traceStepMs(points);
    this.xs = Float64Array.from(points, (p) => ((p.t - points[0].t) / stepMs) * stepSeconds);
    this.ys = Float64Array.from(points, (p) => p.demand);
    this.seconds = this.xs[this.xs.length - 1];
  }

  /** Index of the row segment [xs[j], xs[j+1]] containing `s` (clamped to the trace). */
  private segment(s: number): number {
    const xs = this.xs;
    const last = xs.length - 2;
    let j = Math.min(this.cursor, last);
    if (xs[j] > s) {
      // backwards (lagged reads): binary search
      let lo = 0;
      let hi = j;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (xs[mid] <= s) lo = mid;
        else hi = mid - 1;
      }
      return lo;
    }
    while (j < last && xs[j + 1] <= s) j++;
    this.cursor = j;
    return j;
  }

  /** Demand at simulated second `s`. */
  at(s: number): number {
    const j = this.segment(s);
    const a = this.xs[j];
    const b = this.xs[j + 1];
    const f = b > a ? Math.min(1, Math.max(0, (s - a) / (b - a))) : 0;
    return this.ys[j] + f * (this.ys[j + 1] - this.ys[j]);
  }

  /**
   * Over [from, to) against a constant `capacity`: seconds with demand above it, the demand above
   * it (request-seconds shed) and all demand (request-seconds).
   */
  excess(from: number, to: number, capacity: number): { over: number; shed: number; total: number } {
    let over = 0;
    let shed = 0;
    let total = 0;
    let a = from;
    while (a < to - 1e-9) {
      const j = this.segment(a);
      const b = Math.min(to, j + 1 < this.xs.length - 1 ? this.xs[j + 1] : to);
      const end = b > a ? b : to;
      const da = this.at(a);
      const db = this.at(end);
      const dt = end - a;
      total += ((da + db) / 2) * dt;
      const ea = da - capacity;
      const eb = db - capacity;
      if (ea > 1e-9 && eb > 1e-9) {
        over += dt;
        shed += ((ea + eb) / 2) * dt;
      } else if (ea > 1e-9 || eb > 1e-9) {
        // crosses the capacity once: a triangle above it
        const hi = Math.max(ea, eb);
        const part = (dt * hi) / (Math.abs(ea) + Math.abs(eb));
        over += part;
        shed += (hi * part) / 2;
      }
      a = end;
    }
    return { over, shed, total };
  }
}

/** Demand per simulated second (index = second), interpolated linearly between rows (small traces, tests). */
export function demandPerSecond(points: readonly TracePoint[], stepSeconds: number): Float64Array {
  const stream = new DemandStream(points, stepSeconds);
  const out = new Float64Array(Math.floor(stream.seconds) + 1);
  for (let s = 0; s < out.length; s++) out[s] = stream.at(s);
  return out;
}

interface Instance {
  id: number;
  readyAt: number;
}

/**
 * The chart's series, at most {@link MAX_SERIES_POINTS} buckets of whole controller periods: start
 * (s), mean demand, mean ready capacity (requests/s), mean instances, seconds in violation.
 */
export interface SimulationSeries {
  t: number[];
  demand: number[];
  capacity: number[];
  instances: number[];
  violationSeconds: number[];
}

export const MAX_SERIES_POINTS = 4000;

export interface EngineRun {
  figures: EngineFigures;
  series: SimulationSeries;
  /**
   * Simulated seconds at each count the engine ran (`[count, seconds]`, by count): enough to price
   * the run again under other prices or commitments (the counts do not depend on prices).
   */
  occupancy: [number, number][];
  /** The last decision (for a look at the reason). */
  lastDecision?: ScalingDecision;
}

/**
 * Replays the demand through one engine. `pricePerUnitHour` bills every engine but the cost
 * engine, whose decisions carry their own $/hour. Memory is bounded whatever the trace's length:
 * the demand is evaluated from the rows, the ready count is kept for the metric lag only, and the
 * chart's series are bucketed.
 */
export function simulateEngine(
  engine: Engine,
  policy: ScalingPolicy,
  demand: DemandStream,
  model: SimulationModel,
  pricePerUnitHour: number,
  onTick?: () => void,
): EngineRun {
  const { periodSeconds, warmupSeconds, metricLagSeconds, capacityPerInstance: cap } = model;
  const total = demand.seconds;
  const initial = Math.min(
    policy.maxSize,
    Math.max(
      policy.minSize,
      model.initialInstances ?? Math.ceil(demand.at(0) / (cap * (policy.targets.cpuPercent / 100))),
    ),
  );
  let nextId = 0;
  let instances: Instance[] = Array.from({ length: initial }, () => ({ id: nextId++, readyAt: -Infinity }));
  // Ready count from each time on, kept for the metric lag only.
  let readyLog: { t: number; ready: number }[] = [{ t: 0, ready: initial }];
  const readyAtTime = (x: number): number => {
    let r = readyLog[0].ready;
    for (const e of readyLog) {
      if (e.t > x) break;
      r = e.ready;
    }
    return r;
  };
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
  let interruptions = 0;
  // Spot interruptions: a seeded generator, so a run is reproducible (mulberry32).
  let seed = 0x9e3779b9;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  let lastDecision: ScalingDecision | undefined;
  const series: SimulationSeries = { t: [], demand: [], capacity: [], instances: [], violationSeconds: [] };
  const occupancy = new Map<number, number>();
  const ticks = Math.floor(total / periodSeconds) + 1;
  const bucketTicks = Math.max(1, Math.ceil(ticks / MAX_SERIES_POINTS));
  let bucket = { start: 0, seconds: 0, demand: 0, capacity: 0, instances: 0, violation: 0, n: 0 };
  const flush = () => {
    if (bucket.seconds <= 0) return;
    series.t.push(bucket.start);
    series.demand.push(bucket.demand / bucket.seconds);
    series.capacity.push(bucket.capacity / bucket.seconds);
    series.instances.push(bucket.instances / bucket.seconds);
    series.violationSeconds.push(bucket.violation);
  };
  for (let tick = 0; tick <= total; tick += periodSeconds) {
    // 1. The controller decides on what it can see now (metrics lagged).
    const lagT = Math.max(0, tick - metricLagSeconds);
    let readyNow = 0;
    for (const i of instances) if (i.readyAt <= tick) readyNow++;
    const lagReady = lagT >= tick ? readyNow : readyAtTime(lagT);
    const lagDemand = demand.at(lagT);
    const u = lagReady > 0 ? lagDemand / (lagReady * cap) : 0;
    const measured = {
      ready: true,
      cpuPercent: Math.min(100, 100 * u),
      memoryPercent: 30 + 30 * Math.min(u, 1),
      requestsPerSecond: lagReady > 0 ? lagDemand / lagReady : 0,
      errorRate: u > 1 ? 1 - 1 / u : 0,
      p95LatencyMs: 50 / (1 - Math.min(u, 0.95)),
    };
    const samples: InstanceSample[] = instances.map((i) => {
      if (i.readyAt > tick) return { id: `i-${i.id}`, ready: false, phase: "pending" };
      if (i.readyAt > lagT) return { id: `i-${i.id}`, ready: true };
      return { id: `i-${i.id}`, ...measured };
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
    // Spot instances reclaimed this period (Poisson at each spot type's rate): the replacement is
    // launched at the notice and serves after its warm-up; the capacity is missing until then.
    for (const e of r.decision.mix ?? []) {
      if (e.market !== "spot" || !policy.cost) continue;
      const type = policy.cost.instanceTypes.find((t) => t.name === e.type);
      if (!type) continue;
      const expected = (e.count * interruptionsPerHour(type.spotInterruptionRate) * periodSeconds) / 3600;
      let events = 0;
      for (let p = Math.exp(-expected), acc = p, u = random(); u > acc && events < e.count;) {
        events++;
        p *= expected / events;
        acc += p;
      }
      for (let k = 0; k < events; k++) {
        interruptions++;
        const readyAt = tick + Math.max(0, warmupSeconds - policy.cost.interruptionNoticeSeconds);
        // The reclaimed instance's units: the newest ready ones go, replaced by warming ones.
        const ready = instances.filter((i) => i.readyAt <= tick).sort((a, b) => b.id - a.id);
        const gone = new Set(ready.slice(0, e.capacityUnits).map((i) => i.id));
        instances = [...instances.filter((i) => !gone.has(i.id)), ...[...gone].map(() => ({ id: nextId++, readyAt }))];
      }
    }
    maxInstances = Math.max(maxInstances, instances.length);
    onTick?.();
    // 2. The period plays out: capacity is constant between instances becoming ready.
    const end = Math.min(total, tick + periodSeconds);
    const becoming: number[] = [];
    let ready = 0;
    for (const i of instances) {
      if (i.readyAt <= tick) ready++;
      else if (i.readyAt < end) becoming.push(i.readyAt);
    }
    becoming.sort((a, b) => a - b);
    const keepFrom = tick - metricLagSeconds - periodSeconds;
    readyLog = readyLog.filter((_, k) => k === readyLog.length - 1 || readyLog[k + 1].t > keepFrom);
    readyLog.push({ t: tick, ready });
    let from = tick;
    const seconds = Math.max(0, end - tick);
    let capSeconds = 0;
    let over = 0;
    let demandSeconds = 0;
    for (let k = 0; k <= becoming.length; k++) {
      const to = k < becoming.length ? becoming[k] : end;
      if (to > from) {
        const e = demand.excess(from, to, ready * cap);
        over += e.over;
        shed += e.shed;
        demandSeconds += e.total;
        capSeconds += ready * cap * (to - from);
      }
      if (k < becoming.length) {
        ready++;
        readyLog.push({ t: becoming[k], ready });
        from = Math.max(from, becoming[k]);
      }
    }
    violation += over;
    demandSum += demandSeconds;
    instanceSeconds += instances.length * seconds;
    if (seconds > 0) occupancy.set(instances.length, (occupancy.get(instances.length) ?? 0) + seconds);
    cost += (costPerHour * seconds) / 3600;
    if (bucket.n === bucketTicks) {
      flush();
      bucket = { start: tick, seconds: 0, demand: 0, capacity: 0, instances: 0, violation: 0, n: 0 };
    }
    bucket.n++;
    bucket.seconds += seconds;
    bucket.demand += demandSeconds;
    bucket.capacity += capSeconds;
    bucket.instances += instances.length * seconds;
    bucket.violation += over;
  }
  flush();
  const seconds = Math.max(total, 1e-9);
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
      interruptions,
      decisions,
    },
    series,
    occupancy: [...occupancy.entries()].sort((a, b) => a[0] - b[0]),
    lastDecision,
  };
}

/**
 * The policy the simulator gives every engine for one trace: `base` (user options) with the
 * controller period and the predictive warm-up from the model. At the trace's own time scale the
 * predictive engine keeps the policy's own buckets and seasons (a day is a day). When rows are
 * replayed faster or slower (`stepSeconds` other than the trace's step), history buckets are one
 * row and the seasons, one day and one week of the trace's own time, are scaled the same way
 * (dropped when shorter than two rows).
 */
export function simulationPolicyInput(
  base: Record<string, unknown>,
  points: readonly TracePoint[],
  model: SimulationModel,
): Record<string, unknown> {
  const stepMs = traceStepMs(points);
  const predictive = (base.predictive ?? {}) as Record<string, unknown>;
  const ownScale = Math.abs(model.stepSeconds * 1000 - stepMs) < 1e-6;
  if (ownScale)
    return {
      ...base,
      periodSeconds: model.periodSeconds,
      predictive: { ...predictive, warmupSeconds: model.warmupSeconds },
    };
  const rowsPer = (seconds: number) => Math.round((seconds * 1000) / stepMs);
  const seasons = [
    { name: "daily", rows: rowsPer(86_400) },
    { name: "weekly", rows: rowsPer(7 * 86_400) },
  ]
    .filter((s) => s.rows >= 2)
    .map((s) => ({ name: s.name, seconds: s.rows * model.stepSeconds }));
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
): { model: SimulationModel; policy: ScalingPolicy; demand: DemandStream; stepNote: string } {
  let peak = 0;
  for (const p of points) peak = Math.max(peak, p.demand);
  const model: SimulationModel = {
    ...DEFAULT_MODEL,
    stepSeconds: traceStepMs(points) / 1000,
    capacityPerInstance: Math.max(peak / PEAK_INSTANCES_AT_FULL_CPU, 1e-9),
    ...stripUndefined(options.model),
  };
  const base = { minSize: 1, maxSize: 1000, ...(options.policy ?? {}), cost: { ...options.prices } };
  const policy = parsePolicy(simulationPolicyInput(base, points, model));
  const demand = new DemandStream(points, model.stepSeconds);
  const stepMs = traceStepMs(points);
  const stepNote =
    Math.abs(model.stepSeconds * 1000 - stepMs) < 1e-6
      ? `own time scale: one trace row = ${humanDuration(stepMs / 1000)}`
      : `one trace row (${humanDuration(stepMs / 1000)}) = ${humanDuration(model.stepSeconds)} simulated`;
  return { model, policy, demand, stepNote };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function humanDuration(seconds: number): string {
  if (!Number.isInteger(seconds)) return `${seconds.toFixed(1)} s`;
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
  return { model, policy, seconds: demand.seconds, stepNote, runs };
}

/** Controller ticks `runSimulation` will make (for a progress bar). */
export function ticksFor(
  points: readonly TracePoint[],
  model: Partial<SimulationModel>,
  engines = SIMULATED_ENGINES.length,
): number {
  const m = { ...DEFAULT_MODEL, stepSeconds: traceStepMs(points) / 1000, ...stripUndefined(model) };
  const seconds = ((points[points.length - 1].t - points[0].t) / traceStepMs(points)) * m.stepSeconds;
  return (Math.floor(seconds / m.periodSeconds) + 1) * engines;
}
