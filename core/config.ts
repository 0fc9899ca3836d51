/**
 * The platform's configuration: one zod schema for the whole stack (target, app group, config
 * service, database, per-target settings). Pure: no Pulumi, no I/O.
 *
 * Every error names the config key path as a user writes it (`scaleplane:<section>.<field>`) and
 * what is allowed, so a bad stack file fails before anything is created.
 */
import { z } from "zod";
import { ETCD_MEMBER_COUNTS } from "./etcd";

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

export { ETCD_MEMBER_COUNTS } from "./etcd";

const show = (v: unknown): string => (typeof v === "string" ? JSON.stringify(v) : JSON.stringify(v) ?? String(v));

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
  z.string({ error: (iss) => `must be a string (${what}); got ${show(iss.input)}` }).min(1, { error: `must not be empty (${what})` });

/** DNS-1123 label: used for names that become container, Service and instance names. */
const dnsLabel = z
  .string({ error: (iss) => `must be a string; got ${show(iss.input)}` })
  .regex(/^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$/, {
    error: (iss) => `must be a lowercase DNS label (a-z, 0-9, '-', start with a letter, ≤ 32 chars); got ${show(iss.input)}`,
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

export const ScalingSchema = section({
  /** Target average CPU utilisation, percent. */
  cpuTargetPercent: int(1, 100).default(70),
  /** Target average memory utilisation, percent. */
  memoryTargetPercent: int(1, 100).default(80),
  /** Seconds after a scale-out before another scale-out. */
  scaleUpCooldownSeconds: int(0, 3600).default(60),
  /** Seconds after a scale-in before another scale-in (and the stabilization window). */
  scaleDownCooldownSeconds: int(0, 3600).default(300),
  /** Seconds a new instance has before health checks count. */
  healthCheckGraceSeconds: int(0, 3600).default(60),
  /** Seconds an instance drains (deregistered, finishing in-flight requests) before it stops. */
  drainSeconds: int(0, 3600).default(30),
});

export const MixedInstancesSchema = section({
  /** Instance types to spread over, in priority order. */
  instanceTypes: z.array(str("an EC2 instance type")).min(1, { error: "must list at least one instance type" }),
  /** On-demand instances before any spot. */
  onDemandBaseCapacity: int(0, 1000).default(1),
  /** Percent of capacity above the base that is on-demand (the rest is spot). */
  onDemandPercentageAboveBase: int(0, 100).default(25),
});

export const AppSchema = section({
  name: dnsLabel.default("app"),
  image: str("a container image reference").default("scaleplane/sample-app:0.1.0"),
  port: int(1, 65535).default(8080),
  healthCheckPath: z.string().regex(/^\//, { error: "must be an absolute HTTP path starting with '/'" }).default("/health"),
  minSize: int(0, 1000).default(2),
  /** Defaults to minSize. */
  desiredSize: int(0, 1000).optional(),
  maxSize: int(1, 1000).default(10),
  /** vCPUs per instance (container limit, pod limit). */
  cpu: positive("vCPUs per instance").default(0.5),
  memoryMb: int(64, 1048576).default(512),
  instanceType: str("an EC2 instance type").default("t3.small"),
  mixedInstances: MixedInstancesSchema.optional(),
  scaling: ScalingSchema.default(ScalingSchema.parse({})),
  env: z.record(z.string(), z.string({ error: "environment values must be strings" })).default({}),
}).superRefine((app, ctx) => {
  if (app.minSize > app.maxSize) ctx.addIssue({ code: "custom", path: ["maxSize"], message: `must be ≥ app.minSize (${app.minSize}); got ${app.maxSize}` });
  else if (app.desiredSize !== undefined && (app.desiredSize < app.minSize || app.desiredSize > app.maxSize))
    ctx.addIssue({ code: "custom", path: ["desiredSize"], message: `must be between app.minSize (${app.minSize}) and app.maxSize (${app.maxSize}); got ${app.desiredSize}` });
});

export const ConfigServiceSchema = section({
  name: dnsLabel.default("config"),
  /** Voting members: 1, 3, 5 or 7 (1 only outside prod). */
  members: z
    .number({ error: (iss) => `must be an odd member count: 1, 3, 5 or 7; got ${show(iss.input)}` })
    .refine((n) => (ETCD_MEMBER_COUNTS as readonly number[]).includes(n), {
      error: (iss) => `must be an odd member count: 1, 3, 5 or 7 (even counts add a member without adding fault tolerance); got ${show(iss.input)}`,
    })
    .default(3),
  image: str("a container image reference").default("quay.io/coreos/etcd:v3.5.17"),
  /** Path of the etcd binary inside the image. */
  etcdBinary: str("a path").default("/usr/local/bin/etcd"),
  heartbeatIntervalMs: int(10, 5000).default(100),
  electionTimeoutMs: int(50, 50000).default(1000),
  /** Peer and client TLS. */
  tls: bool.default(false),
  clientPort: int(1, 65535).default(2379),
  peerPort: int(1, 65535).default(2380),
  storageGb: int(1, 16384).default(10),
  instanceType: str("an EC2 instance type").default("t3.small"),
  /** etcd backend quota (bytes); etcd's default is 2 GiB. */
  quotaBackendBytes: int(1, 8 * 1024 ** 3).optional(),
}).superRefine((cs, ctx) => {
  if (cs.electionTimeoutMs < 5 * cs.heartbeatIntervalMs)
    ctx.addIssue({ code: "custom", path: ["electionTimeoutMs"], message: `must be ≥ 5 × configService.heartbeatIntervalMs (${5 * cs.heartbeatIntervalMs}); got ${cs.electionTimeoutMs}` });
  if (cs.clientPort === cs.peerPort) ctx.addIssue({ code: "custom", path: ["peerPort"], message: `must differ from configService.clientPort (${cs.clientPort})` });
});

export const ShardSchema = section({
  name: dnsLabel,
  weight: positive("ring weight").default(1),
  zone: str("an availability zone or failure domain").optional(),
});

export const DatabaseSchema = section({
  name: dnsLabel.default("db"),
  /** A shard count (named shard-0..n-1, weight 1) or the explicit shard list. */
  shards: z
    .union([int(1, 256), z.array(ShardSchema).min(1, { error: "must list at least one shard" })], {
      error: (iss) => `must be a shard count (1..256) or a list of {name, weight, zone}; got ${show(iss.input)}`,
    })
    .default(3),
  /** Virtual nodes on the ring per unit of weight. */
  virtualNodes: int(1, 4096).default(150),
  replicationFactor: int(1, 16).default(1),
  consistency: oneOf(CONSISTENCY_LEVELS).default("one"),
  image: str("a container image reference").default("postgres:15"),
  engineVersion: str("a PostgreSQL version").default("15"),
  databaseName: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, { error: "must be a PostgreSQL identifier (a-z, 0-9, _)" }).default("app"),
  username: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, { error: "must be a PostgreSQL identifier (a-z, 0-9, _)" }).default("scaleplane"),
  instanceClass: str("an RDS instance class").default("db.t4g.micro"),
  storageGb: int(5, 65536).default(20),
  backupRetentionDays: int(0, 35).default(7),
  multiAz: bool.default(false),
  port: int(1, 65535).default(5432),
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
    add(["replicationFactor"], `must be ≤ the shard count (${shardCount}): replicas live on distinct shards; got ${db.replicationFactor}`);
  if (db.consistency === "quorum" && db.replicationFactor < 2)
    add(["consistency"], `"quorum" needs database.replicationFactor ≥ 2 (got ${db.replicationFactor}); use "one" or raise the replication factor`);
});

export const AwsSchema = section({
  region: str("an AWS region").default("us-east-1"),
  /** Availability zones; subnets, etcd members and RDS subnets spread over them. */
  zones: z.array(str("an availability zone")).min(1, { error: "must list at least one zone" }).default(["us-east-1a", "us-east-1b"]),
  vpcCidr: z
    .string()
    .regex(/^\d{1,3}(\.\d{1,3}){3}\/(1[6-9]|2[0-4])$/, { error: "must be an IPv4 CIDR from /16 to /24, e.g. 10.42.0.0/16" })
    .default("10.42.0.0/16"),
  /** Use an existing VPC instead of creating one. */
  existingNetwork: section({
    vpcId: str("a VPC id"),
    publicSubnetIds: z.array(str("a subnet id")).min(1),
    /** Private subnets with CIDR and zone (etcd members get fixed IPs computed from the CIDR). */
    privateSubnets: z
      .array(
        section({
          id: str("a subnet id"),
          cidr: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, { error: "must be an IPv4 CIDR" }),
          zone: str("an availability zone"),
        }),
      )
      .min(2, { error: "must list at least 2 private subnets in distinct zones" }),
  }).optional(),
  /** A custom AWS API endpoint (LocalStack); skips credential and account checks. */
  endpoint: z.url({ error: "must be a URL such as http://localhost:4566" }).optional(),
  /** CIDRs allowed to reach the load balancer. */
  ingressCidrs: z.array(str("a CIDR")).default(["0.0.0.0/0"]),
});

