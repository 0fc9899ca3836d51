/**
 * Rollups and the window arithmetic they must reproduce exactly. Pure.
 *
 * A rollup bucket of resolution R ends at a multiple of R and covers `(end - R, end]`. It keeps,
 * over its non-stale samples: count, sum, min, max, the first and last (timestamp, value), and
 * `resetSum`: the sum of the previous value at every counter reset (a value below the one before
 * it) between consecutive samples of the bucket. `staleT` is the newest Prometheus stale marker
 * in the bucket (-Infinity when none).
 *
 * Why these fields. An average of averages is wrong (sum and count are kept instead); a counter's
 * increase over a window is `last - first + Σ(value before each reset)` (Prometheus' own
 * definition), and resets between two buckets are seen from the earlier bucket's last and the
 * later bucket's first value. So every window function of the PromQL subset (`rate`, `increase`,
 * `avg/sum/min/max/count/last_over_time`, and the instant selector's lookback) is computed from
 * the buckets the window covers and equals the answer over the raw samples, up to the
 * association of float sums (≤ 1e-12 relative on realistic data; the unit tests bound it by 1e-9).
 *
 * Windows are closed, `[T - range, T]`, as in Prometheus 2.x. With T and the range multiples of
 * R, the window is the buckets ending in `(T - range, T]` plus the one sample that may sit exactly
 * on `T - range`: the last sample of the bucket ending there, when its timestamp is that instant.
 */

/** Bits of the Prometheus stale marker (a NaN with payload 2). */
export const STALE_NAN_HI = 0x7ff00000;
export const STALE_NAN_LO = 0x00000002;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LO = LITTLE_ENDIAN ? 0 : 1;
const HI = LITTLE_ENDIAN ? 1 : 0;

/** A Float64Array holding one stale marker (copy its bits; never pass the number around and compare). */
export function staleMarker(): Float64Array {
  const v = new Float64Array(1);
  const u = new Uint32Array(v.buffer);
  u[HI] = STALE_NAN_HI;
  u[LO] = STALE_NAN_LO;
  return v;
}

/** Whether `v[i]` is the stale marker (by its bits). */
export function isStaleAt(v: Float64Array, i: number): boolean {
  if (v[i] === v[i]) return false; // not NaN
  const u = new Uint32Array(v.buffer, v.byteOffset + i * 8, 2);
  return u[HI] === STALE_NAN_HI && u[LO] === STALE_NAN_LO;
}

/** One rollup bucket. */
export interface Bucket {
  /** The bucket covers `(end - resolution, end]`. */
  end: number;
  count: number;
  sum: number;
  min: number;
  max: number;
  firstT: number;
  firstV: number;
  lastT: number;
  lastV: number;
  resetSum: number;
  /** Newest stale marker in the bucket, -Infinity when none. */
  staleT: number;
}

/** The end of the bucket holding timestamp `t` at resolution `r`: `ceil(t / r) × r`. */
export const bucketEnd = (t: number, r: number): number => Math.ceil(t / r) * r;

/** Prometheus' min/max step (NaN is replaced by any later value). */
const minStep = (m: number, x: number): number => (x < m || m !== m ? x : m);
const maxStep = (m: number, x: number): number => (x > m || m !== m ? x : m);

/**
 * The buckets of samples sorted by timestamp (one sample per timestamp), at resolution `r`.
 * Buckets with only a stale marker are kept (count 0).
 */
export function rollup(t: ArrayLike<number>, v: Float64Array, r: number): Bucket[] {
  const out: Bucket[] = [];
  let b: Bucket | undefined;
  for (let i = 0; i < t.length; i++) {
    const end = bucketEnd(t[i], r);
    if (!b || b.end !== end) {
      b = {
        end,
        count: 0,
        sum: 0,
        min: NaN,
        max: NaN,
        firstT: NaN,
        firstV: NaN,
        lastT: NaN,
        lastV: NaN,
        resetSum: 0,
        staleT: -Infinity,
      };
      out.push(b);
    }
    if (isStaleAt(v, i)) {
      b.staleT = t[i];
      continue;
    }
    const x = v[i];
    if (b.count === 0) {
      b.firstT = t[i];
      b.firstV = x;
      b.min = x;
      b.max = x;
    } else {
      if (x < b.lastV) b.resetSum += b.lastV;
      b.min = minStep(b.min, x);
      b.max = maxStep(b.max, x);
    }
    b.sum += x;
    b.count++;
    b.lastT = t[i];
    b.lastV = x;
  }
  return out;
}

/** Merges buckets of resolution r (sorted) into buckets of resolution R (a multiple of r). */
export function coarsen(buckets: readonly Bucket[], R: number): Bucket[] {
  const out: Bucket[] = [];
  for (const b of buckets) {
    const end = bucketEnd(b.end, R);
    const last = out[out.length - 1];
    if (!last || last.end !== end) {
      out.push({ ...b, end });
      continue;
    }
    mergeInto(last, b);
  }
  return out;
}

