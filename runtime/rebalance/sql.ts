/**
 * The SQL of the online rebalance, as docs/design/sharding.md fixes it, for any table described by
 * core/sharding/table.ts: the slice copy (COPY out of a source; per chunk on the target, COPY of
 * the rows of keys it lacks straight into the table and a merge of the others by the table's
 * rule), the slice checksum, the key-level verification and the cleanup of moved rows.
 *
 * The router's table, the schema, the epoch fence and the rebalancer's fence are the shard
 * client's (runtime/shard-client/sql.ts: one definition for the router and the rebalancer).
 * A slice (the rows a pair moves) is hash ranges, optionally restricted to key ranges (the range
 * and directory strategies) and minus others (pinned tenants, moved on their own); COPY takes no
 * parameters, so bounds are inlined: hash ranges as ring partition numbers and `int8multirange`
 * bounds, each checked to be a whole number in [0, 2^32]; keys as quoted literals.
 */
import type { KeyRange } from "../../core/sharding/placement";
import type { RowSlice } from "../../core/sharding/rebalance";
import { HASH_SPACE, PARTITION_BITS, PARTITION_SPAN, type HashRange } from "../../core/sharding/ring";
import type { ShardTable } from "../../core/sharding/table";
import { mergeOrder } from "../shard-client/sql";

export type { RowSlice } from "../../core/sharding/rebalance";

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
 * The rows of alias `t` whose hash is in the ranges: bounded by the ranges' overall span (an
 * index range scan on the hash), then tested per row in constant time. A ring change moves runs
 * of whole partitions, mostly short (1 → 2 shards: 32,881 runs of 2 partitions on average): their
 * partitions are listed in an `int[]` that `= ANY` looks up by hash (PostgreSQL ≥ 14 hashes a
 * constant array of 9 or more), which cost the source three quarters of the time of a binary
 * search in an `int8multirange` of the runs (`npm run bench -- shards`). Long runs and the parts
 * of ranges that are not whole partitions (any `[start, end)` is accepted) go to a multirange.
 */
function hashPredicate(table: ShardTable, ranges: readonly HashRange[]): string {
  checkRanges(ranges);
  const h = `t.${table.hashColumn}`;
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
    ...(listed.length > 0 ? [`(${h} >> ${PARTITION_SHIFT})::int = ANY('{${listed.join(",")}}'::int[])`] : []),
    ...(rest.length > 0 ? [`${h} <@ '{${rest.map((r) => `[${r.start},${r.end})`).join(",")}}'::int8multirange`] : []),
  ];
  return `(${h} >= ${lo} AND ${h} < ${hi} AND (${tests.join(" OR ")}))`;
}

/** A string as an SQL literal (standard_conforming_strings, on by default since PostgreSQL 9.1). */
function literal(s: string): string {
  if (s.includes("\0")) throw new Error("rebalance sql: a key bound holds a NUL character");
  return `'${s.replaceAll("'", "''")}'`;
}

/** The rows of alias `t` whose key lies in one of the ranges (`"C"` order, as the key column's). */
function keyPredicate(table: ShardTable, keys: readonly KeyRange[]): string {
  if (keys.length === 0) return "false";
  const k = `t.${table.keyColumn}`;
  return `(${keys
    .map((r) =>
      r.end === undefined
        ? `${k} >= ${literal(r.start)} COLLATE "C"`
        : `(${k} >= ${literal(r.start)} COLLATE "C" AND ${k} < ${literal(r.end)} COLLATE "C")`,
    )
    .join(" OR ")})`;
}

/** The condition a row (alias `t`) of the slice meets. */
export function slicePredicate(table: ShardTable, slice: RowSlice): string {
  return [
    hashPredicate(table, slice.ranges),
    ...(slice.keys ? [keyPredicate(table, slice.keys)] : []),
    ...(slice.exceptKeys && slice.exceptKeys.length > 0 ? [`NOT ${keyPredicate(table, slice.exceptKeys)}`] : []),
  ].join(" AND ");
}

const fromSlice = (table: ShardTable, slice: RowSlice) => `${table.name} t WHERE ${slicePredicate(table, slice)}`;
const columnList = (table: ShardTable, alias?: string) =>
  table.columns.map((c) => (alias ? `${alias}.${c.name}` : c.name)).join(", ");

/** COPY of a source's rows in the slice, in text format (the target's COPY FROM reads it as is). */
export function copyOutSql(table: ShardTable, slice: RowSlice): string {
  return `COPY (SELECT ${columnList(table, "t")} FROM ${fromSlice(table, slice)}) TO STDOUT`;
}

/** A row's primary key as one text value (columns joined by a tab, as the copy compares them). */
const keyText = (table: ShardTable, alias: string) =>
  table.primaryKey.length === 1
    ? `${alias}.${table.primaryKey[0]}`
    : `concat_ws(E'\\t', ${table.primaryKey.map((c) => `${alias}.${c}::text`).join(", ")})`;

/** Which of the primary keys `$1` (text[], see keyText) the shard holds (asked when a chunk's direct COPY met one). */
export function heldKeysSql(table: ShardTable): string {
  const match =
    table.primaryKey.length === 1
      ? `t.${table.primaryKey[0]} = ANY($1::text[])`
      : `${keyText(table, "t")} = ANY($1::text[])`;
  return `SELECT ${keyText(table, "t")} AS key FROM ${table.name} t WHERE ${match}`;
}

/**
 * Up to `limit` primary keys the shard holds in the slice (asked once per copy, at its first
 * unique violation: a rerun after a crash, or routers' dual-writes, put rows there before the copy).
 */
export function heldKeysInSliceSql(table: ShardTable, slice: RowSlice, limit: number): string {
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`rebalance sql: invalid limit ${limit}`);
  return `SELECT ${keyText(table, "t")} AS key FROM ${fromSlice(table, slice)} LIMIT ${limit}`;
}

