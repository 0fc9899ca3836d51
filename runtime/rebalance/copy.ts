/**
 * The data path of a rebalance, one (source shard, target shard, table, slice of rows) pair at a
 * time, for any table described by core/sharding/table.ts (runtime/rebalance/sql.ts builds the
 * statements from the descriptor):
 *
 * - copy: one `COPY ... TO STDOUT` of the ranges on the source (pg-copy-streams), cut at row
 *   boundaries into chunks of about {@link CHUNK_BYTES}, each written on the target by one or two
 *   single-statement transactions, on {@link COPY_LANES} target connections in turn: the source
 *   streams the next chunks while the previous ones are written, so the copy goes at the pace of
 *   its slowest side rather than of their sum, and reads the source once per pair. A chunk's rows
 *   whose keys the target lacks are COPYed straight into the table (as fast as a raw COPY, and a
 *   plain insert never overwrites); rows whose keys it holds (dual-written by the routers, copied
 *   by an earlier run) are merged by one "apply if newer" upsert, so an older copied row never
 *   replaces a newer one. Which keys the target holds is learnt from the direct COPY itself: when
 *   one is there (or a router inserts one meanwhile) the COPY fails with a unique violation,
 *   nothing of it is applied, and the chunk is written again with the keys the target now holds
 *   merged. Every write is idempotent and commutes with the dual-writes, so a chunk written twice,
 *   or half before a crash and again by the rerun, changes nothing, and no chunk needs a
 *   transaction of its own around its two statements (each is one round trip: on a busy 2-core
 *   machine a round trip costs milliseconds, a tenth of a chunk's write). Short statements keep a
 *   router's first write of a key being copied waiting for one chunk at most. A killed copy leaves
 *   at most some written chunks (rows of ranges the target is receiving, at their versions); its
 *   batch is not recorded as done, so the rerun copies the pair again.
 * - verify: row count and order-independent checksum of the ranges on both sides, per bucket of
 *   2^20 hashes; in the buckets where they differ (routers keep writing while we compare, or a
 *   stale source replica lost to a newer one) every source row is checked key by key: the target
 *   must hold it at the same or a newer version. Clean means no source row is missing or older on
 *   the target.
 * - delete: the moved rows on a shard that no longer owns the ranges.
 */
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { PoolClient } from "pg";
import { from as copyFrom, to as copyTo } from "pg-copy-streams";
import type { RowSlice } from "../../core/sharding/rebalance";
import type { HashRange } from "../../core/sharding/ring";
import type { ShardTable } from "../../core/sharding/table";
import { COPY_LANES, type RebalanceConnections } from "./shards";
import { failpoint } from "./failpoint";
import * as sql from "./sql";

/** What one pair copy moved. */
export interface CopyResult {
  /** Rows read from the source. */
  rows: number;
  /** Bytes of COPY text streamed. */
  bytes: number;
  /** Rows inserted or replaced on the target (rows it holds at the same or a newer version are kept out). */
  applied: number;
}

/**
 * COPY text per chunk, in bytes (about 2,000 rows of 128 bytes): large enough that a chunk's
 * round trips and commit are noise next to its rows, small enough that the source, this process
 * and the target connections work on different chunks at once even in a small copy, and that a
 * chunk holds the keys it inserts (a router's first write of one waits for the chunk's commit)
 * for a fraction of a second.
 */
export const CHUNK_BYTES = 1 << 18;

const NEWLINE = 0x0a;
const TAB = 0x09;
const BACKSLASH = 0x5c;

