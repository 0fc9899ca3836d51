/**
 * The platform's configuration: one zod schema for the whole stack (target, app group, config
 * service, database, per-target settings). Pure: no Pulumi, no I/O.
 *
 * Every error names the config key path as a user writes it (`scaleplane:<section>.<field>`) and
 * what is allowed, so a bad stack file fails before anything is created.
 *
 * Each field's description lives on the schema (`.describe()`), the single source of the config
 * reference: `npm run docs` renders docs/config.md and the editor JSON Schema
 * docs/config.schema.json from it, and a unit test fails when either is stale.
 */
import { z } from "zod";
import { ETCD_MEMBER_COUNTS } from "./etcd/spec";
import { ConfigError, configFail, type ConfigProblem } from "./config-error";
import { AppScalingSchema, scalingDeprecations } from "./scaling/settings";
import { appPolicyProblems } from "./scaling/app-policy";
import { directoryIssues, rangeStrategyIssues } from "./sharding/placement";
import { DEFAULT_VNODES_PER_WEIGHT, replicaLoadWarning } from "./sharding/ring";

export { ConfigError, configFail, parseSection, type ConfigProblem } from "./config-error";
import { CURRENT_TLS_POLICIES, DEFAULT_TLS_POLICY } from "./app/alb";

/** The Pulumi config namespace of this project. */
export const CONFIG_NAMESPACE = "scaleplane";

/** Where the platform runs. */
export const TARGETS = ["docker", "aws", "kubernetes"] as const;
export type Target = (typeof TARGETS)[number];

/** Deployment environment; `prod` turns on the stricter rules (and policies). */
export const ENVIRONMENTS = ["dev", "staging", "prod"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

/** Read/write consistency of the sharded database router. */
export const CONSISTENCY_LEVELS = ["one", "quorum", "all"] as const;
export type ConsistencyLevel = (typeof CONSISTENCY_LEVELS)[number];

export { ETCD_MEMBER_COUNTS } from "./etcd/spec";

const show = (v: unknown): string => (typeof v === "string" ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v)));

const oneOf = <T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, {
    error: (iss) => `must be one of ${values.join(", ")}; got ${show(iss.input)}`,
  });

const int = (min: number, max: number) =>
  z
    .number({ error: (iss) => `must be a whole number from ${min} to ${max}; got ${show(iss.input)}` })
    .int({ error: (iss) => `must be a whole number from ${min} to ${max}; got ${show(iss.input)}` })
    .min(min, { error: (iss) => `must be a whole number from ${min} to ${max}; got ${show(iss.input)}` })
    .max(max, { error: (iss) => `must be a whole number from ${min} to ${max}; got ${show(iss.input)}` });

const positive = (what: string) =>
  z
    .number({ error: (iss) => `must be a number > 0 (${what}); got ${show(iss.input)}` })
    .positive({ error: (iss) => `must be a number > 0 (${what}); got ${show(iss.input)}` });

const str = (what: string) =>
  z
    .string({ error: (iss) => `must be a string (${what}); got ${show(iss.input)}` })
    .min(1, { error: `must not be empty (${what})` });

/** DNS-1123 label: used for names that become container, Service and instance names. */
const dnsLabel = z
  .string({ error: (iss) => `must be a string; got ${show(iss.input)}` })
  .regex(/^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$/, {
    error: (iss) =>
      `must be a lowercase DNS label (a-z, 0-9, '-', start with a letter, ≤ 32 chars); got ${show(iss.input)}`,
  });

const bool = z.boolean({ error: (iss) => `must be true or false; got ${show(iss.input)}` });

/** Unknown keys are refused (a typo must not silently fall back to a default). */
const section = <S extends z.ZodRawShape>(shape: S) =>
  z.strictObject(shape, {
    error: (iss) =>
      iss.code === "unrecognized_keys"
        ? `unknown key; allowed: ${Object.keys(shape).join(", ")}`
        : `must be an object; got ${show(iss.input)}`,
  });

/** `app.scaling`: one typed shape per engine (core/scaling/settings.ts). */
export const ScalingSchema = AppScalingSchema;

export const MixedInstancesSchema = section({
  instanceTypes: z
    .array(str("an EC2 instance type"))
    .min(1, { error: "must list at least one instance type" })
    .describe("EC2 instance types to spread the group over, in priority order."),
  onDemandBaseCapacity: int(0, 1000).default(1).describe("On-demand instances before any spot instance."),
  onDemandPercentageAboveBase: int(0, 100)
    .default(25)
    .describe("Percent of the capacity above the base that is on-demand; the rest is spot."),
});

