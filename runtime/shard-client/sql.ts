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

/** The shard schema (idempotent; the contract's DDL with "C" collation on `key` and `ver_node`). */
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
INSERT INTO scaleplane_meta VALUES (1, 0) ON CONFLICT DO NOTHING;`;

/** Advisory lock id serialising schema creation (concurrent CREATE ... IF NOT EXISTS can still collide). */
export const SCHEMA_LOCK_ID = 0x5ca1e_0001;

/**
 * {@link SCHEMA_SQL} in one transaction under an advisory lock, safe to run from many routers and
 * the rebalancer at once (simple-query protocol: no parameters).
 */
export const ENSURE_SCHEMA_SQL = `BEGIN; SELECT pg_advisory_xact_lock(${SCHEMA_LOCK_ID}); ${SCHEMA_SQL} COMMIT;`;

/** Whether the schema is in place (skips the DDL, and its lock, on every later connection). */
export const SCHEMA_PRESENT_SQL =
  "SELECT to_regclass('scaleplane_meta') IS NOT NULL AND to_regclass('scaleplane_kv') IS NOT NULL AS present";

/** The columns of a row, in the order of the upsert's parameters and of COPY. */
export const KV_COLUMNS = "key, h, value, ver_wall, ver_logical, ver_node";

/**
 * The "apply if newer" conflict clause (last writer wins by version, never by arrival): appended to
 * an `INSERT INTO scaleplane_kv AS t (...)`; the row replaces the stored one only when its version
 * is strictly newer. Rows written twice, copied, or dual-written commute.
 */
export const APPLY_IF_NEWER = `ON CONFLICT (key) DO UPDATE SET h = excluded.h, value = excluded.value, ver_wall = excluded.ver_wall,
  ver_logical = excluded.ver_logical, ver_node = excluded.ver_node
WHERE (excluded.ver_wall, excluded.ver_logical, excluded.ver_node) > (t.ver_wall, t.ver_logical, t.ver_node)`;

/**
 * One fenced write, one statement (one round trip, its own transaction): takes the fence row
 * `FOR SHARE` (so a concurrent fence raise waits for it, and it sees a raise that committed
 * first), and inserts the row "if newer" only when the router's epoch `$7` is not older than the
 * fence. Returns the fence (`min_epoch`, text) and whether the row was applied (0 or 1; 0 with a
 * passing fence means the shard already held this or a newer version).
 *
 * Parameters: `$1` key, `$2` h, `$3` value (JSON text or NULL for a tombstone), `$4` ver_wall,
 * `$5` ver_logical, `$6` ver_node, `$7` the router's shard-map epoch.
 */
export const FENCED_UPSERT_SQL = `
WITH fence AS (SELECT min_epoch FROM scaleplane_meta WHERE id = 1 FOR SHARE),
applied AS (
  INSERT INTO scaleplane_kv AS t (${KV_COLUMNS})
  SELECT $1::text, $2::bigint, $3::jsonb, $4::bigint, $5::integer, $6::text FROM fence WHERE fence.min_epoch <= $7::bigint
  ${APPLY_IF_NEWER}
  RETURNING 1
)
SELECT (SELECT min_epoch::text FROM fence) AS min_epoch, (SELECT count(*)::int FROM applied) AS applied`;

/**
 * A key's row and the shard's fence in one statement (`$1` key). Always one result row: the row
 * columns are NULL when the shard holds no row for the key (`ver_wall` NULL tells "absent" from
 * a tombstone, whose `value` is NULL).
 */
export const READ_SQL = `
SELECT (SELECT min_epoch::text FROM scaleplane_meta WHERE id = 1) AS min_epoch,
  kv.value::text AS value, kv.ver_wall::text AS ver_wall, kv.ver_logical, kv.ver_node
FROM (SELECT 1) AS one LEFT JOIN scaleplane_kv kv ON kv.key = $1::text`;

/**
 * Rows with `$1 ≤ key < $2` (no upper bound when `$2` is NULL) in key order, at most `$3`, plus the
 * fence on every row (and one fence-only row with key NULL first, so an empty range still reports it).
 */
export const SCAN_SQL = `
(SELECT (SELECT min_epoch::text FROM scaleplane_meta WHERE id = 1) AS min_epoch, NULL::text AS key, NULL::text AS value,
   NULL::text AS ver_wall, NULL::integer AS ver_logical, NULL::text AS ver_node)
UNION ALL
(SELECT NULL, key, value::text, ver_wall::text, ver_logical, ver_node FROM scaleplane_kv
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