/** Adds bucket `b` (later in time) into `acc`. */
function mergeInto(acc: Bucket, b: Bucket): void {
  if (b.staleT > acc.staleT) acc.staleT = b.staleT;
  if (b.count === 0) return;
  if (acc.count === 0) {
    Object.assign(acc, { ...b, end: acc.end, staleT: acc.staleT });
    return;
  }
  acc.resetSum += b.resetSum + (b.firstV < acc.lastV ? acc.lastV : 0);
  acc.sum += b.sum;
  acc.count += b.count;
  acc.min = minStep(acc.min, b.min);
  acc.max = maxStep(acc.max, b.max);
  acc.lastT = b.lastT;
  acc.lastV = b.lastV;
}

/** Everything the window functions need of the non-stale samples of one window. */
export interface WindowSummary {
  count: number;
  sum: number;
  min: number;
  max: number;
  firstT: number;
  firstV: number;
  lastT: number;
  lastV: number;
  resetSum: number;
  /** Prometheus' incremental mean of the raw samples (undefined from buckets: sum / count is used). */
  mean?: number;
}

/** The summary of raw samples `[from, to)` of sorted arrays, skipping stale markers. */
export function summarizeRaw(t: ArrayLike<number>, v: Float64Array, from: number, to: number): WindowSummary {
  const s: WindowSummary = {
    count: 0,
    sum: 0,
    min: NaN,
    max: NaN,
    firstT: NaN,
    firstV: NaN,
    lastT: NaN,
    lastV: NaN,
    resetSum: 0,
    mean: 0,
  };
  for (let i = from; i < to; i++) {
    if (isStaleAt(v, i)) continue;
    const x = v[i];
    if (s.count === 0) {
      s.firstT = t[i];
      s.firstV = x;
      s.min = x;
      s.max = x;
    } else {
      if (x < s.lastV) s.resetSum += s.lastV;
      s.min = minStep(s.min, x);
      s.max = maxStep(s.max, x);
    }
    s.count++;
    s.sum += x;
    s.mean = incrementalMean(s.mean!, x, s.count);
    s.lastT = t[i];
    s.lastV = x;
  }
  return s;
}

/** Prometheus 2.42's running mean step (avg_over_time and the avg aggregation). */
export function incrementalMean(mean: number, x: number, count: number): number {
  if (mean === Infinity || mean === -Infinity) {
    if ((x === Infinity || x === -Infinity) && mean > 0 === x > 0) return mean;
    if (x === x && x !== Infinity && x !== -Infinity) return mean;
  }
  return mean + (x / count - mean / count);
}

/**
 * The summary of a window `[lo, hi]` from buckets of resolution r (sorted by end), with lo and hi
 * multiples of r: the buckets ending in `(lo, hi]`, after the sample exactly at `lo` if the
 * bucket ending at `lo` holds one.
 */
export function summarizeBuckets(buckets: readonly Bucket[], lo: number, hi: number): WindowSummary {
  const s: Bucket = {
    end: hi,
    count: 0,
    sum: 0,
    min: NaN,
    max: NaN,
    firstT: NaN,
    firstV: NaN,
    lastT: NaN,
    lastV: NaN,
    resetSum: 0,
    staleT: -Infinity,
  };
  let i = lowerBound(buckets, lo);
  if (i < buckets.length && buckets[i].end === lo) {
    const edge = buckets[i];
    if (edge.count > 0 && edge.lastT === lo)
      mergeInto(s, {
        ...edge,
        count: 1,
        sum: edge.lastV,
        min: edge.lastV,
        max: edge.lastV,
        firstT: lo,
        firstV: edge.lastV,
        resetSum: 0,
      });
    i++;
  }
  for (; i < buckets.length && buckets[i].end <= hi; i++) mergeInto(s, buckets[i]);
  return {
    count: s.count,
    sum: s.sum,
    min: s.min,
    max: s.max,
    firstT: s.firstT,
    firstV: s.firstV,
    lastT: s.lastT,
    lastV: s.lastV,
    resetSum: s.resetSum,
  };
}

