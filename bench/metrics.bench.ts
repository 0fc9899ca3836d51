/**
 * `npm run bench -- metrics [--instances 100] [--hours 2] [--concurrency 5]`: the MetricsStore
 * side by side with Prometheus 2.42 (Debian) in one run, both receiving the same remote-write
 * requests from this process.
 *
 * Data: a generated node-exporter-like set (per instance 100 series: CPU-seconds counters with 2
 * decimals, byte/packet/interrupt counters, memory and filesystem gauges in 4 KiB pages, load
 * averages, collector durations at full float precision, constants), scraped every 15 s with each
 * instance at its own phase, for `--hours` (default 2 h, 100 instances = 10,000 series, 4.8 M
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

const silent = pino({ level: "silent" });
const STEP = 15_000;

interface GenSeries {
  labels: Record<string, string>;
  next: (k: number) => number;
}

/** A mulberry32 stream. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

/** The 100 series of one node-exporter-like instance. */
function instanceSeries(i: number): GenSeries[] {
  const r = rng(1000 + i);
  const instance = `node-${i}:9100`;
  const out: GenSeries[] = [];
  const counter = (labels: Record<string, string>, step: () => number, start: number) => {
    let v = start;
    out.push({ labels: { ...labels, instance, job: "node" }, next: () => (v = step() + v) });
  };
  const gauge = (labels: Record<string, string>, f: (k: number) => number) =>
    out.push({ labels: { ...labels, instance, job: "node" }, next: f });
  const modes = ["idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice"];
  const share = [0.8, 0.1, 0.05, 0.02, 0.01, 0.01, 0.005, 0.005];
  for (let cpu = 0; cpu < 4; cpu++)
    modes.forEach((mode, m) => {
      let acc = round(r() * 1e6, 2);
      out.push({
        labels: { __name__: "node_cpu_seconds_total", cpu: String(cpu), mode, instance, job: "node" },
        next: () => (acc = round(acc + 15 * share[m] * (0.5 + r()), 2)),
      });
    });
  for (const device of ["eth0", "lo"])
    for (const dir of ["receive", "transmit"]) {
      counter(
        { __name__: `node_network_${dir}_bytes_total`, device },
        () => Math.floor(r() * 2e6),
        Math.floor(r() * 1e12),
      );
      counter(
        { __name__: `node_network_${dir}_packets_total`, device },
        () => Math.floor(r() * 2000),
        Math.floor(r() * 1e9),
      );
    }
  for (const device of ["sda", "sdb"]) {
    counter(
      { __name__: "node_disk_read_bytes_total", device },
      () => Math.floor(r() * 64) * 4096,
      Math.floor(r() * 1e11),
    );
    counter(
      { __name__: "node_disk_written_bytes_total", device },
      () => Math.floor(r() * 256) * 4096,
      Math.floor(r() * 1e11),
    );
    let io = round(r() * 1e5, 3);
    gauge({ __name__: "node_disk_io_time_seconds_total", device }, () => (io = round(io + r() * 2, 3)));
  }
  for (const name of ["MemAvailable", "MemFree", "Cached", "Buffers", "Active", "Inactive"]) {
    let pages = Math.floor(r() * 4e6);
    gauge({ __name__: `node_memory_${name}_bytes` }, () => (pages += Math.floor((r() - 0.5) * 200)) * 4096);
  }
  for (const mountpoint of ["/", "/var", "/home", "/boot"]) {
    const size = Math.floor(r() * 1e7) * 4096;
    let avail = Math.floor(size * r() * 0.5);
    gauge({ __name__: "node_filesystem_size_bytes", mountpoint }, () => size);
    gauge(
      { __name__: "node_filesystem_avail_bytes", mountpoint },
      () => (avail = r() < 0.2 ? avail - Math.floor(r() * 64) * 4096 : avail),
    );
    gauge({ __name__: "node_filesystem_free_bytes", mountpoint }, () => avail + 4096 * 1024);
  }
  let load = r() * 2;
  gauge({ __name__: "node_load1" }, () => (load = Math.max(0, round(load + (r() - 0.5) * 0.2, 2))));
  gauge({ __name__: "node_load5" }, () => round(load * 0.9, 2));
  gauge({ __name__: "node_load15" }, () => round(load * 0.8, 2));
  gauge({ __name__: "node_procs_running" }, () => 1 + Math.floor(r() * 4));
  gauge({ __name__: "node_procs_blocked" }, () => (r() < 0.9 ? 0 : 1));
  counter({ __name__: "node_context_switches_total" }, () => Math.floor(r() * 1e5), Math.floor(r() * 1e10));
  counter({ __name__: "node_intr_total" }, () => Math.floor(r() * 5e4), Math.floor(r() * 1e10));
  counter({ __name__: "node_forks_total" }, () => Math.floor(r() * 50), Math.floor(r() * 1e7));
  gauge({ __name__: "go_goroutines" }, () => 8 + Math.floor(r() * 3));
  gauge({ __name__: "process_resident_memory_bytes" }, () => 2e7 + Math.floor(r() * 100) * 4096);
  gauge({ __name__: "go_memstats_alloc_bytes" }, () => 3e6 + Math.floor(r() * 1e6));
  const collectors = [
    "cpu",
    "diskstats",
    "filesystem",
    "loadavg",
    "meminfo",
    "netdev",
    "stat",
    "time",
    "uname",
    "vmstat",
  ];
  for (const collector of collectors) {
    gauge({ __name__: "node_scrape_collector_duration_seconds", collector }, () => 0.0001 + r() * 0.01);
    gauge({ __name__: "node_scrape_collector_success", collector }, () => 1);
  }
  gauge({ __name__: "node_time_seconds" }, (k) => k);
  for (const device of ["eth0", "lo"]) gauge({ __name__: "node_network_up", device }, () => 1);
  let conntrack = Math.floor(r() * 5000);
  gauge(
    { __name__: "node_nf_conntrack_entries" },
    () => (conntrack = Math.max(0, conntrack + Math.floor((r() - 0.5) * 40))),
  );
  gauge({ __name__: "node_entropy_available_bits" }, () => 3500 + Math.floor(r() * 500));
  return out;
}

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
      instances: { type: "string", default: "100" },
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
  const gen = Array.from({ length: instances }, (_, i) => instanceSeries(i)).flat();
  const traces = traceSeries(root, steps);
  const seriesCount = gen.length + traces.length;
  console.log(
    `metrics bench: ${gen.length} generated series + ${traces.length} traces, ${steps} scrapes of 15 s, ${instances} instances`,
  );
  const requests: Uint8Array[][] = [];
  let samples = 0;
  for (let k = 0; k < steps; k++) {
    const batch = [
      ...gen.map((s, i) => ({
        labels: s.labels,
        t: [start + k * STEP + (i % 100) * 10],
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
