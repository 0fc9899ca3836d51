/**
 * Shared by the ShardRebalance integration and chaos tests: the provider's inputs for a test
 * cluster, rows written as the contract's "apply if newer" upserts on a key's replica set, and
 * the placement check run after every rebalance: every expected key is on exactly its replica
 * set (nowhere else) with its latest value, and no shard holds a key nobody wrote.
 */
import type { Client } from "pg";
import { makePlacer, type PlacementStrategy } from "../../../core/sharding/placement";
import { hashKey } from "../../../core/sharding/ring";
import type { ShardMember } from "../../../core/sharding/shard-map";
import { ENSURE_SCHEMA_SQL } from "../../../runtime/shard-client/sql";
import type { PgCluster, PgInstance } from "../../support/pg-cluster";

export const REBALANCE_TYPE = "pulumi-nodejs:dynamic/database:ShardRebalance";

/** A desired shard map of test instances. */
export interface TestShardMap {
  vnodesPerWeight: number;
  replicationFactor: number;
  consistency: "one" | "quorum" | "all";
  shards: ShardMember[];
  strategy?: PlacementStrategy;
}

/** The shard map of some instances of a cluster. */
export function shardMapOf(
  instances: readonly PgInstance[],
  replicationFactor: number,
  opts: { weights?: number[]; vnodes?: number; consistency?: TestShardMap["consistency"] } = {},
): TestShardMap {
  return {
    vnodesPerWeight: opts.vnodes ?? 64,
    replicationFactor,
    consistency: opts.consistency ?? (replicationFactor > 1 ? "quorum" : "one"),
    shards: instances.map((i, k) => ({
      name: i.name,
      weight: opts.weights?.[k] ?? 1,
      host: i.host,
      port: i.port,
      database: i.database,
    })),
  };
}

/** The ShardRebalance inputs for a cluster and a shard map. */
export function rebalanceInputs(
  etcdEndpoint: string,
  prefix: string,
  cluster: PgCluster,
  shardMap: TestShardMap,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    target: "docker",
    etcdEndpoints: [etcdEndpoint],
    etcdPrefix: prefix,
    shardMap,
    username: cluster.user,
    password: cluster.password,
    ...extra,
  };
}

/** One stored row (a version is compared as (wall, logical, node)). */
export interface Row {
  key: string;
  value: unknown;
  wall: number;
  logical: number;
  node: string;
}

const UPSERT = `INSERT INTO scaleplane_kv AS t (key, h, value, ver_wall, ver_logical, ver_node)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::jsonb[], $4::bigint[], $5::integer[], $6::text[])
ON CONFLICT (key) DO UPDATE SET h = excluded.h, value = excluded.value, ver_wall = excluded.ver_wall,
  ver_logical = excluded.ver_logical, ver_node = excluded.ver_node
WHERE (excluded.ver_wall, excluded.ver_logical, excluded.ver_node) > (t.ver_wall, t.ver_logical, t.ver_node)`;

/** Creates the schema on instances (the router and the rebalancer do this too; idempotent). */
export async function ensureSchema(instances: readonly PgInstance[]): Promise<void> {
  await Promise.all(instances.map((i) => i.query(ENSURE_SCHEMA_SQL)));
}

/** Writes rows to every replica of each key under `map` (a bulk "apply if newer", as the router writes). */
export async function seedRows(cluster: PgCluster, map: TestShardMap, rows: readonly Row[]): Promise<void> {
  const placer = makePlacer(map, map.strategy);
  const byShard = new Map<string, Row[]>();
  for (const r of rows)
    for (const s of placer.replicas(r.key)) {
      const list = byShard.get(s);
      if (list) list.push(r);
      else byShard.set(s, [r]);
    }
  await Promise.all(
    [...byShard].map(async ([name, list]) => {
      const inst = cluster.instances.find((i) => i.name === name)!;
      const c: Client = await inst.connect();
      try {
        for (let k = 0; k < list.length; k += 5000) {
          const part = list.slice(k, k + 5000);
          await c.query(UPSERT, [
            part.map((r) => r.key),
            part.map((r) => hashKey(r.key)),
            part.map((r) => JSON.stringify(r.value)),
            part.map((r) => r.wall),
            part.map((r) => r.logical),
            part.map((r) => r.node),
          ]);
        }
      } finally {
        await c.end();
      }
    }),
  );
}