export const AppSchema = section({
  name: dnsLabel.default("app").describe("Name of the app group, used in its resource names (a lowercase DNS label)."),
  image: str("a container image reference")
    .default("scaleplane/sample-app:0.1.0")
    .describe("Container image of the app."),
  port: int(1, 65535).default(8080).describe("Port the app listens on."),
  healthCheckPath: z
    .string()
    .regex(/^\//, { error: "must be an absolute HTTP path starting with '/'" })
    .default("/health")
    .describe("HTTP path of the app's health check."),
  minSize: int(1, 1000)
    .default(2)
    .describe(
      "Fewest app instances, at least 1 and at most maxSize (a group at 0 instances reports no load to scale up on, so no target offers scale-from-zero).",
    ),
  desiredSize: int(1, 1000)
    .optional()
    .describe("Instances to run at first, from minSize to maxSize. Defaults to minSize."),
  maxSize: int(1, 1000).default(10).describe("Most app instances; at least minSize."),
  cpu: positive("vCPUs per instance").default(0.5).describe("vCPUs per instance (the container and pod CPU limit)."),
  memoryMb: int(64, 1048576).default(512).describe("Memory per instance in MiB (the container and pod memory limit)."),
  instanceType: str("an EC2 instance type")
    .default("t3.small")
    .describe("EC2 instance type of the app instances (target aws)."),
  mixedInstances: MixedInstancesSchema.optional().describe(
    "Spread the group over several instance types, on-demand up to a base and spot above it (target aws only). With app.scaling.engine cost and this unset, the cost engine's choice is used (its types weighted by capacity units, its on-demand base and share); set it to pin a mix.",
  ),
  rollout: section({
    maxSurge: int(0, 1000)
      .default(1)
      .describe("Instances above the desired count a rollout may start before old ones go (docker)."),
    minHealthyPercent: int(0, 100)
      .default(100)
      .describe(
        "Share of the desired count, in percent, that stays in service during a rollout (docker; aws: the instance refresh's MinHealthyPercentage is separate).",
      ),
  })
    .default({ maxSurge: 1, minHealthyPercent: 100 })
    .describe(
      "How a changed launch spec (image, env, limits, a rotated secret) replaces the instances on docker: health-gated, old spec first on scale-in, resumed after an interruption.",
    ),
  scaling: ScalingSchema.default(() => ScalingSchema.parse({})).describe(
    "How the group scales: the engine and its settings, one typed shape per engine (`engine` selects it).",
  ),
  env: z
    .record(z.string(), z.string({ error: "environment values must be strings" }))
    .default({})
    .describe("Extra environment variables of the app (string values)."),
})
  .superRefine((app, ctx) => {
    if (app.minSize > app.maxSize)
      ctx.addIssue({
        code: "custom",
        path: ["maxSize"],
        message: `must be ≥ app.minSize (${app.minSize}); got ${app.maxSize}`,
      });
    if (app.rollout.maxSurge === 0 && app.rollout.minHealthyPercent === 100)
      ctx.addIssue({
        code: "custom",
        path: ["rollout", "maxSurge"],
        message:
          "must be at least 1 when app.rollout.minHealthyPercent is 100 (else a rollout can never replace an instance)",
      });
    if (app.desiredSize !== undefined && (app.desiredSize < app.minSize || app.desiredSize > app.maxSize))
      ctx.addIssue({
        code: "custom",
        path: ["desiredSize"],
        message: `must be between app.minSize (${app.minSize}) and app.maxSize (${app.maxSize}); got ${app.desiredSize}`,
      });
  })
  .superRefine(
    // The engine policy the group runs (bounds from app.minSize/maxSize), checked as a whole once every
    // field is valid (a bad field is reported once, by its own check).
    (app, ctx) => {
      for (const p of appPolicyProblems(app)) ctx.addIssue({ code: "custom", path: p.path, message: p.message });
    },
    { when: (payload) => payload.issues.length === 0 },
  );

export const ConfigServiceSchema = section({
  name: dnsLabel
    .default("config")
    .describe(
      "Name of the etcd cluster; with the stack name it forms the cluster token, so two stacks never join each other.",
    ),
  members: z
    .number({ error: (iss) => `must be an odd member count: 1, 3, 5 or 7; got ${show(iss.input)}` })
    .refine((n) => (ETCD_MEMBER_COUNTS as readonly number[]).includes(n), {
      error: (iss) =>
        `must be an odd member count: 1, 3, 5 or 7 (even counts add a member without adding fault tolerance); got ${show(iss.input)}`,
    })
    .default(3)
    .meta({ description: "Voting etcd members: 1, 3, 5 or 7 (at least 3 in prod).", enum: [...ETCD_MEMBER_COUNTS] }),
  image: str("a container image reference")
    .default("quay.io/coreos/etcd:v3.5.17")
    .describe("Container image of the etcd members."),
  etcdBinary: str("a path").default("/usr/local/bin/etcd").describe("Path of the etcd binary inside the image."),
  heartbeatIntervalMs: int(10, 5000).default(100).describe("etcd heartbeat interval, milliseconds."),
  electionTimeoutMs: int(50, 50000)
    .default(1000)
    .describe("etcd election timeout, milliseconds; at least 5 × heartbeatIntervalMs."),
  tls: bool.default(false).describe("Peer and client TLS, with certificates generated per stack."),
  clientPort: int(1, 65535).default(2379).describe("etcd client port."),
  peerPort: int(1, 65535).default(2380).describe("etcd peer port; must differ from clientPort."),
  storageGb: int(1, 16384).default(10).describe("Storage per etcd member, GiB."),
  instanceType: str("an EC2 instance type")
    .default("t3.small")
    .describe("EC2 instance type of the etcd members (target aws)."),
  detailedMonitoring: bool
    .optional()
    .describe(
      "1-minute CloudWatch metrics on the etcd instances (target aws). Defaults to true in prod, false elsewhere.",
    ),
  quotaBackendBytes: int(1, 8 * 1024 ** 3)
    .optional()
    .describe("etcd backend quota, bytes. Defaults to etcd's own (2 GiB)."),
}).superRefine((cs, ctx) => {
  if (cs.electionTimeoutMs < 5 * cs.heartbeatIntervalMs)
    ctx.addIssue({
      code: "custom",
      path: ["electionTimeoutMs"],
      message: `must be ≥ 5 × configService.heartbeatIntervalMs (${5 * cs.heartbeatIntervalMs}); got ${cs.electionTimeoutMs}`,
    });
  if (cs.clientPort === cs.peerPort)
    ctx.addIssue({
      code: "custom",
      path: ["peerPort"],
      message: `must differ from configService.clientPort (${cs.clientPort})`,
    });
});

export const ShardSchema = section({
  name: dnsLabel.describe("Shard name: its identity on the ring (a lowercase DNS label, unique in the list)."),
  weight: positive("ring weight")
    .default(1)
    .describe("Ring weight: the shard's share of the key space is proportional to it."),
  zone: str("an availability zone or failure domain")
    .optional()
    .describe("Availability zone or failure domain; replicas prefer distinct zones."),
});

/** One range of `database.ranges`. */
export const KeyRangeConfigSchema = section({
  start: z
    .string({ error: (iss) => `must be a string (the first key of the range); got ${show(iss.input)}` })
    .describe('First key of the range (inclusive), in Unicode code point order; the first range starts at "".'),
  shard: dnsLabel.describe("The shard owning the range; its other replicas are the next shards in database.shards."),
});

/** `database.directory`. */
export const DirectoryConfigSchema = section({
  separator: str("the text that ends a key's tenant")
    .max(8, { error: "must be at most 8 characters" })
    .default(":")
    .describe("A key's tenant is its text before the first separator (acme:orders/17 → acme)."),
  tenants: z
    .record(z.string().min(1, { error: "a tenant name must not be empty" }), dnsLabel)
    .default({})
    .describe(
      "Pinned tenants: tenant → the shard owning its keys (its other replicas are the next shards in database.shards); other tenants are placed by the hash ring. Re-pinning a tenant moves its rows online.",
    ),
});

/** Placement strategies of the sharded database. */
export const PLACEMENT_STRATEGIES = ["hash", "range", "directory"] as const;

export const DatabaseSchema = section({
  name: dnsLabel
    .default("db")
    .describe("Name of the sharded database, used in its resource names (a lowercase DNS label)."),
  shards: z
    .union([int(1, 256), z.array(ShardSchema).min(1, { error: "must list at least one shard" })], {
      error: (iss) => `must be a shard count (1..256) or a list of {name, weight, zone}; got ${show(iss.input)}`,
    })
    .default(3)
    .describe("A shard count (shards named shard-0, shard-1, …, weight 1) or the explicit list of shards."),
  weightResolution: int(1, 4096)
    .optional()
    .describe(
      "Ring weight quanta per unit of weight: a shard of weight w ranks with max(1, round(w × this)) quanta, so weights are honoured to 1/this (the shard map's vnodesPerWeight). Balance does not depend on it; with whole-number weights changing it moves no key. Defaults to `150`.",
    ),
  virtualNodes: int(1, 4096)
    .optional()
    .describe(
      "Deprecated: the old name of weightResolution (the ring has no virtual nodes since it places partitions by rendezvous hashing; the value only ever set weight resolution).",
    ),
  replicationFactor: int(1, 16).default(1).describe("Copies of each key, on distinct shards; at most the shard count."),
  consistency: oneOf(CONSISTENCY_LEVELS)
    .default("one")
    .describe('How many replicas a read or write waits for; "quorum" needs replicationFactor ≥ 2.'),
  strategy: oneOf(PLACEMENT_STRATEGIES)
    .default("hash")
    .describe(
      "How keys are placed: hash (the consistent-hash ring), range (ordered key ranges, database.ranges: for time-ordered keys, a scan of a range asks only its owners) or directory (tenants pinned in database.directory, the others hashed). Changes move data online; range cannot become hash or directory (or back) online.",
    ),
  ranges: z
    .array(KeyRangeConfigSchema)
    .optional()
    .describe(
      'With strategy range: the ranges in increasing start order, the first starting at "" (e.g. [{start: "", shard: shard-0}, {start: "events/2026", shard: shard-1}]).',
    ),
  directory: DirectoryConfigSchema.optional().describe(
    "With strategy directory: the separator and the pinned tenants.",
  ),
  maxClockOffsetMs: int(1, 60000)
    .default(500)
    .describe(
      "Maximum clock offset between any router and any shard, in ms (CockroachDB's max-offset rule): a shard refuses a write whose version is further ahead of its clock, and a router whose clock is further off than this from a shard's refuses to read or write (fix its clock sync).",
    ),
  image: str("a container image reference")
    .default("postgres:15")
    .describe("Container image of the PostgreSQL shards."),
  engineVersion: str("a PostgreSQL version")
    .default("15")
    .describe("PostgreSQL version (the RDS engine version on target aws)."),
  databaseName: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, { error: "must be a PostgreSQL identifier (a-z, 0-9, _)" })
    .default("app")
    .describe("Database created on every shard (a PostgreSQL identifier)."),
  username: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, { error: "must be a PostgreSQL identifier (a-z, 0-9, _)" })
    .default("scaleplane")
    .describe("Database user on every shard (a PostgreSQL identifier); its password is generated and kept secret."),
  instanceClass: str("an RDS instance class")
    .default("db.t4g.micro")
    .describe("RDS instance class of the shards (target aws)."),
  storageGb: int(5, 65536).default(20).describe("Storage per shard, GiB."),
  backupRetentionDays: int(0, 35).default(7).describe("Days automated backups are kept (target aws)."),
  multiAz: bool.default(false).describe("A Multi-AZ standby per RDS shard (target aws; needs 2 entries in aws.zones)."),
  port: int(1, 65535).default(5432).describe("PostgreSQL port."),
}).superRefine((db, ctx) => {
  const add = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
  const shardCount = typeof db.shards === "number" ? db.shards : db.shards.length;
  if (Array.isArray(db.shards)) {
    const seen = new Set<string>();
    db.shards.forEach((s, i) => {
      if (seen.has(s.name)) add(["shards", i, "name"], `must be unique; ${JSON.stringify(s.name)} appears twice`);
      seen.add(s.name);
    });
  }
  if (db.replicationFactor > shardCount)
    add(
      ["replicationFactor"],
      `must be ≤ the shard count (${shardCount}): replicas live on distinct shards; got ${db.replicationFactor}`,
    );
  if (db.consistency === "quorum" && db.replicationFactor < 2)
    add(
      ["consistency"],
      `"quorum" needs database.replicationFactor ≥ 2 (got ${db.replicationFactor}); use "one" or raise the replication factor`,
    );
  if (db.weightResolution !== undefined && db.virtualNodes !== undefined)
    add(
      ["virtualNodes"],
      `is the deprecated name of database.weightResolution; set only weightResolution (got both: ${db.virtualNodes} and ${db.weightResolution})`,
    );
  const names = shardList(db as DatabaseConfig).map((s) => s.name);
  if (db.strategy === "range") {
    if (!db.ranges || db.ranges.length === 0)
      add(
        ["ranges"],
        `must list the key ranges (at least one, the first starting at "") when database.strategy is "range"`,
      );
    else
      for (const issue of rangeStrategyIssues(db.ranges, names)) add(["ranges", ...issue.path.slice(1)], issue.message);
  } else if (db.ranges !== undefined)
    add(["ranges"], `is only read with database.strategy "range"; strategy is ${show(db.strategy)}`);
  if (db.strategy === "directory") {
    const dir = db.directory ?? { separator: ":", tenants: {} };
    for (const issue of directoryIssues(dir.tenants, dir.separator, names))
      add(["directory", ...issue.path], issue.message);
  } else if (db.directory !== undefined)
    add(["directory"], `is only read with database.strategy "directory"; strategy is ${show(db.strategy)}`);
});

