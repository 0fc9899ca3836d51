/**
 * Against a real Prometheus 2.42 (Debian): (1) Prometheus scrapes itself and remote-writes into
 * the store; the raw samples it holds and the store holds are the same. (2) The same generated
 * samples are remote-written into both, and Grafana-style queries (form POSTs to query and
 * query_range, raw and rollup resolutions, before and after sealing) get the same answers from
 * both, to 1e-9 relative. Wall time: ~70 s (of it up to 40 s waiting for Prometheus' discovery and remote-write).
 */
import { encodeWriteRequest, type WriteSeries } from "../../../core/metrics/remote-write";
import { staleMarker } from "../../../core/metrics/rollup";
import { maintainShard } from "../../../runtime/metrics-store/maintenance";
import type { RunningStore } from "../../../runtime/metrics-store/main";
import { remoteWrite, startPrometheus, type LocalPrometheus } from "../../support/prometheus";
import { silent, startMetricsEnv, type Json, type MetricsEnv } from "./support";

let env: MetricsEnv;
let store: RunningStore;
let prom: LocalPrometheus;
beforeAll(async () => {
  env = await startMetricsEnv(3);
  store = await env.store();
  prom = await startPrometheus({ remoteWrite: `${store.url}/api/v1/write`, scrapeSelf: true });
}, 90_000);
afterAll(async () => {
  await prom?.stop();
  await env?.stop();
}, 30_000);

const MIN = 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A Grafana-style query: a form POST. */
async function grafana(base: string, path: string, params: Record<string, string>): Promise<Json> {
  const r = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(params).toString(),
  });
  const body = (await r.json()) as Json;
  if (body.status !== "success") throw new Error(`${base}${path} ${JSON.stringify(params)}: ${JSON.stringify(body)}`);
  return body.data;
}

const key = (m: Record<string, string>) => JSON.stringify(Object.entries(m).sort());
const num = (s: string) => (s === "+Inf" ? Infinity : s === "-Inf" ? -Infinity : Number(s));
function same(a: number, b: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return a === b;
  return Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b), 1e-300);
}

/** Compares two query answers (vector, matrix or scalar) series by series, point by point. */
function expectSameAnswer(q: string, ours: Json, theirs: Json): void {
  expect(ours.resultType).toBe(theirs.resultType);
  if (theirs.resultType === "scalar") {
    expect(same(num(ours.result[1]), num(theirs.result[1]))).toBe(true);
    return;
  }
  const pts = (r: Json): [number, string][] => (r.values ?? [r.value]) as [number, string][];
  const mine = new Map<string, [number, string][]>(ours.result.map((r: Json) => [key(r.metric), pts(r)]));
  const ref = new Map<string, [number, string][]>(theirs.result.map((r: Json) => [key(r.metric), pts(r)]));
  expect([...mine.keys()].sort()).toEqual([...ref.keys()].sort());
  for (const [k, p] of ref) {
    const o = mine.get(k)!;
    expect(o.map((x) => x[0])).toEqual(p.map((x) => x[0]));
    p.forEach(([t, v], i) => {
      if (!same(num(o[i][1]), num(v))) throw new Error(`${q} ${k} at ${t}: store ${o[i][1]}, prometheus ${v}`);
    });
  }
}

