/**
 * ShardedDatabase: PostgreSQL shard nodes behind the consistent-hash ring, on Docker, AWS (RDS)
 * or Kubernetes (StatefulSets). Validates its arguments, derives the shard specs in core/sharding/database,
 * has the target's builder create the resources, and publishes the initial shard map (members as
 * the app reaches them) and the credentials (the password only as a secret).
 *
 * Providers come through the resource options or from the parent; every child is created with
 * `{ parent: this }`, so they flow to it.
 *
 * @example
 * const db = new ShardedDatabase("db", {
 *   target: "docker",
 *   database: { shards: 3, replicationFactor: 2, consistency: "quorum" },
 *   docker: { portBase: 15432 },
 * });
 * export const shardMap = db.shardMap;
 */
import type * as aws from "@pulumi/aws";
import type * as docker from "@pulumi/docker";
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { DatabaseSchema, componentBase, parseSection, type DatabaseConfig } from "../../core/config";
import {
  GENERATED_PASSWORD_LENGTH,
  distinctZones,
  dockerHostPorts,
  rdsSettings,
  shardResources,
  shardSpecs,
  spreadShardsOverZones,
  validateAwsPlacement,
  validatePassword,
  type RdsSettings,
} from "../../core/sharding/database";
import { stackScopedName } from "../../core/naming";
import { initialShardMap, type ShardMap } from "../../core/sharding/shard-map";
import { TOKENS } from "../../core/tokens";
import type { ShardBuildContext, ShardBuildResult, ShardedDatabaseArgs } from "./args";
import { createAwsShards } from "./aws";
import { createDockerShards } from "./docker";
import { createKubernetesShards } from "./kubernetes";
import { ShardRebalance } from "../../providers/shard-rebalance";

export type {
  ShardedDatabaseArgs,
  ShardedDatabaseAwsArgs,
  ShardedDatabaseCommonArgs,
  ShardedDatabaseDockerArgs,
  ShardedDatabaseKubernetesArgs,
} from "./args";

export class ShardedDatabase extends pulumi.ComponentResource {
  /** The initial shard map (epoch 0): members as the app reaches them, weights, vnodes, rf, consistency. */
  readonly shardMap: pulumi.Output<ShardMap>;
  /** The database password (secret). */
  readonly password: pulumi.Output<string>;
  readonly username: pulumi.Output<string>;
  readonly databaseName: pulumi.Output<string>;
  /** Docker: `127.0.0.1:<port>` per shard name, for tools and tests on the host; `{}` on other targets. */
  readonly hostEndpoints: pulumi.Output<Record<string, string>>;
  /**
   * Docker: the network the shards are on (app containers join it to reach `<container>:<port>`).
   * Resolves to undefined on other targets.
   */
  readonly networkName: pulumi.Output<string | undefined>;
  /** AWS: the shards' security group (ingress: the database port from the client groups only). */
  readonly securityGroupId: pulumi.Output<string | undefined>;
  /** The validated database config. */
  readonly config: DatabaseConfig;

  /** Docker: the shards' network when created here (undefined when `docker.network` was given). */
  readonly network?: docker.Network;
  /** Docker: the shard containers, in shard order. */
  readonly containers?: docker.Container[];
  /** AWS: the shards' security group. */
  readonly securityGroup?: aws.ec2.SecurityGroup;
  /** AWS: the RDS subnet group. */
  readonly subnetGroup?: aws.rds.SubnetGroup;
  /** AWS: the RDS instances, in shard order. */
  readonly instances?: aws.rds.Instance[];
  /** Kubernetes: the credentials Secret. */
  readonly credentialsSecret?: k8s.core.v1.Secret;
  /** Kubernetes: one StatefulSet per shard, in shard order. */
  readonly statefulSets?: k8s.apps.v1.StatefulSet[];
  /** Kubernetes: one Service per shard, in shard order. */
  readonly services?: k8s.core.v1.Service[];
  /** Docker with `docker.configEndpoints`: keeps the stored shard map at these shards, moving data online. */
  readonly rebalance?: ShardRebalance;