export const CacheNodeConfigSchema = section({
  name: dnsLabel.describe("Cache node name: its identity on the ring (a lowercase DNS label, unique in the list)."),
  weight: positive("ring weight")
    .default(1)
    .describe("Ring weight: the node's share of the keys is proportional to it."),
  zone: str("an availability zone or failure domain")
    .optional()
    .describe("Availability zone or failure domain; replicas prefer distinct zones."),
});

/** Eviction policies a cache node may use: only keys with a TTL (values, leases), never its generation key. */
export const CACHE_EVICTION_POLICIES = ["volatile-lru", "volatile-lfu", "volatile-ttl", "volatile-random"] as const;

export const CacheSchema = section({
  name: dnsLabel
    .default("cache")
    .describe("Name of the cache cluster, used in its resource names (a lowercase DNS label)."),
  nodes: z
    .union([int(1, 64), z.array(CacheNodeConfigSchema).min(1, { error: "must list at least one node" })], {
      error: (iss) => `must be a node count (1..64) or a list of {name, weight, zone}; got ${show(iss.input)}`,
    })
    .default(3)
    .describe(
      "A node count (nodes named cache-0, cache-1, …, weight 1; on aws one per zone in turn) or the explicit list of nodes. Keys are placed on the shared ring with this node set.",
    ),
  replicas: int(1, 3)
    .default(1)
    .describe(
      "Copies of each cached key on distinct nodes (zones first): reads go to the next one when a node is down.",
    ),
  maxMemoryMb: int(16, 1048576).default(256).describe("Memory limit of each Redis node, MiB (maxmemory)."),
  evictionPolicy: oneOf(CACHE_EVICTION_POLICIES)
    .default("volatile-lfu")
    .describe(
      "Redis maxmemory-policy. Only volatile-* policies: values and leases carry TTLs and may be evicted; a node's generation key must never be.",
    ),
  ttlSeconds: int(1, 30 * 86400)
    .default(300)
    .describe("TTL of a cached value, seconds (before jitter)."),
  ttlJitter: z
    .number({ error: (iss) => `must be a number from 0 to 0.5; got ${show(iss.input)}` })
    .min(0, { error: "must be a number from 0 to 0.5" })
    .max(0.5, { error: "must be a number from 0 to 0.5" })
    .default(0.1)
    .describe("Fraction of the TTL taken off at random per fill, so keys filled together do not expire together."),
  leaseMs: int(50, 60_000)
    .default(3000)
    .describe(
      "Fill lease: how long one loader holds a key's lease; waiters poll until it is filled or the lease lapses.",
    ),
  viewLeaseMs: int(100, 60_000)
    .default(2000)
    .describe(
      "How long a client trusts its copy of the cache topology after confirming it with etcd; a resize waits this long between phases, and past it a client reads the database directly.",
    ),
  xfetchBeta: z
    .number({ error: (iss) => `must be a number from 0 to 10; got ${show(iss.input)}` })
    .min(0, { error: "must be a number from 0 to 10" })
    .max(10, { error: "must be a number from 0 to 10" })
    .default(1)
    .describe("XFetch early-refresh eagerness (0: off, 1: the paper's optimum)."),
  nearCache: section({
    enabled: bool.default(true).describe("Serve hot keys from a small client-side cache."),
    ttlMs: int(1, 10_000)
      .default(100)
      .describe("Life of a near-cache entry, ms; a write to a hot key waits out at most this long before it returns."),
    maxEntries: int(1, 1_000_000).default(1000).describe("Most entries in each client's near cache."),
    hotShare: z
      .number({ error: (iss) => `must be a number in (0, 1]; got ${show(iss.input)}` })
      .positive({ error: "must be a number in (0, 1]" })
      .max(1, { error: "must be a number in (0, 1]" })
      .default(0.01)
      .describe("A key is hot when its share of the client's recent requests is at least this."),
    hotMinCount: int(1, 1_000_000).default(32).describe("...and it was requested at least this often recently."),
  })
    .default({ enabled: true, ttlMs: 100, maxEntries: 1000, hotShare: 0.01, hotMinCount: 32 })
    .describe("The near cache of hot keys (count-min sketch of per-key requests)."),
  image: str("a container image reference")
    .default("redis:7.0")
    .describe("Container image of the Redis nodes (docker: the local scaleplane/redis build replaces the default)."),
  port: int(1, 65535).default(6379).describe("Redis port."),
  nodeType: str("an ElastiCache node type").default("cache.t4g.micro").describe("ElastiCache node type (target aws)."),
  engine: oneOf(["redis", "valkey"] as const)
    .default("redis")
    .describe("ElastiCache engine (target aws)."),
  engineVersion: str("an engine version").default("7.1").describe("ElastiCache engine version (target aws)."),
}).superRefine((c, ctx) => {
  if (Array.isArray(c.nodes)) {
    const seen = new Set<string>();
    c.nodes.forEach((n, i) => {
      if (seen.has(n.name))
        ctx.addIssue({
          code: "custom",
          path: ["nodes", i, "name"],
          message: `must be unique; ${show(n.name)} appears twice`,
        });
      seen.add(n.name);
    });
  }
  const count = typeof c.nodes === "number" ? c.nodes : c.nodes.length;
  if (c.replicas > count)
    ctx.addIssue({
      code: "custom",
      path: ["replicas"],
      message: `must be ≤ the node count (${count}); got ${c.replicas}`,
    });
});

