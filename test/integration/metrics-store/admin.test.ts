/**
 * The store's metadata and admin endpoints on real PostgreSQL shards and etcd: `/api/v1/series`,
 * `/api/v1/labels` and `/api/v1/label/<name>/values` honour `start`/`end` over the head and
 * sealed chunks (block-granular, as Prometheus' index).
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
  store = await env.store();
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
