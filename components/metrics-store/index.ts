/**
 * MetricsStore: the platform's time-series database (runtime/metrics-store; docs/design/metrics-store.md)
 * as a stateless service next to the database shards, whose tables hold every sample: containers
 * of a local image on Docker, a Deployment + Service on Kubernetes, an Auto Scaling group behind
 * an internal load balancer on AWS. Prometheus remote-writes to `<endpoint>/api/v1/write`;
 * Grafana reads it as a Prometheus data source at `<endpoint>`.
 *
 * @example
 * const metrics = new MetricsStore("metrics", {
 *   target: "docker",
 *   metrics: { replicas: 2 },
 *   configEndpoints: config.clientEndpoints,
 *   databaseUser: db.username,
 *   databasePassword: db.password,
 *   docker: { networks: [configNetwork, dbNetwork] },
 * });
 */
import * as pulumi from "@pulumi/pulumi";
import { componentBase, MetricsSchema, parseSection, type MetricsConfig } from "../../core/config";
import { metricsEnv, metricsHostPorts } from "../../core/metrics/spec";
import { TOKENS } from "../../core/tokens";
import type { MetricsBuildContext, MetricsBuildResult, MetricsStoreArgs } from "./args";
import { createAwsMetricsStore } from "./aws";
import { createDockerMetricsStore } from "./docker";
import { createKubernetesMetricsStore } from "./kubernetes";

export type {
  MetricsStoreArgs,
  MetricsStoreAwsArgs,
  MetricsStoreCommonArgs,
  MetricsStoreDockerArgs,
  MetricsStoreKubernetesArgs,
} from "./args";

export class MetricsStore extends pulumi.ComponentResource {
  /** The validated `metrics` section. */
  readonly config: MetricsConfig;
  /** Store URLs as the platform reaches them (the scaler, Prometheus remote-write, Grafana). */
  readonly endpoints: pulumi.Output<string[]>;
  /** Store URLs from where Pulumi runs (127.0.0.1 ports on Docker). */
  readonly hostEndpoints: pulumi.Output<string[]>;
  /** What the target builder created (containers, Deployment/Service, or ASG/NLB). */
  readonly resources: MetricsBuildResult;

  constructor(name: string, args: MetricsStoreArgs, opts?: pulumi.ComponentResourceOptions) {
    const environment = componentBase("MetricsStore", name, args);
    const m = parseSection(MetricsSchema, args.metrics, "metrics");
    if (args.target === "docker") metricsHostPorts(m);
    super(TOKENS.metricsStore, name, { target: args.target, environment, metrics: m }, opts);
    this.config = m;
    const env = pulumi
      .all([pulumi.output(args.configEndpoints), pulumi.output(args.databaseUser)])
      .apply(([configEndpoints, databaseUser]) => metricsEnv(m, { configEndpoints, databaseUser }));
    const ctx: MetricsBuildContext = {
      name,
      metrics: m,
      environment,
      env,
      password: pulumi.secret(args.databasePassword),
      parent: this,
    };
    switch (args.target) {
      case "docker":
        this.resources = createDockerMetricsStore(ctx, args.docker);
        break;
      case "kubernetes":
        this.resources = createKubernetesMetricsStore(ctx, args.kubernetes);
        break;
      case "aws":
        this.resources = createAwsMetricsStore(ctx, args.aws);
        break;
    }
    this.endpoints = this.resources.endpoints;
    this.hostEndpoints = this.resources.hostEndpoints;
    this.registerOutputs({ endpoints: this.endpoints, hostEndpoints: this.hostEndpoints });
  }
}
