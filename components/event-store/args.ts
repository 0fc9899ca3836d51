/**
 * Arguments of the EventStore, and the context its target builders share. Types only: the class
 * (index.ts) and the builders import them from here, never from each other.
 */
import type * as aws from "@pulumi/aws";
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { Environment, EventsConfig, EventsConfigInput } from "../../core/config";
import type { ShardMap } from "../../core/sharding/shard-map";

/** Settings of every target. */
export interface EventStoreCommonArgs {
  /**
   * The events section (see `EventsSchema` in core/config.ts for every field and its default).
   * Validated here: a bad value throws a ConfigError naming e.g. `events.snapshotEvery`.
   */
  events: EventsConfigInput;
  /**
   * The ShardedDatabase's shard map: the event store keeps its streams on these shards (its own
   * tables beside the key-value ones; no new engine).
   */
  shardMap: pulumi.Input<ShardMap>;
  /** @default "dev" */
  environment?: Environment;
  /**
   * The master key wrapping every stream's data key (32 bytes, base64), held as a secret.
   * @default a generated one (a `random.RandomBytes` child): keep the stack's state safe, losing it makes every event unreadable
   */
  masterKey?: pulumi.Input<string>;
}

/** Kubernetes placement: the namespace of the master-key Secret. */
export interface EventStoreKubernetesArgs {
  namespace: pulumi.Input<string>;
}

/** AWS: the KMS key of the master-key secret. */
export interface EventStoreAwsArgs {
  /** @default the account's AWS-managed Secrets Manager key */
  kmsKeyId?: pulumi.Input<string>;
}

/** Where the platform runs (`target`) and that target's block (Docker needs none). */
export type EventStoreArgs = EventStoreCommonArgs &
  (
    | { target: "aws"; aws: EventStoreAwsArgs }
    | { target: "kubernetes"; kubernetes: EventStoreKubernetesArgs }
    | { target: "docker"; docker?: Record<string, never> }
  );

/** What every builder gets. */
export interface EventStoreBuildContext {
  name: string;
  events: EventsConfig;
  environment: Environment;
  /** Stack-scoped physical name prefix (`<events.name>-<stack>`). */
  scope: string;
  masterKey: pulumi.Output<string>;
  parent: pulumi.Resource;
}

/** The AWS builder's result. */
export interface AwsEventStoreResult {
  secret: aws.secretsmanager.Secret;
}

/** The Kubernetes builder's result. */
export interface KubernetesEventStoreResult {
  secret: k8s.core.v1.Secret;
}
