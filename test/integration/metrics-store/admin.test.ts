/**
 * The store's metadata and admin endpoints on real PostgreSQL shards and etcd: `/api/v1/series`,
 * `/api/v1/labels` and `/api/v1/label/<name>/values` honour `start`/`end` over the head and
 * sealed chunks (block-granular, as Prometheus' index); `delete_series` removes samples from the
 * head and from sealed chunks and rebuilds the blocks' rollups (rollup answers keep equalling raw
 * ones), leaves other series alone, and is refused unless the admin API is on.
 * Wall time: ~40 s (2 shards, under load).
 */
import { BLOCK_MS } from "../../../core/metrics/retention";
import type { RunningStore } from "../../../runtime/metrics-store/main";
import { maintainShard } from "../../../runtime/metrics-store/maintenance";
import { api, postJson, silent, startMetricsEnv, type MetricsEnv } from "./support";

let env: MetricsEnv;
let store: RunningStore;
beforeAll(async () => {
  env = await startMetricsEnv(2);
  store = await env.store({ adminApi: true });
}, 60_000);
afterAll(async () => env?.stop(), 30_000);

const MIN = 60_000;
const RETENTION = { rawDays: 15, oneMinuteDays: 90, oneHourDays: 730 };

/** Seals every block on every shard (fencing token 1), as the lease holder would. */
async function sealAll(): Promise<void> {
  for (const s of env.pg.instances)
    await maintainShard(
      store.router,
      s.name,
      1,
      { outOfOrderWindowMs: 0, retention: RETENTION },
      silent,
      Date.now(),
      true,
    );
}

const secs = (ms: number) => String(ms / 1000);
const names = (body: { data: Record<string, string>[] }) => body.data.map((l) => l.job).sort();

const H = 3_600_000;

async function del(url: string, params: Record<string, string>): Promise<number> {
  const r = await fetch(`${url}/api/v1/admin/tsdb/delete_series?${new URLSearchParams(params)}`, { method: "POST" });
  return r.status;
}

/** [t, value] points of a range query's only series (or [] when none). */
async function points(query: string, start: number, end: number, step: number): Promise<[number, number][]> {
  const r = await api(store.url, "/api/v1/query_range", {
    query,
    start: secs(start),
    end: secs(end),
    step: String(step),
  });
  expect(r.status).toBe(200);
  expect(r.body.stats.resolutionMs).toBe(step >= 60 ? 60_000 : 0);
  return r.body.data.result.length === 0
    ? []
    : r.body.data.result[0].values.map((p: [number, string]) => [p[0] * 1000, Number(p[1])]);
}

// runs first: its data (8-12 h ago) stays below the span test's, which sealing would otherwise refuse
describe("delete_series", () => {
  it("removes samples from the head and sealed chunks, rebuilds rollups, keeps other series", async () => {
    const now = Math.floor(Date.now() / H) * H;
    const from = now - 12 * H;
    const counter = (job: string) => ({
      labels: { __name__: "del_total", job },
      samples: Array.from({ length: (4 * H) / 15_000 }, (_, k) => [from + k * 15_000, k * 3]),
    });
    expect((await postJson(`${store.url}/api/v1/batch`, { series: [counter("a"), counter("b")] })).status).toBe(200);
    await sealAll();
    // a head sample after sealing (above the horizon: the newest sample, 8 h ago)
    const late = { labels: { __name__: "del_total", job: "a" }, samples: [[now - 7 * H, 7]] };
    expect((await postJson(`${store.url}/api/v1/batch`, { series: [late] })).status).toBe(200);

    // the admin API is off unless asked
    const plain = await env.store();
    expect(await del(plain.url, { "match[]": "del_total" })).toBe(503);

    // delete job=a between 11 h and 10 h ago (inside the sealed blocks)
    const gap = { start: from + H, end: from + 2 * H };
    expect(await del(store.url, { "match[]": 'del_total{job="a"}', start: secs(gap.start), end: secs(gap.end) })).toBe(
      204,
    );
    const q = 'count_over_time(del_total{job="a"}[1m])';
    const raw = await points(q, from, from + 4 * H, 30);
    const rolled = await points(q, from, from + 4 * H, 60);
    // no sample in the span; samples on both sides of it
    const inGap = raw.filter(([t]) => t > gap.start + 60_000 && t <= gap.end);
    expect(inGap).toEqual([]);
    expect(raw.some(([t]) => t < gap.start)).toBe(true);
    expect(raw.some(([t]) => t > gap.end + 60_000)).toBe(true);
    // the rollups were rebuilt: their answers equal the raw ones at every shared step
    const rawAt = new Map(raw);
    for (const [t, v] of rolled) expect([t, v]).toEqual([t, rawAt.get(t)]);
    expect(rolled.length).toBeGreaterThan(100);
    // job=b is untouched
    const b = await points('count_over_time(del_total{job="b"}[1m])', from, from + 4 * H, 30);
    expect(b.filter(([t]) => t > gap.start + 60_000 && t <= gap.end).length).toBeGreaterThan(100);

    // delete the whole series (no start/end): head and chunks
    expect(await del(store.url, { "match[]": 'del_total{job="a"}' })).toBe(204);
    expect(await points(q, from, now, 30)).toEqual([]);
    expect(await points(q, from, now, 60)).toEqual([]);
    const listed = await api(store.url, "/api/v1/series", {
      "match[]": "del_total",
      start: secs(from - H),
      end: secs(now),
    });
    expect(listed.body.data.map((l: Record<string, string>) => l.job)).toEqual(["b"]);
    // idempotent
    expect(await del(store.url, { "match[]": 'del_total{job="a"}' })).toBe(204);
    const bad = await fetch(`${store.url}/api/v1/admin/tsdb/delete_series`, { method: "POST" });
    expect(bad.status).toBe(400);
  });
});