export const KubernetesSchema = section({
  namespace: dnsLabel.default("scaleplane"),
  storageClass: str("a StorageClass name").optional(),
  /** Zones for topology spread / anti-affinity (topology.kubernetes.io/zone). */
  zones: z.array(str("a zone")).default([]),
});

export const DockerSchema = section({
  /** First host port for app containers (published on 127.0.0.1 only). */
  appPortBase: int(1024, 65000).default(18080),
  /** First host port for etcd client endpoints (127.0.0.1 only). */
  etcdPortBase: int(1024, 65000).default(12379),
  /** First host port for PostgreSQL shards (127.0.0.1 only). */
  databasePortBase: int(1024, 65000).default(15432),
});

export const PlatformConfigSchema = z
  .strictObject(
    {
      target: oneOf(TARGETS).default("docker"),
      environment: oneOf(ENVIRONMENTS).default("dev"),
      app: AppSchema.default(AppSchema.parse({})),
      configService: ConfigServiceSchema.default(ConfigServiceSchema.parse({})),
      database: DatabaseSchema.default(DatabaseSchema.parse({})),
      aws: AwsSchema.default(AwsSchema.parse({})),
      kubernetes: KubernetesSchema.default(KubernetesSchema.parse({})),
      docker: DockerSchema.default(DockerSchema.parse({})),
    },
    {
      error: (iss) =>
        iss.code === "unrecognized_keys"
          ? "unknown key; allowed: target, environment, app, configService, database, aws, kubernetes, docker"
          : "the configuration must be an object",
    },
  )
  .superRefine((c, ctx) => {
    const add = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
    const { app, configService: cs, database: db } = c;

    if (app.mixedInstances && c.target !== "aws") add(["app", "mixedInstances"], `is only supported on target aws; target is ${c.target}`);

    if (c.environment === "prod" && cs.members < 3)
      add(["configService", "members"], `must be 3, 5 or 7 in prod (1 member has no fault tolerance); got ${cs.members}`);
    const shardCount = typeof db.shards === "number" ? db.shards : db.shards.length;
    if (c.target === "aws") {
      if (!c.aws.existingNetwork && c.aws.zones.length < 2)
        add(["aws", "zones"], `must list at least 2 zones on target aws (RDS subnet groups and the load balancer span two zones); got ${c.aws.zones.length}`);
      if (db.multiAz && c.aws.zones.length < 2) add(["database", "multiAz"], "needs at least 2 entries in aws.zones");
    }
    const docker = c.docker;
    const ranges: [string, number, number][] = [
      ["appPortBase", docker.appPortBase, app.maxSize],
      ["etcdPortBase", docker.etcdPortBase, cs.members],
      ["databasePortBase", docker.databasePortBase, shardCount],
    ];
    if (c.target === "docker")
      for (const [key, base, n] of ranges)
        for (const [other, obase, on] of ranges)
          if (key < other && base < obase + on && obase < base + n)
            add(["docker", other], `host port range ${obase}..${obase + on - 1} overlaps docker.${key} range ${base}..${base + n - 1}`);
  });

