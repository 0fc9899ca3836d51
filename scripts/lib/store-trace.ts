/**
 * `npm run simulate -- --from-store <url>`: a load trace read from the MetricsStore (the history
 * the scaler wrote there, or any metric) instead of a CSV file: the range query's series summed
 * per timestamp, at the simulator's step, written as a trace CSV the simulator then replays.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { traceCsv } from "../../core/scaling/traces";
import type { TracePoint } from "../../core/scaling/simulate";
import { MetricsClient } from "../../runtime/metrics-store/client";

/** The default query: the sample app's request rate over every instance. */
export const DEFAULT_STORE_QUERY = "sum(rate(sample_app_requests_total[1m]))";

/** The trace of `query` over the last `hours`, one point per `stepSeconds` (series summed). */
export async function traceFromStore(
  url: string,
  query: string,
  hours: number,
  stepSeconds: number,
): Promise<TracePoint[]> {
  const stepMs = stepSeconds * 1000;
  const end = Math.floor(Date.now() / stepMs) * stepMs;
  const start = end - Math.round((hours * 3_600_000) / stepMs) * stepMs;
  const series = await new MetricsClient({ url, timeoutMs: 30_000 }).queryRange(query, { start, end, stepMs });
  const sum = new Map<number, number>();
  for (const s of series) for (const [t, v] of s.points) if (Number.isFinite(v)) sum.set(t, (sum.get(t) ?? 0) + v);
  const points = [...sum].sort((a, b) => a[0] - b[0]).map(([t, demand]) => ({ t, demand }));
  if (points.length < 2)
    throw new Error(
      `--from-store ${url}: ${JSON.stringify(query)} returned ${points.length} point(s) over the last ${hours} h; nothing to replay`,
    );
  return points;
}

/** Writes the trace to a temporary CSV named after the store; returns its path. */
export async function storeTraceFile(url: string, query: string, hours: number, stepSeconds: number): Promise<string> {
  const points = await traceFromStore(url, query, hours, stepSeconds);
  const path = join(mkdtempSync(join(tmpdir(), "scaleplane-store-trace-")), "from-store.csv");
  writeFileSync(path, traceCsv(points));
  return path;
}
