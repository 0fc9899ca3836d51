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
    env: {
      SCALEPLANE_CACHE_CLUSTER: cache.clusterName,
      SCALEPLANE_CACHE_NODES: cache.nodes.apply((n) => JSON.stringify(n)),
      SCALEPLANE_CACHE_TLS: cache.tls ? "1" : "0",
      SCALEPLANE_CACHE_SETTINGS: JSON.stringify(cacheClientSettings(config.cache)),
    },
    secretEnv: { SCALEPLANE_CACHE_PASSWORD: cache.authToken },
  };
}
