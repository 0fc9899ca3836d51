/**
 * The predictive engine's history, durable in the MetricsStore: every period the scaler writes the
 * group's measured load (`scaler_load{group, namespace}`, in the units of `predictive.metric`,
 * e.g. CPU percent-instances), and a scaler that starts (a rollout, a rescheduled pod) reads the
 * last two longest seasons back, one point per history bucket (`avg_over_time` over the bucket),
 * and folds them into its forecast (core/scaling/predictive.ts withHistory) before its first
 * decision. A bucket the store has nothing for (the scaler was down) stays a gap; nothing is filled.
 * Why the store and not etcd: the history is a time series (two weeks at 5-minute buckets is 4,032
 * points per group), which is what the store compresses, rolls up and serves by range; etcd keeps
 * the small decision state.
 */
import type { ScalingPolicy } from "../../core/scaling";
import type { MetricsClient } from "../metrics-store/client";

/** The series the scaler writes its measured load to. */
export const LOAD_METRIC = "scaler_load";
/** Most points one read asks for (Prometheus refuses more than 11,000 per series). */
export const MAX_HISTORY_POINTS = 11_000;

export class PredictiveHistory {
  private readonly selector: string;

  constructor(
    private readonly client: MetricsClient,
    private readonly labels: Record<string, string>,
    private readonly predictive: ScalingPolicy["predictive"],
  ) {
    this.selector = `${LOAD_METRIC}{${Object.entries(labels)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(",")}}`;
  }

  /** The range read at start: `[from, to]` ms, bucket-aligned, covering two longest seasons (or what fits in MAX_HISTORY_POINTS). */
  range(nowMs: number): { start: number; end: number; stepMs: number } {
    const stepMs = this.predictive.sampleSeconds * 1000;
    const longest = Math.max(stepMs, ...this.predictive.seasons.map((s) => s.seconds * 1000));
    const buckets = Math.min(MAX_HISTORY_POINTS - 1, Math.ceil((2 * longest) / stepMs));
    const end = Math.floor(nowMs / stepMs) * stepMs;
    return { start: end - buckets * stepMs, end, stepMs };
  }

  /**
   * The stored load, one `[bucket start ms, mean]` per bucket that has samples, oldest first.
   * `avg_over_time(...[step])` at `t` is the mean over (t − step, t]; evaluated 1 ms before each
   * bucket's end it is the mean over exactly the forecaster's bucket [start, start + step).
   */
  async read(nowMs: number): Promise<[number, number][]> {
    const range = this.range(nowMs);
    const series = await this.client.queryRange(`avg_over_time(${this.selector}[${this.predictive.sampleSeconds}s])`, {
      ...range,
      start: range.start + range.stepMs - 1,
      end: range.end - 1,
    });
    const points = series
      .flatMap((s) => s.points)
      .filter(([, v]) => Number.isFinite(v))
      .map(([t, v]): [number, number] => [t + 1 - range.stepMs, v]);
    return points.sort((a, b) => a[0] - b[0]);
  }

  /** Writes one measurement (idempotent: a sample is its series and timestamp). */
  async record(tMs: number, load: number): Promise<void> {
    if (!Number.isFinite(load)) return;
    await this.client.write([{ labels: { __name__: LOAD_METRIC, ...this.labels }, samples: [[tMs, load]] }]);
  }
}
