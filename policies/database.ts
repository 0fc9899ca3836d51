/**
 * Database policies: RDS shards encrypted, private, backed up (and protected from deletion in
 * prod); the sharded database replicated with quorum reads and writes in prod.
 */
import type { PolicyConfigSchema } from "@pulumi/policy";
import {
  T,
  prodMinimumSchema,
  inProd,
  num,
  prodSchema,
  replicationOf,
  resourcePolicy,
  stackPolicy,
  type EnvConfig,
} from "./lib";

export const dbStorageEncrypted = resourcePolicy(
  {
    name: "db-storage-encrypted",
    description: "RDS instances encrypt their storage at rest.",
    enforcementLevel: "mandatory",
  },
  [T.awsRds],
  (props, args, report) => {
    if (props.storageEncrypted !== true)
      report(
        `RDS instance ${args.name} stores data unencrypted; set storageEncrypted true (optionally with kmsKeyId). Encryption cannot be turned on later without a snapshot restore.`,
      );
  },
);

export const dbNotPubliclyAccessible = resourcePolicy(
  {
    name: "db-not-publicly-accessible",
    description: "RDS instances are not publicly accessible.",
    enforcementLevel: "mandatory",
  },
  [T.awsRds],
  (props, args, report) => {
    if (props.publiclyAccessible === true)
      report(
        `RDS instance ${args.name} is publicly accessible; set publiclyAccessible false and reach it from the app's security group inside the VPC.`,
      );
  },
);

const backupSchema: PolicyConfigSchema = {
  properties: {
    minBackupDays: {
      type: "integer",
      minimum: 1,
      maximum: 35,
      default: 7,
      description: "Fewest days of automated backups an RDS instance keeps.",
    },
  },
};

export const dbBackupRetention = resourcePolicy<{ minBackupDays: number }>(
  {
    name: "db-backup-retention",
    description: "RDS instances keep automated backups for at least `minBackupDays` (default 7) days.",
    enforcementLevel: "mandatory",
    configSchema: backupSchema,
  },
  [T.awsRds],
  (props, args, report, cfg) => {
    const days = num(props.backupRetentionPeriod) ?? 0;
    if (days < cfg.minBackupDays)
      report(
        `RDS instance ${args.name} keeps backups for ${days} day(s); set backupRetentionPeriod (scaleplane:database.backupRetentionDays) to at least ${cfg.minBackupDays}.`,
      );
  },
);

export const dbDeletionProtectionProd = stackPolicy<EnvConfig>(
  {
    name: "db-deletion-protection-prod",
    description: "In prod RDS instances have deletion protection on and take a final snapshot when deleted.",
    enforcementLevel: "mandatory",
    configSchema: prodSchema,
  },
  (tree, args, report, cfg) => {
    for (const r of inProd(tree, T.awsRds, args, cfg.environment)) {
      if (r.props.deletionProtection !== true)
        report(`RDS instance ${r.name} has no deletion protection in prod; set deletionProtection true.`, r.urn);
      if (r.props.skipFinalSnapshot === true)
        report(
          `RDS instance ${r.name} skips the final snapshot in prod; set skipFinalSnapshot false and a finalSnapshotIdentifier.`,
          r.urn,
        );
    }
  },
);

const replicationSchema = prodMinimumSchema("minReplicationFactor", 3, "Fewest copies of every key in prod.");

export const dbReplicationFactorProd = stackPolicy<EnvConfig & { minReplicationFactor: number }>(
  {
    name: "db-replication-factor-prod",
    description: "In prod the sharded database keeps at least `minReplicationFactor` (default 3) copies of every key.",
    enforcementLevel: "mandatory",
    configSchema: replicationSchema,
  },
  (tree, args, report, cfg) => {
    for (const d of inProd(tree, T.database, args, cfg.environment)) {
      const db = replicationOf(d, tree);
      if (db && db.replicationFactor < cfg.minReplicationFactor)
        report(
          `ShardedDatabase ${d.name} keeps ${db.replicationFactor} cop${db.replicationFactor === 1 ? "y" : "ies"} of each key in prod; set scaleplane:database.replicationFactor to at least ${cfg.minReplicationFactor} (with at least that many shards).`,
          d.urn,
        );
    }
  },
);

export const dbConsistencyQuorumProd = stackPolicy<EnvConfig>(
  {
    name: "db-consistency-quorum-prod",
    description:
      "In prod a replicated database reads and writes with quorum (or all) consistency, so an acknowledged write survives a shard loss.",
    enforcementLevel: "mandatory",
    configSchema: prodSchema,
  },
  (tree, args, report, cfg) => {
    for (const d of inProd(tree, T.database, args, cfg.environment)) {
      const db = replicationOf(d, tree);
      if (db && db.replicationFactor > 1 && db.consistency === "one")
        report(
          `ShardedDatabase ${d.name} acknowledges writes on one of ${db.replicationFactor} replicas in prod; set scaleplane:database.consistency to "quorum" (or "all").`,
          d.urn,
        );
    }
  },
);

export const databasePolicies = [
  dbStorageEncrypted,
  dbNotPubliclyAccessible,
  dbBackupRetention,
  dbDeletionProtectionProd,
  dbReplicationFactorProd,
  dbConsistencyQuorumProd,
];
