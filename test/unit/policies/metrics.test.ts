import { TOKENS } from "../../../core/tokens";
import {
  metricsHistoryForPrediction,
  metricsStoreInternal,
  metricsStoreReplicasProd,
  metricsStoreRuns,
} from "../../../policies/metrics";
import { child, platform, runStack } from "./fake-args";

const prod = platform({ target: "aws", environment: "prod" });
const dev = platform({ target: "docker", environment: "dev" });

describe("metrics-store-runs", () => {
  it("fails a store without instances and passes one with containers", async () => {
    const s = child(dev, TOKENS.metricsStore, "p-metrics", { metrics: {} });
    expect((await runStack(metricsStoreRuns, [dev, s])).messages).toEqual([
      "MetricsStore p-metrics runs no instances; give it a target block (docker, kubernetes or aws) that builds them.",
    ]);
    expect(
      (await runStack(metricsStoreRuns, [dev, s, child(s, "docker:index/container:Container", "p-metrics-0")]))
        .messages,
    ).toEqual([]);
  });
});

describe("metrics-store-replicas-prod", () => {
  it("fails one instance in prod, passes two, does not check dev", async () => {
    const one = child(prod, TOKENS.metricsStore, "p-metrics", { metrics: { replicas: 1 }, environment: "prod" });
    expect((await runStack(metricsStoreReplicasProd, [prod, one])).messages).toEqual([
      "MetricsStore p-metrics runs 1 instance(s) in prod; set scaleplane:metrics.replicas to at least 2.",
    ]);
    const two = child(prod, TOKENS.metricsStore, "p-metrics", { metrics: { replicas: 2 }, environment: "prod" });
    expect((await runStack(metricsStoreReplicasProd, [prod, two])).messages).toEqual([]);
    const devOne = child(dev, TOKENS.metricsStore, "d-metrics", { metrics: { replicas: 1 }, environment: "dev" });
    expect((await runStack(metricsStoreReplicasProd, [dev, devOne])).messages).toEqual([]);
  });
});

describe("metrics-store-internal", () => {
  it("fails an internet-facing load balancer or a LoadBalancer Service", async () => {
    const s = child(prod, TOKENS.metricsStore, "p-metrics", { metrics: {} });
    const lb = child(s, "aws:lb/loadBalancer:LoadBalancer", "p-metrics-nlb", { internal: false });
    const svc = child(s, "kubernetes:core/v1:Service", "p-metrics", { spec: { type: "LoadBalancer" } });
    expect((await runStack(metricsStoreInternal, [prod, s, lb, svc])).messages).toEqual([
      "Service p-metrics of MetricsStore p-metrics is LoadBalancer; make it ClusterIP.",
      "Load balancer p-metrics-nlb of MetricsStore p-metrics is internet-facing; set internal: true.",
    ]);
    const ok = child(s, "aws:lb/loadBalancer:LoadBalancer", "p-metrics-nlb", { internal: true });
    expect((await runStack(metricsStoreInternal, [prod, s, ok])).messages).toEqual([]);
  });
});

describe("metrics-history-for-prediction", () => {
  it("flags less than two weeks of 1-minute rollups", async () => {
    const s = child(dev, TOKENS.metricsStore, "p-metrics", {
      metrics: { retention: { rawDays: 3, oneMinuteDays: 7 } },
    });
    expect((await runStack(metricsHistoryForPrediction, [dev, s])).messages).toEqual([
      "MetricsStore p-metrics keeps 7 day(s) of 1-minute rollups; set scaleplane:metrics.retention.oneMinuteDays to at least 14 for the predictive scaler's weekly season.",
    ]);
  });
});