/** First index whose bucket ends at or after `end`. */
export function lowerBound(buckets: readonly { end: number }[], end: number): number {
  let lo = 0;
  let hi = buckets.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (buckets[mid].end < end) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The latest sample in `[lo, hi]` from buckets (lo, hi multiples of r), as the instant selector
 * sees it: undefined when there is none or when it is a stale marker.
 */
export function latestFromBuckets(buckets: readonly Bucket[], lo: number, hi: number): number | undefined {
  let i = lowerBound(buckets, hi + 1) - 1;
  for (; i >= 0 && buckets[i].end >= lo; i--) {
    const b = buckets[i];
    if (b.end === lo) {
      // only a sample exactly at lo belongs to the window
      if (b.staleT === lo) return undefined;
      return b.count > 0 && b.lastT === lo ? b.lastV : undefined;
    }
    if (b.count === 0 && b.staleT === -Infinity) continue;
    return b.staleT > b.lastT || b.count === 0 ? undefined : b.lastV;
  }
  return undefined;
}

/**
 * Prometheus 2.42's extrapolated rate/increase over a window `[rangeStart, rangeEnd]` of
 * `rangeSeconds`: undefined with fewer than two samples.
 */
export function extrapolatedRate(
  s: WindowSummary,
  rangeStart: number,
  rangeEnd: number,
  rangeSeconds: number,
  isRate: boolean,
): number | undefined {
  if (s.count < 2) return undefined;
  let result = s.lastV - s.firstV + s.resetSum;
  let durationToStart = (s.firstT - rangeStart) / 1000;
  const durationToEnd = (rangeEnd - s.lastT) / 1000;
  const sampledInterval = (s.lastT - s.firstT) / 1000;
  const averageDurationBetweenSamples = sampledInterval / (s.count - 1);
  if (result > 0 && s.firstV >= 0) {
    const durationToZero = sampledInterval * (s.firstV / result);
    if (durationToZero < durationToStart) durationToStart = durationToZero;
  }
  const threshold = averageDurationBetweenSamples * 1.1;
  let extrapolateToInterval = sampledInterval;
  extrapolateToInterval += durationToStart < threshold ? durationToStart : averageDurationBetweenSamples / 2;
  extrapolateToInterval += durationToEnd < threshold ? durationToEnd : averageDurationBetweenSamples / 2;
  result = result * (extrapolateToInterval / sampledInterval);
  return isRate ? result / rangeSeconds : result;
}

/** Range functions of the PromQL subset. */
export const RANGE_FUNCTIONS = [
  "rate",
  "increase",
  "avg_over_time",
  "sum_over_time",
  "min_over_time",
  "max_over_time",
  "count_over_time",
  "last_over_time",
] as const;
export type RangeFunction = (typeof RANGE_FUNCTIONS)[number];

/** A range function's value over one window summary (undefined: no output for this series). */
export function applyRangeFunction(
  fn: RangeFunction,
  s: WindowSummary,
  rangeStart: number,
  rangeEnd: number,
): number | undefined {
  if (s.count === 0) return undefined;
  switch (fn) {
    case "rate":
    case "increase":
      return extrapolatedRate(s, rangeStart, rangeEnd, (rangeEnd - rangeStart) / 1000, fn === "rate");
    case "avg_over_time":
      return s.mean !== undefined ? s.mean : s.sum / s.count;
    case "sum_over_time":
      return s.sum;
    case "min_over_time":
      return s.min;
    case "max_over_time":
      return s.max;
    case "count_over_time":
      return s.count;
    case "last_over_time":
      return s.lastV;
  }
}

/** The numeric columns of a bucket, in the order a rollup chunk stores them. */
const BUCKET_COLUMNS = [
  "count",
  "sum",
  "min",
  "max",
  "firstT",
  "firstV",
  "lastT",
  "lastV",
  "resetSum",
  "staleT",
] as const;

/**
 * Encodes buckets (sorted by end) as a rollup chunk: one chunk (core/metrics/codec.ts) per
 * column, each with the bucket ends as its timestamps, length-prefixed. Counts and timestamps take
 * the integer modes, so a bucket of regular scrapes costs a few bytes.
 */
export function encodeBuckets(
  buckets: readonly Bucket[],
  encode: (s: { t: number[]; v: Float64Array }) => Uint8Array,
): Uint8Array {
  const t = buckets.map((b) => b.end);
  const parts = BUCKET_COLUMNS.map((c) => encode({ t, v: Float64Array.from(buckets, (b) => b[c]) }));
  const total = parts.reduce((n, p) => n + 4 + p.length, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const p of parts) {
    view.setUint32(at, p.length);
    out.set(p, at + 4);
    at += 4 + p.length;
  }
  return out;
}

/** Decodes a rollup chunk written by {@link encodeBuckets}. */
export function decodeBuckets(
  data: Uint8Array,
  decode: (chunk: Uint8Array) => { t: Float64Array; v: Float64Array },
): Bucket[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let at = 0;
  const cols: Float64Array[] = [];
  let ends: Float64Array | undefined;
  for (let c = 0; c < BUCKET_COLUMNS.length; c++) {
    if (at + 4 > data.length) throw new RangeError("rollup chunk truncated");
    const n = view.getUint32(at);
    const part = decode(data.subarray(at + 4, at + 4 + n));
    ends ??= part.t;
    cols.push(part.v);
    at += 4 + n;
  }
  return Array.from(ends ?? [], (end, i) => {
    const b = { end } as Bucket;
    BUCKET_COLUMNS.forEach((c, k) => (b[c] = cols[k][i]));
    return b;
  });
}