  constructor(name: string, args: ShardedDatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    // Everything is validated before the component registers anything.
    const environment = componentBase("ShardedDatabase", name, args);
    const db = parseSection(DatabaseSchema, args.database, "database");
    const scope = stackScopedName(db.name, pulumi.getStack());
    const shards = shardSpecs(db, scope);
    const resources = shardResources(args.resources);
    if (typeof args.password === "string") validatePassword(args.password);
    let zones: string[] = [];
    let rds: RdsSettings | undefined;
    if (args.target === "aws") {
      validateAwsPlacement(args.aws.subnets, args.aws.clientSecurityGroupIds.length);
      zones = spreadShardsOverZones(shards, distinctZones(args.aws.subnets));
      rds = rdsSettings(db, environment);
    }
    const hostPorts = args.target === "docker" ? dockerHostPorts(args.docker.portBase, shards) : [];

    // Recorded inputs (no secrets): policies read the environment and the validated section.
    super(TOKENS.database, name, { target: args.target, environment, database: db }, opts);
    this.config = db;

    const password =
      args.password !== undefined
        ? pulumi.secret(args.password)
        : pulumi.secret(
            new random.RandomPassword(
              `${name}-password`,
              { length: GENERATED_PASSWORD_LENGTH, special: false },
              { parent: this },
            ).result,
          );

    const ctx: ShardBuildContext = { name, db, scope, environment, shards, resources, password, parent: this };
    let built: ShardBuildResult;
    let hostEndpoints: pulumi.Output<Record<string, string>> = pulumi.output<Record<string, string>>({});
    let networkName: pulumi.Output<string | undefined> = pulumi.output(undefined);
    let securityGroupId: pulumi.Output<string | undefined> = pulumi.output(undefined);
    switch (args.target) {
      case "aws": {
        const a = createAwsShards(ctx, args.aws, zones, rds ?? rdsSettings(db, environment));
        built = a;
        securityGroupId = a.securityGroup.id;
        this.securityGroup = a.securityGroup;
        this.subnetGroup = a.subnetGroup;
        this.instances = a.instances;
        break;
      }
      case "kubernetes": {
        const k = createKubernetesShards(ctx, args.kubernetes);
        built = k;
        this.credentialsSecret = k.secret;
        this.statefulSets = k.statefulSets;
        this.services = k.services;
        break;
      }
      case "docker": {
        const d = createDockerShards(ctx, args.docker, hostPorts);
        built = d;
        hostEndpoints = d.hostEndpoints;
        networkName = d.networkName;
        this.network = d.network;
        this.containers = d.containers;
        break;
      }
    }

    this.shardMap = built.endpoints.apply((ep) => initialShardMap(db, ep));
    // Docker: the shards are reachable from `pulumi up`, so the online rebalance runs here.
    if (args.target === "docker" && args.docker.configEndpoints !== undefined)
      this.rebalance = new ShardRebalance(
        `${name}-rebalance`,
        {
          target: "docker",
          etcdEndpoints: args.docker.configEndpoints,
          shardMap: this.shardMap,
          reach: hostEndpoints,
          username: db.username,
          password,
        },
        { parent: this, dependsOn: this.containers },
      );
    this.password = password;
    this.username = pulumi.output(db.username);
    this.databaseName = pulumi.output(db.databaseName);
    this.hostEndpoints = hostEndpoints;
    this.networkName = networkName;
    this.securityGroupId = securityGroupId;
    this.registerOutputs({
      shardMap: this.shardMap,
      password: this.password,
      username: this.username,
      databaseName: this.databaseName,
      hostEndpoints: this.hostEndpoints,
      networkName: this.networkName,
      securityGroupId: this.securityGroupId,
    });
  }
}