/** The validated, defaulted platform configuration. */
export type PlatformConfig = z.output<typeof PlatformConfigSchema>;
export type AppConfig = PlatformConfig["app"];
export type ScalingConfig = AppConfig["scaling"];
export type ConfigServiceConfig = PlatformConfig["configService"];
export type DatabaseConfig = PlatformConfig["database"];
export type AwsConfig = PlatformConfig["aws"];
export type KubernetesConfig = PlatformConfig["kubernetes"];
export type DockerConfig = PlatformConfig["docker"];
/** What a user may write (everything optional where a default exists). */
export type PlatformConfigInput = z.input<typeof PlatformConfigSchema>;
export type AppConfigInput = z.input<typeof AppSchema>;
export type ConfigServiceConfigInput = z.input<typeof ConfigServiceSchema>;
export type DatabaseConfigInput = z.input<typeof DatabaseSchema>;

/** One problem in a config, with the user-facing key path. */
export interface ConfigProblem {
  /** e.g. `scaleplane:configService.members` */
  key: string;
  message: string;
}

/** Thrown for an invalid configuration; `message` lists every problem, one per line, key first. */
export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p.key}: ${p.message}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Throws a ConfigError for one argument/key (`app.mixedInstances`, `aws.subnets[0].cidr`, ...). */
export function configFail(key: string, message: string): never {
  throw new ConfigError([{ key, message }]);
}

