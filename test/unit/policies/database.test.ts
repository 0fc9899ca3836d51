import { TOKENS } from "../../../core/tokens";
import {
  dbBackupRetention,
  dbConsistencyQuorumProd,
  dbDeletionProtectionProd,
  dbNotPubliclyAccessible,
  dbReplicationFactorProd,
  dbStorageEncrypted,
} from "../../../policies/database";
import type { DatabaseConfigInput } from "../../../core/config";
import { child, platform, runResource, runStack, urn } from "./fake-args";

const RDS = "aws:rds/instance:Instance";
const DB = TOKENS.database;

describe("db-storage-encrypted", () => {
  it("passes encrypted storage", async () => {
    expect((await runResource(dbStorageEncrypted, RDS, { storageEncrypted: true })).messages).toEqual([]);
  });
  it("fails unencrypted storage", async () => {
    expect((await runResource(dbStorageEncrypted, RDS, {}, { name: "s0" })).messages).toEqual([
      "RDS instance s0 stores data unencrypted; set storageEncrypted true (optionally with kmsKeyId). Encryption cannot be turned on later without a snapshot restore.",
    ]);
  });
});

describe("db-not-publicly-accessible", () => {
  it("passes a private instance", async () => {
    expect((await runResource(dbNotPubliclyAccessible, RDS, { publiclyAccessible: false })).messages).toEqual([]);
  });
  it("fails a public instance", async () => {
    expect(
      (await runResource(dbNotPubliclyAccessible, RDS, { publiclyAccessible: true }, { name: "s0" })).messages,
    ).toEqual([
      "RDS instance s0 is publicly accessible; set publiclyAccessible false and reach it from the app's security group inside the VPC.",
    ]);
  });
});

describe("db-backup-retention", () => {
  it("passes 7 days", async () => {
    expect((await runResource(dbBackupRetention, RDS, { backupRetentionPeriod: 7 })).messages).toEqual([]);
  });
  it("fails 1 day", async () => {
    expect((await runResource(dbBackupRetention, RDS, { backupRetentionPeriod: 1 }, { name: "s0" })).messages).toEqual([
      "RDS instance s0 keeps backups for 1 day(s); set backupRetentionPeriod (scaleplane:database.backupRetentionDays) to at least 7.",
    ]);
  });
  it("takes the minimum from the policy config", async () => {
    expect(
      (await runResource(dbBackupRetention, RDS, { backupRetentionPeriod: 7 }, { config: { minBackupDays: 14 } }))
        .messages,
    ).toHaveLength(1);
  });
});

describe("db-deletion-protection-prod", () => {
  const stack = (environment: "dev" | "prod", props: Record<string, unknown>) => {
    const p = platform({ target: "aws", environment });
    const db = child(p, DB, "p-db");
    return [p, db, child(db, RDS, "p-db-shard-0", props)];
  };
  it("passes a protected prod instance and an unprotected dev one", async () => {
    expect(
      (await runStack(dbDeletionProtectionProd, stack("prod", { deletionProtection: true, skipFinalSnapshot: false })))
        .messages,
    ).toEqual([]);
    expect(
      (await runStack(dbDeletionProtectionProd, stack("dev", { deletionProtection: false, skipFinalSnapshot: true })))
        .messages,
    ).toEqual([]);
  });
  it("fails an unprotected prod instance", async () => {
    const resources = stack("prod", { deletionProtection: false, skipFinalSnapshot: true });
    const out = await runStack(dbDeletionProtectionProd, resources);
    expect(out.messages).toEqual([
      "RDS instance p-db-shard-0 has no deletion protection in prod; set deletionProtection true.",
      "RDS instance p-db-shard-0 skips the final snapshot in prod; set skipFinalSnapshot false and a finalSnapshotIdentifier.",
    ]);
    expect(out.urns).toEqual([urn(resources[2]), urn(resources[2])]);
  });
});

const dbStack = (environment: "dev" | "prod", database: DatabaseConfigInput) => {
  const p = platform({ target: "aws", environment, database });
  return [p, child(p, DB, "p-db")];
};

describe("db-replication-factor-prod", () => {
  it("passes rf 3 in prod and rf 1 in dev", async () => {
    expect(
      (
        await runStack(
          dbReplicationFactorProd,
          dbStack("prod", { shards: 3, replicationFactor: 3, consistency: "quorum" }),
        )
      ).messages,
    ).toEqual([]);
    expect(
      (await runStack(dbReplicationFactorProd, dbStack("dev", { shards: 3, replicationFactor: 1 }))).messages,
    ).toEqual([]);
  });
  it("fails rf 1 in prod", async () => {
    expect(
      (await runStack(dbReplicationFactorProd, dbStack("prod", { shards: 3, replicationFactor: 1 }))).messages,
    ).toEqual([
      "ShardedDatabase p-db keeps 1 copy of each key in prod; set scaleplane:database.replicationFactor to at least 3 (with at least that many shards).",
    ]);
  });
  it("reads the settings from the component's own input when it records one", async () => {
    const p = platform({ target: "aws", environment: "prod" });
    const db = child(p, DB, "p-db", { database: { shards: 2, replicationFactor: 2, consistency: "quorum" } });
    expect((await runStack(dbReplicationFactorProd, [p, db])).messages).toEqual([
      "ShardedDatabase p-db keeps 2 copies of each key in prod; set scaleplane:database.replicationFactor to at least 3 (with at least that many shards).",
    ]);
  });
});

describe("db-consistency-quorum-prod", () => {
  it("reads replication from the shardMap output the engine records for the component", async () => {
    const p = { type: TOKENS.platform, name: "p", props: { environment: "prod" } };
    const shardMap = {
      epoch: 0,
      vnodesPerWeight: 150,
      replicationFactor: 3,
      consistency: "one",
      shards: [{ name: "a" }, { name: "b" }, { name: "c" }],
    };
    const db = child(p, DB, "p-db", { shardMap });
    expect((await runStack(dbConsistencyQuorumProd, [p, db])).messages).toEqual([
      'ShardedDatabase p-db acknowledges writes on one of 3 replicas in prod; set scaleplane:database.consistency to "quorum" (or "all").',
    ]);
  });
  it("passes quorum in prod", async () => {
    expect(
      (
        await runStack(
          dbConsistencyQuorumProd,
          dbStack("prod", { shards: 3, replicationFactor: 3, consistency: "quorum" }),
        )
      ).messages,
    ).toEqual([]);
  });
  it("fails consistency one with replicas in prod", async () => {
    expect(
      (
        await runStack(
          dbConsistencyQuorumProd,
          dbStack("prod", { shards: 3, replicationFactor: 2, consistency: "one" }),
        )
      ).messages,
    ).toEqual([
      'ShardedDatabase p-db acknowledges writes on one of 2 replicas in prod; set scaleplane:database.consistency to "quorum" (or "all").',
    ]);
  });
});
