/**
 * Arguments of the CacheCluster, and the context and results its target builders share.
 * Types only: the class (index.ts) and the builders import them from here, never from each other.
 */
import type * as aws from "@pulumi/aws";
import type * as docker from "@pulumi/docker";
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { CacheConfig, CacheConfigInput, Environment } from "../../core/config";
import type { CacheNodeSpec } from "../../core/cache/spec";
import type { CacheNodeInput } from "../../core/cache/topology";
import type { AwsSubnet } from "../network/types";

/** AWS placement (target `aws`): one ElastiCache replication group per node, a node per zone. */
export interface CacheClusterAwsArgs {
  vpcId: pulumi.Input<string>;
  /** Private subnets; nodes are spread over their zones. */
  subnets: AwsSubnet[];
  /** The only security groups allowed to reach the Redis port (the app's). At least one. */
  clientSecurityGroupIds: pulumi.Input<string>[];
  /**
   * KMS key for encryption at rest.
   * @default the account's AWS-managed ElastiCache key (encryption at rest is on either way)
   */
  kmsKeyArn?: pulumi.Input<string>;
}

/** Kubernetes placement (target `kubernetes`): a StatefulSet with a headless Service. */
export interface CacheClusterKubernetesArgs {
  namespace: pulumi.Input<string>;
}

/** Docker placement (target `docker`). */
export interface CacheClusterDockerArgs {
  /** Node i publishes Redis on 127.0.0.1:(portBase + i), never on other addresses. */
  portBase: number;
  /**
   * An existing Docker network to put the nodes on.
   * @default a new bridge network `<cache.name>-<stack>-net`
   */
  network?: pulumi.Input<string>;
}

/** Settings of every target. */
export interface CacheClusterCommonArgs {
  /**
   * The cache section (nodes, memory, TTLs, leases, near cache; see `CacheSchema` in
   * core/config.ts for every field and its default). Validated here: a bad value throws a
   * ConfigError naming e.g. `cache.replicas`.
   */
  cache: CacheConfigInput;
  /** @default "dev" */
  environment?: Environment;
  /**
   * The Redis AUTH password / ElastiCache auth token (held as a secret).
   * @default a generated 32-character alphanumeric token (a `random.RandomPassword` child)
   */
  authToken?: pulumi.Input<string>;
}

export type CacheClusterArgs = CacheClusterCommonArgs &
  (
    | { target: "aws"; aws: CacheClusterAwsArgs }
    | { target: "kubernetes"; kubernetes: CacheClusterKubernetesArgs }
    | { target: "docker"; docker: CacheClusterDockerArgs }
  );

/** What every builder gets. */
export interface CacheBuildContext {
  name: string;
  cache: CacheConfig;
  scope: string;
  environment: Environment;
  nodes: CacheNodeSpec[];
  authToken: pulumi.Output<string>;
  parent: pulumi.Resource;
}

/** What every builder returns: the nodes as the app reaches them. */
export interface CacheBuildResult {
  nodes: pulumi.Output<CacheNodeInput[]>;
}

export interface DockerCacheResult extends CacheBuildResult {
  hostEndpoints: pulumi.Output<Record<string, string>>;
  networkName: pulumi.Output<string>;
  network?: docker.Network;
  containers: docker.Container[];
}

export interface AwsCacheResult extends CacheBuildResult {
  securityGroup: aws.ec2.SecurityGroup;
  subnetGroup: aws.elasticache.SubnetGroup;
  parameterGroup: aws.elasticache.ParameterGroup;
  replicationGroups: aws.elasticache.ReplicationGroup[];
}

export interface KubernetesCacheResult extends CacheBuildResult {
  secret: k8s.core.v1.Secret;
  service: k8s.core.v1.Service;
  statefulSet: k8s.apps.v1.StatefulSet;
}
