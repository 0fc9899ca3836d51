/**
 * The sharded database's pure spec: shard names, host names, ports, zone spread, container and
 * pod settings, and the RDS settings derived from the database config and the environment
 * (prod rules). Every target (Docker, Kubernetes, AWS) builds its resources from these; nothing
 * here touches Pulumi or does I/O.
 */
import { configFail, shardList, shardPortSlots, type DatabaseConfig, type Environment } from "../config";
import { hostPortRange } from "../ports";

/** Where the PostgreSQL volume is mounted in a shard container / pod. */
export const POSTGRES_VOLUME_PATH = "/var/lib/postgresql/data";
/**
 * The data directory: a sub-directory of the volume, because a fresh block volume's root holds
 * `lost+found` and initdb refuses a non-empty directory.
 */
export const POSTGRES_PGDATA = `${POSTGRES_VOLUME_PATH}/pgdata`;
/** uid/gid of the `postgres` user in the official (Debian-based) postgres image. */
export const POSTGRES_UID = 999;

/** CPU and memory of one shard container / pod (RDS sizes come from `database.instanceClass`). */
export interface ShardResources {
  /** vCPUs. */
  cpu: number;
  memoryMb: number;
}

/** Default shard container / pod size. */
export const DEFAULT_SHARD_RESOURCES: ShardResources = { cpu: 1, memoryMb: 1024 };

/** Longest name a Kubernetes Service (DNS-1035 label) or a container host name may have. */
export const MAX_HOSTNAME_LENGTH = 63;

/** One shard as every target deploys it. */
export interface ShardSpec {
  /** Position in the shard list (on Docker the host port is `portBase + slot`, see dockerHostPorts). */
  index: number;
  /** Ring identity (`shard-0` or the configured name). */
  name: string;
  weight: number;
  /** Configured failure domain, if any. */
  zone?: string;
  /** Container name / Service name / StatefulSet name: `<database.name>-<shard>`. */
  hostname: string;
  /** Labels (Docker container labels, Kubernetes object labels). */
  labels: Record<string, string>;
}

/** Labels that identify a shard's resources on Docker and Kubernetes. */
export function shardLabels(db: DatabaseConfig, shard: { name: string; weight: number }): Record<string, string> {
  return {
    "app.kubernetes.io/name": "postgres",
    "app.kubernetes.io/component": "database-shard",
    "app.kubernetes.io/part-of": "scaleplane",
    "scaleplane.io/database": db.name,
    "scaleplane.io/shard": shard.name,
    "scaleplane.io/weight": String(shard.weight),
  };
}

/** The labels that select one shard's pod (a subset of {@link shardLabels} that never changes). */
export function shardSelector(db: DatabaseConfig, shardName: string): Record<string, string> {
  return { "app.kubernetes.io/name": "postgres", "scaleplane.io/database": db.name, "scaleplane.io/shard": shardName };
}

/**
 * The shards of a database config, in ring order, with their host names and labels. Host names are
 * `<scope>-<shard>`; `scope` defaults to database.name (components pass a stack-scoped name so two
 * stacks never share a container name or an RDS identifier).
 */
export function shardSpecs(db: DatabaseConfig, scope: string = db.name): ShardSpec[] {
  return shardList(db).map((s, index) => {
    const hostname = `${scope}-${s.name}`;
    if (hostname.length > MAX_HOSTNAME_LENGTH)
      configFail(
        typeof db.shards === "number" ? "database.name" : `database.shards[${index}].name`,
        `"${hostname}" (database.name + "-" + shard name) must be at most ${MAX_HOSTNAME_LENGTH} characters: it becomes a host/Service name; got ${hostname.length}`,
      );
    return {
      index,
      name: s.name,
      weight: s.weight,
      ...(s.zone ? { zone: s.zone } : {}),
      hostname,
      labels: shardLabels(db, s),
    };
  });
}

/**
 * Host ports on 127.0.0.1 for the Docker target, in shard order: `portBase + slot` (core/config.ts
 * shardPortSlots: `shard-<n>` publishes on `portBase + n` whatever the shards around it).
 */
