/**
 * The metrics store's tables on every shard (its own tables, beside the shard client's
 * `scaleplane_kv`) and the SQL that reads and writes them, in one module.
 *
 * Tables (every one carries `h`, the series' ring hash, core/metrics/labels.ts):
 * - `metrics_series (series_id, h, metric, labels)`: the index of series (labels as jsonb).
 * - `metrics_head (h, series_id, t, v, w)`: samples not sealed yet, one row each; `v` is the
 *   float64's bits as a bigint (exact: NaN payloads survive), `w` the write's stamp (the newest
 *   stamp wins when one timestamp is written twice with different values).
 * - `metrics_chunks (h, series_id, block_end, data)`: one compressed chunk per series per 2-hour
 *   block (core/metrics/codec.ts), partitioned by `block_end` (core/metrics/retention.ts).
 * - `metrics_rollup_1m`, `metrics_rollup_1h`: the block's rollup buckets, compressed the same way.
 * - `metrics_state`: the shard's `horizon` (samples at or below it are refused: they are, or may
 *   be, sealed), `sealed_to` and the maintenance leader's fencing token; `metrics_writers`: the
 *   newest sample timestamp each store process wrote (the horizon follows the newest one).
 *
 * Fences. An ingest statement takes `scaleplane_meta` (the shard map's epoch fence, the shard
 * client's table) and `metrics_state` FOR SHARE: it is refused when the router's epoch is stale,
 * and a horizon raise (FOR UPDATE) waits for every in-flight ingest, so nothing is accepted above
 * a horizon that sealing already passed. Maintenance statements check the fencing token of the
 * etcd lease holder (a deposed maintainer's writes fail).
 *
 * Moving a hash range of series (what the rebalancer must do for these tables; see
 * docs/design/metrics-store.md): copy the rows with `h` in the range of `metrics_series`,
 * `metrics_chunks`, `metrics_rollup_1m`, `metrics_rollup_1h` (partition by partition; create a
 * missing partition first) and `metrics_head`, idempotently: series `ON CONFLICT DO NOTHING`,
 * head rows as they are (duplicates collapse on read and at sealing: same (series, t), newest
 * `w`), chunks and rollups by merge (`mergeChunkRows`: decode both, union by timestamp). The
 * target's `metrics_state.horizon` must be raised to at least the source's before cutover.
 */

import { BLOCK_MS } from "../../core/metrics/retention";

/** Advisory lock id serialising the metrics DDL (distinct from the shard client's). */
export const METRICS_SCHEMA_LOCK_ID = 0x5ca1e_0016;

