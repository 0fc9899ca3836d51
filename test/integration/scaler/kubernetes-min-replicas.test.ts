/**
 * The Kubernetes min-replicas loop (runtime/scaler/kubernetes-min-replicas.ts) against a fake API
 * server on 127.0.0.1: pods + metrics → predictive engine → a merge patch of the HPA's
 * spec.minReplicas only when it changes, never below the configured minimum; forecast-only logs.
 */
import * as http from "node:http";
import pino from "pino";
import { parseScalingPolicy } from "../../../core/scaling";
import { KubernetesApi } from "../../../runtime/scaler/kubernetes-api";
import { MinReplicasLoop, minReplicasSettingsFromEnv } from "../../../runtime/scaler/kubernetes-min-replicas";
import { FakeHttpServer, json } from "../../support/fake-http";
import { cluster, NS, SELECTOR } from "../../support/fake-kubernetes";

const policy = (forecastOnly: boolean) =>
  parseScalingPolicy({
    engine: "predictive",
    minSize: 2,
    maxSize: 8,
    periodSeconds: 60,
    targets: { cpuPercent: 70 },
    // minSkill 0: the level-only model (no season, skill 0) is used as it is.
    predictive: { sampleSeconds: 60, seasons: [], warmupSeconds: 60, forecastOnly, minSkill: 0 },
  });

describe("MinReplicasLoop", () => {
  const fake = new FakeHttpServer(http.createServer());
  let api: KubernetesApi;
  const log = pino({ level: "silent" });
  beforeAll(async () => {
    api = new KubernetesApi({ baseUrl: await fake.listen(), token: "sa-token", timeoutMs: 2000 });
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    fake.seen = [];
  });

  const patches = () => fake.seen.filter((r) => r.method === "PATCH");

  it("raises minReplicas ahead of the forecast load, patching only on a change, and lowers it back to the configured minimum", async () => {
    const s = { pods: 2, cpuCores: 0.35, min: 2 }; // 140 % of the request on 2 pods: 280 %-instances / 70 = 4
    cluster(fake, s);
    let now = Date.parse("2026-12-01T10:00:00Z");
    const loop = new MinReplicasLoop({
      api,
      namespace: NS,
      hpa: "web",
      podSelector: SELECTOR,
      policy: policy(false),
      log,
      now: () => now,
    });
    const first = await loop.tick();
    expect(first.forecastDesired).toBeUndefined(); // the first bucket is still open
    expect(patches()).toHaveLength(0);
    expect(first.pods).toBe(2);
    expect(first.withMetrics).toBe(2);

    now += 60_000;
    const second = await loop.tick();
    expect(second.forecastDesired).toBe(4);
    expect(second.decision).toMatchObject({ minReplicas: 4, patch: true });
    expect(patches()).toHaveLength(1);
    expect(patches()[0].headers["content-type"]).toBe("application/merge-patch+json");
    expect(JSON.parse(patches()[0].body)).toMatchObject({ spec: { minReplicas: 4 } });
    expect(s.min).toBe(4);

    now += 60_000;
    await loop.tick(); // same load: no second patch
    expect(patches()).toHaveLength(1);

    // Load gone: the forecast level decays towards 0 and minReplicas returns to 2, never below.
    s.cpuCores = 0;
    for (let i = 0; i < 30; i++) {
      now += 60_000;
      await loop.tick();
    }
    expect(s.min).toBe(2);
    expect(
      patches().every((p) => (JSON.parse(p.body) as { spec: { minReplicas: number } }).spec.minReplicas >= 2),
    ).toBe(true);
  });

  it("forecast-only mode never patches", async () => {
    const s = { pods: 2, cpuCores: 0.35, min: 2 };
    cluster(fake, s);
    let now = Date.parse("2026-12-01T10:00:00Z");
    const loop = new MinReplicasLoop({
      api,
      namespace: NS,
      hpa: "web",
      podSelector: SELECTOR,
      policy: policy(true),
      log,
      now: () => now,
    });
    for (let i = 0; i < 3; i++) {
      const t = await loop.tick();
      if (i > 0) expect(t.decision).toMatchObject({ minReplicas: 4, patch: false });
      now += 60_000;
    }
    expect(patches()).toHaveLength(0);
    expect(s.min).toBe(2);
  });

  it("a metrics API outage still ticks (no load observed); an HPA error fails the tick naming the call", async () => {
    const s = { pods: 2, cpuCores: 0.1, min: 2 };
    cluster(fake, s);
    const base = fake.route!;
    fake.route = (r) =>
      r.path.startsWith("/apis/metrics.k8s.io")
        ? json({ kind: "Status", reason: "ServiceUnavailable", message: "metrics not ready" }, 503)
        : base(r);
    const loop = new MinReplicasLoop({
      api,
      namespace: NS,
      hpa: "web",
      podSelector: SELECTOR,
      policy: policy(false),
      log,
    });
    await expect(loop.tick()).resolves.toMatchObject({ pods: 2, withMetrics: 0 });
    fake.route = (r) =>
      r.path.includes("horizontalpodautoscalers")
        ? json({ kind: "Status", reason: "Forbidden", message: "cannot get" }, 403)
        : base(r);
    await expect(loop.tick()).rejects.toThrow(/^kubernetes getHpa: HTTP 403 .*Forbidden: cannot get/);
  });

  it("refuses a policy of another engine and bad settings, naming the variable", () => {
    expect(
      () =>
        new MinReplicasLoop({
          api,
          namespace: NS,
          hpa: "web",
          podSelector: SELECTOR,
          policy: parseScalingPolicy({ engine: "hpa", minSize: 1, maxSize: 3 }),
          log,
        }),
    ).toThrow(/engine must be "predictive"/);
    const env = {
      SCALER_NAMESPACE: NS,
      SCALER_HPA: "web",
      SCALER_POD_SELECTOR: SELECTOR,
      SCALER_POLICY: JSON.stringify({ engine: "predictive", minSize: 2, maxSize: 8 }),
    };
    expect(minReplicasSettingsFromEnv(env)).toMatchObject({
      namespace: NS,
      hpa: "web",
      podSelector: SELECTOR,
      healthPort: 8080,
    });
    expect(() => minReplicasSettingsFromEnv({ ...env, SCALER_HPA: "" })).toThrow(/^SCALER_HPA is required/);
    expect(() => minReplicasSettingsFromEnv({ ...env, SCALER_POLICY: "{" })).toThrow(/^SCALER_POLICY: not JSON/);
    expect(() =>
      minReplicasSettingsFromEnv({
        ...env,
        SCALER_POLICY: JSON.stringify({ engine: "predictive", minSize: 5, maxSize: 2 }),
      }),
    ).toThrow(/SCALER_POLICY/);
  });
});