export function dockerHostPorts(portBase: number, shards: readonly { name: string }[]): number[] {
  const slots = shardPortSlots(shards.map((s) => s.name));
  const range = hostPortRange("docker.portBase", portBase, Math.max(0, ...slots.map((x) => x + 1)));
  return slots.map((slot) => range[slot]);
}

/** The distinct zones of a subnet list, in first-seen order. */
export function distinctZones(subnets: readonly { zone: string }[]): string[] {
  return [...new Set(subnets.map((s) => s.zone))];
}

/**
 * The zone of every shard on AWS: a configured `zone` must be one of the subnets' zones; each
 * other shard goes, in shard order, to the zone with the fewest shards so far (configured ones
 * included; ties to the earlier zone), so the shards spread evenly over the zones.
 */
export function spreadShardsOverZones(shards: readonly ShardSpec[], zones: readonly string[]): string[] {
  if (zones.length === 0) configFail("aws.subnets", "must list at least one subnet (with its zone)");
  const load = new Map(zones.map((z) => [z, 0]));
  for (const s of shards) {
    if (s.zone === undefined) continue;
    if (!load.has(s.zone))
      configFail(
        `database.shards[${s.index}].zone`,
        `must be one of the database subnets' zones (${zones.join(", ")}); got ${JSON.stringify(s.zone)}`,
      );
    load.set(s.zone, load.get(s.zone)! + 1);
  }
  return shards.map((s) => {
    if (s.zone !== undefined) return s.zone;
    const zone = zones.reduce((best, z) => (load.get(z)! < load.get(best)! ? z : best));
    load.set(zone, load.get(zone)! + 1);
    return zone;
  });
}

/** Checks the AWS placement arguments: private subnets over at least 2 zones, at least one client. */
export function validateAwsPlacement(
  subnets: readonly { zone: string; cidr: string }[],
  clientSecurityGroupCount: number,
): void {
  const zones = distinctZones(subnets);
  if (zones.length < 2)
    configFail(
      "aws.subnets",
      `must span at least 2 availability zones (an RDS subnet group needs two); got ${subnets.length} subnet(s) in ${zones.length} zone(s)${zones.length ? ` (${zones.join(", ")})` : ""}`,
    );
  if (clientSecurityGroupCount < 1)
    configFail(
      "aws.clientSecurityGroupIds",
      "must list at least one security group (the app's): they are the only sources allowed to reach the database port",
    );
}

/** RDS refuses gp3 storage below 20 GiB for PostgreSQL. */
export const GP3_MIN_STORAGE_GB = 20;

/** The RDS settings of every shard instance, from the config and the environment. */
export interface RdsSettings {
  engine: "postgres";
  engineVersion: string;
  instanceClass: string;
  allocatedStorage: number;
  /** gp3 from 20 GiB (its minimum for PostgreSQL), gp2 below. */
  storageType: "gp3" | "gp2";
  storageEncrypted: true;
  publiclyAccessible: false;
  backupRetentionPeriod: number;
  multiAz: boolean;
  port: number;
  dbName: string;
  username: string;
  /** Only in prod. */
  deletionProtection: boolean;
  /** True only outside prod: prod always keeps a final snapshot. */
  skipFinalSnapshot: boolean;
  copyTagsToSnapshot: true;
  autoMinorVersionUpgrade: true;
}

/**
 * RDS settings for `environment`. Prod keeps backups (retention ≥ 1 day), a final snapshot and
 * deletion protection; other environments may be torn down without a snapshot.
 */
export function rdsSettings(db: DatabaseConfig, environment: Environment): RdsSettings {
  const prod = environment === "prod";
  if (prod && db.backupRetentionDays < 1)
    configFail("database.backupRetentionDays", "must be at least 1 in prod (0 turns RDS automated backups off); got 0");
  return {
    engine: "postgres",
    engineVersion: db.engineVersion,
    instanceClass: db.instanceClass,
    allocatedStorage: db.storageGb,
    storageType: db.storageGb >= GP3_MIN_STORAGE_GB ? "gp3" : "gp2",
    storageEncrypted: true,
    publiclyAccessible: false,
    backupRetentionPeriod: db.backupRetentionDays,
    multiAz: db.multiAz,
    port: db.port,
    dbName: db.databaseName,
    username: db.username,
    deletionProtection: prod,
    skipFinalSnapshot: !prod,
    copyTagsToSnapshot: true,
    autoMinorVersionUpgrade: true,
  };
}

