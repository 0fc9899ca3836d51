/**
 * The SQL every shard speaks (docs/design/sharding.md), in one module: the router
 * (runtime/shard-client) and the rebalancer (runtime/rebalance) both use it, so the table, the
 * epoch fence and the "apply if newer" rule are written once.
 *
 * `key` and `ver_node` are `COLLATE "C"`: byte order, whatever the database's default collation
 * (RDS creates en_US.UTF-8 databases). Key ranges and prefix scans then mean the same on every
 * shard and in JS (core/sharding/placement.ts compareKeys), and the version tie-break on `ver_node`
 * matches core/sharding/hlc.ts compareVersions.
 *
 * Values travel as JSON text (`$n::jsonb` in, `value::text` out): SQL NULL is a tombstone and a
 * JSON `null` is a value, which the driver's own jsonb parsing would not tell apart. Version walls
 * are bigint and come back as text (exact); they are milliseconds, so they fit a JS number.
 */
import { checkShardTable, type ShardTable } from "../../core/sharding/table";

/** The GUC a rebalancer's sessions carry its fencing token in (set at connect; routers leave it unset). */
export const REBALANCER_TOKEN_SETTING = "scaleplane.rebalancer_token";

/** SQLSTATE of a statement refused because its rebalancer was deposed (custom class "SP"). */
export const DEPOSED_SQLSTATE = "SPF01";

/**
 * The shard schema (idempotent; the contract's DDL with "C" collation on `key` and `ver_node`).
 *
 * The rebalancer's fence on the shard: `scaleplane_rebalancer` holds the fencing token (the etcd
 * revision of its leadership, docs/design/sharding.md) of the newest rebalancer that claimed the
 * shard, with the id of the etcd cluster that issued it (`scaleplane_claim_rebalancer`, which
 * waits for the statements of an older one in flight: they hold the row FOR SHARE). A
 * statement-level trigger on every table a rebalancer changes checks, inside the statement's own
 * transaction and before it changes anything, that a session carrying a token (only rebalancers
 * set it, as `<cluster>/<token>`) carries the shard's: a deposed rebalancer's COPY, merge, fence
 * raise or DELETE fails there, whatever it believes. Routers' statements pass at the cost of
 * reading one setting. Tokens compare within one etcd cluster: a config service rebuilt from
 * scratch (its revisions start again) claims the shard anew instead of being refused forever.
 */
