/**
 * `npm run bench -- metrics [--instances 20] [--hours 2] [--concurrency 5]`: the MetricsStore
 * side by side with Prometheus 2.42 (Debian) in one run, both receiving the same remote-write
 * requests from this process.
 *
 * Data: the generated node_exporter set of bench/node-exporter.ts (525 series per instance: CPU
 * ticks, network, disk, memory in pages, filesystems, vmstat/netstat, the exporter's own Go
 * runtime and collector durations at full float precision, 58 % constant), each instance scraped
 * every 15 s at its own phase, for `--hours` (default 2 h; 20 instances = 10,500 series, 5.0 M
 * samples), ending now; plus a replay of the shipped traces (traces/*.csv and the real ones in
 * traces/public: the last 480 rows of each, one row per 15 s, ending now).
 * Requests carry 2,000 samples (one per series, in time order, Prometheus' own framing); one time
 * step's requests go in parallel (`--concurrency`), steps in order (Prometheus refuses
 * out-of-order samples).
 *
 * Figures (one JSON line):
 * - `ingest_samples_per_s` / `prometheus_ingest_samples_per_s` / `ingest_samples_per_s_vs_prometheus`:
 *   samples acknowledged per second of wall time, from the first request sent to the last answer,
 *   each receiver alone (Prometheus first).
 * - `bytes_per_sample` (raw store: chunk tables + series index, every partition, TOAST and index
 *   included, `pg_total_relation_size`, after sealing every block), `bytes_per_sample_with_rollups`
 *   (plus the 1m and 1h rollups), `prometheus_bytes_per_sample` (a TSDB snapshot taken with the
 *   head included, `POST /api/v1/admin/tsdb/snapshot`: its chunks, index, meta and tombstones, the
 *   on-disk form of a sealed block; the WAL is not counted on either side: the store's head is
 *   emptied by sealing) and `bytes_per_sample_vs_prometheus`.
 * - `query_range_p50_ms` per dashboard query and `query_range_p50_vs_prometheus` (median of the
 *   per-query ratios of p50s over `--rounds` runs).
 * - `rollup_max_rel_error`: the largest relative difference between the store's rollup answers
 *   and its raw answers for the same queries and evaluation times; `max_rel_diff_vs_prometheus`:
 *   against Prometheus' answers.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { compress } from "snappyjs";
import { encodeWriteRequest } from "../core/metrics/remote-write";
import { maintainShard } from "../runtime/metrics-store/maintenance";
import { startStore, type RunningStore } from "../runtime/metrics-store/main";
import { ConfigClient } from "../runtime/config-client";
import { shardSql } from "../runtime/shard-client";
import pino from "pino";
import { startLocalEtcd } from "../test/support/etcd-cluster";
import { startPgCluster } from "../test/support/pg-cluster";
import { startPrometheus } from "../test/support/prometheus";
import { instancePhase, instanceSeries, SCRAPE_MS } from "./node-exporter";

const silent = pino({ level: "silent" });
const STEP = SCRAPE_MS;

/** The shipped traces: the last `rows` values of each CSV (second column). */
function traceSeries(root: string, rows: number): { name: string; values: number[] }[] {
  const dirs = [join(root, "traces"), join(root, "traces/public")];
  const out: { name: string; values: number[] }[] = [];
  for (const dir of dirs) {
    let files: string[] = [];
    try {
      files = readdirSync(dir).filter((f) => f.endsWith(".csv"));
    } catch {
      continue;
    }
    for (const f of files) {
      const values = readFileSync(join(dir, f), "utf8")
        .trim()
        .split("\n")
        .slice(1)
        .map((l) => Number(l.split(",")[1]))
        .filter(Number.isFinite);
      out.push({ name: f.replace(/\.csv$/, ""), values: values.slice(-rows) });
    }
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const du = (path: string): number => {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((n, f) => n + du(join(path, f)), 0);
};

async function post(url: string, body: Uint8Array): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const r = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/x-protobuf", "content-encoding": "snappy" },
      body,
    });
    if (r.status === 204 || r.status === 200) return;
    const text = await r.text();
    if (r.status < 500 || attempt >= 5) throw new Error(`${url}: ${r.status} ${text}`);
    await sleep(200);
  }
}

async function ingest(url: string, steps: Uint8Array[][], concurrency: number): Promise<number> {
  const t0 = performance.now();
  for (const step of steps)
    for (let i = 0; i < step.length; i += concurrency)
      await Promise.all(step.slice(i, i + concurrency).map((b) => post(url, b)));
  return (performance.now() - t0) / 1000;
}

async function queryRange(base: string, p: Record<string, string>): Promise<{ ms: number; data: unknown }> {
  const t0 = performance.now();
  const r = await fetch(`${base}/api/v1/query_range`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(p).toString(),
  });
  const body = (await r.json()) as { status: string; data: unknown; error?: string };
  if (body.status !== "success") throw new Error(`${base} ${p.query}: ${body.error}`);
  return { ms: performance.now() - t0, data: body.data };
}

