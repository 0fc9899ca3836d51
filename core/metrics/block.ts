/**
 * One series' sealed 2-hour block as stored: its raw chunk and its 1m and 1h rollups, all derived
 * from the same samples (so sealing, late samples merged into a block and deletes agree), and the
 * pieces a delete removes from it. Pure.
 */
import { decodeChunk, encodeChunk } from "./codec";
import { coarsen, decodeBuckets, encodeBuckets, rollup, type Bucket } from "./rollup";

/** The rollup resolutions stored per block, ms. */
export const ROLLUP_1M = 60_000;
export const ROLLUP_1H = 3_600_000;

/** The stored rows of a block of samples (sorted by timestamp, one per timestamp). */
export function blockRows(
  t: ArrayLike<number>,
  v: Float64Array,
): { chunk: Uint8Array; r1m: Uint8Array; r1h: Uint8Array } {
  const minute = rollup(t, v, ROLLUP_1M);
  return {
    chunk: encodeChunk({ t, v }),
    r1m: encodeBuckets(minute, encodeChunk),
    r1h: encodeBuckets(coarsen(minute, ROLLUP_1H), encodeChunk),
  };
}

/** A chunk's samples outside `[mint, maxt]` (bits kept), and how many were inside. */
export function samplesOutside(
  chunk: Uint8Array,
  mint: number,
  maxt: number,
): { t: number[]; v: Float64Array; removed: number } {
  const d = decodeChunk(chunk);
  const keep: number[] = [];
  for (let i = 0; i < d.t.length; i++) if (d.t[i] < mint || d.t[i] > maxt) keep.push(i);
  const v = new Float64Array(keep.length);
  const vu = new Uint32Array(v.buffer);
  const du = new Uint32Array(d.v.buffer);
  keep.forEach((i, k) => {
    vu[2 * k] = du[2 * i];
    vu[2 * k + 1] = du[2 * i + 1];
  });
  return { t: keep.map((i) => d.t[i]), v, removed: d.t.length - keep.length };
}

/**
 * A rollup chunk without the buckets (of resolution `r`) that overlap `[mint, maxt]`, or null
 * when none is left. For rollups whose raw samples have aged out: a bucket cannot be split
 * without them, so a delete removes every bucket it touches (never leaves deleted data visible).
 */
export function bucketsOutside(data: Uint8Array, r: number, mint: number, maxt: number): Uint8Array | null {
  const kept = decodeBuckets(data, decodeChunk).filter((b: Bucket) => !(b.end >= mint && b.end - r < maxt));
  return kept.length === 0 ? null : encodeBuckets(kept, encodeChunk);
}