/** Identifier of the snapshot RDS takes when a shard instance is deleted (prod). */
export function finalSnapshotIdentifier(shard: ShardSpec): string {
  // Letters, digits and single hyphens, starting with a letter (db.name and shard names are DNS labels).
  return `${shard.hostname}-final`;
}

/**
 * The instance's availability zone: the shard's zone, except for Multi-AZ instances (RDS picks
 * the primary's zone itself and refuses an explicit one together with Multi-AZ).
 */
export function rdsAvailabilityZone(db: DatabaseConfig, zone: string): string | undefined {
  return db.multiAz ? undefined : zone;
}

/** AWS tags of the database's resources. */
export function databaseTags(db: DatabaseConfig, environment: Environment, shard?: ShardSpec): Record<string, string> {
  return {
    "scaleplane:component": "database",
    "scaleplane:database": db.name,
    "scaleplane:environment": environment,
    ...(shard
      ? { Name: shard.hostname, "scaleplane:shard": shard.name, "scaleplane:weight": String(shard.weight) }
      : { Name: db.name }),
  };
}

/** Environment of a shard's postgres container / pod, except the password (a secret the shell adds). */
export function postgresEnv(db: DatabaseConfig): Record<string, string> {
  return { POSTGRES_USER: db.username, POSTGRES_DB: db.databaseName, PGDATA: POSTGRES_PGDATA, PGPORT: String(db.port) };
}

/** Name of the password variable of the official postgres image. */
export const POSTGRES_PASSWORD_ENV = "POSTGRES_PASSWORD";

/**
 * The readiness command of a shard (Docker healthcheck, Kubernetes readiness and liveness):
 * `pg_isready` over TCP on loopback, so it reports ready only when the server accepts TCP
 * connections (not the init-time socket-only server).
 */
export function pgIsReadyCommand(db: DatabaseConfig): string[] {
  return ["pg_isready", "-h", "127.0.0.1", "-p", String(db.port), "-U", db.username, "-d", db.databaseName];
}

/** Probe / healthcheck timing shared by Docker and Kubernetes. */
export const SHARD_PROBE = {
  intervalSeconds: 5,
  timeoutSeconds: 3,
  failureThreshold: 6,
  startPeriodSeconds: 30,
} as const;

/** Checks shard resources (component argument `resources`). */
export function shardResources(r: Partial<ShardResources> | undefined): ShardResources {
  const out = { ...DEFAULT_SHARD_RESOURCES, ...(r ?? {}) };
  if (!(typeof out.cpu === "number" && Number.isFinite(out.cpu) && out.cpu > 0))
    configFail("resources.cpu", `must be a number of vCPUs > 0; got ${JSON.stringify(out.cpu)}`);
  if (!(Number.isInteger(out.memoryMb) && out.memoryMb >= 128))
    configFail(
      "resources.memoryMb",
      `must be a whole number of MiB ≥ 128 (PostgreSQL needs shared buffers); got ${JSON.stringify(out.memoryMb)}`,
    );
  return out;
}

/** Kubernetes quantities of {@link ShardResources} (the shared formula of core/kubernetes/quantity.ts). */
export { kubernetesQuantities } from "../kubernetes/quantity";

/**
 * A password given as a plain string must be one RDS accepts (and so every target):
 * 8..128 characters, printable ASCII, none of `/ @ " '` or space. (Clients must still
 * URL-encode it in connection URLs; the generated one is alphanumeric and needs no encoding.)
 */
export function validatePassword(password: string): void {
  if (password.length < 8 || password.length > 128)
    configFail("password", `must be 8 to 128 characters; got ${password.length}`);
  if (!/^[\x21-\x7e]+$/.test(password) || /[/@"' ]/.test(password))
    configFail("password", "must be printable ASCII without '/', '@', '\"', \"'\" or spaces (RDS rejects them)");
}

/** Length of the generated password (alphanumeric only: URL-safe). */
export const GENERATED_PASSWORD_LENGTH = 32;

/** In-cluster DNS name of a shard's Service. */
export function kubernetesServiceHost(hostname: string, namespace: string): string {
  return `${hostname}.${namespace}.svc.cluster.local`;
}