/**
 * COPY straight into the table, of rows whose keys the target is not known to hold: a plain
 * insert, which never overwrites, and one statement, so it applies all its rows or none. When the
 * target holds one of the keys (or a router inserts it meanwhile: the COPY waits for the router's
 * transaction) it fails with a unique violation and the copy merges those rows instead.
 */
export function copyInSql(table: ShardTable): string {
  return `COPY ${table.name} (${columnList(table)}) FROM STDIN`;
}

/** The typed unnest of one array parameter per column, from `$first` on, as alias `alias`. */
const unnestColumns = (table: ShardTable, alias: string, first = 1) =>
  `unnest(${table.columns.map((c, i) => `$${first + i}::${c.type}[]`).join(", ")}) AS ${alias}(${columnList(table)})`;

/**
 * The merge of rows the target holds, given column by column (one array parameter per column, in
 * column order, values as COPY text turns into them): by the table's rule ("apply if newer" in its
 * order, or keep the held row), so copies, re-copies and dual-writes commute. One statement, its
 * own transaction; rows in primary-key order, so two merges into one shard lock keys in the same
 * order and wait for each other instead of deadlocking. Its row count is the rows inserted or replaced.
 */
export function mergeRowsSql(table: ShardTable): string {
  const conflict =
    table.merge.kind === "keep"
      ? `ON CONFLICT (${table.primaryKey.join(", ")}) DO NOTHING`
      : `ON CONFLICT (${table.primaryKey.join(", ")}) DO UPDATE SET ${table.columns
          .filter((c) => !table.primaryKey.includes(c.name))
          .map((c) => `${c.name} = excluded.${c.name}`)
          .join(", ")}
WHERE ${mergeOrder(table, "excluded")} > ${mergeOrder(table, "t")}`;
  return `INSERT INTO ${table.name} AS t (${columnList(table)})
SELECT * FROM ${unnestColumns(table, "r")}
ORDER BY ${table.primaryKey.join(", ")} ${conflict}`;
}

/**
 * A row's identity for the checksum: every column as text (NULL as an empty field), so a row the
 * target holds at another version, or with another value at the same version, does not verify.
 */
const rowText = (table: ShardTable) =>
  `concat_ws('/', ${table.columns.map((c) => `coalesce(t.${c.name}::text, '')`).join(", ")})`;

/**
 * Row count and an order-independent checksum of the rows in the slice: the sum of a 32-bit hash of
 * each row's text ({@link rowText}).
 */
export function checksumSql(table: ShardTable, slice: RowSlice): string {
  return `SELECT count(*)::text AS rows, coalesce(sum(hashtext(${rowText(table)})::bigint), 0)::text AS checksum
  FROM ${fromSlice(table, slice)}`;
}

/** Bits of the hash below a verification bucket: checksums are compared per 2^20 hashes (4,096 buckets). */
export const VERIFY_BUCKET_BITS = 20;

/**
 * {@link checksumSql} per bucket of 2^{@link VERIFY_BUCKET_BITS} hashes (`bucket` = `h >> bits`):
 * the buckets a write in flight makes differ are the only ones checked key by key.
 */
export function bucketChecksumSql(table: ShardTable, slice: RowSlice): string {
  return `SELECT (t.${table.hashColumn} >> ${VERIFY_BUCKET_BITS})::int AS bucket, count(*)::text AS rows,
    coalesce(sum(hashtext(${rowText(table)})::bigint), 0)::text AS checksum
  FROM ${fromSlice(table, slice)} GROUP BY 1`;
}

/** Row count and stored bytes of the rows in the slice (the dry run's estimate). */
export function sizeSql(table: ShardTable, slice: RowSlice): string {
  return `SELECT count(*)::text AS rows, coalesce(sum(pg_column_size(t.*)), 0)::text AS bytes FROM ${fromSlice(table, slice)}`;
}

/** Every column (as text) of every row in the slice, read through a cursor by the key-level verification. */
export function rowsSql(table: ShardTable, slice: RowSlice): string {
  return `SELECT ${table.columns.map((c) => `t.${c.name}::text AS ${c.name}`).join(", ")} FROM ${fromSlice(table, slice)}`;
}

/**
 * Of the given source rows (one array parameter per column, in column order), the primary keys
 * (`key`, see keyText) of those the shard lacks (`present` false) or holds older in the table's
 * order (`present` true; never for a table that keeps rows).
 */
export function laggingRowsSql(table: ShardTable): string {
  const join = table.primaryKey.map((c) => `t.${c} = s.${c}`).join(" AND ");
  const older = table.merge.kind === "newer" ? ` OR ${mergeOrder(table, "t")} < ${mergeOrder(table, "s")}` : "";
  return `SELECT ${keyText(table, "s")} AS key, (t.${table.primaryKey[0]} IS NOT NULL) AS present
FROM ${unnestColumns(table, "s")}
LEFT JOIN ${table.name} t ON ${join}
WHERE t.${table.primaryKey[0]} IS NULL${older}`;
}

/** Deletes the rows in the slice (the old owner's copy once the new owners serve them). */
export function deleteSliceSql(table: ShardTable, slice: RowSlice): string {
  return `DELETE FROM ${fromSlice(table, slice)}`;
}

/** Deletes the rows in none of the slices (every row when there are none): the sweep of a shard a cleanup missed. */
export function deleteOutsideSql(table: ShardTable, held: readonly RowSlice[]): string {
  return held.length === 0
    ? `DELETE FROM ${table.name} t`
    : `DELETE FROM ${table.name} t WHERE NOT (${held.map((s) => `(${slicePredicate(table, s)})`).join(" OR ")})`;
}
