/**
 * Shared setup of the shard-client integration tests: one local etcd, N PostgreSQL instances
 * (test/support/pg-cluster.ts), a shard map per test under its own etcd prefix, and direct reads
 * of a shard's row (to check what each replica holds, bypassing the router).
 */
import pino from "pino";
import type { ShardMap } from "../../../core/sharding/shard-map";
import { ConfigClient } from "../../../runtime/config-client";
import { ShardClient, shardSql, type ShardClientOptions } from "../../../runtime/shard-client";
import { startLocalEtcd, type LocalEtcd } from "../../support/etcd-cluster";
import { startPgCluster, type PgCluster, type PgInstance } from "../../support/pg-cluster";

export const silent = pino({ level: "silent" });

export interface Env {
  etcd: LocalEtcd;
  pg: PgCluster;
  /** A ConfigClient on a fresh prefix with `map` stored (epoch 0 unless given). */
  configWith(map: Omit<ShardMap, "epoch"> & { epoch?: number }): Promise<ConfigClient>;
  /** A ShardClient over `config`. */
  client(config: ConfigClient, extra?: Partial<ShardClientOptions>): Promise<ShardClient>;
  /** Closes the ShardClients made so far (their pools), keeping etcd and the shards. */
  closeClients(): Promise<void>;
  /** Shard instance by name. */
  shard(name: string): PgInstance;
  stop(): Promise<void>;
}

let prefixes = 0;

export async function startEnv(shards: number): Promise<Env> {
  const [etcd, pg] = await Promise.all([startLocalEtcd("sp-shard-client"), startPgCluster(shards)]);
  // the schema up front, so direct reads of a shard work before the router first touches it
  await Promise.all(pg.instances.map((i) => i.query(shardSql.ENSURE_SCHEMA_SQL)));
  const configs: ConfigClient[] = [];
  const clients: ShardClient[] = [];
  return {
    etcd,
    pg,
    async configWith(map) {
      const c = ConfigClient.create({
        endpoints: [etcd.endpoint],
        prefix: `/sc-${process.pid}-${prefixes++}/`,
        logger: silent,
      });
      configs.push(c);
      await c.initShardMap({ epoch: 0, ...map } as ShardMap);
      return c;
    },
    async client(config, extra = {}) {
      const c = await ShardClient.connect({
        config,
        user: pg.user,
        password: pg.password,
        logger: silent,
        statementTimeoutMs: 5000,
        connectTimeoutMs: 5000,
        poolSize: 4,
        ...extra,
      });
      clients.push(c);
      return c;
    },
    async closeClients() {
      await Promise.all(clients.splice(0).map((c) => c.close(1000).catch(() => undefined)));
    },
    shard(name) {
      const s = pg.instances.find((i) => i.name === name);
      if (!s) throw new Error(`no shard ${name}`);
      return s;
    },
    async stop() {
      await Promise.all(clients.map((c) => c.close(1000).catch(() => undefined)));
      for (const c of configs) c.close();
      await Promise.all([etcd.stop(), pg.cleanup()]);
    },
  };
}

/** What one shard holds for `key`, read directly (undefined: no row; value null: tombstone). */
export async function rowOn(
  shard: PgInstance,
  key: string,
): Promise<{ value: unknown; wall: number; logical: number; node: string } | undefined> {
  const rows = await shard.query<{ value: string | null; ver_wall: string; ver_logical: number; ver_node: string }>(
    "SELECT value::text AS value, ver_wall::text AS ver_wall, ver_logical, ver_node FROM scaleplane_kv WHERE key = $1",
    [key],
  );
  const r = rows[0];
  return r
    ? {
        value: r.value === null ? null : JSON.parse(r.value),
        wall: Number(r.ver_wall),
        logical: r.ver_logical,
        node: r.ver_node,
      }
    : undefined;
}

/** Keys a shard holds under `prefix`. */
export async function keysOn(shard: PgInstance, prefix: string): Promise<string[]> {
  const rows = await shard.query<{ key: string }>(
    "SELECT key FROM scaleplane_kv WHERE starts_with(key, $1) ORDER BY key",
    [prefix],
  );
  return rows.map((r) => r.key);
}
