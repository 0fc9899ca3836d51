/**
 * The Platform's event-store wiring (its own module, like cache.ts and metrics.ts): an EventStore
 * `${name}-events` on the database's shards when `events.enabled`, and what the app gets to use it:
 * its settings as environment and the master key as a secret.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { PlatformConfig } from "../../core/config";
import { EVENTS_MASTER_KEY_ENV, EVENTS_SETTINGS_ENV } from "../../core/events/settings";
import { EventStore, type EventStoreArgs } from "../event-store";
import type { ShardedDatabase } from "../sharded-database";

/** The target block of the store (Docker needs none). */
export type PlatformEventsTarget =
  | { target: "docker" }
  | { target: "kubernetes"; kubernetes: Extract<EventStoreArgs, { target: "kubernetes" }>["kubernetes"] }
  | { target: "aws"; aws: Extract<EventStoreArgs, { target: "aws" }>["aws"] };

export interface PlatformEvents {
  events: EventStore;
  env: Record<string, pulumi.Input<string>>;
  secretEnv: Record<string, pulumi.Input<string>>;
}

/** The EventStore and the app's settings for it; undefined unless `events.enabled`. */
export function createPlatformEvents(
  name: string,
  config: PlatformConfig,
  target: PlatformEventsTarget,
  database: ShardedDatabase,
  parent: pulumi.Resource,
): PlatformEvents | undefined {
  if (!config.events.enabled) return undefined;
  const events = new EventStore(
    `${name}-events`,
    {
      ...target,
      environment: config.environment,
      events: config.events,
      shardMap: database.shardMap,
    } as EventStoreArgs,
    { parent, dependsOn: [database] },
  );
  return {
    events,
    env: { [EVENTS_SETTINGS_ENV]: events.settings.apply((x) => JSON.stringify(x)) },
    secretEnv: { [EVENTS_MASTER_KEY_ENV]: events.masterKey },
  };
}