describe("metrics store metadata endpoints", () => {
  it("series, labels and label values keep only the series with data between start and end", async () => {
    // an old series 6 h ago (two blocks before the recent one) and a recent one
    const now = Math.floor(Date.now() / MIN) * MIN;
    const old = now - 6 * 3_600_000;
    const samples = (from: number) => Array.from({ length: 20 }, (_, k) => [from + k * 15_000, k]);
    const w = await postJson(`${store.url}/api/v1/batch`, {
      series: [
        { labels: { __name__: "span_total", job: "old", zone: "a" }, samples: samples(old) },
        { labels: { __name__: "span_total", job: "new", rack: "r1" }, samples: samples(now - 10 * MIN) },
      ],
    });
    expect(w.status).toBe(200);
    const check = async (where: string) => {
      const recent = { start: secs(now - 30 * MIN), end: secs(now) };
      const early = { start: secs(old - MIN), end: secs(old + 10 * MIN) };
      const series = (p: Record<string, string>) => api(store.url, "/api/v1/series", { "match[]": "span_total", ...p });
      expect([where, names((await series({})).body)]).toEqual([where, ["new", "old"]]);
      expect([where, names((await series(recent)).body)]).toEqual([where, ["new"]]);
      expect([where, names((await series(early)).body)]).toEqual([where, ["old"]]);
      // only one end given: the other is open
      expect([where, names((await series({ start: recent.start })).body)]).toEqual([where, ["new"]]);
      expect([where, names((await series({ end: early.end })).body)]).toEqual([where, ["old"]]);
      const labels = await api(store.url, "/api/v1/labels", { "match[]": "span_total", ...recent });
      expect([where, labels.body.data]).toEqual([where, ["__name__", "job", "rack"]]);
      const values = await api(store.url, "/api/v1/label/job/values", { "match[]": "span_total", ...early });
      expect([where, values.body.data]).toEqual([where, ["old"]]);
      // nothing in a span between the two
      const between = await series({ start: secs(old + BLOCK_MS + 10 * MIN), end: secs(now - (3 * BLOCK_MS) / 2) });
      expect([where, between.body.data]).toEqual([where, []]);
    };
    await check("head");
    await sealAll();
    const head = await Promise.all(
      env.pg.instances.map((i) => i.query<{ n: string }>("SELECT count(*) AS n FROM metrics_head")),
    );
    expect(head.map((c) => Number(c[0].n))).toEqual([0, 0]);
    await check("sealed chunks");
    // bad spans are refused with the parameter named
    const bad = await api(store.url, "/api/v1/series", { "match[]": "span_total", start: "10", end: "5" });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/invalid parameter "end"/);
    const garbage = await api(store.url, "/api/v1/labels", { start: "yesterday" });
    expect(garbage.status).toBe(400);
    expect(garbage.body.error).toMatch(/invalid parameter "start"/);
  });
});
