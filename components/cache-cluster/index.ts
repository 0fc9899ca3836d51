/**
 * CacheCluster: the Redis nodes of the read-through cache in front of the sharded database, on
 * Docker (Debian's redis-server in a local image), AWS (ElastiCache for Redis/Valkey, a node per
 * zone, encrypted at rest and in transit, auth token as a secret) or Kubernetes (a StatefulSet
 * with a headless Service). Keys are placed on the shared ring by the clients
 * (`scaleplane/cache-client`), which read the node list, generations and resizes from the
 * topology in etcd (`cache/<clusterName>/topology`).
 *
 * @example
 * const cache = new CacheCluster("cache", { target: "docker", cache: { nodes: 3 }, docker: { portBase: 16379 } });
 * export const cacheNodes = cache.nodes;
 */
import type * as aws from "@pulumi/aws";
import type * as docker from "@pulumi/docker";
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { CacheSchema, componentBase, configFail, parseSection, type CacheConfig } from "../../core/config";
import { AUTH_TOKEN_LENGTH, cacheHostPorts, cacheNodeSpecs } from "../../core/cache/spec";
import type { CacheNodeInput } from "../../core/cache/topology";
import { stackScopedName } from "../../core/naming";
import { TOKENS } from "../../core/tokens";
import type { CacheBuildContext, CacheClusterArgs } from "./args";
import { createAwsCache } from "./aws";
import { createDockerCache } from "./docker";
import { createKubernetesCache } from "./kubernetes";

export type {
  CacheClusterArgs,
  CacheClusterAwsArgs,
  CacheClusterCommonArgs,
  CacheClusterDockerArgs,
  CacheClusterKubernetesArgs,
} from "./args";

export class CacheCluster extends pulumi.ComponentResource {
  /** The validated cache config. */
  readonly config: CacheConfig;
  /** The cluster's name in etcd (`cache/<clusterName>/topology`): `<cache.name>-<stack>`. */
  readonly clusterName: pulumi.Output<string>;
  /** The nodes as the app reaches them (name, host, port, weight, zone): the initial topology. */
  readonly nodes: pulumi.Output<CacheNodeInput[]>;
  /** The Redis password / ElastiCache auth token (secret). */
  readonly authToken: pulumi.Output<string>;
  /** Whether clients connect with TLS (aws). */
  readonly tls: boolean;
  /** Docker: `127.0.0.1:<port>` per node name; `{}` elsewhere. */
  readonly hostEndpoints: pulumi.Output<Record<string, string>>;
  /** Docker: the nodes' network (app containers join it); undefined elsewhere. */
  readonly networkName: pulumi.Output<string | undefined>;
  /** AWS: the nodes' security group id; undefined elsewhere. */
  readonly securityGroupId: pulumi.Output<string | undefined>;
  readonly network?: docker.Network;
  readonly containers?: docker.Container[];
  readonly securityGroup?: aws.ec2.SecurityGroup;
  readonly replicationGroups?: aws.elasticache.ReplicationGroup[];
  readonly statefulSet?: k8s.apps.v1.StatefulSet;
  readonly service?: k8s.core.v1.Service;

  constructor(name: string, args: CacheClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    const environment = componentBase("CacheCluster", name, args);
    const cache = parseSection(CacheSchema, args.cache, "cache");
    const scope = stackScopedName(cache.name, pulumi.getStack());
    let zones: string[] = [];
    if (args.target === "aws") {
      if (args.aws.clientSecurityGroupIds.length === 0)
        configFail(
          "aws.clientSecurityGroupIds",
          "must list at least one security group (the app's): nothing else may reach the cache",
        );
      zones = [...new Set(args.aws.subnets.map((s) => s.zone))];
    }
    const nodes = cacheNodeSpecs(cache, scope, zones);
    const hostPorts = args.target === "docker" ? cacheHostPorts(args.docker.portBase, nodes.length) : [];
    // Recorded inputs (no secrets): policies read the environment, the section and that auth is on.
    super(
      TOKENS.cache,
      name,
      { target: args.target, environment, cache, auth: true, tls: args.target === "aws" },
      opts,
    );
    this.config = cache;
    this.tls = args.target === "aws";

    const authToken =
      args.authToken !== undefined
        ? pulumi.secret(args.authToken)
        : pulumi.secret(
            new random.RandomPassword(`${name}-auth`, { length: AUTH_TOKEN_LENGTH, special: false }, { parent: this })
              .result,
          );
    const ctx: CacheBuildContext = { name, cache, scope, environment, nodes, authToken, parent: this };
    let hostEndpoints = pulumi.output<Record<string, string>>({});
    let networkName: pulumi.Output<string | undefined> = pulumi.output(undefined);
    let securityGroupId: pulumi.Output<string | undefined> = pulumi.output(undefined);
    switch (args.target) {
      case "docker": {
        const d = createDockerCache(ctx, args.docker, hostPorts);
        this.nodes = d.nodes;
        hostEndpoints = d.hostEndpoints;
        networkName = d.networkName;
        this.network = d.network;
        this.containers = d.containers;
        break;
      }
      case "aws": {
        const a = createAwsCache(ctx, args.aws);
        this.nodes = a.nodes;
        securityGroupId = a.securityGroup.id;
        this.securityGroup = a.securityGroup;
        this.replicationGroups = a.replicationGroups;
        break;
      }
      case "kubernetes": {
        const k = createKubernetesCache(ctx, args.kubernetes);
        this.nodes = k.nodes;
        this.statefulSet = k.statefulSet;
        this.service = k.service;
        break;
      }
    }
    this.clusterName = pulumi.output(scope);
    this.authToken = authToken;
    this.hostEndpoints = hostEndpoints;
    this.networkName = networkName;
    this.securityGroupId = securityGroupId;
    this.registerOutputs({
      clusterName: this.clusterName,
      nodes: this.nodes,
      authToken: this.authToken,
      hostEndpoints: this.hostEndpoints,
      networkName: this.networkName,
      securityGroupId: this.securityGroupId,
    });
  }
}
