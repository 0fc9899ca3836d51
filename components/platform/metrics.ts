/**
 * The Platform's metrics-store wiring (its own module, like cache.ts and events.ts): a MetricsStore
 * `${name}-metrics` next to the shards when `metrics.enabled` (the default). It reaches the config
 * service and the database the way the app does: etcd's client endpoints, the database role and its
 * password (a secret). Created before the app group, so the group can be given its endpoints.
 */
import * as pulumi from "@pulumi/pulumi";
import type { PlatformConfig } from "../../core/config";
import { MetricsStore, type MetricsStoreArgs } from "../metrics-store";
import type { RaftConfigService } from "../raft-config-service";
import type { ShardedDatabase } from "../sharded-database";

/** The target block of the store (its networks, namespace or VPC placement). */
export type PlatformMetricsTarget =
  | { target: "docker"; docker: Extract<MetricsStoreArgs, { target: "docker" }>["docker"] }
  | { target: "kubernetes"; kubernetes: Extract<MetricsStoreArgs, { target: "kubernetes" }>["kubernetes"] }
  | { target: "aws"; aws: Extract<MetricsStoreArgs, { target: "aws" }>["aws"] };

/** The MetricsStore of the platform, or undefined when `metrics.enabled` is false. */
export function createPlatformMetrics(
  name: string,
  config: PlatformConfig,
  target: PlatformMetricsTarget,
  configService: RaftConfigService,
  database: ShardedDatabase,
  parent: pulumi.Resource,
): MetricsStore | undefined {
  if (!config.metrics.enabled) return undefined;
  return new MetricsStore(
    `${name}-metrics`,
    {
      ...target,
      environment: config.environment,
      metrics: config.metrics,
      configEndpoints: configService.clientEndpoints,
      databaseUser: database.username,
      databasePassword: database.password,
    } as MetricsStoreArgs,
    { parent, dependsOn: [configService, database] },
  );
}