/**
 * The checks every component constructor starts with: a known `target`, a known `environment`
 * (returned, default "dev"), and the argument block of the chosen target present.
 */
export function componentBase(
  component: string,
  name: string,
  args: { target: Target; environment?: Environment } & Partial<Record<Target, unknown>>,
): Environment {
  if (!(TARGETS as readonly string[]).includes(args.target)) configFail("target", `must be one of ${TARGETS.join(", ")}; got ${show(args.target)}`);
  const environment = args.environment ?? "dev";
  if (!(ENVIRONMENTS as readonly string[]).includes(environment)) configFail("environment", `must be one of ${ENVIRONMENTS.join(", ")}; got ${show(environment)}`);
  if (!args[args.target]) configFail(args.target, `is required for target ${args.target} (${component} "${name}"); it is missing`);
  return environment;
}

/** `["app","scaling","drainSeconds"]` → `scaleplane:app.scaling.drainSeconds`; array indexes as `[i]`. */
export function configKey(path: readonly PropertyKey[]): string {
  if (path.length === 0) return `${CONFIG_NAMESPACE}:<root>`;
  const [head, ...rest] = path;
  return `${CONFIG_NAMESPACE}:${String(head)}${rest.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("")}`;
}

/**
 * Validates one section (e.g. a component's `app` argument) with its schema; errors name
 * `<prefix>.<path>` (e.g. `app.minSize`).
 */
export function parseSection<S extends z.ZodType>(schema: S, raw: unknown, prefix: string): z.output<S> {
  const result = schema.safeParse(raw ?? {});
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.flatMap((i) =>
      (i.code === "unrecognized_keys" ? i.keys.map((k) => [...i.path, k]) : [i.path]).map((path) => ({
        key: [prefix, ...path].map((p, n) => (typeof p === "number" ? `[${p}]` : n === 0 ? String(p) : `.${String(p)}`)).join(""),
        message: i.message,
      })),
    ),
  );
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

/** The shard list with defaults applied (`shards: 3` → shard-0..shard-2, weight 1). */
export function shardList(db: DatabaseConfig): { name: string; weight: number; zone?: string }[] {
  return typeof db.shards === "number"
    ? Array.from({ length: db.shards }, (_, i) => ({ name: `shard-${i}`, weight: 1 }))
    : db.shards.map((s) => ({ ...s }));
}
