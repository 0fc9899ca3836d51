/**
 * ShardedDatabase: PostgreSQL shard nodes behind the consistent-hash ring, on Docker, AWS (RDS)
 * or Kubernetes (StatefulSets). Validates its arguments, derives the shard specs in core/database,
 * has the target's builder create the resources, and publishes the initial shard map (members as
 * the app reaches them) and the credentials (the password only as a secret).
 */
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { DatabaseSchema, componentBase, configFail, parseSection, type DatabaseConfig, type DatabaseConfigInput, type Environment, type Target } from "../core/config";
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
  type ShardResources,
  type ShardSpec,
} from "../core/database";
import { stackScopedName } from "../core/naming";
import { initialShardMap, type ShardEndpoints, type ShardMap } from "../core/shard-map";
import { createAwsShards } from "./targets/aws/sharded-database";
import type { AwsSubnet } from "./targets/aws/network-types";
import { createDockerShards } from "./targets/docker/sharded-database";
import { createKubernetesShards } from "./targets/kubernetes/sharded-database";

/** AWS placement of the shards (target `aws`). */
export interface ShardedDatabaseAwsArgs {
  /** The VPC of the subnets and the security group. */
  vpcId: pulumi.Input<string>;
  /** Private subnets over at least 2 zones: the RDS subnet group; shards are spread over their zones. */
  subnets: AwsSubnet[];
  /** The only security groups allowed to reach the database port (the app's). At least one. */
  clientSecurityGroupIds: pulumi.Input<string>[];
  /**
   * KMS key for storage encryption.
   * @default the account's AWS-managed RDS key (storage is encrypted either way)
   */
  kmsKeyId?: pulumi.Input<string>;
}

/** Kubernetes placement (target `kubernetes`). */
export interface ShardedDatabaseKubernetesArgs {
  /** Namespace of the StatefulSets, Services and the Secret. */
  namespace: pulumi.Input<string>;
  /**
   * StorageClass of the shards' volumes.
   * @default the cluster's default StorageClass
   */
  storageClass?: string;
  /**
   * Provider of the cluster.
   * @default the ambient kubeconfig context (or the parent's provider)
   */
  provider?: k8s.Provider;
}

/** Docker placement (target `docker`). */
export interface ShardedDatabaseDockerArgs {
  /** Shard i publishes its PostgreSQL port on 127.0.0.1:(portBase + i), never on other addresses. */
  portBase: number;
  /**
   * An existing Docker network to put the shards on.
   * @default a new bridge network `<database.name>-net` (resource `${name}-net`)
   */
  network?: pulumi.Input<string>;
}

export interface ShardedDatabaseArgs {
  /** Where the shards run. */
  target: Target;
  /**
   * The database section (shards, ring settings, engine, sizes; see `DatabaseSchema` in
   * core/config.ts for every field and its default). Validated here: a bad value throws a
   * ConfigError naming e.g. `database.replicationFactor`.
   */
  database: DatabaseConfigInput;
  /**
   * Deployment environment; `prod` turns on RDS deletion protection and final snapshots and
   * requires backups.
   * @default "dev"
   */
  environment?: Environment;
  /**
   * The database password (held as a secret).
   * @default a generated 32-character alphanumeric password (a `random.RandomPassword` child)
   */
  password?: pulumi.Input<string>;
  /**
   * CPU and memory of each shard container / pod (Docker, Kubernetes; RDS uses `database.instanceClass`).
   * @default { cpu: 1, memoryMb: 1024 }
   */
  resources?: Partial<ShardResources>;
  /** Required for target `aws`. */
  aws?: ShardedDatabaseAwsArgs;
  /** Required for target `kubernetes`. */
  kubernetes?: ShardedDatabaseKubernetesArgs;
  /** Required for target `docker`. */
  docker?: ShardedDatabaseDockerArgs;
}

/** What every target builder gets: the validated config and the derived, validated specs. */
export interface ShardBuildContext {
  /** Component name: prefix of child resource names. */
  name: string;
  db: DatabaseConfig;
  /** Stack-scoped physical name prefix (`<database.name>-<stack>`). */
  scope: string;
  environment: Environment;
  shards: ShardSpec[];
  resources: ShardResources;
  /** The password, secret. */
  password: pulumi.Output<string>;
  parent: pulumi.Resource;
}

/** What a target builder returns. */
export interface ShardBuildResult {
  /** Each shard's host and port as the app reaches it. */
  endpoints: pulumi.Output<ShardEndpoints>;
  /** Docker only: `127.0.0.1:<port>` per shard name. */
  hostEndpoints?: pulumi.Output<Record<string, string>>;
  /** Docker only: the network the shards are on. */
  networkName?: pulumi.Output<string>;
  /** AWS only: the shards' security group. */
  securityGroupId?: pulumi.Output<string>;
}


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
  readonly networkName: pulumi.Output<string>;
  /** AWS: the shards' security group (ingress: the database port from the client groups only). */
  readonly securityGroupId: pulumi.Output<string | undefined>;
  /** The validated database config. */
  readonly config: DatabaseConfig;

  constructor(name: string, args: ShardedDatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    // Everything is validated before the component registers anything.
    const environment = componentBase("ShardedDatabase", name, args);
    const db = parseSection(DatabaseSchema, args.database, "database");
    const scope = stackScopedName(db.name, pulumi.getStack());
    const shards = shardSpecs(db, scope);
    const resources = shardResources(args.resources);
    if (typeof args.password === "string") validatePassword(args.password);
    const block = args[args.target];
    if (!block) configFail(args.target, `is required for target ${args.target} (ShardedDatabase "${name}"); it is missing`);
    const aws = args.target === "aws" ? args.aws! : undefined;
    let zones: string[] = [];
    if (aws) {
      validateAwsPlacement(aws.subnets, aws.clientSecurityGroupIds.length);
      zones = spreadShardsOverZones(shards, distinctZones(aws.subnets));
    }
    const rds = aws ? rdsSettings(db, environment) : undefined;
    const hostPorts = args.target === "docker" ? dockerHostPorts(args.docker!.portBase, shards.length) : [];

    // Recorded inputs (no secrets): policies read the environment and the validated section.
    super("scaleplane:database:ShardedDatabase", name, { target: args.target, environment, database: db }, opts);
    this.config = db;

    const password =
      args.password !== undefined
        ? pulumi.secret(args.password)
        : pulumi.secret(new random.RandomPassword(`${name}-password`, { length: GENERATED_PASSWORD_LENGTH, special: false }, { parent: this }).result);

    const ctx: ShardBuildContext = { name, db, scope, environment, shards, resources, password, parent: this };
    let built: ShardBuildResult;
    switch (args.target) {
      case "aws":
        built = createAwsShards(ctx, aws!, zones, rds!);
        break;
      case "kubernetes":
        built = createKubernetesShards(ctx, args.kubernetes!);
        break;
      case "docker":
        built = createDockerShards(ctx, args.docker!, hostPorts);
        break;
    }

    this.shardMap = built.endpoints.apply((ep) => initialShardMap(db, ep));
    this.password = password;
    this.username = pulumi.output(db.username);
    this.databaseName = pulumi.output(db.databaseName);
    this.hostEndpoints = built.hostEndpoints ?? pulumi.output<Record<string, string>>({});
    this.networkName = built.networkName ?? (pulumi.output(undefined) as unknown as pulumi.Output<string>);
    this.securityGroupId = built.securityGroupId ?? pulumi.output(undefined);
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
