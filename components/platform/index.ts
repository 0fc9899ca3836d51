/**
 * Platform: the whole service platform on one target. Composes the AutoscalingGroup, the
 * RaftConfigService (etcd) and the ShardedDatabase, and wires them: app instances get the
 * config-service endpoints and the database credentials (as secrets); the config service and the
 * database admit only the app.
 *
 * Providers are resource options: pass `providers: { aws }` or `{ kubernetes }` (or set them on a
 * parent); every child is created with `{ parent: this }` and inherits them. The Platform never
 * creates or replaces a provider (the program, index.ts, builds the LocalStack one).
 *
 * @example
 * const platform = new Platform("sp", {
 *   config: { target: "docker", database: { shards: 3, replicationFactor: 2, consistency: "quorum" } },
 * });
 * export const appEndpoints = platform.appEndpoints;
 */
import type * as aws from "@pulumi/aws";
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { parsePlatformConfig, type PlatformConfig } from "../../core/config";
import { loadBalancerSettings } from "../../core/app/alb";
import type { ShardMap } from "../../core/sharding/shard-map";
import { TOKENS } from "../../core/tokens";
import { AutoscalingGroup, type AutoscalingGroupCommonArgs } from "../autoscaling-group";
import type { AwsNetwork } from "../network";
import { RaftConfigService } from "../raft-config-service";
import type { MetricsStore } from "../metrics-store";
import { ShardedDatabase } from "../sharded-database";
import type { EventStore } from "../event-store";
import type { PlatformArgs } from "./args";
import { createAwsFoundation } from "./aws";
import { createPlatformNamespace } from "./kubernetes";
import { createPlatformCache, type PlatformCache } from "./cache";
import { createPlatformEvents, type PlatformEvents } from "./events";
import { createPlatformMetrics } from "./metrics";
import type { CacheCluster } from "../cache-cluster";

export type { PlatformArgs } from "./args";
export { createPlatformAwsProvider, platformTags } from "./aws";
export { currentStackName, previousDeployment } from "./previous-deployment";

/** The value of an output that is defined on this target (a broken invariant fails the deployment loudly). */
const defined = (o: pulumi.Output<string | undefined>, what: string): pulumi.Output<string> =>
  o.apply((v) => {
    if (v === undefined) throw new Error(`scaleplane: ${what} is undefined on target docker`);
    return v;
  });

export class Platform extends pulumi.ComponentResource {
  /** The validated configuration the platform was built from. */
  readonly config: PlatformConfig;
  readonly app: AutoscalingGroup;
  readonly configService: RaftConfigService;
  readonly database: ShardedDatabase;
  /** How users reach the app (ALB URL, Service URL, or 127.0.0.1 ports on Docker). */
  readonly appEndpoints: pulumi.Output<string[]>;
  /** etcd client endpoints as the app reaches them. */
  readonly configEndpoints: pulumi.Output<string[]>;
  /** The shard map (members, weights, vnodes, replication factor, consistency). */
  readonly shardMap: pulumi.Output<ShardMap>;
  /** The MetricsStore (`metrics.enabled`, the default): time series on the shards. */
  readonly metrics?: MetricsStore;
  /** Its URLs as the platform reaches them; [] when disabled. */
  readonly metricsEndpoints: pulumi.Output<string[]>;
  /** AWS: the network the platform runs in (created here, or the configured existing one). */
  readonly network?: AwsNetwork;
  /** AWS: the VPC when the network was created here. */
  readonly vpc?: aws.ec2.Vpc;
  /** AWS: the security group of the app instances (the config service and the database admit only it). */
  readonly appSecurityGroup?: aws.ec2.SecurityGroup;
  /** Kubernetes: the platform's namespace. */
  readonly namespace?: k8s.core.v1.Namespace;
  /** The cache in front of the database (when the config has a `cache` section). */
  readonly cache?: CacheCluster;
  /** The event store, when `events.enabled`. */
  readonly events?: EventStore;

