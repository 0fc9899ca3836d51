/**
 * CacheCluster on AWS: per node one ElastiCache for Redis (or Valkey) replication group of one
 * node, in its zone (a node per zone in turn), encrypted at rest and in transit, with the auth
 * token as a secret; a subnet group over the private subnets; a parameter group with the
 * configured volatile-* eviction policy; a security group admitting the Redis port only from the
 * client (app) security groups. Ring placement stays client-side (the same ring as everywhere),
 * so the groups run with cluster mode off.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { cacheNodeEndpoints, elastiCacheSettings } from "../../core/cache/spec";
import type { AwsCacheResult, CacheBuildContext, CacheClusterAwsArgs } from "./args";

export function createAwsCache(ctx: CacheBuildContext, args: CacheClusterAwsArgs): AwsCacheResult {
  const { name, cache, environment, nodes, parent, scope } = ctx;
  const settings = elastiCacheSettings(cache, environment);
  const tags = { "scaleplane:cache": cache.name, "scaleplane:environment": environment };

  const securityGroup = new aws.ec2.SecurityGroup(
    `${name}-sg`,
    {
      vpcId: args.vpcId,
      description: `${cache.name} cache nodes: port ${cache.port} from the app only`,
      ingress: [
        {
          protocol: "tcp",
          fromPort: cache.port,
          toPort: cache.port,
          securityGroups: args.clientSecurityGroupIds,
          description: "Redis from the app",
        },
      ],
      egress: [],
      tags,
    },
    { parent },
  );
  const subnetGroup = new aws.elasticache.SubnetGroup(
    `${name}-subnets`,
    {
      name: `${scope}-subnets`,
      description: `${cache.name} cache (private subnets)`,
      subnetIds: args.subnets.map((s) => s.id),
      tags,
    },
    { parent },
  );
  const parameterGroup = new aws.elasticache.ParameterGroup(
    `${name}-params`,
    {
      name: `${scope}-params`,
      family: settings.parameterGroupFamily,
      description: `${cache.name}: evict only keys with a TTL (never a node's generation)`,
      parameters: [{ name: "maxmemory-policy", value: cache.evictionPolicy }],
      tags,
    },
    { parent },
  );
  const replicationGroups = nodes.map(
    (node) =>
      new aws.elasticache.ReplicationGroup(
        `${name}-${node.name}`,
        {
          replicationGroupId: node.hostname,
          description: `${cache.name} cache node ${node.name} (ring member)`,
          engine: settings.engine,
          engineVersion: settings.engineVersion,
          nodeType: settings.nodeType,
          port: settings.port,
          numCacheClusters: 1,
          automaticFailoverEnabled: false,
          preferredCacheClusterAzs: node.zone ? [node.zone] : undefined,
          subnetGroupName: subnetGroup.name,
          securityGroupIds: [securityGroup.id],
          parameterGroupName: parameterGroup.name,
          atRestEncryptionEnabled: true,
          kmsKeyId: args.kmsKeyArn,
          transitEncryptionEnabled: true,
          authToken: ctx.authToken,
          snapshotRetentionLimit: settings.snapshotRetentionLimit,
          applyImmediately: environment !== "prod",
          tags: { ...tags, "scaleplane:cache-node": node.name },
        },
        { parent, additionalSecretOutputs: ["authToken"] },
      ),
  );
  return {
    nodes: pulumi
      .all(replicationGroups.map((g) => g.primaryEndpointAddress))
      .apply((hosts) => cacheNodeEndpoints(nodes, hosts, cache.port)),
    securityGroup,
    subnetGroup,
    parameterGroup,
    replicationGroups,
  };
}
