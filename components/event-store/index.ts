/**
 * EventStore: event streams, projections and subscriptions on the ShardedDatabase's shards
 * (runtime/event-store; its own tables beside the key-value ones, no new engine). The component
 * validates the `events` section, generates the master key that wraps every stream's data key
 * (crypto-shredding), keeps it where the target keeps secrets (a Secrets Manager secret on AWS, a
 * Secret on Kubernetes; on Docker it reaches the app as a secret file through the app group),
 * and exports the settings the app reads (`SCALEPLANE_EVENTS`). Schema, placement record and
 * projections are created by the runtime on first use (idempotently, under advisory locks), so
 * nothing here needs to reach the shards at deploy time.
 *
 * @example
 * const events = new EventStore("events", {
 *   target: "docker",
 *   events: { enabled: true, snapshotEvery: 50 },
 *   shardMap: db.shardMap,
 * });
 */
import type * as aws from "@pulumi/aws";
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { EventsSchema, componentBase, configFail, parseSection, type EventsConfig } from "../../core/config";
import { MASTER_KEY_BYTES, eventsSettings, type EventsSettings } from "../../core/events/settings";
import { stackScopedName } from "../../core/naming";
import { TOKENS } from "../../core/tokens";
import type { EventStoreArgs } from "./args";
import { createAwsEventStore } from "./aws";
import { createKubernetesEventStore } from "./kubernetes";

export type { EventStoreArgs, EventStoreAwsArgs, EventStoreCommonArgs, EventStoreKubernetesArgs } from "./args";

export class EventStore extends pulumi.ComponentResource {
  /** The validated events section. */
  readonly config: EventsConfig;
  /** What the app reads from `SCALEPLANE_EVENTS` (JSON). */
  readonly settings: pulumi.Output<EventsSettings>;
  /** The master key (secret, base64 of 32 bytes). */
  readonly masterKey: pulumi.Output<string>;
  /** The shards the streams live on (the database's shard map). */
  readonly shardMap: pulumi.Output<unknown>;
  /** AWS: the master key's Secrets Manager secret. */
  readonly secret?: aws.secretsmanager.Secret;
  /** Kubernetes: the master key's Secret. */
  readonly kubernetesSecret?: k8s.core.v1.Secret;

  constructor(name: string, args: EventStoreArgs, opts?: pulumi.ComponentResourceOptions) {
    const environment = componentBase("EventStore", name, {
      ...args,
      ...(args.target === "docker" ? { docker: args.docker ?? {} } : {}),
    } as Parameters<typeof componentBase>[2]);
    const events = parseSection(EventsSchema, args.events, "events");
    if (typeof args.masterKey === "string" && Buffer.from(args.masterKey, "base64").length !== MASTER_KEY_BYTES)
      configFail("masterKey", `must be ${MASTER_KEY_BYTES} bytes as base64 (e.g. \`openssl rand -base64 32\`)`);
    super(TOKENS.eventStore, name, { target: args.target, environment, events }, opts);
    this.config = events;
    const masterKey =
      args.masterKey !== undefined
        ? pulumi.secret(args.masterKey)
        : pulumi.secret(
            new random.RandomBytes(`${name}-master-key`, { length: MASTER_KEY_BYTES }, { parent: this }).base64,
          );
    const ctx = {
      name,
      events,
      environment,
      scope: stackScopedName(events.name, pulumi.getStack()),
      masterKey,
      parent: this,
    };
    switch (args.target) {
      case "aws":
        this.secret = createAwsEventStore(ctx, args.aws).secret;
        break;
      case "kubernetes":
        this.kubernetesSecret = createKubernetesEventStore(ctx, args.kubernetes).secret;
        break;
      case "docker":
        // the app group delivers the key as a secret file (SCALEPLANE_EVENTS_MASTER_KEY_FILE)
        break;
    }
    this.settings = pulumi.output(eventsSettings(events));
    this.masterKey = masterKey;
    this.shardMap = pulumi.output(args.shardMap);
    this.registerOutputs({ settings: this.settings, masterKey: this.masterKey, shardMap: this.shardMap });
  }
}