export const EventsSchema = section({
  enabled: bool
    .default(false)
    .describe(
      "Deploy the event store (EventStore) on the sharded database's shards (its own tables there, no new engine) and give the app its settings and master key.",
    ),
  name: dnsLabel
    .default("events")
    .describe("Name of the event store, used in its resource names (a lowercase DNS label)."),
  snapshotEvery: int(1, 1_000_000)
    .default(100)
    .describe("Aggregate snapshots every N events of a stream (the snapshot projection; 1 snapshots every event)."),
  projectionBatchSize: int(1, 100_000)
    .default(500)
    .describe("Events a projection applies per transaction (with its checkpoint)."),
  leaseTtlSeconds: int(2, 300)
    .default(10)
    .describe(
      "TTL of the projection runners' leases in the config service: how long a crashed runner's shard waits for a successor.",
    ),
  masterKeyRecoveryDays: int(7, 30)
    .default(30)
    .describe(
      "Target aws: days a deleted master-key secret stays recoverable in Secrets Manager (losing the master key makes every event unreadable).",
    ),
});

export const AwsSchema = section({
  region: str("an AWS region").default("us-east-1").describe("AWS region."),
  zones: z
    .array(str("an availability zone"))
    .min(1, { error: "must list at least one zone" })
    .default(["us-east-1a", "us-east-1b"])
    .describe("Availability zones; subnets, etcd members and RDS subnets spread over them (at least 2 on target aws)."),
  vpcCidr: z
    .string()
    .regex(/^\d{1,3}(\.\d{1,3}){3}\/(1[6-9]|2[0-4])$/, {
      error: "must be an IPv4 CIDR from /16 to /24, e.g. 10.42.0.0/16",
    })
    .default("10.42.0.0/16")
    .describe("CIDR of the VPC created for the platform, /16 to /24."),
  existingNetwork: section({
    vpcId: str("a VPC id").describe("Id of the existing VPC."),
    publicSubnetIds: z.array(str("a subnet id")).min(1).describe("Public subnets (for the load balancer)."),
    privateSubnets: z
      .array(
        section({
          id: str("a subnet id").describe("Subnet id."),
          cidr: z
            .string()
            .regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, { error: "must be an IPv4 CIDR" })
            .describe("IPv4 CIDR of the subnet."),
          zone: str("an availability zone").describe("Availability zone of the subnet."),
        }),
      )
      .min(2, { error: "must list at least 2 private subnets in distinct zones" })
      .describe(
        "Private subnets with CIDR and zone, at least 2 in distinct zones (etcd members get fixed IPs computed from the CIDR).",
      ),
  })
    .optional()
    .describe("Use an existing VPC instead of creating one."),
  endpoint: z
    .url({ error: "must be a URL such as http://localhost:4566" })
    .optional()
    .describe("A custom AWS API endpoint (LocalStack); credential and account checks are skipped."),
  ingressCidrs: z.array(str("a CIDR")).default(["0.0.0.0/0"]).describe("CIDRs allowed to reach the load balancer."),
  loadBalancer: section({
    certificateArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/, {
        error: (iss) =>
          `must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>); got ${show(iss.input)}`,
      })
      .optional()
      .describe(
        "ACM certificate of the HTTPS :443 listener (port 80 only redirects to HTTPS). Required in prod; elsewhere a self-signed certificate is imported when unset.",
      ),
    sslPolicy: z
      .string()
      .regex(/^ELBSecurityPolicy-[A-Za-z0-9-]+$/, {
        error: (iss) => `must be an ELB security policy name (ELBSecurityPolicy-...); got ${show(iss.input)}`,
      })
      .default(DEFAULT_TLS_POLICY)
      .describe(
        `TLS policy of the HTTPS listener; scaleplane-guard's alb-https-only accepts only current ones: ${CURRENT_TLS_POLICIES.join(", ")}.`,
      ),
    accessLogs: bool
      .optional()
      .describe(
        "Deliver access logs to an encrypted S3 bucket with public access blocked. Defaults to true in prod, false elsewhere.",
      ),
    accessLogRetentionDays: int(1, 3650)
      .default(90)
      .describe("Days access logs are kept before the bucket's lifecycle rule expires them."),
    deletionProtection: bool
      .optional()
      .describe("Deletion protection of the load balancer. Defaults to true in prod, false elsewhere."),
  })
    .default({ sslPolicy: DEFAULT_TLS_POLICY, accessLogRetentionDays: 90 })
    .describe("The internet-facing load balancer of the app group (target aws)."),
});