describe("against Prometheus 2.42", () => {
  it("receives a real Prometheus' remote-write: the same raw samples as Prometheus holds", async () => {
    // Prometheus' discovery hands targets over after 5 s; then a few 1 s scrapes
    await sleep(10_000);
    let theirs: Json;
    let ours: Json;
    const until = Date.now() + 30_000;
    for (;;) {
      const T = Math.floor((Date.now() - 3000) / 1000);
      const q = { query: 'scrape_samples_scraped{job="prometheus"}', start: String(T - 5), end: String(T), step: "1" };
      theirs = await grafana(prom.url, "/api/v1/query_range", q);
      ours = await grafana(store.url, "/api/v1/query_range", q);
      const full = theirs.result.length > 0 && theirs.result[0].values.length === 6;
      if ((full && JSON.stringify(ours) === JSON.stringify(theirs)) || Date.now() > until) break;
      await sleep(1000); // remote-write lag
    }
    expect(theirs.result.length).toBe(1);
    expect(theirs.result[0].values.length).toBe(6);
    expect(ours).toEqual(theirs);
    const up = await grafana(store.url, "/api/v1/series", { "match[]": "up" });
    expect(up).toEqual([{ __name__: "up", instance: `127.0.0.1:${prom.port}`, job: "prometheus" }]);
  }, 60_000);

  it("answers Grafana's queries like Prometheus on the same remote-written data, raw and rolled up, before and after sealing", async () => {
    const end = Math.floor(Date.now() / MIN) * MIN - MIN;
    const start = end - 40 * MIN;
    let x = 12345;
    const rnd = () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    const series: (WriteSeries & { t: number[] })[] = [];
    for (const job of ["api", "web"])
      for (const instance of ["a", "b", "c"])
        for (const code of ["200", "500"])
          series.push({
            labels: { __name__: "gen_requests_total", job, instance, code },
            t: [],
            v: new Float64Array(161),
          });
    for (const instance of ["a", "b", "c", "d"])
      series.push({ labels: { __name__: "gen_temperature", instance }, t: [], v: new Float64Array(161) });
    series.forEach((s, si) => {
      let c = rnd() * 1000;
      for (let k = 0; k <= 160; k++) {
        // scrape jitter of a few ms, as real scrapes have
        s.t.push(start + k * 15_000 + (si % 3));
        if (s.labels.__name__ === "gen_temperature")
          s.v[k] = Math.round((20 + 10 * Math.sin(k / 9) + rnd()) * 100) / 100;
        else s.v[k] = c = k === 90 && si % 4 === 0 ? rnd() * 5 : c + Math.floor(rnd() * 40);
      }
    });
    // the last temperature series goes stale at 30 min
    const stale = series[series.length - 1];
    stale.v.set(staleMarker(), 120);
    stale.t.splice(121);
    stale.v = stale.v.slice(0, 121);
    // the same requests, in time order, 20 scrapes each, to both receivers
    for (let k = 0; k <= 160; k += 20) {
      const body = encodeWriteRequest(
        series
          .map((s) => ({ labels: s.labels, t: s.t.slice(k, k + 20), v: s.v.slice(k, k + 20) }))
          .filter((s) => s.t.length > 0),
      );
      for (const url of [`${prom.url}/api/v1/write`, `${store.url}/api/v1/write`]) {
        const r = await remoteWrite(url, body);
        expect([r.status, r.text]).toEqual([204, ""]);
      }
    }
    const queries = [
      "gen_requests_total",
      "rate(gen_requests_total[5m])",
      "sum by (job) (rate(gen_requests_total[5m]))",
      'increase(gen_requests_total{code=~"5.."}[10m])',
      'sum(rate(gen_requests_total{code="500"}[5m])) / sum(rate(gen_requests_total[5m])) * 100',
      "avg(gen_temperature)",
      "count by (instance) (gen_temperature)",
      "max_over_time(gen_temperature[2m])",
      "min_over_time(gen_temperature[2m])",
      "avg_over_time(gen_temperature[5m])",
      "sum_over_time(gen_temperature[3m])",
      "count_over_time(gen_temperature[1m])",
      "last_over_time(gen_temperature[1m])",
      "gen_temperature offset 5m",
      "-gen_temperature + 1",
      "sum without (instance, code) (gen_requests_total)",
    ];
    const compareAll = async () => {
      for (const query of queries) {
        for (const step of ["15", "60"]) {
          const p = { query, start: String((start + 10 * MIN) / 1000), end: String(end / 1000), step };
          expectSameAnswer(
            `${query} step ${step}`,
            await grafana(store.url, "/api/v1/query_range", p),
            await grafana(prom.url, "/api/v1/query_range", p),
          );
        }
        const i = { query, time: String((end - 3 * MIN) / 1000) };
        expectSameAnswer(
          query,
          await grafana(store.url, "/api/v1/query", i),
          await grafana(prom.url, "/api/v1/query", i),
        );
      }
      const raw = { query: "gen_temperature[2m]", time: String((end - 7 * MIN) / 1000) };
      expectSameAnswer(
        "gen_temperature[2m]",
        await grafana(store.url, "/api/v1/query", raw),
        await grafana(prom.url, "/api/v1/query", raw),
      );
    };
    await compareAll();
    // sealed into chunks and rollups: the same answers
    for (const s of env.pg.instances)
      await maintainShard(
        store.router,
        s.name,
        1,
        { outOfOrderWindowMs: 0, retention: { rawDays: 15, oneMinuteDays: 90, oneHourDays: 730 } },
        silent,
        Date.now(),
        true,
      );
    const chunks = await Promise.all(
      env.pg.instances.map((i) => i.query<{ n: string }>("SELECT count(*) AS n FROM metrics_rollup_1m")),
    );
    expect(chunks.reduce((n, c) => n + Number(c[0].n), 0)).toBeGreaterThan(0);
    await compareAll();
    const labels = await grafana(store.url, "/api/v1/labels", {});
    expect(labels).toEqual(expect.arrayContaining(["__name__", "code", "instance", "job"]));
    expect(await grafana(store.url, "/api/v1/label/job/values", {})).toEqual(
      expect.arrayContaining(["api", "web", "prometheus"]),
    );
  }, 120_000);
});
