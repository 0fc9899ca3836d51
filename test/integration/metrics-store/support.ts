/**
 * Shared setup of the metrics-store integration tests: one local etcd, N PostgreSQL shards
 * (test/support/pg-cluster.ts), the shard map under a per-process etcd prefix, and a store
 * started in this process on a free 127.0.0.1 port.
 */
import pino from "pino";
import type { ShardMap } from "../../../core/sharding/shard-map";
import { ConfigClient } from "../../../runtime/config-client";
import { startStore, type RunningStore, type StoreOptions } from "../../../runtime/metrics-store/main";
import { shardSql } from "../../../runtime/shard-client";
import { startLocalEtcd, type LocalEtcd } from "../../support/etcd-cluster";
import { startPgCluster, type PgCluster } from "../../support/pg-cluster";

export const silent = pino({ level: "silent" });

export interface MetricsEnv {
  etcd: LocalEtcd;
  pg: PgCluster;
  config: ConfigClient;
  /** Starts a store (maintenance off unless asked). */
  store(extra?: Partial<StoreOptions>): Promise<RunningStore>;
  stop(): Promise<void>;
}

let prefixes = 0;

export async function startMetricsEnv(
  shards: number,
  map: Partial<Pick<ShardMap, "replicationFactor" | "consistency">> = {},
): Promise<MetricsEnv> {
  const [etcd, pg] = await Promise.all([startLocalEtcd(`sp-metrics-${process.pid}`), startPgCluster(shards)]);
  await Promise.all(pg.instances.map((i) => i.query(shardSql.ENSURE_SCHEMA_SQL)));
  const config = ConfigClient.create({
    endpoints: [etcd.endpoint],
    prefix: `/metrics-${process.pid}-${prefixes++}/`,
    logger: silent,
  });
  await config.initShardMap({
    epoch: 0,
    vnodesPerWeight: 150,
    replicationFactor: map.replicationFactor ?? 1,
    consistency: map.consistency ?? "one",
    shards: pg.members(),
  });
  const stores: RunningStore[] = [];
  return {
    etcd,
    pg,
    config,
    async store(extra = {}) {
      const s = await startStore({
        config,
        user: pg.user,
        password: pg.password,
        port: 0,
        host: "127.0.0.1",
        statementTimeoutMs: 20_000,
        connectTimeoutMs: 5000,
        logger: silent,
        maintenance: {
          outOfOrderWindowMs: 3_600_000,
          retention: { rawDays: 15, oneMinuteDays: 90, oneHourDays: 730 },
          enabled: false,
        },
        ...extra,
      });
      stores.push(s);
      return s;
    },
    async stop() {
      await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
      config.close();
      await Promise.all([etcd.stop(), pg.cleanup()]);
    },
  };
}

/** POSTs JSON; resolves with status and parsed body. */
/** A parsed JSON answer (tests read it loosely). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export async function postJson(url: string, body: unknown): Promise<{ status: number; body: Json }> {
  const r = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : undefined };
}

/** A Prometheus-API GET; resolves with status and parsed body. */
export async function api(
  base: string,
  path: string,
  params: Record<string, string | string[]> = {},
): Promise<{ status: number; body: Json }> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) for (const x of Array.isArray(v) ? v : [v]) q.append(k, x);
  const r = await fetch(`${base}${path}?${q}`);
  return { status: r.status, body: await r.json() };
}