export const KubernetesSchema = section({
  namespace: dnsLabel.default("scaleplane").describe("Namespace the platform runs in."),
  storageClass: str("a StorageClass name")
    .optional()
    .describe("StorageClass of the etcd and PostgreSQL volumes. Defaults to the cluster's default StorageClass."),
  zones: z.array(str("a zone")).default([]).describe("Zones to spread pods over (topology.kubernetes.io/zone)."),
});

export const DockerSchema = section({
  appPortBase: int(1024, 65000)
    .default(18080)
    .describe(
      "First host port of the app containers, one per instance up to app.maxSize (published on 127.0.0.1 only).",
    ),
  etcdPortBase: int(1024, 65000)
    .default(12379)
    .describe("First host port of the etcd client endpoints, one per member (127.0.0.1 only)."),
  databasePortBase: int(1024, 65000)
    .default(15432)
    .describe(
      "First host port of the PostgreSQL shards, one per shard (127.0.0.1 only); the three port ranges must not overlap.",
    ),
  cachePortBase: int(1024, 65000)
    .default(16379)
    .describe("First host port of the cache nodes, one per node (127.0.0.1 only); must not overlap the other ranges."),
});

export const MetricsSchema = section({
  enabled: bool
    .default(true)
    .describe(
      "Run the MetricsStore (time series on the database shards: remote-write in, the Prometheus query API out, the scaler's history).",
    ),
  name: dnsLabel
    .default("metrics")
    .describe("Name of the metrics store, used in its resource names (a lowercase DNS label)."),
  image: str("a container image reference")
    .default("scaleplane/metrics-store:0.2.0")
    .describe("Container image of the store service (built locally by `npm run images` on target docker)."),
  replicas: int(1, 32).default(2).describe("Store service instances (stateless: every sample is on the shards)."),
  port: int(1, 65535).default(9201).describe("Port of the store's HTTP API (remote-write, query API, batch API)."),
  outOfOrderWindowSeconds: int(0, 86_400)
    .default(3600)
    .describe(
      "How far behind the newest sample of a shard a sample may arrive and still be accepted and merged (raw and rollups); older ones are refused and counted.",
    ),
  adminApi: bool
    .default(false)
    .describe(
      "Serve the Prometheus admin API's `POST /api/v1/admin/tsdb/delete_series` (deletes samples of the matched series, raw and rollups, at once); off, it answers 503 as Prometheus without --web.enable-admin-api.",
    ),
  retention: section({
    rawDays: int(1, 3650).default(15).describe("Days raw samples (compressed chunks) are kept."),
    oneMinuteDays: int(1, 3650).default(90).describe("Days 1-minute rollups are kept (at least rawDays)."),
    oneHourDays: int(1, 36_500).default(730).describe("Days 1-hour rollups are kept (at least oneMinuteDays)."),
  })
    .default({ rawDays: 15, oneMinuteDays: 90, oneHourDays: 730 })
    .describe("Retention per resolution; whole time partitions are dropped."),
  cpu: positive("vCPUs per instance").default(0.5).describe("vCPUs per store instance (container and pod limit)."),
  memoryMb: int(64, 1048576).default(512).describe("Memory per store instance in MiB (container and pod limit)."),
  hostPort: int(1024, 65000)
    .default(19201)
    .describe(
      "Target docker: the host port (127.0.0.1 only) of the first store instance; instance i uses hostPort + i.",
    ),
  instanceType: str("an EC2 instance type")
    .default("t3.small")
    .describe("EC2 instance type of the store instances (target aws)."),
}).superRefine((m, ctx) => {
  const r = m.retention;
  if (r.oneMinuteDays < r.rawDays)
    ctx.addIssue({
      code: "custom",
      path: ["retention", "oneMinuteDays"],
      message: `must be ≥ metrics.retention.rawDays (${r.rawDays}): a coarser resolution outlives a finer one; got ${r.oneMinuteDays}`,
    });
  if (r.oneHourDays < r.oneMinuteDays)
    ctx.addIssue({
      code: "custom",
      path: ["retention", "oneHourDays"],
      message: `must be ≥ metrics.retention.oneMinuteDays (${r.oneMinuteDays}); got ${r.oneHourDays}`,
    });
});

