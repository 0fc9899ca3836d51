/**
 * The store on real PostgreSQL shards and etcd: batch writes, queries, late samples within and
 * beyond the out-of-order window, sealing into chunks and rollups, bad payloads.
 * Wall time: ~20 s.
 */
import type { RunningStore } from "../../../runtime/metrics-store/main";
import { maintainShard } from "../../../runtime/metrics-store/maintenance";
import { api, postJson, silent, startMetricsEnv, type Json, type MetricsEnv } from "./support";

let env: MetricsEnv;
beforeAll(async () => {
  env = await startMetricsEnv(3);
}, 60_000);
afterAll(async () => env?.stop(), 30_000);

const MIN = 60_000;
const RETENTION = { rawDays: 15, oneMinuteDays: 90, oneHourDays: 730 };

/** One maintenance pass on every shard (fencing token 1), as the lease holder would run it. */
async function maintainAll(store: RunningStore, windowMs: number, sealAll = false): Promise<void> {
  for (const s of env.pg.instances)
    await maintainShard(
      store.router,
      s.name,
      1,
      { outOfOrderWindowMs: windowMs, retention: RETENTION },
      silent,
      Date.now(),
      sealAll,
    );
}

describe("metrics store on PostgreSQL", () => {
  it("stores a batch on the owners, answers instant and range queries, refuses bad payloads whole", async () => {
    const store = await env.store();
    const base = Math.floor(Date.now() / MIN) * MIN - 60 * MIN;
    const series = Array.from({ length: 30 }, (_, i) => ({
      labels: { __name__: "req_total", job: i % 2 ? "api" : "web", instance: `i-${i}` },
      samples: Array.from({ length: 120 }, (_, k) => [base + k * 15_000, k * 10 + i]),
    }));
    const w = await postJson(`${store.url}/api/v1/batch`, { series });
    expect(w).toEqual({ status: 200, body: { accepted: 3600, tooOld: 0 } });
    // series spread over the 3 shards
    const counts = await Promise.all(
      env.pg.instances.map((i) => i.query<{ n: string }>("SELECT count(*) AS n FROM metrics_series")),
    );
    expect(counts.filter((c) => Number(c[0].n) > 0).length).toBe(3);
    const T = base + 20 * MIN;
    const q = await api(store.url, "/api/v1/query", {
      query: "sum by (job) (rate(req_total[5m]))",
      time: String(T / 1000),
    });
    expect(q.status).toBe(200);
    const byJob = Object.fromEntries(q.body.data.result.map((r: Json) => [r.metric.job, Number(r.value[1])]));
    expect(byJob.api).toBeCloseTo((15 * 10) / 15, 9);
    const r = await api(store.url, "/api/v1/query_range", {
      query: 'req_total{instance="i-3"}',
      start: String(base / 1000),
      end: String((base + 10 * MIN) / 1000),
      step: "60",
    });
    expect(r.body.data.result[0].values.slice(0, 2)).toEqual([
      [base / 1000, "3"],
      [base / 1000 + 60, "43"],
    ]);
    // bad payloads: nothing written
    const before = await api(store.url, "/api/v1/series", { "match[]": "bad_total" });
    expect(before.body.data).toEqual([]);
    const bad = await postJson(`${store.url}/api/v1/batch`, {
      series: [
        { labels: { __name__: "bad_total" }, samples: [[base, 1]] },
        { labels: { __name__: "bad_total", "bad-label": "x" }, samples: [[base, 1]] },
      ],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toContain("series[1].labels");
    expect((await api(store.url, "/api/v1/series", { "match[]": "bad_total" })).body.data).toEqual([]);
    const unsupported = await api(store.url, "/api/v1/query", { query: "topk(3, req_total)" });
    expect(unsupported.status).toBe(400);
    expect(unsupported.body.errorType).toBe("bad_data");
    expect(unsupported.body.error).toMatch(/topk.*supported: vector selectors/);
  });

  it("late samples within the window correct raw and rollups; beyond it they are refused and counted", async () => {
    const store = await env.store();
    const base = Math.floor((Date.now() - 180 * MIN) / MIN) * MIN; // the data ends now
    const labels = { __name__: "late_total", job: "x" };
    const samples = (from: number, to: number) =>
      Array.from({ length: (to - from) / 15_000 }, (_, k) => [base + from + k * 15_000, from / 15_000 + k]);
    // 3 h of data with a 2-minute gap: at 30 min (x) and at 150 min (y)
    const first = await postJson(`${store.url}/api/v1/batch`, {
      series: [
        { labels, samples: [...samples(0, 30 * MIN), ...samples(32 * MIN, 180 * MIN)] },
        { labels: { ...labels, job: "y" }, samples: [...samples(0, 150 * MIN), ...samples(152 * MIN, 180 * MIN)] },
      ],
    });
    expect(first.status).toBe(200);
    // maintenance raises every shard's horizon to the newest sample − 1 h
    await maintainAll(store, 3_600_000);
    const late = await postJson(`${store.url}/api/v1/batch`, {
      series: [{ labels, samples: samples(30 * MIN, 32 * MIN) }],
    });
    expect(late.status).toBe(400);
    expect(late.body).toMatchObject({ accepted: 0, tooOld: 8 });
    expect(late.body.error).toMatch(/too old/);
    const metrics = await (await fetch(`${store.url}/metrics`)).text();
    expect(metrics).toMatch(/scaleplane_metrics_samples_refused_total\{reason="too_old"\} 8/);
    // within the window (30 min behind the newest sample): the gap is filled
    const fill = await postJson(`${store.url}/api/v1/batch`, {
      series: [{ labels: { ...labels, job: "y" }, samples: samples(150 * MIN, 152 * MIN) }],
    });
    expect(fill.body).toEqual({ accepted: 8, tooOld: 0 });
    await maintainAll(store, 0, true);
    const head = await Promise.all(
      env.pg.instances.map((i) => i.query<{ n: string }>("SELECT count(*) AS n FROM metrics_head")),
    );
    expect(head.map((c) => Number(c[0].n))).toEqual([0, 0, 0]);
    // sealed: chunks and rollups exist, the head is empty for these blocks
    const chunks = await Promise.all(
      env.pg.instances.map((i) => i.query<{ n: string }>("SELECT count(*) AS n FROM metrics_chunks")),
    );
    expect(chunks.reduce((n, c) => n + Number(c[0].n), 0)).toBeGreaterThan(0);
    const start = base + 140 * MIN;
    const q = {
      query: 'increase(late_total{job="y"}[10m])',
      start: String(start / 1000),
      end: String((base + 170 * MIN) / 1000),
    };
    const fromRollups = await api(store.url, "/api/v1/query_range", { ...q, step: "60" });
    expect(fromRollups.body.stats.resolutionMs).toBe(60_000);
    const fromRaw = await api(store.url, "/api/v1/query_range", { ...q, step: "30" });
    expect(fromRaw.body.stats.resolutionMs).toBe(0);
    const raw = new Map<number, number>(
      fromRaw.body.data.result[0].values.map((p: [number, string]) => [p[0], Number(p[1])]),
    );
    for (const [t, v] of fromRollups.body.data.result[0].values as [number, string][])
      expect(Math.abs(Number(v) - raw.get(t)!)).toBeLessThanOrEqual(1e-9 * Math.abs(raw.get(t)!));
    // the filled gap is in the answer: 10 minutes of a +1/15 s counter = 40
    expect(raw.get((base + 155 * MIN) / 1000)).toBeCloseTo(40, 6);
  });
});