/** Tables, indexes and the state rows (idempotent). Requires the shard client's schema (scaleplane_meta). */
export const METRICS_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS metrics_series (
  series_id bigint PRIMARY KEY,
  h         bigint NOT NULL,
  metric    text COLLATE "C" NOT NULL,
  labels    jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_series_metric ON metrics_series (metric);
CREATE INDEX IF NOT EXISTS metrics_series_h ON metrics_series (h);
CREATE TABLE IF NOT EXISTS metrics_head (
  h         bigint NOT NULL,
  series_id bigint NOT NULL,
  t         bigint NOT NULL,
  v         bigint NOT NULL,
  w         bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_head_series ON metrics_head (series_id, t);
CREATE INDEX IF NOT EXISTS metrics_head_t ON metrics_head (t);
CREATE TABLE IF NOT EXISTS metrics_chunks (
  h bigint NOT NULL, series_id bigint NOT NULL, block_end bigint NOT NULL, data bytea NOT NULL,
  PRIMARY KEY (h, series_id, block_end)
) PARTITION BY RANGE (block_end);
CREATE TABLE IF NOT EXISTS metrics_rollup_1m (
  h bigint NOT NULL, series_id bigint NOT NULL, block_end bigint NOT NULL, data bytea NOT NULL,
  PRIMARY KEY (h, series_id, block_end)
) PARTITION BY RANGE (block_end);
CREATE TABLE IF NOT EXISTS metrics_rollup_1h (
  h bigint NOT NULL, series_id bigint NOT NULL, block_end bigint NOT NULL, data bytea NOT NULL,
  PRIMARY KEY (h, series_id, block_end)
) PARTITION BY RANGE (block_end);
CREATE TABLE IF NOT EXISTS metrics_state (
  id          integer PRIMARY KEY CHECK (id = 1),
  horizon     bigint NOT NULL,
  sealed_to   bigint,
  maint_token bigint NOT NULL
);
INSERT INTO metrics_state VALUES (1, -1125899906842624, NULL, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS metrics_writers (
  writer text COLLATE "C" PRIMARY KEY,
  max_t  bigint NOT NULL,
  at     timestamptz NOT NULL DEFAULT now()
);`;

/** The DDL in one transaction under an advisory lock (simple-query protocol). */
export const ENSURE_METRICS_SCHEMA_SQL = `BEGIN; SELECT pg_advisory_xact_lock(${METRICS_SCHEMA_LOCK_ID}); ${METRICS_SCHEMA_SQL} COMMIT;`;

/** Whether the metrics tables exist. */
export const METRICS_SCHEMA_PRESENT_SQL =
  "SELECT to_regclass('metrics_state') IS NOT NULL AND to_regclass('metrics_writers') IS NOT NULL AS present";

/**
 * One fenced ingest, one statement: registers new series, inserts the samples above the horizon,
 * records the writer's newest timestamp. Returns the fence, the horizon and how many samples were
 * inserted (0 when the epoch was refused).
 *
 * `$1` h[], `$2` series_id[], `$3` t[], `$4` v (bits)[], `$5` w, `$6` epoch, `$7` writer,
 * `$8` new series ids[], `$9` their h[], `$10` metric[], `$11` labels (json text)[].
 */
export const INGEST_SQL = `
WITH st AS (
  SELECT m.min_epoch, s.horizon FROM scaleplane_meta m, metrics_state s
  WHERE m.id = 1 AND s.id = 1 FOR SHARE OF m, s
),
ser AS (
  INSERT INTO metrics_series (series_id, h, metric, labels)
  SELECT u.id, u.h, u.metric, u.labels::jsonb
  FROM unnest($8::bigint[], $9::bigint[], $10::text[], $11::text[]) AS u(id, h, metric, labels), st
  WHERE st.min_epoch <= $6::bigint
  ON CONFLICT (series_id) DO NOTHING
  RETURNING 1
),
ins AS (
  INSERT INTO metrics_head (h, series_id, t, v, w)
  SELECT u.h, u.id, u.t, u.v, $5::bigint
  FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) AS u(h, id, t, v), st
  WHERE st.min_epoch <= $6::bigint AND u.t > st.horizon
  RETURNING t
),
wr AS (
  INSERT INTO metrics_writers (writer, max_t)
  SELECT $7::text, max(t) FROM ins HAVING max(t) IS NOT NULL
  ON CONFLICT (writer) DO UPDATE SET max_t = greatest(metrics_writers.max_t, excluded.max_t), at = now()
  RETURNING 1
)
SELECT st.min_epoch::text AS min_epoch, st.horizon::text AS horizon,
  (SELECT count(*)::int FROM ins) AS inserted, (SELECT count(*)::int FROM ser) AS new_series,
  (SELECT count(*)::int FROM wr) AS wr
FROM st`;

/**
 * Series matching a metric name (or all with NULL) whose labels contain `$2` (jsonb, the
 * equality matchers); the other matchers are applied by the caller. With `$3 ≤ t ≤ $4` (both
 * NULL: any time), only series with data in that span: a head sample in it, or a chunk or rollup
 * of a 2-hour block overlapping it (block-granular, as Prometheus' own index: a series whose block
 * overlaps the span is listed even when its samples in the block lie outside it).
 */
export const SERIES_SQL = `
SELECT s.series_id::text AS id, s.h::text AS h, s.labels::text AS labels
FROM metrics_series s WHERE ($1::text IS NULL OR s.metric = $1::text) AND s.labels @> $2::jsonb
  AND ($3::bigint IS NULL
    OR EXISTS (SELECT 1 FROM metrics_head hd WHERE hd.series_id = s.series_id AND hd.t >= $3::bigint AND hd.t <= $4::bigint)
    ${["metrics_chunks", "metrics_rollup_1m", "metrics_rollup_1h"]
      .map(
        (table) => `OR EXISTS (SELECT 1 FROM ${table} c WHERE c.h = s.h AND c.series_id = s.series_id
         AND c.block_end >= $3::bigint AND c.block_end < $4::bigint + ${BLOCK_MS})`,
      )
      .join("\n    ")})`;

/**
 * The data of series `$1` (ids, with their h in `$4`) for `$2 ≤ t ≤ $3`, per series: the rows of
 * `%TABLE%` (raw chunks or a rollup table) whose block overlaps the span, and the head rows as
 * packed bytes (t, v, w: 8-byte big-endian each). Run in one REPEATABLE READ transaction so a
 * concurrent seal is seen entirely or not at all.
 */
export const DATA_SQL = `
SELECT s.id::text AS id,
  (SELECT array_agg(c.data ORDER BY c.block_end) FROM %TABLE% c
     WHERE c.h = s.h AND c.series_id = s.id AND c.block_end >= $2::bigint AND c.block_end < $3::bigint + 7200000) AS chunks,
  (SELECT string_agg(int8send(hd.t) || int8send(hd.v) || int8send(hd.w), ''::bytea ORDER BY hd.t, hd.w)
     FROM metrics_head hd WHERE hd.series_id = s.id AND hd.t >= $2::bigint AND hd.t <= $3::bigint) AS head
FROM unnest($1::bigint[], $4::bigint[]) AS s(id, h)`;
