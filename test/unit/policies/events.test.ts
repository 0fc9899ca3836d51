import { TOKENS } from "../../../core/tokens";
import {
  eventStoreMasterKeyKmsProd,
  eventStoreMasterKeyRecoverable,
  eventStoreOnDatabase,
  eventStoreProjectionFailover,
  eventStoreSnapshots,
} from "../../../policies/events";
import { child, platform, runStack, urn } from "./fake-args";

const SECRET = "aws:secretsmanager/secret:Secret";
const prod = platform({ target: "aws", environment: "prod" });
const dev = platform({ target: "docker", environment: "dev" });

describe("event-store-on-database", () => {
  it("fails a store with neither a database in the stack nor a shard map with shards", async () => {
    const lone = child(undefined, TOKENS.eventStore, "events", { events: {} });
    const out = await runStack(eventStoreOnDatabase, [lone]);
    expect(out.messages).toEqual([
      "EventStore events has no ShardedDatabase in the stack and no shard map with shards; create it on a ShardedDatabase (shardMap: db.shardMap) or set scaleplane:database and scaleplane:events.enabled on the Platform.",
    ]);
    expect(out.urns).toEqual([urn(lone)]);
    const empty = child(undefined, TOKENS.eventStore, "events", { events: {}, shardMap: { shards: [] } });
    expect((await runStack(eventStoreOnDatabase, [empty])).messages).toHaveLength(1);
  });

  it("passes a store beside a ShardedDatabase, or one handed another stack's shard map", async () => {
    const s = child(dev, TOKENS.eventStore, "p-events", { events: {} });
    expect((await runStack(eventStoreOnDatabase, [dev, child(dev, TOKENS.database, "p-db"), s])).messages).toEqual([]);
    const handed = child(undefined, TOKENS.eventStore, "events", {
      events: {},
      shardMap: { epoch: 3, shards: [{ name: "shard-0" }] },
    });
    expect((await runStack(eventStoreOnDatabase, [handed])).messages).toEqual([]);
  });
});

describe("event-store-master-key-recoverable", () => {
  it("fails a master key deleted at once or recoverable for less than a week; AWS's default (30 days) passes", async () => {
    const s = child(prod, TOKENS.eventStore, "p-events", { events: {}, environment: "prod" });
    const now = child(s, SECRET, "p-events-master-key", { recoveryWindowInDays: 0 });
    const out = await runStack(eventStoreMasterKeyRecoverable, [prod, s, now]);
    expect(out.messages).toEqual([
      "Master-key secret p-events-master-key of EventStore p-events is recoverable for 0 day(s) after deletion (deleted at once); set scaleplane:events.masterKeyRecoveryDays (recoveryWindowInDays) to at least 7: without the key every event is unreadable.",
    ]);
    expect(out.urns).toEqual([urn(now)]);
    const week = child(s, SECRET, "p-events-master-key", { recoveryWindowInDays: 7 });
    expect((await runStack(eventStoreMasterKeyRecoverable, [prod, s, week])).messages).toEqual([]);
    expect(
      (await runStack(eventStoreMasterKeyRecoverable, [prod, s, week], { config: { minRecoveryDays: 30 } })).messages,
    ).toHaveLength(1);
    const unset = child(s, SECRET, "p-events-master-key", {});
    expect((await runStack(eventStoreMasterKeyRecoverable, [prod, s, unset])).messages).toEqual([]);
  });

  it("looks only at the event store's own secrets", async () => {
    const other = child(prod, SECRET, "p-db-password", { recoveryWindowInDays: 0 });
    expect((await runStack(eventStoreMasterKeyRecoverable, [prod, other])).messages).toEqual([]);
  });
});

describe("event-store-master-key-kms-prod", () => {
  it("flags the account's default key in prod only", async () => {
    const s = child(prod, TOKENS.eventStore, "p-events", { events: {}, environment: "prod" });
    const plain = child(s, SECRET, "p-events-master-key", {});
    expect((await runStack(eventStoreMasterKeyKmsProd, [prod, s, plain])).messages).toEqual([
      "Master-key secret p-events-master-key of EventStore p-events uses the account's default key; pass aws.kmsKeyId (a customer-managed KMS key) to the EventStore.",
    ]);
    const kms = child(s, SECRET, "p-events-master-key", { kmsKeyId: "arn:aws:kms:us-east-1:123456789012:key/k" });
    expect((await runStack(eventStoreMasterKeyKmsProd, [prod, s, kms])).messages).toEqual([]);
    const staging = platform({ target: "aws", environment: "staging" });
    const st = child(staging, TOKENS.eventStore, "s-events", { events: {}, environment: "staging" });
    const stPlain = child(st, SECRET, "s-events-master-key", {});
    expect((await runStack(eventStoreMasterKeyKmsProd, [staging, st, stPlain])).messages).toEqual([]);
  });
});

describe("event-store-projection-failover", () => {
  it("flags leases longer than 30 s; the default passes", async () => {
    const slow = child(dev, TOKENS.eventStore, "p-events", { events: { leaseTtlSeconds: 120 } });
    expect((await runStack(eventStoreProjectionFailover, [dev, slow])).messages).toEqual([
      "EventStore p-events: a crashed projection runner holds its shards for 120 s (read models stale meanwhile); set scaleplane:events.leaseTtlSeconds to at most 30.",
    ]);
    const ok = child(dev, TOKENS.eventStore, "p-events", { events: {} });
    expect((await runStack(eventStoreProjectionFailover, [dev, ok])).messages).toEqual([]);
  });
});

describe("event-store-snapshots", () => {
  it("flags snapshots rarer than every 1000 events; the threshold is configurable", async () => {
    const rare = child(dev, TOKENS.eventStore, "p-events", { events: { snapshotEvery: 5000 } });
    expect((await runStack(eventStoreSnapshots, [dev, rare])).messages).toEqual([
      "EventStore p-events snapshots aggregates every 5000 events (a command may replay that many); set scaleplane:events.snapshotEvery to at most 1000.",
    ]);
    expect(
      (await runStack(eventStoreSnapshots, [dev, rare], { config: { maxSnapshotEvery: 10_000 } })).messages,
    ).toEqual([]);
    const ok = child(dev, TOKENS.eventStore, "p-events", { events: {} });
    expect((await runStack(eventStoreSnapshots, [dev, ok])).messages).toEqual([]);
  });
});