/** What COPY text escapes stand for (COPY TO writes only these). */
const UNESCAPE: Readonly<Record<string, string>> = { b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v" };

/** A field of COPY text (bytes `start` to `end`), unescaped. */
function copyField(rows: Buffer, start: number, end: number): string {
  const raw = rows.toString("utf8", start, end);
  return rows.subarray(start, end).includes(BACKSLASH)
    ? raw.replace(/\\(.)/gs, (_, c: string) => UNESCAPE[c] ?? c)
    : raw;
}

/**
 * The key of a row of COPY text (`rows` from byte `start`): its first field, unescaped (PostgreSQL
 * escapes a backslash, tab, newline, carriage return, backspace, form feed and vertical tab in it).
 */
export function copyRowKey(rows: Buffer, start: number): string {
  return copyField(rows, start, rows.indexOf(TAB, start));
}

/**
 * How to read a row's primary key from COPY text for `table`: its key fields, unescaped, joined by
 * a tab (as sql.ts `heldKeysSql` returns them); the first field alone when the key is one column first.
 */
function rowKeyReader(table: ShardTable): (rows: Buffer, start: number) => string {
  const at = table.primaryKey.map((c) => table.columns.findIndex((x) => x.name === c));
  if (at.length === 1 && at[0] === 0) return copyRowKey;
  const last = Math.max(...at);
  return (rows, start) => {
    const fields: string[] = [];
    for (let c = 0, from = start; c <= last; c++) {
      const tab = rows.indexOf(c === table.columns.length - 1 ? NEWLINE : TAB, from);
      const end = tab < 0 ? rows.length : tab;
      fields.push(copyField(rows, from, end));
      from = end + 1;
    }
    return at.map((i) => fields[i]).join("\t");
  };
}

/** The fields of rows of COPY text, column by column (`\N` is NULL), as sql.ts `mergeRowsSql` takes them. */
export function copyColumns(rows: readonly Buffer[], columns: number): (string | null)[][] {
  const out: (string | null)[][] = Array.from({ length: columns }, () => []);
  for (const text of rows)
    for (let at = 0; at < text.length;) {
      const eol = text.indexOf(NEWLINE, at);
      const end = eol < 0 ? text.length : eol;
      for (let c = 0; c < columns; c++) {
        const tab = c + 1 < columns ? text.indexOf(TAB, at) : end;
        if (tab < 0 || tab > end) throw new Error(`a COPY row has fewer than ${columns} fields`);
        out[c].push(
          tab - at === 2 && text[at] === BACKSLASH && text[at + 1] === 0x4e ? null : copyField(text, at, tab),
        );
        at = tab + 1;
      }
      at = end + 1;
    }
  return out;
}

/** PostgreSQL's code of a unique violation. */
const UNIQUE_VIOLATION = "23505";

/** Times a chunk is written again after routers inserted some of its keys meanwhile (then it is merged). */
const CONFLICT_RETRIES = 2;

/** COPYs rows (whole COPY text rows) with `copySql`; resolves with the rows copied. */
async function copyIn(lane: PoolClient, copySql: string, rows: readonly Buffer[]): Promise<number> {
  const into = lane.query(copyFrom(copySql));
  await pipeline(Readable.from(rows), into);
  return Number(into.rowCount ?? 0);
}

/** Most keys a copy learns at once that the target holds in its ranges (a bound on the memory of a rerun). */
export const HELD_PREFETCH_LIMIT = 250_000;

/** A chunk of which at least 1 key in this many is held on the target makes the copy learn all held keys of its ranges. */
const PREFETCH_SHARE = 4;

/** Merges rows of COPY text by the table's rule (one statement); resolves with the rows inserted or replaced. */
async function mergeRows(lane: PoolClient, table: ShardTable, rows: readonly Buffer[]): Promise<number> {
  return (await lane.query(sql.mergeRowsSql(table), copyColumns(rows, table.columns.length))).rowCount ?? 0;
}

/**
 * Writes one chunk (whole COPY text rows of the source) into the target on `lane`; resolves with
 * the rows inserted or replaced. Rows whose keys are in `held` (the target holds them) are merged
 * by version (the "apply if newer" upsert); the others are COPYed straight into the table, which
 * never overwrites: when the target holds one of their keys (a router wrote it first, or an
 * earlier run copied it) the COPY fails with a unique violation, none of its rows are applied,
 * `learn` adds keys the target holds to `held` (at least those of this chunk), and the COPY is
 * tried again with those merged (at most {@link CONFLICT_RETRIES} times, then every row is merged).
 * `held` is only a hint: a key missing from it costs a retry, never a wrong write.
 */
async function writeChunk(
  lane: PoolClient,
  table: ShardTable,
  rows: Buffer,
  held: Set<string>,
  learn: (lane: PoolClient, chunkKeys: readonly string[]) => Promise<void>,
): Promise<number> {
  // Row starts and keys are needed only to split the chunk: parsed once, when first needed.
  const starts: number[] = [];
  const keys: string[] = [];
  const parse = () => {
    if (keys.length > 0) return;
    for (let at = 0; at < rows.length; at = rows.indexOf(NEWLINE, at) + 1) starts.push(at);
    starts.push(rows.length);
    const keyOf = rowKeyReader(table);
    for (let i = 0; i + 1 < starts.length; i++) keys.push(keyOf(rows, starts[i]));
  };
  let applied = 0;
  /** Rows merged already (by index): a retry merges only the rows learnt held since. */
  const merged: boolean[] = [];
  for (let attempt = 0; ; attempt++) {
    if (attempt > CONFLICT_RETRIES) {
      const rest = starts.slice(0, -1).flatMap((at, i) => (merged[i] ? [] : [rows.subarray(at, starts[i + 1])]));
      return applied + (await mergeRows(lane, table, rest));
    }
    const fresh: Buffer[] = [];
    const known: Buffer[] = [];
    if (held.size === 0) fresh.push(rows);
    else {
      parse();
      // Runs of consecutive rows of one kind, as subarrays (no copy).
      const kind = (i: number) => (merged[i] ? 0 : held.has(keys[i]) ? 1 : 2);
      for (let i = 0, run = 0; i < keys.length; i++) {
        const k = kind(i);
        if (i + 1 < keys.length && kind(i + 1) === k) continue;
        if (k !== 0) (k === 1 ? known : fresh).push(rows.subarray(starts[run], starts[i + 1]));
        if (k === 1) for (let j = run; j <= i; j++) merged[j] = true;
        run = i + 1;
      }
    }
    if (known.length > 0) applied += await mergeRows(lane, table, known);
    if (fresh.length === 0) return applied;
    try {
      return applied + (await copyIn(lane, sql.copyInSql(table), fresh));
    } catch (e) {
      if ((e as { code?: unknown })?.code !== UNIQUE_VIOLATION) throw e;
    }
    parse();
    await learn(lane, keys);
  }
}

/**
 * Copies the source's rows of `table` in `slice` into the target (see the module comment).
 * `signal` stops it between chunks (the rebalancer lost its lease), rejecting with the signal's reason.
 */
export async function copySlice(
  pools: RebalanceConnections,
  table: ShardTable,
  source: string,
  target: string,
  slice: RowSlice,
  signal?: AbortSignal,
): Promise<CopyResult> {
  /** Keys of the ranges the target is known to hold (learnt from the chunks' unique violations). */
  const held = new Set<string>();
  /**
   * After a unique violation: the keys of the failing chunk the target holds, and when they are a
   * large share of the chunk (a rerun after a crash: the target holds most rows of the ranges),
   * once, every key it holds in the ranges (one indexed query), so the later chunks are merged
   * straight away instead of each failing first. Routers' dual-writes leave a few keys per chunk:
   * learning those chunk by chunk is cheaper than merging a few rows in every chunk (an A/B run of
   * the shards bench under its writer: prefetching on the first conflict cost a quarter of the
   * copy rate).
   */
  let prefetched: Promise<void> | undefined;
  const learn = async (lane: PoolClient, chunkKeys: readonly string[]): Promise<void> => {
    const found = (await lane.query<{ key: string }>(sql.heldKeysSql(table), [chunkKeys])).rows;
    for (const r of found) held.add(r.key);
    if (!prefetched && found.length * PREFETCH_SHARE >= chunkKeys.length)
      prefetched = lane.query<{ key: string }>(sql.heldKeysInSliceSql(table, slice, HELD_PREFETCH_LIMIT)).then((r) => {
        for (const { key } of r.rows) held.add(key);
      });
    await prefetched;
  };
  const src = await pools.client(source);
  const lanes: PoolClient[] = [];
  const idle: PoolClient[] = [];
  const writing = new Set<Promise<void>>();
  let applied = 0;
  /** The first failure on the target. */
  let targetFailure: Error | undefined;

  /** Writes a chunk in the background on an idle lane (a new one while fewer than COPY_LANES), once one is free. */
  const dispatch = async (rows: Buffer): Promise<void> => {
    if (signal?.aborted) throw (targetFailure ??= signal.reason as Error);
    while (idle.length === 0 && lanes.length === COPY_LANES && targetFailure === undefined) await Promise.race(writing);
    if (targetFailure) throw targetFailure;
    let lane = idle.pop();
    if (!lane) {
      try {
        lane = await pools.client(target);
        lanes.push(lane);
      } catch (e) {
        throw (targetFailure ??= e as Error);
      }
    }
    const done = writeChunk(lane, table, rows, held, learn).then(
      (n) => {
        applied += n;
        idle.push(lane);
        failpoint("rebalance.in-copy");
      },
      (e: Error) => {
        targetFailure ??= e;
      },
    );
    writing.add(done);
    void done.finally(() => writing.delete(done));
  };

  let failed: Error | undefined;
  try {
    let bytes = 0;
    const out = src.query(copyTo(sql.copyOutSql(table, slice)));
    try {
      // Chunks of whole rows: in COPY text a raw newline ends a row (one inside a value is escaped
      // as \n), so the bytes after the last newline wait for the rest of their row.
      // The first chunk is smaller so that the target starts early, and the last rows are split
      // over two lanes so that the copy does not end waiting for one lane.
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      let dispatched = 0;
      for await (const data of out as AsyncIterable<Buffer>) {
        bytes += data.length;
        pending.push(data);
        pendingBytes += data.length;
        if (pendingBytes < (dispatched === 0 ? CHUNK_BYTES / 4 : CHUNK_BYTES)) continue;
        const end = data.lastIndexOf(NEWLINE) + 1;
        if (end === 0) continue;
        const rest = data.subarray(end);
        pending[pending.length - 1] = data.subarray(0, end);
        await dispatch(Buffer.concat(pending));
        dispatched++;
        pending = rest.length > 0 ? [rest] : [];
        pendingBytes = rest.length;
      }
      const last = Buffer.concat(pending);
      if (last.length > 0 && last[last.length - 1] !== NEWLINE) throw new Error("the COPY ended inside a row");
      const half = last.lastIndexOf(NEWLINE, last.length >> 1) + 1;
      for (const rows of [last.subarray(0, half), last.subarray(half)]) if (rows.length > 0) await dispatch(rows);
    } catch (e) {
      if (e === targetFailure) throw e;
      throw pools.wrap(
        source,
        new Error(`copying ${describeSlice(table, slice)} ${source} → ${target}: ${(e as Error).message}`, {
          cause: e,
        }),
      );
    } finally {
      await Promise.all(writing);
    }
    if (targetFailure) throw targetFailure;
    return { rows: Number(out.rowCount ?? 0), bytes, applied };
  } catch (e) {
    failed = e as Error;
    throw e === targetFailure ? pools.wrap(target, e) : e;
  } finally {
    // A client whose COPY or transaction broke is in an unknown state: destroy it instead of reusing it.
    src.release(failed);
    for (const lane of lanes) lane.release(failed);
  }
}

/** A range checksum of one shard. */
export interface RangeChecksum {
  rows: number;
  /** Sum of 32-bit row hashes (decimal text: exact). */
  checksum: string;
}

/** Outcome of verifying a pair. */
export interface VerifyResult {
  /** True when no source row is missing on the target or older there. */
  clean: boolean;
  source: RangeChecksum;
  target: RangeChecksum;
  /** Whether count and checksum matched outright (no key-level pass needed). */
  checksumsMatch: boolean;
  /** Source rows absent on the target (key-level pass). */
  missing: number;
  /** Source rows the target holds at an older version (key-level pass). */
  older: number;
  /** Up to 5 keys that were missing or older, for the error message. */
  sample: string[];
}

/** Rows per page of the key-level pass. */
const KEY_PAGE = 5000;

/** Count and checksum of a table's rows in the slice on one shard. */
export async function sliceChecksum(
  pools: RebalanceConnections,
  table: ShardTable,
  shard: string,
  slice: RowSlice,
): Promise<RangeChecksum> {
  const [r] = await pools.query<{ rows: string; checksum: string }>(shard, sql.checksumSql(table, slice));
  return { rows: Number(r.rows), checksum: r.checksum };
}

/** Count and checksum of a table's rows in the slice on one shard, per verification bucket (`h >> VERIFY_BUCKET_BITS`). */
async function bucketChecksums(
  pools: RebalanceConnections,
  table: ShardTable,
  shard: string,
  slice: RowSlice,
): Promise<Map<number, { rows: number; checksum: bigint }>> {
  const rows = await pools.query<{ bucket: number; rows: string; checksum: string }>(
    shard,
    sql.bucketChecksumSql(table, slice),
  );
  return new Map(rows.map((r) => [r.bucket, { rows: Number(r.rows), checksum: BigInt(r.checksum) }]));
}

/** The parts of sorted, disjoint `ranges` inside the given verification buckets (sorted). */
export function rangesInBuckets(ranges: readonly HashRange[], buckets: readonly number[]): HashRange[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  const out: HashRange[] = [];
  const size = 2 ** sql.VERIFY_BUCKET_BITS;
  let i = 0;
  for (const b of [...buckets].sort((x, y) => x - y)) {
    const lo = b * size;
    const hi = lo + size;
    while (i < sorted.length && sorted[i].end <= lo) i++;
    for (let j = i; j < sorted.length && sorted[j].start < hi; j++) {
      const start = Math.max(lo, sorted[j].start);
      const end = Math.min(hi, sorted[j].end);
      if (start < end) out.push({ start, end });
    }
  }
  return out;
}

/**
 * Verifies that the target holds every source row of the table in the slice at the same or a
 * newer place in the table's order (version, then value, for the router's rows; present at all for
 * a table that keeps rows).
 */
export async function verifySlice(
  pools: RebalanceConnections,
  table: ShardTable,
  source: string,
  target: string,
  slice: RowSlice,
): Promise<VerifyResult> {
  const [sb, tb] = await Promise.all([
    bucketChecksums(pools, table, source, slice),
    bucketChecksums(pools, table, target, slice),
  ]);
  const total = (m: Map<number, { rows: number; checksum: bigint }>): RangeChecksum => {
    let rows = 0;
    let checksum = 0n;
    for (const v of m.values()) {
      rows += v.rows;
      checksum += v.checksum;
    }
    return { rows, checksum: checksum.toString() };
  };
  const s = total(sb);
  const t = total(tb);
  const differ = [...new Set([...sb.keys(), ...tb.keys()])].filter((b) => {
    const x = sb.get(b);
    const y = tb.get(b);
    return x?.rows !== y?.rows || x?.checksum !== y?.checksum;
  });
  if (differ.length === 0)
    return { clean: true, source: s, target: t, checksumsMatch: true, missing: 0, older: 0, sample: [] };
  const suspect: RowSlice = { ...slice, ranges: rangesInBuckets(slice.ranges, differ) };

  // Key-level pass over the buckets whose count or checksum differ (writes in flight touch a few):
  // page through the source's rows there with a cursor and ask the target, per page, which of
  // them it lacks or holds older (the order is PostgreSQL's, as in the merge).
  let missing = 0;
  let older = 0;
  const sample: string[] = [];
  const src = await pools.client(source);
  let failed: Error | undefined;
  try {
    await src.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    await src.query(`DECLARE scaleplane_verify NO SCROLL CURSOR FOR ${sql.rowsSql(table, suspect)}`);
    const lagging = sql.laggingRowsSql(table);
    for (;;) {
      const page = await src.query<Record<string, string | null>>(`FETCH ${KEY_PAGE} FROM scaleplane_verify`);
      if (page.rows.length === 0) break;
      const lag = await pools.query<{ key: string; present: boolean }>(
        target,
        lagging,
        table.columns.map((c) => page.rows.map((r) => r[c.name])),
      );
      for (const l of lag) {
        if (l.present) older++;
        else missing++;
        if (sample.length < 5) sample.push(l.key);
      }
    }
    await src.query("COMMIT");
  } catch (e) {
    failed = e as Error;
    await src.query("ROLLBACK").catch(() => undefined);
    throw pools.wrap(source, e);
  } finally {
    src.release(failed);
  }
  return { clean: missing === 0 && older === 0, source: s, target: t, checksumsMatch: false, missing, older, sample };
}

/** Deletes a shard's rows of the table in the slice; resolves with the number deleted. */
export function deleteSlice(
  pools: RebalanceConnections,
  table: ShardTable,
  shard: string,
  slice: RowSlice,
): Promise<number> {
  return deleteRows(pools, shard, sql.deleteSliceSql(table, slice));
}

/** Deletes a shard's rows of the table in none of the slices it holds (a sweep); resolves with the number deleted. */
export function deleteOutside(
  pools: RebalanceConnections,
  table: ShardTable,
  shard: string,
  held: readonly RowSlice[],
): Promise<number> {
  return deleteRows(pools, shard, sql.deleteOutsideSql(table, held));
}

/** Runs one DELETE on a shard (no statement deadline: a large range takes long); resolves with the rows deleted. */
async function deleteRows(pools: RebalanceConnections, shard: string, statement: string): Promise<number> {
  const client = await pools.client(shard);
  try {
    return (await client.query(statement)).rowCount ?? 0;
  } catch (e) {
    throw pools.wrap(shard, e);
  } finally {
    client.release();
  }
}

/** Rows and bytes of the table a source holds in the slice (the dry run's estimate). */
export async function sliceSize(
  pools: RebalanceConnections,
  table: ShardTable,
  shard: string,
  slice: RowSlice,
): Promise<{ rows: number; bytes: number }> {
  const [r] = await pools.query<{ rows: string; bytes: string }>(shard, sql.sizeSql(table, slice));
  return { rows: Number(r.rows), bytes: Number(r.bytes) };
}

/** A slice as messages name it: its table, ring ranges and key filters. */
export function describeSlice(table: ShardTable, slice: RowSlice): string {
  const keys = slice.keys ? ` (${slice.keys.length} key range(s))` : "";
  return `${table.name}: ${slice.ranges.length} hash range(s)${keys}`;
}