/** Every row of one instance, by key (none on an instance no map has included yet: it has no table). */
export async function rowsOf(inst: PgInstance): Promise<Map<string, { value: unknown; h: number; wall: number }>> {
  const rows = await inst
    .query<{ key: string; value: unknown; h: string; ver_wall: string }>(
      "SELECT key, value, h::text AS h, ver_wall::text AS ver_wall FROM scaleplane_kv",
    )
    .catch((e: { code?: string }) => {
      if (e.code === "42P01") return [];
      throw e;
    });
  return new Map(rows.map((r) => [r.key, { value: r.value, h: Number(r.h), wall: Number(r.ver_wall) }]));
}

/** What {@link checkPlacement} found wrong (all empty when the data is where it belongs). */
export interface PlacementReport {
  /** Expected keys absent from one of their replicas (`key@shard`). */
  lost: string[];
  /** Keys whose replica holds another value than the latest acknowledged (`key@shard`). */
  stale: string[];
  /** Keys on a shard outside their replica set (`key@shard`): a duplicate the cleanup left. */
  misplaced: string[];
  /** Keys no one wrote. */
  unknown: string[];
  /** Rows checked. */
  rows: number;
}

/**
 * Checks every instance of `map` plus `others` (shards that left): each expected key lives on
 * exactly its replica set under `map`, with `expected.get(key)` as its value.
 *
 * `later` lists, per key, values of writes whose outcome is unknown (the client saw them fail, yet
 * a replica may have committed them, even after the value in `expected` was read back): a replica
 * set holding one of those instead is not stale, provided every replica holds the same one.
 */
export async function checkPlacement(
  cluster: PgCluster,
  map: TestShardMap,
  expected: ReadonlyMap<string, unknown>,
  others: readonly PgInstance[] = [],
  later: ReadonlyMap<string, readonly unknown[]> = new Map(),
): Promise<PlacementReport> {
  const placer = makePlacer(map, map.strategy);
  const report: PlacementReport = { lost: [], stale: [], misplaced: [], unknown: [], rows: 0 };
  const names = new Set(map.shards.map((s) => s.name));
  const stores = new Map<string, Map<string, { value: unknown; h: number; wall: number }>>();
  for (const inst of [...cluster.instances.filter((i) => names.has(i.name)), ...others])
    stores.set(inst.name, await rowsOf(inst));
  for (const [key, value] of expected) {
    const replicas = placer.replicas(key);
    const held = replicas.map((s) => stores.get(s)?.get(key));
    const alternatives = new Set((later.get(key) ?? []).map((v) => JSON.stringify(v)));
    const values = new Set(held.flatMap((row) => (row ? [JSON.stringify(row.value)] : [])));
    // One unknown-outcome write that landed on the whole replica set after the read-back.
    const landedLater = values.size === 1 && alternatives.has([...values][0]);
    replicas.forEach((s, i) => {
      const row = held[i];
      if (!row) report.lost.push(`${key}@${s}`);
      else if (JSON.stringify(row.value) !== JSON.stringify(value) && !landedLater) report.stale.push(`${key}@${s}`);
    });
  }
  for (const [shard, rows] of stores) {
    report.rows += rows.size;
    for (const key of rows.keys()) {
      if (!expected.has(key)) report.unknown.push(`${key}@${shard}`);
      else if (!placer.replicas(key).includes(shard)) report.misplaced.push(`${key}@${shard}`);
    }
  }
  return report;
}

/** A short summary of a placement report's problems for assertion messages. */
export const problems = (r: PlacementReport) => ({
  lost: r.lost.length,
  stale: r.stale.length,
  misplaced: r.misplaced.length,
  unknown: r.unknown.length,
  examples: [...r.lost, ...r.stale, ...r.misplaced, ...r.unknown].slice(0, 5),
});
