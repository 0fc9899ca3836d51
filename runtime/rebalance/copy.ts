/**
 * The data path of a rebalance, one (source shard, target shard, hash ranges) pair at a time:
 *
 * - copy: `COPY ... TO STDOUT` on the source piped (pg-copy-streams) into `COPY ... FROM STDIN`
 *   of a staging table in one transaction on the target, merged with the "apply if newer"
 *   upsert and committed. The merge makes a copy idempotent and commutative with the routers'
 *   dual-writes; the transaction makes a killed copy leave nothing (the staging table is dropped
 *   with it), so a rerun simply copies the pair again.
 * - verify: row count and order-independent checksum of the ranges on both sides; when they
 *   differ (routers keep writing while we compare, or a stale source replica lost to a newer one)
 *   every source row is checked key by key: the target must hold it at the same or a newer
 *   version. Clean means no source row is missing or older on the target.
 * - delete: the moved rows on a shard that no longer owns the ranges.
 */
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { from as copyFrom, to as copyTo } from "pg-copy-streams";
import type { ShardPools } from "./shards";
import * as sql from "./sql";

/** What one pair copy moved. */
export interface CopyResult {
  /** Rows read from the source. */
  rows: number;
  /** Bytes of COPY text streamed. */
  bytes: number;
  /** Rows the merge inserted or replaced on the target (older ones are kept out). */
  applied: number;
}

/** Copies the source's rows in `ranges` into the target (see the module comment). */
export async function copyRanges(
  pools: ShardPools,
  source: string,
  target: string,
  ranges: readonly sql.HashRange[],
): Promise<CopyResult> {
  const src = await pools.client(source);
  let dst;
  try {
    dst = await pools.client(target);
  } catch (e) {
    src.release();
    throw e;
  }
  let failed: Error | undefined;
  try {
    await dst.query("BEGIN");
    await dst.query(sql.CREATE_STAGE_SQL);
    let bytes = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        done(null, chunk);
      },
    });
    const out = src.query(copyTo(sql.copyOutSql(ranges)));
    const into = dst.query(copyFrom(sql.COPY_IN_STAGE_SQL));
    try {
      await pipeline(out, counter, into);
    } catch (e) {
      throw new Error(`copying ${ranges.length} range(s) ${source} → ${target}: ${(e as Error).message}`, { cause: e });
    }
    const merged = await dst.query(sql.MERGE_STAGE_SQL);
    await dst.query("COMMIT");
    return { rows: Number(out.rowCount ?? into.rowCount ?? 0), bytes, applied: merged.rowCount ?? 0 };
  } catch (e) {
    failed = e as Error;
    await dst.query("ROLLBACK").catch(() => undefined);
    throw pools.wrap(target, e);
  } finally {
    // A client whose COPY broke is in an unknown protocol state: destroy it instead of reusing it.
    src.release(failed);
    dst.release(failed);
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

/** Count and checksum of the ranges on one shard. */
export async function rangeChecksum(
  pools: ShardPools,
  shard: string,
  ranges: readonly sql.HashRange[],
): Promise<RangeChecksum> {
  const [r] = await pools.query<{ rows: string; checksum: string }>(shard, sql.checksumSql(ranges));
  return { rows: Number(r.rows), checksum: r.checksum };
}

/** Verifies that the target holds every source row of the ranges at the same or a newer version. */
export async function verifyRanges(
  pools: ShardPools,
  source: string,
  target: string,
  ranges: readonly sql.HashRange[],
): Promise<VerifyResult> {
  const [s, t] = await Promise.all([rangeChecksum(pools, source, ranges), rangeChecksum(pools, target, ranges)]);
  if (s.rows === t.rows && s.checksum === t.checksum)
    return { clean: true, source: s, target: t, checksumsMatch: true, missing: 0, older: 0, sample: [] };

  // Key-level pass: page through the source's rows with a cursor and ask the target, per page,
  // which of them it lacks or holds older (the version order is PostgreSQL's, as in the merge).
  let missing = 0;
  let older = 0;
  const sample: string[] = [];
  const src = await pools.client(source);
  let failed: Error | undefined;
  try {
    await src.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    await src.query(`DECLARE scaleplane_verify NO SCROLL CURSOR FOR ${sql.keyVersionsSql(ranges)}`);
    for (;;) {
      const page = await src.query<{ key: string; ver_wall: string; ver_logical: number; ver_node: string }>(
        `FETCH ${KEY_PAGE} FROM scaleplane_verify`,
      );
      if (page.rows.length === 0) break;
      const lag = await pools.query<{ key: string; present: boolean }>(target, sql.LAGGING_KEYS_SQL, [
        page.rows.map((r) => r.key),
        page.rows.map((r) => r.ver_wall),
        page.rows.map((r) => r.ver_logical),
        page.rows.map((r) => r.ver_node),
      ]);
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

/** Deletes a shard's rows in the ranges; resolves with the number deleted. */
export async function deleteRanges(
  pools: ShardPools,
  shard: string,
  ranges: readonly sql.HashRange[],
): Promise<number> {
  const client = await pools.client(shard);
  try {
    return (await client.query(sql.deleteRangesSql(ranges))).rowCount ?? 0;
  } catch (e) {
    throw pools.wrap(shard, e);
  } finally {
    client.release();
  }
}

/** Rows and bytes a source holds in the ranges (the dry run's estimate). */
export async function rangeSize(
  pools: ShardPools,
  shard: string,
  ranges: readonly sql.HashRange[],
): Promise<{ rows: number; bytes: number }> {
  const [r] = await pools.query<{ rows: string; bytes: string }>(shard, sql.sizeSql(ranges));
  return { rows: Number(r.rows), bytes: Number(r.bytes) };
}