  constructor(name: string, args: PlatformArgs, opts?: pulumi.ComponentResourceOptions) {
    const config = parsePlatformConfig(args.config);
    super(
      TOKENS.platform,
      name,
      { target: config.target, environment: config.environment, config: JSON.stringify(config) },
      opts,
    );
    this.config = config;
    const { environment } = config;
    const childOpts: pulumi.ComponentResourceOptions = { parent: this };

    const csArgs = { environment, configService: config.configService };
    const dbArgs = { environment, database: config.database };
    // Optional services on the config service and the database, created (per target, below) before
    // the app group so it can be given their settings.
    let cache: PlatformCache | undefined;
    let events: PlatformEvents | undefined;
    const appArgs = (c: RaftConfigService, d: ShardedDatabase): AutoscalingGroupCommonArgs => ({
      environment,
      app: config.app,
      env: {
        SCALEPLANE_CONFIG_ENDPOINTS: c.clientEndpoints.apply((e) => e.join(",")),
        SCALEPLANE_DATABASE_USER: d.username,
        SCALEPLANE_DATABASE_NAME: d.databaseName,
        SCALEPLANE_SHARD_MAP: d.shardMap.apply((m) => JSON.stringify(m)),
        ...cache?.env,
        ...events?.env,
      },
      secretEnv: { SCALEPLANE_DATABASE_PASSWORD: d.password, ...cache?.secretEnv, ...events?.secretEnv },
    });
    const appOpts = (c: RaftConfigService, d: ShardedDatabase) => pulumi.mergeOptions(childOpts, { dependsOn: [c, d] });

    switch (config.target) {
      case "aws": {
        const { network, createdNetwork, appSecurityGroup } = createAwsFoundation(name, config, this);
        this.network = network;
        this.vpc = createdNetwork?.vpc;
        this.appSecurityGroup = appSecurityGroup;
        const placement = {
          vpcId: network.vpcId,
          subnets: network.privateSubnets,
          clientSecurityGroupIds: [appSecurityGroup.id],
        };
        this.configService = new RaftConfigService(
          `${name}-config`,
          { ...csArgs, target: "aws", aws: placement },
          childOpts,
        );
        this.database = new ShardedDatabase(`${name}-db`, { ...dbArgs, target: "aws", aws: placement }, childOpts);
        cache = createPlatformCache(name, config, { target: "aws", aws: placement }, this);
        events = createPlatformEvents(name, config, { target: "aws", aws: {} }, this.database, this);
        this.metrics = createPlatformMetrics(
          name,
          config,
          {
            target: "aws",
            aws: { ...placement, instanceSecurityGroupId: appSecurityGroup.id },
          },
          this.configService,
          this.database,
          this,
        );
        this.app = new AutoscalingGroup(
          `${name}-app`,
          {
            ...appArgs(this.configService, this.database),
            target: "aws",
            aws: {
              vpcId: network.vpcId,
              subnets: network.privateSubnets,
              publicSubnetIds: network.publicSubnetIds,
              instanceSecurityGroupId: appSecurityGroup.id,
              ingressCidrs: config.aws.ingressCidrs,
              loadBalancer: loadBalancerSettings(config.aws, config.environment, `${name}-app`),
            },
          },
          appOpts(this.configService, this.database),
        );
        break;
      }
      case "kubernetes": {
        this.namespace = createPlatformNamespace(name, config.kubernetes.namespace, this);
        const namespace = this.namespace.metadata.name;
        const storageClass = config.kubernetes.storageClass;
        this.configService = new RaftConfigService(
          `${name}-config`,
          {
            ...csArgs,
            target: "kubernetes",
            kubernetes: {
              namespace,
              storageClass,
              zones: config.kubernetes.zones,
              deployedEndpoints: args.deployedConfigEndpoints,
            },
          },
          childOpts,
        );
        this.database = new ShardedDatabase(
          `${name}-db`,
          { ...dbArgs, target: "kubernetes", kubernetes: { namespace, storageClass } },
          childOpts,
        );
        cache = createPlatformCache(name, config, { target: "kubernetes", kubernetes: { namespace } }, this);
        events = createPlatformEvents(
          name,
          config,
          { target: "kubernetes", kubernetes: { namespace } },
          this.database,
          this,
        );
        this.metrics = createPlatformMetrics(
          name,
          config,
          { target: "kubernetes", kubernetes: { namespace } },
          this.configService,
          this.database,
          this,
        );
        this.app = new AutoscalingGroup(
          `${name}-app`,
          { ...appArgs(this.configService, this.database), target: "kubernetes", kubernetes: { namespace } },
          appOpts(this.configService, this.database),
        );
        break;
      }
      case "docker": {
        this.configService = new RaftConfigService(
          `${name}-config`,
          { ...csArgs, target: "docker", docker: { portBase: config.docker.etcdPortBase } },
          childOpts,
        );
        this.database = new ShardedDatabase(
          `${name}-db`,
          {
            ...dbArgs,
            target: "docker",
            docker: {
              portBase: config.docker.databasePortBase,
              configEndpoints: this.configService.publishedEndpoints,
            },
          },
          childOpts,
        );
        cache = createPlatformCache(
          name,
          config,
          { target: "docker", docker: { portBase: config.docker.cachePortBase } },
          this,
        );
        events = createPlatformEvents(name, config, { target: "docker" }, this.database, this);
        // the store reaches etcd and the shards by container name, as the app does
        const serviceNetworks = [
          defined(this.configService.networkName, "configService.networkName"),
          defined(this.database.networkName, "database.networkName"),
        ];
        this.metrics = createPlatformMetrics(
          name,
          config,
          { target: "docker", docker: { networks: serviceNetworks } },
          this.configService,
          this.database,
          this,
        );
        const networks = [
          ...serviceNetworks,
          ...(cache ? [defined(cache.cache.networkName, "cache.networkName")] : []),
        ];
        this.app = new AutoscalingGroup(
          `${name}-app`,
          {
            ...appArgs(this.configService, this.database),
            target: "docker",
            docker: {
              portBase: config.docker.appPortBase,
              networks,
              // The group really autoscales: its controllers lead through the config service.
              scaling: {
                configService: {
                  clientEndpoints: this.configService.clientEndpoints,
                  publishedEndpoints: this.configService.publishedEndpoints,
                  network: networks[0],
                },
              },
            },
          },
          appOpts(this.configService, this.database),
        );
        break;
      }
    }

    this.cache = cache?.cache;
    this.events = events?.events;
    this.metricsEndpoints = this.metrics?.endpoints ?? pulumi.output([]);

    this.appEndpoints = this.app.endpoints;
    this.configEndpoints = this.configService.clientEndpoints;
    this.shardMap = this.database.shardMap;
    this.registerOutputs({
      appEndpoints: this.appEndpoints,
      configEndpoints: this.configEndpoints,
      shardMap: this.shardMap,
      metricsEndpoints: this.metricsEndpoints,
    });
  }
}
