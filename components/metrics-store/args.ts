/**
 * Arguments of the MetricsStore, and the context and results its target builders share.
 * Types only: the class (index.ts) and the builders import them from here, never from each other.
 */
import type * as aws from "@pulumi/aws";
import type * as docker from "@pulumi/docker";
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { Environment, MetricsConfig, MetricsConfigInput } from "../../core/config";
import type { AwsSubnet } from "../network/types";

/** Docker placement (target `docker`). */
export interface MetricsStoreDockerArgs {
  /** Networks every store container joins: the config service's and the database's (it reaches both by container name). */
  networks: pulumi.Input<string>[];
}

/** Kubernetes placement (target `kubernetes`). The cluster is the `kubernetes` provider of the resource options. */
export interface MetricsStoreKubernetesArgs {
  /** Namespace of the Deployment, Service and Secret. */
  namespace: pulumi.Input<string>;
}

/** AWS placement (target `aws`): the app group's pattern behind an internal load balancer. */
export interface MetricsStoreAwsArgs {
  vpcId: pulumi.Input<string>;
  /** Private subnets of the instances and the internal load balancer. */
  subnets: AwsSubnet[];
  /** Security groups allowed to reach the store's port (the app's; the scaler runs there). */
  clientSecurityGroupIds: pulumi.Input<string>[];
  /** Security group the instances carry (the one the config service and the database admit). */
  instanceSecurityGroupId: pulumi.Input<string>;
}

/** Settings of every target. */
export interface MetricsStoreCommonArgs {
  /** The `metrics` config section (see `MetricsSchema` in core/config.ts). Validated here: errors name `metrics.<field>`. */
  metrics: MetricsConfigInput;
  /** @default "dev" */
  environment?: Environment;
  /** etcd client URLs as the store reaches them (the shard map and the maintenance leases live there). */
  configEndpoints: pulumi.Input<pulumi.Input<string>[]>;
  /** Database role of the shards. */
  databaseUser: pulumi.Input<string>;
  /** Its password (a secret; reaches the store as a file or a secretKeyRef, never as a plain value). */
  databasePassword: pulumi.Input<string>;
}

export type MetricsStoreArgs = MetricsStoreCommonArgs &
  (
    | { target: "docker"; docker: MetricsStoreDockerArgs }
    | { target: "kubernetes"; kubernetes: MetricsStoreKubernetesArgs }
    | { target: "aws"; aws: MetricsStoreAwsArgs }
  );

/** What every builder gets. */
export interface MetricsBuildContext {
  name: string;
  metrics: MetricsConfig;
  environment: Environment;
  /** The store's plain environment, resolved. */
  env: pulumi.Output<Record<string, string>>;
  password: pulumi.Output<string>;
  parent: pulumi.Resource;
}

/** What every builder returns. */
export interface MetricsBuildResult {
  /** URLs of the store as the platform reaches it (containers, in-cluster Service, internal LB). */
  endpoints: pulumi.Output<string[]>;
  /** URLs from where Pulumi runs (127.0.0.1 ports on Docker; the same as `endpoints` elsewhere). */
  hostEndpoints: pulumi.Output<string[]>;
  containers?: docker.Container[];
  deployment?: k8s.apps.v1.Deployment;
  service?: k8s.core.v1.Service;
  autoScalingGroup?: aws.autoscaling.Group;
  loadBalancer?: aws.lb.LoadBalancer;
}
