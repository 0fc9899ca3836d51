/**
 * The Platform's cache wiring (its own module, so the Platform class only gains a few lines): a
 * CacheCluster when the config has a `cache` section, and what the app gets to use it, the node
 * list, cluster name and TLS flag as environment, the password as a secret.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { PlatformConfig } from "../../core/config";
import { cacheClientSettings } from "../../core/cache/spec";
import { CacheCluster, type CacheClusterArgs } from "../cache-cluster";

type TargetArgs =
  | { target: "aws"; aws: Extract<CacheClusterArgs, { target: "aws" }>["aws"] }
  | { target: "kubernetes"; kubernetes: Extract<CacheClusterArgs, { target: "kubernetes" }>["kubernetes"] }
  | { target: "docker"; docker: Extract<CacheClusterArgs, { target: "docker" }>["docker"] };

export interface PlatformCache {
  cache: CacheCluster;
  env: Record<string, pulumi.Input<string>>;
  secretEnv: Record<string, pulumi.Input<string>>;
  /** What the app must be created after (the published topology, when `pulumi up` manages it). */
  dependsOn: pulumi.Resource[];
}

/** The CacheCluster `${name}-cache` and the app's settings for it; undefined without `cache` config. */
export function createPlatformCache(
  name: string,
  config: PlatformConfig,
  target: TargetArgs,
  parent: pulumi.Resource,
): PlatformCache | undefined {
  if (!config.cache) return undefined;
  const cache = new CacheCluster(
    `${name}-cache`,
    { ...target, environment: config.environment, cache: config.cache } as CacheClusterArgs,
    { parent },
  );
  return {
    cache,
    dependsOn: cache.topology ? [cache.topology] : [],
    env: {
      SCALEPLANE_CACHE_CLUSTER: cache.clusterName,
      // With a CacheTopology the app reads the nodes from etcd only (a resize then rolls no app
      // instance); otherwise the first client creates the topology from this list.
      ...(cache.topology ? {} : { SCALEPLANE_CACHE_NODES: cache.nodes.apply((n) => JSON.stringify(n)) }),
      SCALEPLANE_CACHE_TLS: cache.tls ? "1" : "0",
      SCALEPLANE_CACHE_SETTINGS: JSON.stringify(cacheClientSettings(config.cache)),
    },
    secretEnv: { SCALEPLANE_CACHE_PASSWORD: cache.authToken },
  };
}
