/**
 * Deleting series data: the Prometheus admin API's `delete_series` (`match[]`, `start`, `end`).
 *
 * Prometheus writes tombstones and rewrites blocks at compaction; here the data is removed at
 * once, in one transaction per shard, on every shard that holds rows of a matched series (owners,
 * replicas and leftovers of a former owner alike; every shard must answer, else nothing is
 * reported done and the caller retries: a delete is idempotent):
 * - head samples in the span are deleted;
 * - each raw chunk of a 2-hour block overlapping the span is decoded and rewritten without the
 *   span's samples (deleted when none is left), and that block's 1m and 1h rollups are rebuilt
 *   from the samples left (core/metrics/block.ts), so rollup answers keep equalling raw ones;
 * - rollups whose raw block has aged out lose every bucket the span touches (a bucket cannot be
 *   split without its samples; deleted data never stays visible).
 * The transaction first takes the shard's `metrics_state` row FOR UPDATE: ingests (FOR SHARE)
 * and sealing (FOR UPDATE) on that shard wait, so no seal can write back a block it read before
 * the delete, and no sample lands between the delete of the head and of the chunks.
 *
 * The series stays in the index (`metrics_series`): store processes remember which series a shard
 * already indexes and send only new ones, so dropping the row could hide a later sample. With
 * `start`/`end` the metadata endpoints list only series with data in the span, so a series whose
 * data is all deleted disappears from them (as it does from Prometheus' after compaction).
 */
import type { PoolClient } from "pg";
import { bucketsOutside, blockRows, ROLLUP_1H, ROLLUP_1M, samplesOutside } from "../../core/metrics/block";
import type { Matcher } from "../../core/metrics/promql";
import { BLOCK_MS } from "../../core/metrics/retention";
import { seriesLookup, type TimeSpan } from "./query";
import type { MetricsRouter } from "./router";
import { SERIES_SQL } from "./schema";

/** What a delete did, summed over the shards. */
export interface DeleteOutcome {
  /** Series rows matched (a replicated series counts once per replica). */
  series: number;
  /** Raw samples removed from the head and from chunks. */
  samples: number;
}

const ROLLUPS = [
  ["metrics_rollup_1m", ROLLUP_1M],
  ["metrics_rollup_1h", ROLLUP_1H],
] as const;

/** Deletes the samples in `span` of every series matching any of `selectors`. */
export async function deleteSeries(
  router: MetricsRouter,
  selectors: readonly (readonly Matcher[])[],
  span: TimeSpan,
): Promise<DeleteOutcome> {
  const lookups = selectors.map(seriesLookup);
  const { results } = await router.readAll((c) => deleteOnShard(c, lookups, span), "all");
  const out = { series: 0, samples: 0 };
  for (const r of results.values()) {
    out.series += r.series;
    out.samples += r.samples;
  }
  return out;
}

async function deleteOnShard(
  c: PoolClient,
  lookups: ReturnType<typeof seriesLookup>[],
  { mint, maxt }: TimeSpan,
): Promise<DeleteOutcome> {
  await c.query("BEGIN");
  try {
    await c.query("SELECT 1 FROM metrics_state WHERE id = 1 FOR UPDATE");
    const found = new Map<string, string>();
    for (const l of lookups) {
      const r = await c.query<{ id: string; h: string; labels: string }>(SERIES_SQL, [...l.params, null, null]);
      for (const row of r.rows)
        if (l.accepts(JSON.parse(row.labels) as Record<string, string>)) found.set(row.id, row.h);
    }
    let samples = 0;
    if (found.size > 0) {
      const ids = [...found.keys()];
      const hs = [...found.values()];
      samples +=
        (
          await c.query("DELETE FROM metrics_head WHERE series_id = ANY($1::bigint[]) AND t >= $2 AND t <= $3", [
            ids,
            mint,
            maxt,
          ])
        ).rowCount ?? 0;
      const inBlocks = (table: string) =>
        `SELECT c.h::text AS h, c.series_id::text AS id, c.block_end::text AS block_end, c.data
         FROM ${table} c JOIN unnest($1::bigint[], $2::bigint[]) AS u(id, h) ON c.h = u.h AND c.series_id = u.id
         WHERE c.block_end >= $3::bigint AND c.block_end < $4::bigint + ${BLOCK_MS}`;
      const key = "h = $1 AND series_id = $2 AND block_end = $3";
      const chunks = await c.query<{ h: string; id: string; block_end: string; data: Buffer }>(
        inBlocks("metrics_chunks"),
        [ids, hs, mint, maxt],
      );
      const rebuilt = new Set<string>();
      for (const row of chunks.rows) {
        rebuilt.add(`${row.id}/${row.block_end}`);
        const left = samplesOutside(
          new Uint8Array(row.data.buffer, row.data.byteOffset, row.data.byteLength),
          mint,
          maxt,
        );
        if (left.removed === 0) continue;
        samples += left.removed;
        const k = [row.h, row.id, row.block_end];
        if (left.t.length === 0) {
          for (const table of ["metrics_chunks", ...ROLLUPS.map((r) => r[0])])
            await c.query(`DELETE FROM ${table} WHERE ${key}`, k);
          continue;
        }
        const block = blockRows(left.t, left.v);
        await c.query(`UPDATE metrics_chunks SET data = $4 WHERE ${key}`, [...k, Buffer.from(block.chunk)]);
        await c.query(`UPDATE metrics_rollup_1m SET data = $4 WHERE ${key}`, [...k, Buffer.from(block.r1m)]);
        await c.query(`UPDATE metrics_rollup_1h SET data = $4 WHERE ${key}`, [...k, Buffer.from(block.r1h)]);
      }
      // rollups of blocks whose raw chunk has aged out (or was never sealed into this shard)
      for (const [table, r] of ROLLUPS) {
        const rows = await c.query<{ h: string; id: string; block_end: string; data: Buffer }>(inBlocks(table), [
          ids,
          hs,
          mint,
          maxt,
        ]);
        for (const row of rows.rows) {
          if (rebuilt.has(`${row.id}/${row.block_end}`)) continue;
          const left = bucketsOutside(
            new Uint8Array(row.data.buffer, row.data.byteOffset, row.data.byteLength),
            r,
            mint,
            maxt,
          );
          const k = [row.h, row.id, row.block_end];
          if (left === null) await c.query(`DELETE FROM ${table} WHERE ${key}`, k);
          else await c.query(`UPDATE ${table} SET data = $4 WHERE ${key}`, [...k, Buffer.from(left)]);
        }
      }
    }
    await c.query("COMMIT");
    return { series: found.size, samples };
  } catch (e) {
    await c.query("ROLLBACK").catch(() => undefined);
    throw e;
  }
}
