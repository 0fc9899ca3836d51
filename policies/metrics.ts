/**
 * MetricsStore policies: the store runs its instances, keeps a spare in prod, is reachable only
 * inside the platform, and keeps the history the predictive scaler needs.
 */
import type { PolicyResource } from "@pulumi/policy";
import { MetricsSchema, type MetricsConfig } from "../core/config";
import { T, environmentOf, stackPolicy, type Tree } from "./lib";

const STORE_INSTANCE_TYPES: readonly string[] = [T.awsAsg, T.k8sDeployment, T.dockerContainer];

/** The store's validated `metrics` settings as the component recorded them. */
function settingsOf(store: PolicyResource): MetricsConfig | undefined {
  const parsed = MetricsSchema.safeParse(store.props.metrics);
  return parsed.success ? parsed.data : undefined;
}

const stores = (tree: Tree) => tree.ofType(T.metricsStore);

export const metricsStoreRuns = stackPolicy(
  {
    name: "metrics-store-runs",
    description: "Every MetricsStore runs its service instances (containers, a Deployment or an Auto Scaling group).",
    enforcementLevel: "mandatory",
  },
  (tree, _args, report) => {
    for (const s of stores(tree))
      if (!tree.descendants(s).some((r) => STORE_INSTANCE_TYPES.includes(r.type)))
        report(
          `MetricsStore ${s.name} runs no instances; give it a target block (docker, kubernetes or aws) that builds them.`,
          s.urn,
        );
  },
);

export const metricsStoreReplicasProd = stackPolicy<{ minReplicas: number; environment?: string }>(
  {
    name: "metrics-store-replicas-prod",
    description:
      "In prod the MetricsStore runs at least minReplicas (2) instances, so a restart or a lost instance does not stop remote-write or the scaler's history.",
    enforcementLevel: "mandatory",
    configSchema: {
      properties: {
        minReplicas: { type: "integer", minimum: 1, default: 2 },
        environment: { type: "string", enum: ["dev", "staging", "prod"] },
      },
    },
  },
  (tree, args, report, config) => {
    for (const s of stores(tree)) {
      if (environmentOf(s, tree, args, config.environment) !== "prod") continue;
      const m = settingsOf(s);
      if (m && m.replicas < config.minReplicas)
        report(
          `MetricsStore ${s.name} runs ${m.replicas} instance(s) in prod; set scaleplane:metrics.replicas to at least ${config.minReplicas}.`,
          s.urn,
        );
    }
  },
);

export const metricsStoreInternal = stackPolicy(
  {
    name: "metrics-store-internal",
    description:
      "The MetricsStore is reachable only inside the platform: its AWS load balancer is internal and its Kubernetes Services are ClusterIP (remote-write and the query API have no authentication of their own).",
    enforcementLevel: "mandatory",
  },
  (tree, _args, report) => {
    for (const s of stores(tree))
      for (const r of tree.descendants(s)) {
        if (r.type === "aws:lb/loadBalancer:LoadBalancer" && r.props.internal !== true)
          report(`Load balancer ${r.name} of MetricsStore ${s.name} is internet-facing; set internal: true.`, r.urn);
        const type = (r.props.spec as { type?: string } | undefined)?.type;
        if (r.type === T.k8sService && type !== undefined && type !== "ClusterIP")
          report(`Service ${r.name} of MetricsStore ${s.name} is ${type}; make it ClusterIP.`, r.urn);
      }
  },
);

export const metricsHistoryForPrediction = stackPolicy<{ minOneMinuteDays: number }>(
  {
    name: "metrics-history-for-prediction",
    description:
      "The MetricsStore keeps at least minOneMinuteDays (14) of 1-minute rollups: the predictive scaler's weekly season needs two weeks of history.",
    enforcementLevel: "advisory",
    configSchema: { properties: { minOneMinuteDays: { type: "integer", minimum: 1, default: 14 } } },
  },
  (tree, _args, report, config) => {
    for (const s of stores(tree)) {
      const m = settingsOf(s);
      if (m && m.retention.oneMinuteDays < config.minOneMinuteDays)
        report(
          `MetricsStore ${s.name} keeps ${m.retention.oneMinuteDays} day(s) of 1-minute rollups; set scaleplane:metrics.retention.oneMinuteDays to at least ${config.minOneMinuteDays} for the predictive scaler's weekly season.`,
          s.urn,
        );
    }
  },
);

export const metricsPolicies = [
  metricsStoreRuns,
  metricsStoreReplicasProd,
  metricsStoreInternal,
  metricsHistoryForPrediction,
];
