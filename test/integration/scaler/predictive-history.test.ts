/**
 * The predictive history is durable in the MetricsStore (runtime/scaler/predictive-history.ts):
 * a real store (one PostgreSQL shard, etcd) holds two days of a group's load with a three-hour
 * outage; a Kubernetes min-replicas scaler that starts reads it back before its first decision
 * (the daily season active at once, the outage left a gap) and writes its own measurement, which
 * the next scaler reads. Wall time: ~20 s.
 */
import * as http from "node:http";
import pino from "pino";
import { parseScalingPolicy } from "../../../core/scaling";
import { activeSeasons } from "../../../core/scaling/forecast";
import { createPredictiveEngine, withHistory } from "../../../core/scaling/predictive";
import { MetricsClient } from "../../../runtime/metrics-store/client";
import type { RunningStore } from "../../../runtime/metrics-store/main";
import { KubernetesApi } from "../../../runtime/scaler/kubernetes-api";
import { MinReplicasLoop } from "../../../runtime/scaler/kubernetes-min-replicas";
import { LOAD_METRIC, PredictiveHistory } from "../../../runtime/scaler/predictive-history";
import { FakeHttpServer } from "../../support/fake-http";
import { cluster, NS, SELECTOR } from "../../support/fake-kubernetes";
import { startMetricsEnv, type MetricsEnv } from "../metrics-store/support";

const policy = parseScalingPolicy({
  engine: "predictive",
  minSize: 1,
  maxSize: 20,
  periodSeconds: 30,
  targets: { cpuPercent: 70 },
  predictive: { sampleSeconds: 300, seasons: [{ name: "daily", seconds: 86_400 }] },
});
const STEP = 300_000;
const labels = { group: `web-${process.pid}`, namespace: NS };
const shape = (t: number) => 300 + 200 * Math.sin((2 * Math.PI * t) / 86_400_000);

let env: MetricsEnv;
let store: RunningStore;
let client: MetricsClient;
const fake = new FakeHttpServer(http.createServer());
let api: KubernetesApi;
const now = Math.floor(Date.now() / STEP) * STEP;
const outage = { from: now - 20 * 3_600_000, to: now - 17 * 3_600_000 };

beforeAll(async () => {
  env = await startMetricsEnv(1);
  store = await env.store();
  client = new MetricsClient({ url: store.url, timeoutMs: 20_000 });
  api = new KubernetesApi({ baseUrl: await fake.listen(), token: "sa-token", timeoutMs: 2000 });
  // Two days of the load a scaler measured every minute, but for a three-hour outage.
  const samples: [number, number][] = [];
  for (let t = now - 2 * 86_400_000; t < now - 60_000; t += 60_000)
    if (t < outage.from || t >= outage.to) samples.push([t, shape(t)]);
  for (let i = 0; i < samples.length; i += 1000)
    await client.write([{ labels: { __name__: LOAD_METRIC, ...labels }, samples: samples.slice(i, i + 1000) }]);
}, 90_000);
afterAll(async () => {
  await fake.close();
  await env?.stop();
}, 30_000);

/** A min-replicas scaler of the fake cluster's group at `now`, with this history. */
const scaler = (history: PredictiveHistory) =>
  new MinReplicasLoop({
    api,
    namespace: NS,
    hpa: "web",
    podSelector: SELECTOR,
    policy,
    log: pino({ level: "silent" }),
    history,
    now: () => now,
  });

it("reads the stored load back one point per bucket, the outage a gap, and a forecast resumes its season from it", async () => {
  const history = new PredictiveHistory(client, labels, policy.predictive);
  const points = await history.read(now);
  const inOutage = points.filter(([t]) => t >= outage.from && t + STEP <= outage.to);
  expect(inOutage).toEqual([]);
  // 2 days of 5-minute buckets less the 3-hour outage (36 buckets), give or take the edges.
  expect(points.length).toBeGreaterThan(576 - 36 - 3);
  expect(points.length).toBeLessThanOrEqual(576 - 36 + 2);
  for (const [t, v] of points) {
    expect(t % STEP).toBe(0);
    expect(Math.abs(v - shape(t + STEP / 2))).toBeLessThan(5); // the bucket's mean
  }
  const seeded = withHistory(createPredictiveEngine(policy).init(), points);
  expect(activeSeasons(seeded.forecast)).toEqual([288]);
}, 60_000);

it("a starting scaler reads the history before its first decision and writes its own measurement for the next one", async () => {
  const s = { pods: 4, cpuCores: 0.2, min: 1 }; // 80 % of a 250m request on 4 pods: 320 %-instances
  cluster(fake, s);
  const history = new PredictiveHistory(client, labels, policy.predictive);
  const loop = scaler(history);
  const first = await loop.tick();
  expect(first.historyPoints).toBeGreaterThan(500);
  const second = await loop.tick();
  expect(second.historyPoints).toBeUndefined(); // read once, before the first decision
  const written = await client.query(`${LOAD_METRIC}{group="${labels.group}"}`, now);
  expect(written).toHaveLength(1);
  expect(written[0].value).toBeCloseTo(320);
}, 60_000);

it("a store that cannot answer costs the history, never the tick", async () => {
  cluster(fake, { pods: 2, cpuCores: 0.1, min: 1 });
  const down = new MetricsClient({ url: "http://127.0.0.1:9", timeoutMs: 500 });
  const loop = scaler(new PredictiveHistory(down, labels, policy.predictive));
  const tick = await loop.tick();
  expect(tick.historyPoints).toBe(0);
  expect(tick.pods).toBe(2);
}, 30_000);
