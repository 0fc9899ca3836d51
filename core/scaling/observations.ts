/**
 * From raw observations to the engines' {@link InstanceSample}, pure: Docker stats counters and a
 * parsed Prometheus `/metrics` page, each compared with the previous scrape of the same instance
 * (CPU and request counters are cumulative; a rate needs two points).
 */
import type { InstanceSample } from "./types";

/** The gauge the sample app reports its in-flight requests in (the drain waits for it to reach 0). */
export const IN_FLIGHT_GAUGE = "sample_app_in_flight_requests";
/** The gauge that is 1 while the instance drains (after /shutdown). */
export const DRAINING_GAUGE = "sample_app_draining";
/** The request counter (label `code`) rates and error rates come from. */
export const REQUESTS_COUNTER = "sample_app_requests_total";

/** A metric family as the Prometheus text parser returns it. */
export interface MetricFamily {
  name: string;
  type: string;
  metrics: { value?: string; labels?: Record<string, string> }[];
}

/** The figures of one scrape that later scrapes are compared with. */
export interface ScrapePoint {
  atMs: number;
  cpuTotalNs?: number;
  requestsTotal?: number;
  errorsTotal?: number;
}

/** Gauges (summed over label sets) and the request counters of one /metrics page. */
export function readMetrics(families: readonly MetricFamily[]): {
  gauges: Record<string, number>;
  requestsTotal?: number;
  errorsTotal?: number;
} {
  const gauges: Record<string, number> = {};
  let requestsTotal: number | undefined;
  let errorsTotal: number | undefined;
  for (const f of families) {
    const values = f.metrics
      .map((m) => ({ v: Number(m.value), labels: m.labels ?? {} }))
      .filter((m) => Number.isFinite(m.v));
    if (f.type.toUpperCase() === "GAUGE") gauges[f.name] = values.reduce((s, m) => s + m.v, 0);
    if (f.name === REQUESTS_COUNTER) {
      requestsTotal = values.reduce((s, m) => s + m.v, 0);
      errorsTotal = values.filter((m) => /^5\d\d$/.test(m.labels.code ?? "")).reduce((s, m) => s + m.v, 0);
    }
  }
  // The scrape that produced this page was itself in flight while the page was rendered.
  if (gauges[IN_FLIGHT_GAUGE] !== undefined) gauges[IN_FLIGHT_GAUGE] = Math.max(0, gauges[IN_FLIGHT_GAUGE] - 1);
  return { gauges, ...(requestsTotal !== undefined ? { requestsTotal, errorsTotal } : {}) };
}

/** Per-second rate of a cumulative counter between two points; undefined without both or on a reset. */
export function rate(prev: number | undefined, cur: number | undefined, seconds: number): number | undefined {
  if (prev === undefined || cur === undefined || seconds <= 0 || cur < prev) return undefined;
  return (cur - prev) / seconds;
}

/**
 * CPU percent of the container's CPU limit (what HPA utilisation means for a pod whose request
 * equals its limit) between two stats samples, and memory percent of its memory limit.
 */
export function resourcePercents(
  stats: NonNullable<RawObservation["stats"]>,
  prevCpuTotalNs: number | undefined,
  seconds: number,
): { cpuPercent?: number; memoryPercent?: number } {
  const out: { cpuPercent?: number; memoryPercent?: number } = {};
  const cpuPerSecond = rate(prevCpuTotalNs, stats.cpuTotalNs, seconds);
  if (cpuPerSecond !== undefined && stats.cpuLimit > 0)
    out.cpuPercent = Math.min(100, (cpuPerSecond / 1e9 / stats.cpuLimit) * 100);
  if (stats.memoryLimit > 0) out.memoryPercent = (stats.memoryUsage / stats.memoryLimit) * 100;
  return out;
}

/** One instance's observation this pass. */
export interface RawObservation {
  id: string;
  ready: boolean;
  atMs: number;
  /** Docker stats: cumulative CPU ns, memory bytes in use and the limit; the container's CPU limit. */
  stats?: { cpuTotalNs: number; memoryUsage: number; memoryLimit: number; cpuLimit: number };
  /** The parsed /metrics page. */
  metrics?: readonly MetricFamily[];
}

/**
 * The engine's sample for one instance, and the point to compare the next scrape with.
 * CPU percent is of the container's CPU limit (what HPA utilisation means for a pod whose request
 * equals its limit); memory percent is of its memory limit.
 */
export function toSample(
  o: RawObservation,
  prev: ScrapePoint | undefined,
): { sample: InstanceSample; point: ScrapePoint } {
  const m = o.metrics ? readMetrics(o.metrics) : undefined;
  const point: ScrapePoint = {
    atMs: o.atMs,
    cpuTotalNs: o.stats?.cpuTotalNs,
    requestsTotal: m?.requestsTotal,
    errorsTotal: m?.errorsTotal,
  };
  const seconds = prev ? (o.atMs - prev.atMs) / 1000 : 0;
  const sample: InstanceSample = {
    id: o.id,
    ready: o.ready,
    ...(o.stats ? resourcePercents(o.stats, prev?.cpuTotalNs, seconds) : {}),
  };
  if (m) {
    sample.gauges = m.gauges;
    const rps = rate(prev?.requestsTotal, m.requestsTotal, seconds);
    if (rps !== undefined) sample.requestsPerSecond = rps;
    const errs = rate(prev?.errorsTotal, m.errorsTotal, seconds);
    if (rps !== undefined && errs !== undefined) sample.errorRate = rps > 0 ? Math.min(1, errs / rps) : 0;
  }
  return { sample, point };
}
