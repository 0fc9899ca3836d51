/**
 * What the app gets from the EventStore component: the settings (one JSON environment variable)
 * and the master key (a secret). Pure: the schema and the builder, shared by the component, the
 * sample app and the CLI.
 */
import { z } from "zod";
import type { EventsConfig } from "../config";

/** Environment variable carrying {@link EventsSettings} as JSON. */
export const EVENTS_SETTINGS_ENV = "SCALEPLANE_EVENTS";
/** Environment variable (a secret: a file on Docker, a Secret on Kubernetes, SSM on AWS) carrying the master key. */
export const EVENTS_MASTER_KEY_ENV = "SCALEPLANE_EVENTS_MASTER_KEY";
/** Bytes of the master key (AES-256). */
export const MASTER_KEY_BYTES = 32;

export const EventsSettingsSchema = z.strictObject({
  name: z.string().min(1),
  snapshotEvery: z.number().int().min(1),
  projectionBatchSize: z.number().int().min(1),
  leaseTtlSeconds: z.number().int().min(2),
});
export type EventsSettings = z.infer<typeof EventsSettingsSchema>;

/** The settings of a validated `events` section. */
export function eventsSettings(c: EventsConfig): EventsSettings {
  return {
    name: c.name,
    snapshotEvery: c.snapshotEvery,
    projectionBatchSize: c.projectionBatchSize,
    leaseTtlSeconds: c.leaseTtlSeconds,
  };
}

/** Reads the settings from an environment; undefined when the event store is not deployed. @throws naming the variable */
export function settingsFromEnv(env: Record<string, string | undefined>): EventsSettings | undefined {
  const raw = env[EVENTS_SETTINGS_ENV];
  if (raw === undefined || raw === "") return undefined;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new Error(`${EVENTS_SETTINGS_ENV} must be JSON (the EventStore component's settings output)`);
  }
  const r = EventsSettingsSchema.safeParse(json);
  if (!r.success)
    throw new Error(
      `${EVENTS_SETTINGS_ENV}: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  return r.data;
}
