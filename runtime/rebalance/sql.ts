/**
 * The SQL of the online rebalance, as docs/design/sharding.md fixes it: the range copy (COPY out
 * of a source; per chunk on the target, COPY of the rows of keys it lacks straight into the table
 * and an "apply if newer" upsert of the others), the range checksum, the key-level verification
 * and the cleanup of moved rows.
 * The schema, the epoch fence and the "apply if newer" rule are the shard client's
 * (runtime/shard-client/sql.ts: one definition for the router and the rebalancer). Hash ranges
 * are inlined (COPY takes no parameters) as ring partition numbers and `int8multirange` bounds;
 * every bound is checked to be a whole number in [0, 2^32] before it is inlined.
 */
import { HASH_SPACE, PARTITION_BITS, PARTITION_SPAN, type HashRange } from "../../core/sharding/ring";
import { APPLY_IF_NEWER, KV_COLUMNS, rowOrder } from "../shard-client/sql";

const COLUMNS = KV_COLUMNS;

function checkRanges(ranges: readonly HashRange[]): void {
  if (ranges.length === 0) throw new Error("rebalance sql: at least one hash range is required");
  for (const r of ranges)
    if (!Number.isInteger(r.start) || !Number.isInteger(r.end) || r.start < 0 || r.end > HASH_SPACE || r.start >= r.end)
      throw new Error(`rebalance sql: invalid hash range [${r.start}, ${r.end})`);
}

/** `h >> PARTITION_SHIFT` is the ring partition of hash `h` (core/sharding/ring.ts). */
const PARTITION_SHIFT = 32 - PARTITION_BITS;

/** Whole partitions of a range listed one by one (more go to the multirange as one range). */
const LISTED_PARTITIONS_MAX = 64;

/**
 * The rows of `scaleplane_kv` (alias `t`) in the ranges: bounded by the ranges' overall span (an
 * index range scan on `h`), then tested per row in constant time. A ring change moves runs of
 * whole partitions, mostly short (1 → 2 shards: 32,881 runs of 2 partitions on average): their
 * partitions are listed in an `int[]` that `= ANY` looks up by hash (PostgreSQL ≥ 14 hashes a
 * constant array of 9 or more), which cost the source three quarters of the time of a binary
 * search in an `int8multirange` of the runs (`npm run bench -- shards`). Long runs and the parts
 * of ranges that are not whole partitions (any `[start, end)` is accepted) go to a multirange.
 */
function inRanges(ranges: readonly HashRange[]): string {
  return `scaleplane_kv t WHERE ${rangePredicate(ranges)}`;
}

/** The condition on a row `t` of {@link inRanges}: its hash lies in one of the ranges. */
function rangePredicate(ranges: readonly HashRange[]): string {
  checkRanges(ranges);
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  const lo = sorted[0].start;
  const hi = Math.max(...sorted.map((r) => r.end));
  const listed: number[] = [];
  const rest: HashRange[] = [];
  for (const r of sorted) {
    const first = Math.ceil(r.start / PARTITION_SPAN);
    const last = Math.floor(r.end / PARTITION_SPAN);
    if (last <= first || last - first > LISTED_PARTITIONS_MAX) {
      rest.push(r);
      continue;
    }
    for (let p = first; p < last; p++) listed.push(p);
    if (r.start < first * PARTITION_SPAN) rest.push({ start: r.start, end: first * PARTITION_SPAN });
    if (last * PARTITION_SPAN < r.end) rest.push({ start: last * PARTITION_SPAN, end: r.end });
  }
  const tests = [
    ...(listed.length > 0 ? [`(t.h >> ${PARTITION_SHIFT})::int = ANY('{${listed.join(",")}}'::int[])`] : []),
    ...(rest.length > 0 ? [`t.h <@ '{${rest.map((r) => `[${r.start},${r.end})`).join(",")}}'::int8multirange`] : []),
  ];
  return `(t.h >= ${lo} AND t.h < ${hi} AND (${tests.join(" OR ")}))`;
}

/** COPY of a source's rows in the ranges, in text format (the target's COPY FROM reads it as is). */
export function copyOutSql(ranges: readonly HashRange[]): string {
  return `COPY (SELECT ${COLUMNS.split(", ")
    .map((c) => `t.${c}`)
    .join(", ")} FROM ${inRanges(ranges)}) TO STDOUT`;
}

/** Which of the keys `$1` (text[]) the shard holds (asked when a chunk's direct COPY met one). */
export const HELD_KEYS_SQL = "SELECT key FROM scaleplane_kv WHERE key = ANY($1::text[])";

/**
 * Up to `limit` keys the shard holds in the ranges (asked once per copy, at its first unique
 * violation: a rerun after a crash, or routers' dual-writes, put rows there before the copy).
 */
export function heldKeysInRangesSql(ranges: readonly HashRange[], limit: number): string {
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`rebalance sql: invalid limit ${limit}`);
  return `SELECT t.key FROM ${inRanges(ranges)} LIMIT ${limit}`;
}