export const PlatformConfigSchema = z
  .strictObject(
    {
      target: oneOf(TARGETS).default("docker").describe("Where the platform runs: docker (local), aws or kubernetes."),
      environment: oneOf(ENVIRONMENTS)
        .default("dev")
        .describe(
          "dev, staging or prod; prod turns on the stricter rules (at least 3 etcd members, the policy gates).",
        ),
      app: AppSchema.default(AppSchema.parse({})).describe("The autoscaling app group."),
      configService: ConfigServiceSchema.default(ConfigServiceSchema.parse({})).describe(
        "The etcd cluster holding runtime config, the shard map and leases.",
      ),
      database: DatabaseSchema.default(DatabaseSchema.parse({})).describe(
        "The PostgreSQL shards behind a consistent-hash ring.",
      ),
      events: EventsSchema.default(EventsSchema.parse({})).describe(
        "The event store (event streams, projections and subscriptions on the database's shards).",
      ),
      aws: AwsSchema.default(AwsSchema.parse({})).describe("Settings of target aws."),
      kubernetes: KubernetesSchema.default(KubernetesSchema.parse({})).describe("Settings of target kubernetes."),
      docker: DockerSchema.default(DockerSchema.parse({})).describe("Settings of target docker."),
      cache: CacheSchema.optional().describe(
        "A CacheCluster (Redis nodes on the ring, leases, invalidated by the database's writes); none when absent.",
      ),
      metrics: MetricsSchema.default(MetricsSchema.parse({})).describe(
        "The MetricsStore: a horizontally scaled time-series store on the database shards.",
      ),
    },
    {
      error: (iss) =>
        iss.code === "unrecognized_keys"
          ? "unknown key; allowed: target, environment, app, configService, database, events, aws, kubernetes, docker, cache, metrics"
          : "the configuration must be an object",
    },
  )
  .superRefine((c, ctx) => {
    const add = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
    const { app, configService: cs, database: db } = c;

    if (app.mixedInstances && c.target !== "aws")
      add(["app", "mixedInstances"], `is only supported on target aws; target is ${c.target}`);

    if (c.environment === "prod" && cs.members < 3)
      add(
        ["configService", "members"],
        `must be 3, 5 or 7 in prod (1 member has no fault tolerance); got ${cs.members}`,
      );
    if (c.environment === "prod" && db.consistency === "quorum" && db.replicationFactor === 2)
      add(["database", "consistency"], QUORUM_OF_TWO);
    if (c.environment === "prod" && db.strategy !== "range") {
      const load = databaseLoadWarning(db);
      if (load) add(["database", "shards"], `is refused in prod: ${load}`);
    }
    const shardCount = typeof db.shards === "number" ? db.shards : db.shards.length;
    if (c.target === "aws") {
      if (c.environment === "prod" && !c.aws.loadBalancer.certificateArn)
        add(
          ["aws", "loadBalancer", "certificateArn"],
          "is required in prod: set the ARN of an ACM certificate for the app's domain (the load balancer serves HTTPS only)",
        );
      if (!c.aws.existingNetwork && c.aws.zones.length < 2)
        add(
          ["aws", "zones"],
          `must list at least 2 zones on target aws (RDS subnet groups and the load balancer span two zones); got ${c.aws.zones.length}`,
        );
      if (db.multiAz && c.aws.zones.length < 2) add(["database", "multiAz"], "needs at least 2 entries in aws.zones");
    }
    const docker = c.docker;
    // Every host port range the docker target publishes, by the key that sets its base.
    const ranges: [(string | number)[], number, number][] = [
      [["docker", "appPortBase"], docker.appPortBase, app.maxSize],
      [["docker", "etcdPortBase"], docker.etcdPortBase, cs.members],
      [
        ["docker", "databasePortBase"],
        docker.databasePortBase,
        Math.max(shardCount, ...shardPortSlots(shardList(db).map((s) => s.name)).map((x) => x + 1)),
      ],
      ...(c.cache
        ? [
            [["docker", "cachePortBase"], docker.cachePortBase, cacheNodeList(c.cache).length] as [
              string[],
              number,
              number,
            ],
          ]
        : []),
      ...(c.metrics.enabled
        ? [[["metrics", "hostPort"], c.metrics.hostPort, c.metrics.replicas] as [string[], number, number]]
        : []),
    ];
    if (c.target === "docker")
      ranges.forEach(([key, base, n], i) =>
        ranges.slice(i + 1).forEach(([other, obase, on]) => {
          if (base < obase + on && obase < base + n)
            add(
              other,
              `host port range ${obase}..${obase + on - 1} overlaps ${key.join(".")} range ${base}..${base + n - 1}`,
            );
        }),
      );
  });