type Matrix = { result: { metric: Record<string, string>; values: [number, string][] }[] };
/** Largest relative difference between two matrices (matched by labels and time). */
function maxRelDiff(a: Matrix, b: Matrix): number {
  const key = (m: Record<string, string>) => JSON.stringify(Object.entries(m).sort());
  const other = new Map(b.result.map((s) => [key(s.metric), new Map(s.values.map(([t, v]) => [t, Number(v)]))]));
  let worst = 0;
  for (const s of a.result) {
    const o = other.get(key(s.metric));
    for (const [t, v] of s.values) {
      const x = Number(v);
      const y = o?.get(t);
      if (y === undefined) return Infinity;
      if (Number.isNaN(x) && Number.isNaN(y)) continue;
      const d = Math.abs(x - y) / Math.max(Math.abs(x), Math.abs(y), 1e-12);
      if (d > worst) worst = d;
    }
  }
  return worst;
}

export default async function metricsBench(argv: string[]): Promise<Record<string, unknown>> {
  const { values: o } = parseArgs({
    args: argv.filter((a) => a !== "metrics"),
    options: {
      instances: { type: "string", default: "20" },
      hours: { type: "string", default: "2" },
      concurrency: { type: "string", default: "5" },
      rounds: { type: "string", default: "5" },
    },
    strict: false,
  });
  const instances = Number(o.instances);
  const steps = Math.round((Number(o.hours) * 3_600_000) / STEP);
  const concurrency = Number(o.concurrency);
  const rounds = Number(o.rounds);
  const root = join(__dirname, "..");

  // --- data, encoded once --------------------------------------------------------------------
  const end = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
  const start = end - (steps - 1) * STEP;
  const gen = Array.from({ length: instances }, (_, i) =>
    instanceSeries(i).map((s) => ({ ...s, phase: instancePhase(i) })),
  ).flat();
  const traces = traceSeries(root, steps);
  const seriesCount = gen.length + traces.length;
  console.log(
    `metrics bench: ${gen.length} generated series + ${traces.length} traces, ${steps} scrapes of 15 s, ${instances} instances`,
  );
  const requests: Uint8Array[][] = [];
  let samples = 0;
  for (let k = 0; k < steps; k++) {
    const batch = [
      ...gen.map((s) => ({
        labels: s.labels,
        t: [start + k * STEP + s.phase],
        v: new Float64Array([s.next(k)]),
      })),
      ...traces
        .filter((tr) => k >= steps - tr.values.length)
        .map((tr) => ({
          labels: { __name__: "trace_demand", trace: tr.name },
          t: [start + k * STEP],
          v: new Float64Array([tr.values[k - (steps - tr.values.length)]]),
        })),
    ];
    samples += batch.length;
    const step: Uint8Array[] = [];
    for (let i = 0; i < batch.length; i += 2000) step.push(compress(encodeWriteRequest(batch.slice(i, i + 2000))));
    requests.push(step);
  }

  // --- engines -------------------------------------------------------------------------------
  const [etcd, pg] = await Promise.all([startLocalEtcd(`sp-metrics-bench-${process.pid}`), startPgCluster(3)]);
  let store: RunningStore | undefined;
  let prom: Awaited<ReturnType<typeof startPrometheus>> | undefined;
  const config = ConfigClient.create({
    endpoints: [etcd.endpoint],
    prefix: `/metrics-bench-${process.pid}/`,
    logger: silent,
  });
  try {
    await Promise.all(pg.instances.map((i) => i.query(shardSql.ENSURE_SCHEMA_SQL)));
    await config.initShardMap({
      epoch: 0,
      vnodesPerWeight: 150,
      replicationFactor: 1,
      consistency: "one",
      shards: pg.members(),
    });
    store = await startStore({
      config,
      user: pg.user,
      password: pg.password,
      port: 0,
      host: "127.0.0.1",
      statementTimeoutMs: 60_000,
      poolSize: 8,
      logger: silent,
      maintenance: {
        outOfOrderWindowMs: 3_600_000,
        retention: { rawDays: 15, oneMinuteDays: 90, oneHourDays: 730 },
        enabled: false,
      },
    });
    prom = await startPrometheus({
      extraFlags: ["--storage.tsdb.min-block-duration=2h", "--storage.tsdb.max-block-duration=2h"],
    });

    // --- ingest ------------------------------------------------------------------------------
    const promSeconds = await ingest(`${prom.url}/api/v1/write`, requests, concurrency);
    console.log(`prometheus: ${samples} samples in ${promSeconds.toFixed(1)} s`);
    const storeSeconds = await ingest(`${store.url}/api/v1/write`, requests, concurrency);
    console.log(`store:      ${samples} samples in ${storeSeconds.toFixed(1)} s`);

    // --- sealing and bytes ---------------------------------------------------------------------
    const sealStart = performance.now();
    for (const s of pg.instances)
      await maintainShard(
        store.router,
        s.name,
        1,
        { outOfOrderWindowMs: 0, retention: { rawDays: 15, oneMinuteDays: 90, oneHourDays: 730 } },
        silent,
        Date.now(),
        true,
      );
    const sealSeconds = (performance.now() - sealStart) / 1000;
    const sizes = { raw: 0, rollups: 0, head: 0 };
    for (const s of pg.instances) {
      await s.query("VACUUM ANALYZE");
      const rows = await s.query<{ kind: string; bytes: string }>(`
        SELECT CASE WHEN p.relname IN ('metrics_chunks', 'metrics_series') THEN 'raw'
                    WHEN p.relname LIKE 'metrics_rollup%' THEN 'rollups' ELSE 'head' END AS kind,
               sum(pg_total_relation_size(c.oid))::text AS bytes
        FROM pg_class c
        LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
        JOIN pg_class p ON p.oid = coalesce(i.inhparent, c.oid)
        WHERE c.relkind IN ('r') AND p.relname IN ('metrics_chunks', 'metrics_series', 'metrics_rollup_1m', 'metrics_rollup_1h', 'metrics_head')
        GROUP BY 1`);
      for (const r of rows) sizes[r.kind as keyof typeof sizes] += Number(r.bytes);
    }
    const snap = await fetch(`${prom.url}/api/v1/admin/tsdb/snapshot?skip_head=false`, { method: "POST" });
    const snapName = ((await snap.json()) as { data: { name: string } }).data.name;
    const promBytes = du(join(prom.dataDir, "snapshots", snapName));

    // --- dashboard queries ---------------------------------------------------------------------
    const qs = [
      'sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))',
      "avg(node_load1)",
      'rate(node_network_receive_bytes_total{instance="node-7:9100"}[5m])',
      'max_over_time(node_memory_MemAvailable_bytes{instance=~"node-1.*"}[10m])',
      "sum(rate(node_disk_io_time_seconds_total[5m]))",
      "trace_demand",
    ];
    const range = {
      start: String((start + 10 * 60_000 - ((start + 10 * 60_000) % 60_000)) / 1000),
      end: String(end / 1000),
    };
    const perQuery: Record<string, { store_p50_ms: number; prometheus_p50_ms: number; step: string }> = {};
    let rollupErr = 0;
    let vsProm = 0;
    for (const q of qs)
      for (const step of ["60", "15"]) {
        const p = { query: q, ...range, step };
        const ours: number[] = [];
        const theirs: number[] = [];
        let a: unknown;
        let b: unknown;
        for (let i = 0; i < rounds; i++) {
          const x = await queryRange(store.url, p);
          const y = await queryRange(prom.url, p);
          ours.push(x.ms);
          theirs.push(y.ms);
          a = x.data;
          b = y.data;
        }
        perQuery[`${q} step ${step}`] = { store_p50_ms: median(ours), prometheus_p50_ms: median(theirs), step };
        vsProm = Math.max(vsProm, maxRelDiff(a as Matrix, b as Matrix));
        if (step === "60") {
          const raw = await store.querier.range(q, Number(range.start) * 1000, end, 60_000, 0);
          const rolled = await store.querier.range(q, Number(range.start) * 1000, end, 60_000);
          const toMatrix = (r: typeof raw): Matrix => ({
            result:
              r.resultType === "matrix"
                ? r.series.map((s) => ({
                    metric: s.labels,
                    values: s.points.map(([t, v]) => [t, String(v)] as [number, string]),
                  }))
                : [],
          });
          if (rolled.resolution === 0) throw new Error(`bench: ${q} at step 60 was not answered from rollups`);
          rollupErr = Math.max(rollupErr, maxRelDiff(toMatrix(rolled), toMatrix(raw)));
        }
      }
    const ratios = Object.values(perQuery).map((x) => x.store_p50_ms / x.prometheus_p50_ms);

    console.table(perQuery);
    const figures = {
      series: seriesCount,
      samples,
      ingest_samples_per_s: Math.round(samples / storeSeconds),
      prometheus_ingest_samples_per_s: Math.round(samples / promSeconds),
      ingest_samples_per_s_vs_prometheus: Number((promSeconds / storeSeconds).toFixed(3)),
      seal_seconds: Number(sealSeconds.toFixed(1)),
      bytes_per_sample: Number((sizes.raw / samples).toFixed(3)),
      bytes_per_sample_with_rollups: Number(((sizes.raw + sizes.rollups) / samples).toFixed(3)),
      head_bytes_after_sealing: sizes.head,
      prometheus_bytes_per_sample: Number((promBytes / samples).toFixed(3)),
      bytes_per_sample_vs_prometheus: Number((sizes.raw / promBytes).toFixed(3)),
      query_range_p50_vs_prometheus: Number(median(ratios).toFixed(3)),
      rollup_max_rel_error: rollupErr,
      max_rel_diff_vs_prometheus: vsProm,
    };
    console.log(figures);
    return figures;
  } finally {
    await store?.close().catch(() => undefined);
    await prom?.stop().catch(() => undefined);
    config.close();
    await Promise.all([etcd.stop(), pg.cleanup()]);
  }
}