/**
 * COPY straight into the table, of rows whose keys the target is not known to hold: a plain
 * insert, which never overwrites, and one statement, so it applies all its rows or none. When the
 * target holds one of the keys (or a router inserts it meanwhile: the COPY waits for the router's
 * transaction) it fails with a unique violation and the copy merges those rows by version instead.
 */
export const COPY_IN_TABLE_SQL = `COPY scaleplane_kv (${COLUMNS}) FROM STDIN`;

/**
 * The "apply if newer" merge of rows the target holds (the contract's upsert), given column by
 * column (`$1` keys, `$2` h, `$3` values as JSON text or NULL, `$4` ver_wall, `$5` ver_logical,
 * `$6` ver_node): a row replaces the stored one only when its version is strictly newer, so copies,
 * re-copies and dual-writes commute. One statement, its own transaction. Rows are merged in key
 * order, so two merges into one shard lock keys in the same order and wait for each other instead
 * of deadlocking. Returns the number of rows inserted or replaced.
 */
export const MERGE_ROWS_SQL = `INSERT INTO scaleplane_kv AS t (${COLUMNS})
SELECT * FROM unnest($1::text[], $2::bigint[], $3::jsonb[], $4::bigint[], $5::integer[], $6::text[]) AS r(${COLUMNS})
ORDER BY key ${APPLY_IF_NEWER}`;

/**
 * A row's identity for the checksum: key, version and value (as text, so no precision is lost; a
 * tombstone's value is an empty field). The value is in it: two replicas holding the same version
 * with different values (writers sharing an id) must not verify as equal.
 */
const ROW_TEXT =
  "t.key || '/' || t.ver_wall || '/' || t.ver_logical || '/' || t.ver_node || '/' || coalesce(t.value::text, '')";

/**
 * Row count and an order-independent checksum of the rows in the ranges: the sum of a 32-bit
 * hash of each row's key, version and value (as text).
 */
export function checksumSql(ranges: readonly HashRange[]): string {
  return `SELECT count(*)::text AS rows,
    coalesce(sum(hashtext(${ROW_TEXT})::bigint), 0)::text AS checksum
  FROM ${inRanges(ranges)}`;
}

/** Bits of `h` below a verification bucket: checksums are compared per 2^20 hashes (4,096 buckets). */
export const VERIFY_BUCKET_BITS = 20;

/**
 * {@link checksumSql} per bucket of 2^{@link VERIFY_BUCKET_BITS} hashes (`bucket` = `h >> bits`):
 * the buckets a write in flight makes differ are the only ones checked key by key.
 */
export function bucketChecksumSql(ranges: readonly HashRange[]): string {
  return `SELECT (t.h >> ${VERIFY_BUCKET_BITS})::int AS bucket, count(*)::text AS rows,
    coalesce(sum(hashtext(${ROW_TEXT})::bigint), 0)::text AS checksum
  FROM ${inRanges(ranges)} GROUP BY 1`;
}

/** Row count and stored bytes of the rows in the ranges (the dry run's estimate). */
export function sizeSql(ranges: readonly HashRange[]): string {
  return `SELECT count(*)::text AS rows, coalesce(sum(pg_column_size(t.*)), 0)::text AS bytes FROM ${inRanges(ranges)}`;
}

/** (key, version, value text) of every row in the ranges (read through a cursor by the key-level verify). */
export function keyVersionsSql(ranges: readonly HashRange[]): string {
  return `SELECT t.key, t.ver_wall::text AS ver_wall, t.ver_logical, t.ver_node, t.value::text AS value FROM ${inRanges(ranges)}`;
}

/**
 * Of the given source rows (`$1` keys, `$2` ver_wall, `$3` ver_logical, `$4` ver_node, `$5` value
 * text or NULL), those the shard lacks (`present` false) or holds older in the row order (version,
 * then value: `present` true).
 */
export const LAGGING_KEYS_SQL = `
SELECT s.key, (t.key IS NOT NULL) AS present
FROM unnest($1::text[], $2::bigint[], $3::integer[], $4::text[], $5::text[]) AS s(key, w, l, n, v)
LEFT JOIN scaleplane_kv t ON t.key = s.key
WHERE t.key IS NULL OR ${rowOrder("t")} < (s.w, s.l, s.n, coalesce(s.v, '') COLLATE "C")`;

/** Deletes the rows in the ranges (the old owner's copy once the new owners serve them). */
export function deleteRangesSql(ranges: readonly HashRange[]): string {
  return `DELETE FROM ${inRanges(ranges)}`;
}

/** Deletes the rows outside the ranges (every row when there are none): the sweep of a shard a cleanup missed. */
export function deleteOutsideRangesSql(ranges: readonly HashRange[]): string {
  return ranges.length === 0
    ? "DELETE FROM scaleplane_kv t"
    : `DELETE FROM scaleplane_kv t WHERE NOT ${rangePredicate(ranges)}`;
}