/** The validated, defaulted platform configuration. */
export type PlatformConfig = z.output<typeof PlatformConfigSchema>;

/** Why "quorum" at replication factor 2 is refused in prod and warned about elsewhere. */
const QUORUM_OF_TWO =
  `"quorum" with database.replicationFactor 2 is a quorum of 2 of 2, i.e. "all": one replica down stops every write; ` +
  `use replicationFactor 3 (quorum 2 of 3) or consistency "all"/"one" if that is what you mean`;

/**
 * Settings that are valid but probably not what the user meant (refused in prod by the schema,
 * accepted elsewhere): the program logs each with its key.
 */
export function configWarnings(c: PlatformConfig, raw?: unknown): ConfigProblem[] {
  const w: ConfigProblem[] = [];
  // Old names still accepted (app.scaling): each with what to write instead.
  const app = (raw as { app?: { scaling?: unknown } } | undefined)?.app;
  w.push(...scalingDeprecations(app?.scaling, configKey(["app", "scaling"])));
  if (c.environment !== "prod" && c.database.consistency === "quorum" && c.database.replicationFactor === 2)
    w.push({ key: configKey(["database", "consistency"]), message: QUORUM_OF_TWO });
  if (c.database.virtualNodes !== undefined)
    w.push({
      key: configKey(["database", "virtualNodes"]),
      message: `is deprecated: it sets the ring's weight resolution (there are no virtual nodes); write database.weightResolution: ${c.database.virtualNodes}`,
    });
  const load =
    c.environment === "prod" || c.database.strategy === "range" ? undefined : databaseLoadWarning(c.database);
  if (load) w.push({ key: configKey(["database", "shards"]), message: load });
  return w;
}
export type AppConfig = PlatformConfig["app"];
export type ScalingConfig = AppConfig["scaling"];
export type ConfigServiceConfig = PlatformConfig["configService"];
export type DatabaseConfig = PlatformConfig["database"];
export type EventsConfig = PlatformConfig["events"];
export type AwsConfig = PlatformConfig["aws"];
export type KubernetesConfig = PlatformConfig["kubernetes"];
export type DockerConfig = PlatformConfig["docker"];
export type CacheConfig = z.output<typeof CacheSchema>;
export type CacheConfigInput = z.input<typeof CacheSchema>;
export type MetricsConfig = PlatformConfig["metrics"];
export type MetricsConfigInput = z.input<typeof MetricsSchema>;
/** What a user may write (everything optional where a default exists). */
export type PlatformConfigInput = z.input<typeof PlatformConfigSchema>;
export type AppConfigInput = z.input<typeof AppSchema>;
export type ConfigServiceConfigInput = z.input<typeof ConfigServiceSchema>;
export type DatabaseConfigInput = z.input<typeof DatabaseSchema>;
export type EventsConfigInput = z.input<typeof EventsSchema>;

