/**
 * Shared setup of the event-store integration and chaos tests: one local etcd, N PostgreSQL
 * instances (test/support/pg-cluster.ts), a shard map and event placement per store under its own
 * etcd prefix (names carry the pid, so files run concurrently).
 */
import { randomBytes } from "node:crypto";
import pino from "pino";
import type { ShardMap } from "../../../core/sharding/shard-map";
import { ConfigClient } from "../../../runtime/config-client";
import { EventStore, type EventStoreOptions } from "../../../runtime/event-store";
import { startLocalEtcd, type LocalEtcd } from "../../support/etcd-cluster";
import { startPgCluster, type PgCluster, type PgInstance } from "../../support/pg-cluster";

export const silent = pino({ level: "silent" });
export const MASTER_KEY = randomBytes(32).toString("base64");

export interface EventsEnv {
  etcd: LocalEtcd;
  pg: PgCluster;
  /** A config client on a fresh prefix with a shard map of the cluster's shards stored. */
  config(): Promise<ConfigClient>;
  /** An event store on `config` (a fresh prefix when none is given). */
  store(extra?: Partial<EventStoreOptions> & { config?: ConfigClient }): Promise<EventStore>;
  shard(name: string): PgInstance;
  stop(): Promise<void>;
}

let prefixes = 0;

export async function startEventsEnv(shards: number, settings?: Record<string, string | number>): Promise<EventsEnv> {
  const [etcd, pg] = await Promise.all([startLocalEtcd("sp-events"), startPgCluster(shards, { settings })]);
  const configs: ConfigClient[] = [];
  const stores: EventStore[] = [];
  const env: EventsEnv = {
    etcd,
    pg,
    async config() {
      const c = ConfigClient.create({
        endpoints: [etcd.endpoint],
        prefix: `/ev-${process.pid}-${prefixes++}/`,
        logger: silent,
      });
      configs.push(c);
      const map: ShardMap = {
        epoch: 0,
        vnodesPerWeight: 150,
        replicationFactor: 1,
        consistency: "one",
        shards: pg.members(),
      };
      await c.initShardMap(map);
      return c;
    },
    async store(extra = {}) {
      const { config, ...rest } = extra;
      const s = await EventStore.connect({
        config: config ?? (await env.config()),
        user: pg.user,
        password: pg.password,
        masterKey: MASTER_KEY,
        logger: silent,
        connectTimeoutMs: 5000,
        statementTimeoutMs: 20_000,
        ...rest,
      });
      stores.push(s);
      return s;
    },
    shard(name) {
      const s = pg.instances.find((i) => i.name === name);
      if (!s) throw new Error(`no shard ${name}`);
      return s;
    },
    async stop() {
      await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
      for (const c of configs) c.close();
      await Promise.all([etcd.stop(), pg.cleanup()]);
    },
  };
  return env;
}

/** A UUID from a counter (tests track ids compactly). */
export const idOf = (n: number): string => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
/** The counter of an {@link idOf} id. */
export const counterOf = (id: string): number => parseInt(id.slice(24), 16);
