/**
 * Connections of the rebalancer to the shards: one small `pg` pool per shard, reached at the
 * shard map's host/port unless `reach` says otherwise (on Docker the map holds container names
 * for the apps on the shard network, while the rebalancer runs on the host and reaches each shard
 * on its 127.0.0.1 port). Every connection has a connect deadline; short statements have a
 * statement deadline, the long COPY streams do not.
 */
import { Client, Pool, type PoolClient } from "pg";
import type { ShardMember } from "../../core/sharding/shard-map";
import { REBALANCER_TOKEN_SETTING, rebalancerSession } from "../shard-client/sql";

/** Database credentials of the shards (the password is a secret: never logged, never stored). */
export interface ShardCredentials {
  readonly user: string;
  readonly password: string;
}

/** How the rebalancer reaches a shard when not at the shard map's host/port: name → `host:port`. */
export type ShardReach = Readonly<Record<string, string>>;

/**
 * Target connections one copy (copy.ts) writes its chunks on at once: writing a chunk is the slow
 * side (parsing, index inserts, WAL), so several take turns while the source streams (3 copied
 * 15 % faster than 2 in `npm run bench -- shards`, 4 no faster than 3).
 */
export const COPY_LANES = 3;

/** Deadline of short statements (checksums, fences, deletes of one batch), in ms. */
const STATEMENT_TIMEOUT_MS = 120_000;

/** Parses `host:port` (IPv6 in brackets). */
export function parseHostPort(value: string, what: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) throw new Error(`${what} must be host:port; got ${JSON.stringify(value)}`);
  return { host: m[1].replace(/^\[|\]$/g, ""), port };
}

/**
 * One rebalance run's connections to the shards, by shard name: reached through `reach` where the
 * map's host/port is not reachable from here, sized for COPY lanes, with no deadline on the long
 * COPY streams. (The router's pools are runtime/shard-client/pools.ts RouterPools.)
 */
export class RebalanceConnections {
  private readonly pools = new Map<string, Pool>();
  private readonly members = new Map<string, ShardMember>();
  private readonly reach: Record<string, string>;

  /**
   * @param credentials - the shards' database user and password
   * @param reach - where shards are reached instead of the map's host:port
   * @param options - `fence`: the rebalancer's fencing token and the id of the etcd cluster that
   *   issued it, carried by every pooled session (`scaleplane.rebalancer_token`): the shards' fence
   *   trigger refuses its statements once a newer rebalancer claimed them (none for a read-only
   *   use, e.g. the dry run); `connectTimeoutMs` @default 10000
   */
  constructor(
    private readonly credentials: ShardCredentials,
    reach: ShardReach = {},
    private readonly options: { fence?: { cluster: string; token: number }; connectTimeoutMs?: number } = {},
  ) {
    this.reach = { ...reach };
    this.session = options.fence ? rebalancerSession(options.fence.cluster, options.fence.token) : undefined;
  }

  /** The fence setting of every pooled session (`<cluster>/<token>`), when fenced. */
  private readonly session: string | undefined;

  /** Whether `reach` names where a shard is reached. */
  reaches(name: string): boolean {
    return this.reach[name] !== undefined;
  }

  /** Reaches a shard at `host:port` from now on (before its pool is first used). */
  reachAt(name: string, hostPort: string): void {
    parseHostPort(hostPort, `reach.${name}`);
    if (this.pools.has(name))
      throw new Error(`rebalance: shard ${name} is already connected; its address cannot change`);
    this.reach[name] = hostPort;
  }

  /**
   * Whether a shard answers: a new connection (not the pool's) and `SELECT 1`, both within
   * `timeoutMs` (a paused or partitioned shard hangs instead of refusing). Rejects naming the shard.
   */
  async ping(name: string, timeoutMs: number): Promise<void> {
    const s = this.member(name);
    const { host, port } = this.reach[name]
      ? parseHostPort(this.reach[name], `reach.${name}`)
      : { host: s.host, port: s.port };
    const c = new Client({
      host,
      port,
      database: s.database,
      user: this.credentials.user,
      password: this.credentials.password,
      connectionTimeoutMillis: timeoutMs,
      query_timeout: timeoutMs,
      application_name: "scaleplane-rebalance-probe",
    });
    c.on("error", () => undefined);
    try {
      await c.connect();
      await c.query("SELECT 1");
    } catch (e) {
      throw this.wrap(name, e);
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  /** Registers shards (the first registration of a name wins: names are never reused). */
  add(shards: readonly ShardMember[]): void {
    for (const s of shards) if (!this.members.has(s.name)) this.members.set(s.name, s);
  }

  /** `host:port` the rebalancer uses for a shard. */
  address(name: string): string {
    const s = this.member(name);
    const r = this.reach[name];
    return r ?? `${s.host}:${s.port}`;
  }

  private member(name: string): ShardMember {
    const s = this.members.get(name);
    if (!s) throw new Error(`rebalance: shard ${name} is in no shard map this rebalance knows`);
    return s;
  }

  /** The pool of a shard (created on first use). */
  pool(name: string): Pool {
    let p = this.pools.get(name);
    if (!p) {
      const s = this.member(name);
      const { host, port } = this.reach[name]
        ? parseHostPort(this.reach[name], `reach.${name}`)
        : { host: s.host, port: s.port };
      p = new Pool({
        host,
        port,
        database: s.database,
        user: this.credentials.user,
        password: this.credentials.password,
        // A copy holds one source connection and COPY_LANES target ones, and `parallel` copies
        // (targets) run at once: room for a shard to be the source of two and the target of one.
        max: 2 + COPY_LANES,
        connectionTimeoutMillis: this.options.connectTimeoutMs ?? 10_000,
        ...(this.session !== undefined ? { options: `-c ${REBALANCER_TOKEN_SETTING}=${this.session}` } : {}),
        idleTimeoutMillis: 10_000,
        application_name: "scaleplane-rebalance",
      });
      // An idle client's error (a shard restarting) must not crash the process; the next query reports it.
      p.on("error", () => undefined);
      this.pools.set(name, p);
    }
    return p;
  }

  /** Runs one short statement on a shard, with a statement deadline; errors name the shard. */
  async query<R extends Record<string, unknown>>(name: string, sql: string, params?: unknown[]): Promise<R[]> {
    const client = await this.client(name);
    try {
      await client.query(`SET statement_timeout = ${STATEMENT_TIMEOUT_MS}`);
      return (await client.query(sql, params)).rows as R[];
    } catch (e) {
      throw this.wrap(name, e);
    } finally {
      client.release();
    }
  }

  /** A client of a shard's pool (release it); connection errors name the shard and its address. */
  async client(name: string): Promise<PoolClient> {
    try {
      return await this.pool(name).connect();
    } catch (e) {
      throw this.wrap(name, e);
    }
  }

  /** An error that names the shard and where it was reached. */
  wrap(name: string, e: unknown): Error {
    const msg = e instanceof Error ? e.message : String(e);
    if (msg.startsWith(`shard ${name} `)) return e as Error;
    return new Error(`shard ${name} (${this.address(name)}): ${msg}`, { cause: e });
  }

  /** Closes every pool. */
  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.end().catch(() => undefined)));
    this.pools.clear();
  }
}
