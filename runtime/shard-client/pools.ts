/**
 * One small `pg` pool per shard, with deadlines on everything: connecting (`connectTimeoutMs`),
 * each statement on the server (`statement_timeout`) and on the client (`query_timeout`, which
 * also covers a hung server or a cut network). A connection that failed for any reason other than
 * an SQL error is destroyed, never returned to the pool. The schema (sql.ts) is ensured once per
 * pool, before the first statement.
 */
import { Pool, type PoolClient, type PoolConfig } from "pg";
import type { Logger } from "pino";
import { ENSURE_SCHEMA_SQL, SCHEMA_PRESENT_SQL } from "./sql";

/** Where a shard is reached. */
export interface ShardAddress {
  readonly host: string;
  readonly port: number;
  readonly database: string;
}

/** Pool settings shared by every shard. */
export interface PoolSettings {
  readonly user: string;
  /** The password, or a function returning it (e.g. read from a mounted secret file). */
  readonly password: string | (() => string | Promise<string>);
  readonly connectTimeoutMs: number;
  readonly statementTimeoutMs: number;
  readonly poolSize: number;
  readonly ssl?: PoolConfig["ssl"];
}

/** Whether an error came from the server as an SQL error (the connection is still usable). */
export function isSqlError(e: unknown): e is Error & { code: string } {
  const code = e instanceof Error ? (e as { code?: unknown }).code : undefined;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) && "severity" in (e as object);
}

/** A short reason and code of a failure, for error reports. */
export function describeFailure(e: unknown): { reason: string; code?: string } {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return { reason: e.message || e.name, ...(typeof code === "string" ? { code } : {}) };
  }
  return { reason: String(e) };
}

class ShardPool {
  readonly pool: Pool;
  private schema: Promise<void> | undefined;

  constructor(
    readonly name: string,
    readonly address: ShardAddress,
    settings: PoolSettings,
    log: Logger,
  ) {
    this.pool = new Pool({
      host: address.host,
      port: address.port,
      database: address.database,
      user: settings.user,
      password: settings.password,
      ssl: settings.ssl,
      max: settings.poolSize,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: settings.connectTimeoutMs,
      statement_timeout: settings.statementTimeoutMs,
      // the client-side deadline is a little longer, so the server's own timeout (which leaves
      // the connection usable) normally fires first
      query_timeout: settings.statementTimeoutMs + 250,
      application_name: "scaleplane-shard-client",
    });
    // an idle connection that dies (shard restarted) must not crash the process
    this.pool.on("error", (e) => log.debug({ shard: name, err: e.message }, "idle shard connection closed"));
  }

  private ensureSchema(c: PoolClient): Promise<void> {
    this.schema ??= (async () => {
      const present = (await c.query<{ present: boolean }>(SCHEMA_PRESENT_SQL)).rows[0]?.present;
      if (!present) await c.query(ENSURE_SCHEMA_SQL);
    })();
    this.schema.catch(() => (this.schema = undefined));
    return this.schema;
  }

  async run<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    let broken: Error | undefined;
    // a connection that dies while checked out emits "error" besides failing its query
    const onError = (e: Error) => (broken = e);
    c.on("error", onError);
    try {
      await this.ensureSchema(c);
      return await fn(c);
    } catch (e) {
      if (!isSqlError(e)) broken = e instanceof Error ? e : new Error(String(e));
      else if (e.code === "25P02") await c.query("ROLLBACK").catch(() => (broken = e));
      throw e;
    } finally {
      c.off("error", onError);
      c.release(broken);
    }
  }
}

/**
 * The router's connections: one small pool per shard for its short statements (deadlines on
 * connect and on every statement, schema ensured on first use), replaced when a shard's address
 * changes and ended when a shard leaves the map. (The rebalancer's long COPY streams have their
 * own, runtime/rebalance/shards.ts RebalanceConnections.)
 */
export class RouterPools {
  private readonly pools = new Map<string, ShardPool>();

  constructor(
    private readonly settings: PoolSettings,
    private readonly log: Logger,
  ) {}

  /** Runs `fn` on a connection to `shard` at `address` (creating or replacing its pool). */
  run<T>(shard: string, address: ShardAddress, fn: (c: PoolClient) => Promise<T>): Promise<T> {
    let p = this.pools.get(shard);
    if (
      !p ||
      p.address.host !== address.host ||
      p.address.port !== address.port ||
      p.address.database !== address.database
    ) {
      if (p) void p.pool.end().catch(() => undefined);
      p = new ShardPool(shard, address, this.settings, this.log);
      this.pools.set(shard, p);
    }
    return p.run(fn);
  }

  /** Ends the pools of shards not in `keep`. */
  retain(keep: ReadonlySet<string>): void {
    for (const [name, p] of this.pools)
      if (!keep.has(name)) {
        this.pools.delete(name);
        void p.pool.end().catch(() => undefined);
      }
  }

  /** Ends every pool. */
  async end(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((p) => p.pool.end().catch(() => undefined)));
  }
}
