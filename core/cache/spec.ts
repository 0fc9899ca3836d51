/**
 * Specs of the CacheCluster's Redis nodes for every target, from the `cache` config section.
 * Pure: the component's target builders turn these into resources; nothing is decided twice.
 */
import { cacheNodeList, type CacheConfig, type Environment } from "../config";
import { configFail } from "../config-error";

/** The local image (images/redis, built by `npm run images`): Debian's redis-server 7.0.15. */
export const LOCAL_REDIS_IMAGE = "scaleplane/redis:7.0.15";
/** Where a Docker node's password file is uploaded (the entrypoint reads it into redis.conf). */
export const REDIS_PASSWORD_FILE = "/run/secrets/redis-password";
/** Length of a generated auth token (ElastiCache: 16-128 printable characters). */
export const AUTH_TOKEN_LENGTH = 32;
/** Health probe timings of a node (Docker healthcheck, Kubernetes probes). */
export const REDIS_PROBE = { intervalSeconds: 5, timeoutSeconds: 3, failureThreshold: 5, startPeriodSeconds: 10 };

/** One node as the targets build it. */
export interface CacheNodeSpec {
  /** Ring name (`cache-0`, or the configured name). */
  name: string;
  /** Container / replication group / host name: `<scope>-<name>`. */
  hostname: string;
  weight: number;
  zone?: string;
  labels: Record<string, string>;
}

/**
 * The nodes, with zones: explicit ones kept, otherwise (aws) spread one per zone in turn so a
 * zone outage takes at most ⌈n / zones⌉ nodes.
 */
export function cacheNodeSpecs(c: CacheConfig, scope: string, zones: readonly string[] = []): CacheNodeSpec[] {
  return cacheNodeList(c).map((n, i) => {
    const zone = n.zone ?? (zones.length > 0 ? zones[i % zones.length] : undefined);
    const hostname = `${scope}-${n.name}`;
    if (hostname.length > 40)
      configFail(
        "cache.name",
        `with the stack name and node name ${JSON.stringify(n.name)} makes ${JSON.stringify(hostname)}, over 40 characters (ElastiCache limit); shorten cache.name`,
      );
    return {
      name: n.name,
      hostname,
      weight: n.weight,
      ...(zone ? { zone } : {}),
      labels: {
        "app.kubernetes.io/part-of": "scaleplane",
        "scaleplane.io/cache": c.name,
        "scaleplane.io/cache-node": n.name,
      },
    };
  });
}

/**
 * redis-server settings of every node (as `--flag value` arguments): memory bound with a
 * volatile-* policy (only keys with a TTL are evicted, never the generation key), no persistence
 * (a restarted node comes back empty; one that does come back with data is fenced by its
 * generation anyway), protected mode off because auth is on.
 */
export function redisServerArgs(c: CacheConfig): string[] {
  return [
    "--port",
    String(c.port),
    "--maxmemory",
    `${c.maxMemoryMb}mb`,
    "--maxmemory-policy",
    c.evictionPolicy,
    "--save",
    "",
    "--appendonly",
    "no",
    "--protected-mode",
    "no",
  ];
}

/** Container memory limit of a node: maxmemory plus headroom for Redis itself and fragmentation. */
export function cacheNodeMemoryMb(c: CacheConfig): number {
  return Math.ceil(c.maxMemoryMb * 1.25) + 64;
}

/** Host ports of Docker nodes: 127.0.0.1:(portBase + i). */
export function cacheHostPorts(portBase: number, count: number): number[] {
  if (!Number.isInteger(portBase) || portBase < 1024 || portBase + count - 1 > 65535)
    configFail("docker.cachePortBase", `must leave room for ${count} ports from 1024 to 65535; got ${portBase}`);
  return Array.from({ length: count }, (_, i) => portBase + i);
}

/** ElastiCache settings: always encrypted at rest and in transit, auth token on; prod keeps snapshots. */
export function elastiCacheSettings(c: CacheConfig, environment: Environment) {
  return {
    engine: c.engine,
    engineVersion: c.engineVersion,
    nodeType: c.nodeType,
    port: c.port,
    atRestEncryptionEnabled: true,
    transitEncryptionEnabled: true,
    parameterGroupFamily: `${c.engine}${c.engineVersion.split(".")[0]}`,
    snapshotRetentionLimit: environment === "prod" ? 1 : 0,
  };
}

/** The nodes as clients reach them (the topology's node list): `hosts[i]` is node i's address. */
export function cacheNodeEndpoints(nodes: readonly CacheNodeSpec[], hosts: readonly string[], port: number) {
  return nodes.map((n, i) => ({
    name: n.name,
    host: hosts[i],
    port,
    weight: n.weight,
    ...(n.zone ? { zone: n.zone } : {}),
  }));
}

/** The client settings of the `cache` section (what the app's CacheClient is created with). */
export function cacheClientSettings(c: CacheConfig) {
  return {
    ttlMs: c.ttlSeconds * 1000,
    ttlJitter: c.ttlJitter,
    leaseMs: c.leaseMs,
    viewLeaseMs: c.viewLeaseMs,
    xfetchBeta: c.xfetchBeta,
    nearCache: { ...c.nearCache },
    replicas: c.replicas,
  };
}