/**
 * The checks every component constructor starts with: a known `target`, a known `environment`
 * (returned, default "dev"), and the argument block of the chosen target present.
 */
export function componentBase(
  component: string,
  name: string,
  args: { target: Target; environment?: Environment } & Partial<Record<Target, unknown>>,
): Environment {
  if (!(TARGETS as readonly string[]).includes(args.target))
    configFail("target", `must be one of ${TARGETS.join(", ")}; got ${show(args.target)}`);
  const environment = args.environment ?? "dev";
  if (!(ENVIRONMENTS as readonly string[]).includes(environment))
    configFail("environment", `must be one of ${ENVIRONMENTS.join(", ")}; got ${show(environment)}`);
  if (!args[args.target])
    configFail(args.target, `is required for target ${args.target} (${component} "${name}"); it is missing`);
  return environment;
}

/** `["app","scaling","drainSeconds"]` → `scaleplane:app.scaling.drainSeconds`; array indexes as `[i]`. */
export function configKey(path: readonly PropertyKey[]): string {
  if (path.length === 0) return `${CONFIG_NAMESPACE}:<root>`;
  const [head, ...rest] = path;
  return `${CONFIG_NAMESPACE}:${String(head)}${rest.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("")}`;
}

/**
 * Validates raw config (as read from the stack: `{target: "docker", app: {...}, ...}`) and returns
 * the defaulted config, or throws {@link ConfigError} naming every bad key.
 */
export function parsePlatformConfig(raw: unknown): PlatformConfig {
  const result = PlatformConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.flatMap((i) =>
    i.code === "unrecognized_keys"
      ? i.keys.map((k) => ({ key: configKey([...i.path, k]), message: i.message }))
      : [{ key: configKey(i.path), message: i.message }],
  );
  throw new ConfigError(problems);
}

/** The ring's weight resolution (`database.weightResolution`, or its deprecated name `virtualNodes`). */
export function weightResolutionOf(db: Pick<DatabaseConfig, "weightResolution" | "virtualNodes">): number {
  return db.weightResolution ?? db.virtualNodes ?? DEFAULT_VNODES_PER_WEIGHT;
}

/** The replica-load warning of a database's shard list (core/sharding/ring.ts replicaLoadWarning). */
function databaseLoadWarning(db: DatabaseConfig): string | undefined {
  return replicaLoadWarning(shardList(db), weightResolutionOf(db), db.replicationFactor);
}

/** The shard list with defaults applied (`shards: 3` → shard-0..shard-2, weight 1). */
export function shardList(db: DatabaseConfig): { name: string; weight: number; zone?: string }[] {
  return typeof db.shards === "number"
    ? Array.from({ length: db.shards }, (_, i) => ({ name: `shard-${i}`, weight: 1 }))
    : db.shards.map((s) => ({ ...s }));
}

/**
 * The Docker host port slot of each shard (it publishes on `docker.databasePortBase + slot`): `n`
 * for a shard named `shard-<n>` (the names a shard count gives), so removing a shard never moves
 * another one's port (a moved port would replace its container mid-rebalance); other names take
 * the lowest slots no `shard-<n>` name holds, in list order.
 */
export function shardPortSlots(names: readonly string[]): number[] {
  const fixed = names
    .map((n) => /^shard-(0|[1-9]\d{0,3})$/.exec(n)?.[1])
    .map((d) => (d === undefined ? -1 : Number(d)));
  const taken = new Set(fixed.filter((x) => x >= 0));
  let next = 0;
  return fixed.map((slot) => {
    if (slot >= 0) return slot;
    while (taken.has(next)) next++;
    taken.add(next);
    return next;
  });
}

/** The cache node list with defaults applied (`nodes: 3` → cache-0..cache-2, weight 1). */
export function cacheNodeList(c: CacheConfig): { name: string; weight: number; zone?: string }[] {
  return typeof c.nodes === "number"
    ? Array.from({ length: c.nodes }, (_, i) => ({ name: `cache-${i}`, weight: 1 }))
    : c.nodes.map((n) => ({ ...n }));
}
