/**
 * Arguments of the ShardedDatabase, and the context and results its target builders share.
 * Types only: the class (index.ts) and the builders import them from here, never from each other.
 */
import type * as aws from "@pulumi/aws";
import type * as docker from "@pulumi/docker";
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { DatabaseConfig, DatabaseConfigInput, Environment } from "../../core/config";
import type { ShardResources, ShardSpec } from "../../core/sharding/database";
import type { ShardEndpoints } from "../../core/sharding/shard-map";
import type { AwsSubnet } from "../network/types";

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

/** Kubernetes placement (target `kubernetes`). The cluster is the `kubernetes` provider of the resource options (or the parent's). */
export interface ShardedDatabaseKubernetesArgs {
  /** Namespace of the StatefulSets, Services and the Secret. */
  namespace: pulumi.Input<string>;
  /**
   * StorageClass of the shards' volumes.
   * @default the cluster's default StorageClass
   */
  storageClass?: string;
}

/** Docker placement (target `docker`). */
export interface ShardedDatabaseDockerArgs {
  /**
   * Shard `shard-<n>` publishes its PostgreSQL port on 127.0.0.1:(portBase + n), so removing a
   * shard moves no other shard's port; other names take the free slots in list order. Never on
   * other addresses.
   */
  portBase: number;
  /**
   * An existing Docker network to put the shards on.
   * @default a new bridge network `<database.name>-net` (resource `${name}-net`)
   */
  network?: pulumi.Input<string>;
  /**
   * Client URLs of the config service as `pulumi up` reaches them (its 127.0.0.1 ports). When
   * given, a ShardRebalance child publishes the shard map there and moves the data online when
   * the shards or weights change (providers/shard-rebalance).
   * @default none: no shard map is published and shard changes move no data
   */
  configEndpoints?: pulumi.Input<pulumi.Input<string>[]>;
}

/** Settings of every target. */
export interface ShardedDatabaseCommonArgs {
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
}

/**
 * Where the shards run (`target`) and that target's placement block: the block of the chosen
 * target is required, the others cannot be given.
 */
export type ShardedDatabaseArgs = ShardedDatabaseCommonArgs &
  (
    | { target: "aws"; aws: ShardedDatabaseAwsArgs }
    | { target: "kubernetes"; kubernetes: ShardedDatabaseKubernetesArgs }
    | { target: "docker"; docker: ShardedDatabaseDockerArgs }
  );

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

/** What every target builder returns. */
export interface ShardBuildResult {
  /** Each shard's host and port as the app reaches it. */
  endpoints: pulumi.Output<ShardEndpoints>;
}

/** The Docker builder's result. */
export interface DockerShardsResult extends ShardBuildResult {
  /** `127.0.0.1:<port>` per shard name. */
  hostEndpoints: pulumi.Output<Record<string, string>>;
  /** The network the shards are on. */
  networkName: pulumi.Output<string>;
  /** The network created here (undefined when `docker.network` names an existing one). */
  network?: docker.Network;
  /** The shard containers, in shard order. */
  containers: docker.Container[];
}

/** The AWS builder's result. */
export interface AwsShardsResult extends ShardBuildResult {
  securityGroup: aws.ec2.SecurityGroup;
  subnetGroup: aws.rds.SubnetGroup;
  /** The RDS instances, in shard order. */
  instances: aws.rds.Instance[];
}

/** The Kubernetes builder's result. */
export interface KubernetesShardsResult extends ShardBuildResult {
  /** The credentials Secret. */
  secret: k8s.core.v1.Secret;
  /** One StatefulSet per shard, in shard order. */
  statefulSets: k8s.apps.v1.StatefulSet[];
  /** One Service per shard, in shard order. */
  services: k8s.core.v1.Service[];
}