export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS scaleplane_kv (
  key         text COLLATE "C" PRIMARY KEY,
  h           bigint  NOT NULL,
  value       jsonb,
  ver_wall    bigint  NOT NULL,
  ver_logical integer NOT NULL,
  ver_node    text COLLATE "C" NOT NULL
);
CREATE INDEX IF NOT EXISTS scaleplane_kv_h ON scaleplane_kv (h);
CREATE TABLE IF NOT EXISTS scaleplane_meta (
  id        integer PRIMARY KEY CHECK (id = 1),
  min_epoch bigint  NOT NULL
);
INSERT INTO scaleplane_meta VALUES (1, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS scaleplane_rebalancer (
  id      integer PRIMARY KEY CHECK (id = 1),
  token   bigint  NOT NULL,
  cluster text    NOT NULL
);
INSERT INTO scaleplane_rebalancer VALUES (1, 0, '') ON CONFLICT DO NOTHING;
CREATE OR REPLACE FUNCTION scaleplane_rebalancer_fence() RETURNS trigger LANGUAGE plpgsql AS $fence$
DECLARE
  mine text := current_setting('${REBALANCER_TOKEN_SETTING}', true);
  held text;
BEGIN
  IF mine IS NULL OR mine = '' THEN RETURN NULL; END IF;
  SELECT cluster || '/' || token INTO held FROM scaleplane_rebalancer WHERE id = 1 FOR SHARE;
  IF held IS DISTINCT FROM mine THEN
    RAISE EXCEPTION 'rebalancer fencing token % is not the one shard table % is claimed by (%): a newer rebalancer took over; this one is deposed', mine, TG_TABLE_NAME, held
      USING ERRCODE = '${DEPOSED_SQLSTATE}';
  END IF;
  RETURN NULL;
END $fence$;
CREATE OR REPLACE FUNCTION scaleplane_claim_rebalancer(t bigint, c text) RETURNS bigint LANGUAGE plpgsql AS $claim$
DECLARE held bigint;
BEGIN
  UPDATE scaleplane_rebalancer SET token = t, cluster = c WHERE id = 1 AND (token < t OR cluster <> c);
  SELECT token INTO held FROM scaleplane_rebalancer WHERE id = 1;
  IF held > t THEN
    RAISE EXCEPTION 'rebalancer fencing token % is older than the one this shard is claimed by (%): a newer rebalancer took over; this one is deposed', t, held
      USING ERRCODE = '${DEPOSED_SQLSTATE}';
  END IF;
  RETURN held;
END $claim$;
CREATE OR REPLACE TRIGGER scaleplane_kv_rebalancer_fence BEFORE INSERT OR UPDATE OR DELETE ON scaleplane_kv
  FOR EACH STATEMENT EXECUTE FUNCTION scaleplane_rebalancer_fence();
CREATE OR REPLACE TRIGGER scaleplane_meta_rebalancer_fence BEFORE UPDATE ON scaleplane_meta
  FOR EACH STATEMENT EXECUTE FUNCTION scaleplane_rebalancer_fence();`;

/** Advisory lock id serialising schema creation (concurrent CREATE ... IF NOT EXISTS can still collide). */
export const SCHEMA_LOCK_ID = 0x5ca1e_0001;

/**
 * {@link SCHEMA_SQL} in one transaction under an advisory lock, safe to run from many routers and
 * the rebalancer at once (simple-query protocol: no parameters).
 */
export const ENSURE_SCHEMA_SQL = `BEGIN; SELECT pg_advisory_xact_lock(${SCHEMA_LOCK_ID}); ${SCHEMA_SQL} COMMIT;`;

/**
 * Whether the whole schema is in place, the rebalancer's fence included (skips the DDL, and its
 * lock, on every later connection; a shard created before the fence existed gets it).
 */
export const SCHEMA_PRESENT_SQL = `SELECT to_regclass('scaleplane_meta') IS NOT NULL AND to_regclass('scaleplane_kv') IS NOT NULL
  AND to_regclass('scaleplane_rebalancer') IS NOT NULL
  AND (SELECT count(*) FROM pg_trigger WHERE tgname IN ('scaleplane_kv_rebalancer_fence', 'scaleplane_meta_rebalancer_fence')) = 2
  AS present`;

/**
 * The rebalancer's fence on another described table (core/sharding/table.ts), added when the
 * rebalancer creates it on a shard (the router's table gets it in {@link SCHEMA_SQL}).
 */
export function fenceTriggerSql(table: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(table))
    throw new Error(`fenceTriggerSql: ${JSON.stringify(table)} is not an SQL identifier`);
  return `CREATE OR REPLACE TRIGGER ${table}_rebalancer_fence BEFORE INSERT OR UPDATE OR DELETE ON ${table}
  FOR EACH STATEMENT EXECUTE FUNCTION scaleplane_rebalancer_fence()`;
}

/**
 * Claims the shard for the rebalancer with fencing token `$1` of etcd cluster `$2` (never for an
 * older token of the same cluster than the shard has seen: that one is deposed, SQLSTATE
 * {@link DEPOSED_SQLSTATE}). Waits for the statements of an older rebalancer in flight to commit.
 */
export const CLAIM_REBALANCER_SQL = "SELECT scaleplane_claim_rebalancer($1::bigint, $2::text)::text AS token";

/** The value of {@link REBALANCER_TOKEN_SETTING} for fencing token `token` of etcd cluster `cluster`. */
export function rebalancerSession(cluster: string, token: number): string {
  if (!/^[0-9A-Za-z_-]*$/.test(cluster))
    throw new Error(`rebalancerSession: cluster id ${JSON.stringify(cluster)} must be letters, digits, _ or -`);
  if (!Number.isSafeInteger(token) || token < 1)
    throw new Error(`rebalancerSession: token must be a whole number ≥ 1; got ${token}`);
  return `${cluster}/${token}`;
}

/**
 * The router's table as the rebalancer moves it (core/sharding/table.ts): placed by `key` and its
 * ring hash `h`; a row replaces a held one only when newer in version, then value text ("C" byte
 * order, a tombstone lowest) for equal versions, which only writers sharing an id could produce:
 * every replica, whatever order it saw them in, keeps the same one (core/sharding/hlc.ts
 * compareStored is the same order in JS). Created by {@link SCHEMA_SQL}.
 */
export const KV_TABLE: ShardTable = checkShardTable({
  name: "scaleplane_kv",
  columns: [
    { name: "key", type: "text" },
    { name: "h", type: "bigint" },
    { name: "value", type: "jsonb" },
    { name: "ver_wall", type: "bigint" },
    { name: "ver_logical", type: "integer" },
    { name: "ver_node", type: "text" },
  ],
  keyColumn: "key",
  hashColumn: "h",
  primaryKey: ["key"],
  merge: {
    kind: "newer",
    order: ["$.ver_wall", "$.ver_logical", "$.ver_node", `coalesce($.value::text, '') COLLATE "C"`],
  },
  schemaSql: "",
});

/** The columns of a row, in the order of the upsert's parameters and of COPY. */
export const KV_COLUMNS = KV_TABLE.columns.map((c) => c.name).join(", ");

/** A described table's merge order as a row value of table alias `a` (core/sharding/table.ts `order`). */
export function mergeOrder(table: ShardTable, a: string): string {
  if (table.merge.kind !== "newer") throw new Error(`mergeOrder: table ${table.name} keeps rows; it has no order`);
  return `(${table.merge.order.map((e) => e.replaceAll("$", a)).join(", ")})`;
}

/** The order of the router's rows as a row value of table alias `a` (see {@link KV_TABLE}). */
export const rowOrder = (a: string): string => mergeOrder(KV_TABLE, a);

/**
 * The "apply if newer" conflict clause (last writer wins by version, never by arrival): appended to
 * an `INSERT INTO scaleplane_kv AS t (...)`; the row replaces the stored one only when it is
 * strictly newer in {@link rowOrder}. Rows written twice, copied, or dual-written commute.
 */
export const APPLY_IF_NEWER = `ON CONFLICT (key) DO UPDATE SET h = excluded.h, value = excluded.value, ver_wall = excluded.ver_wall,
  ver_logical = excluded.ver_logical, ver_node = excluded.ver_node
WHERE ${rowOrder("excluded")} > ${rowOrder("t")}`;

/** The shard's clock in epoch milliseconds (the same statement's reading everywhere it is used). */
const SHARD_NOW_MS = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/**
 * One fenced write, one statement (one round trip, its own transaction): takes the fence row
 * `FOR SHARE` (so a concurrent fence raise waits for it, and it sees a raise that committed
 * first) and reads the shard's clock; inserts the row "if newer" only when the router's epoch `$7`
 * is not older than the fence and the version's wall `$4` is at most `$8` ms ahead of the shard's
 * clock (the maximum clock offset: a version from a clock further ahead would win over every
 * write for as long; `$8` NULL skips the bound, for rows that already exist: read repair).
 *
 * Returns the fence (`min_epoch`), the shard's clock (`now_ms`), whether the row was applied (0 or
 * 1), whether it was refused for its clock (`skewed`), and the version the shard held at the
 * statement's start (`held_*`, NULL when none): with `applied` 0 and a passing fence, the shard
 * holds this version already (a retry) or a newer one (the write lost: superseded).
 *
 * Parameters: `$1` key, `$2` h, `$3` value (JSON text or NULL for a tombstone), `$4` ver_wall,
 * `$5` ver_logical, `$6` ver_node, `$7` the router's shard-map epoch, `$8` the maximum clock
 * offset in ms (or NULL).
 */
export const FENCED_UPSERT_SQL = `
WITH fence AS (SELECT min_epoch, ${SHARD_NOW_MS} AS now_ms FROM scaleplane_meta WHERE id = 1 FOR SHARE),
admitted AS (
  SELECT 1 FROM fence WHERE fence.min_epoch <= $7::bigint AND ($8::bigint IS NULL OR $4::bigint <= fence.now_ms + $8::bigint)
),
held AS (SELECT ver_wall, ver_logical, ver_node FROM scaleplane_kv WHERE key = $1::text),
applied AS (
  INSERT INTO scaleplane_kv AS t (${KV_COLUMNS})
  SELECT $1::text, $2::bigint, $3::jsonb, $4::bigint, $5::integer, $6::text FROM admitted
  ${APPLY_IF_NEWER}
  RETURNING 1
)
SELECT fence.min_epoch::text AS min_epoch, fence.now_ms::text AS now_ms, (SELECT count(*)::int FROM applied) AS applied,
  ($8::bigint IS NOT NULL AND $4::bigint > fence.now_ms + $8::bigint) AS skewed,
  held.ver_wall::text AS held_wall, held.ver_logical AS held_logical, held.ver_node AS held_node
FROM fence LEFT JOIN held ON true`;

/**
 * A key's row, the shard's fence and its clock in one statement (`$1` key). Always one result
 * row: the row columns are NULL when the shard holds no row for the key (`ver_wall` NULL tells
 * "absent" from a tombstone, whose `value` is NULL).
 */
export const READ_SQL = `
SELECT (SELECT min_epoch::text FROM scaleplane_meta WHERE id = 1) AS min_epoch, ${SHARD_NOW_MS}::text AS now_ms,
  kv.value::text AS value, kv.ver_wall::text AS ver_wall, kv.ver_logical, kv.ver_node
FROM (SELECT 1) AS one LEFT JOIN scaleplane_kv kv ON kv.key = $1::text`;

/**
 * Rows with `$1 ≤ key < $2` (no upper bound when `$2` is NULL) in key order, at most `$3`, after one
 * row with key NULL carrying the fence and the shard's clock (so an empty range still reports them).
 */
export const SCAN_SQL = `
(SELECT (SELECT min_epoch::text FROM scaleplane_meta WHERE id = 1) AS min_epoch, ${SHARD_NOW_MS}::text AS now_ms,
   NULL::text AS key, NULL::text AS value, NULL::text AS ver_wall, NULL::integer AS ver_logical, NULL::text AS ver_node)
UNION ALL
(SELECT NULL, NULL, key, value::text, ver_wall::text, ver_logical, ver_node FROM scaleplane_kv
 WHERE key >= $1::text AND ($2::text IS NULL OR key < $2::text) ORDER BY key LIMIT $3::int)`;

/**
 * Raises the fence to `$1` (never lowers it). The UPDATE takes the row's exclusive lock, so it
 * waits for every in-flight write (which holds it FOR SHARE) and every later write sees the value.
 */
export const RAISE_FENCE_SQL = "UPDATE scaleplane_meta SET min_epoch = $1 WHERE id = 1 AND min_epoch < $1";

/** The current fence of a shard (text: bigint). */
export const READ_FENCE_SQL = "SELECT min_epoch::text AS min_epoch FROM scaleplane_meta WHERE id = 1";

/** A row as the read statements return it. */
export interface StoredRow {
  /** JSON text, or null for a tombstone. */
  value: string | null;
  ver_wall: string;
  ver_logical: number;
  ver_node: string;
}
