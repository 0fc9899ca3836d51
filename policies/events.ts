/**
 * EventStore policies. The store has no engine of its own (its tables live on the
 * ShardedDatabase's shards), so what can go wrong at deploy time is around it: a store with no
 * shards to live on, a master key that one deletion destroys for good (every stream's data key is
 * wrapped by it: losing it shreds the whole store, not one stream), and settings that make
 * projections stall after a crash or aggregates replay too much on every command.
 */
import type { PolicyResource } from "@pulumi/policy";
import { EventsSchema, type EventsConfig } from "../core/config";
import { T, arr, environmentOf, num, obj, stackPolicy, str, type Tree } from "./lib";

const SECRETS_MANAGER_SECRET = "aws:secretsmanager/secret:Secret";
/** What AWS applies when `recoveryWindowInDays` is not set. */
const AWS_DEFAULT_RECOVERY_DAYS = 30;

/** The store's validated `events` settings as the component recorded them. */
function settingsOf(store: PolicyResource): EventsConfig | undefined {
  const parsed = EventsSchema.safeParse(store.props.events);
  return parsed.success ? parsed.data : undefined;
}

const stores = (tree: Tree) => tree.ofType(T.eventStore);

/** The master-key secrets (Secrets Manager) a store created. */
const keySecrets = (tree: Tree, store: PolicyResource) =>
  tree.descendants(store).filter((r) => r.type === SECRETS_MANAGER_SECRET);

/** Whether the store's recorded shard map (its `shardMap` output) names at least one shard. */
const hasRecordedShards = (store: PolicyResource) => arr(obj(store.props.shardMap)?.shards).length > 0;

export const eventStoreOnDatabase = stackPolicy(
  {
    name: "event-store-on-database",
    description:
      "Every EventStore lives on a ShardedDatabase: one in the same stack, or a shard map handed in that names its shards (the store has no engine of its own).",
    enforcementLevel: "mandatory",
  },
  (tree, _args, report) => {
    if (tree.ofType(T.database).length > 0) return;
    for (const s of stores(tree))
      if (!hasRecordedShards(s))
        report(
          `EventStore ${s.name} has no ShardedDatabase in the stack and no shard map with shards; create it on a ShardedDatabase (shardMap: db.shardMap) or set scaleplane:database and scaleplane:events.enabled on the Platform.`,
          s.urn,
        );
  },
);

export const eventStoreMasterKeyRecoverable = stackPolicy<{ minRecoveryDays: number }>(
  {
    name: "event-store-master-key-recoverable",
    description:
      "The EventStore's master-key secret stays recoverable for at least minRecoveryDays (7) after a deletion: the key wraps every stream's data key, so losing it makes every event unreadable.",
    enforcementLevel: "mandatory",
    configSchema: { properties: { minRecoveryDays: { type: "integer", minimum: 7, maximum: 30, default: 7 } } },
  },
  (tree, _args, report, config) => {
    for (const s of stores(tree))
      for (const secret of keySecrets(tree, s)) {
        const days = num(secret.props.recoveryWindowInDays) ?? AWS_DEFAULT_RECOVERY_DAYS;
        if (days < config.minRecoveryDays)
          report(
            `Master-key secret ${secret.name} of EventStore ${s.name} is recoverable for ${days} day(s) after deletion${days === 0 ? " (deleted at once)" : ""}; set scaleplane:events.masterKeyRecoveryDays (recoveryWindowInDays) to at least ${config.minRecoveryDays}: without the key every event is unreadable.`,
            secret.urn,
          );
      }
  },
);

export const eventStoreMasterKeyKmsProd = stackPolicy<{ environment?: string }>(
  {
    name: "event-store-master-key-kms-prod",
    description:
      "In prod the EventStore's master-key secret is encrypted with a customer-managed KMS key (kmsKeyId), so who may read it is auditable and revocable apart from the account's default key.",
    enforcementLevel: "advisory",
    configSchema: { properties: { environment: { type: "string", enum: ["dev", "staging", "prod"] } } },
  },
  (tree, args, report, config) => {
    for (const s of stores(tree)) {
      if (environmentOf(s, tree, args, config.environment) !== "prod") continue;
      for (const secret of keySecrets(tree, s))
        if (!str(secret.props.kmsKeyId))
          report(
            `Master-key secret ${secret.name} of EventStore ${s.name} uses the account's default key; pass aws.kmsKeyId (a customer-managed KMS key) to the EventStore.`,
            secret.urn,
          );
    }
  },
);

export const eventStoreProjectionFailover = stackPolicy<{ maxLeaseTtlSeconds: number }>(
  {
    name: "event-store-projection-failover",
    description:
      "Projection runners' leases last at most maxLeaseTtlSeconds (30): after a runner crashes, its shards' read models stop following the events until the lease lapses.",
    enforcementLevel: "advisory",
    configSchema: { properties: { maxLeaseTtlSeconds: { type: "integer", minimum: 2, default: 30 } } },
  },
  (tree, _args, report, config) => {
    for (const s of stores(tree)) {
      const e = settingsOf(s);
      if (e && e.leaseTtlSeconds > config.maxLeaseTtlSeconds)
        report(
          `EventStore ${s.name}: a crashed projection runner holds its shards for ${e.leaseTtlSeconds} s (read models stale meanwhile); set scaleplane:events.leaseTtlSeconds to at most ${config.maxLeaseTtlSeconds}.`,
          s.urn,
        );
    }
  },
);

export const eventStoreSnapshots = stackPolicy<{ maxSnapshotEvery: number }>(
  {
    name: "event-store-snapshots",
    description:
      "Aggregates are snapshotted at least every maxSnapshotEvery (1000) events, so loading one for a command replays a bounded number of events.",
    enforcementLevel: "advisory",
    configSchema: { properties: { maxSnapshotEvery: { type: "integer", minimum: 1, default: 1000 } } },
  },
  (tree, _args, report, config) => {
    for (const s of stores(tree)) {
      const e = settingsOf(s);
      if (e && e.snapshotEvery > config.maxSnapshotEvery)
        report(
          `EventStore ${s.name} snapshots aggregates every ${e.snapshotEvery} events (a command may replay that many); set scaleplane:events.snapshotEvery to at most ${config.maxSnapshotEvery}.`,
          s.urn,
        );
    }
  },
);

export const eventPolicies = [
  eventStoreOnDatabase,
  eventStoreMasterKeyRecoverable,
  eventStoreMasterKeyKmsProd,
  eventStoreProjectionFailover,
  eventStoreSnapshots,
];
