/**
 * The chunk codec of the metrics store (Gorilla, Pelkonen et al., VLDB 2015, with the counter and
 * gauge modes that make real scrapes smaller). Pure.
 *
 * A chunk holds one series' samples in the order given: timestamps (integer milliseconds, any
 * order, |t| < 2^50) and float64 values, which round-trip **bit-exactly**: every NaN payload
 * (the Prometheus stale marker 0x7ff0000000000002 included), ±Inf, -0 and subnormals. Values are
 * read and written through their bits (Uint32 views of the Float64Array), never through a JS
 * number that could be canonicalised.
 *
 * Two layouts share a header: byte 0 the format (1 or 2), byte 1 the value mode, byte 2 the
 * decimal scale, a varint sample count. Chunks are written in format 2 (below, before
 * `writeTimestamps2`); format 1, the first layout, is still decoded, since stored chunks keep the
 * format they were sealed in (a chunk is rewritten, in format 2, only when late samples merge
 * into it).
 *
 * Format 1: a bit stream of the first timestamp (zigzag, 53 bits), the first delta and then one
 * delta-of-delta per sample (bucket code, core/metrics/bits.ts), then the values:
 * - `xor` (Gorilla): the first value's 64 bits, then per value its XOR with the previous one:
 *   `0` (same value), `10` + the meaningful bits inside the previous window of leading/trailing
 *   zeros, or `11` + 5 bits of leading zeros + 6 bits of length + the meaningful bits.
 * - `delta` (gauges) and `dod` (counters): when every value is exactly `m / 10^k` for integers
 *   `|m| ≤ 2^50` and one scale `0 ≤ k ≤ 9` (what exporters print: byte counts, `12345.67`
 *   CPU seconds, `0.52` load), the integers `m` are coded as the first one and then their
 *   deltas (`delta`) or delta-of-deltas (`dod`), bucket-coded. `m / 10^k` is one correctly
 *   rounded IEEE division, so the decoder recovers the same bits; the encoder checks each value
 *   with `Object.is` (so -0 and NaN never take these modes).
 * The encoder tries the modes that apply and keeps the smallest. Format 2 keeps these modes and
 * adds what real scrapes are made of (measured on bench/node-exporter.ts): zero runs (a 15 s
 * scrape's timestamps, constant series and flat counters cost a few bytes per chunk, not a bit per
 * sample), one integer width per chunk chosen from the chunk's own histogram instead of fixed
 * buckets, and a common factor of the integer deltas (4096-byte pages, 512-byte sectors).
 */
import {
  BitReader,
  BitWriter,
  CorruptChunkError,
  MAX_BUCKET_MAGNITUDE,
  readAdaptive,
  readGamma,
  RUN_AFTER,
  writeAdaptive,
  writeGamma,
} from "./bits";

export { CorruptChunkError } from "./bits";

/** Format byte of the layout written (format 1, the first layout, is still read). */
export const CHUNK_FORMAT = 2;
/** Timestamps (ms) and scaled integer values must stay below this in magnitude (±35,000 years of ms). */
export const MAX_TIMESTAMP = 2 ** 50;
/** Most samples one chunk may hold (a day of 1 s samples is 86,400). */
export const MAX_CHUNK_SAMPLES = 16_777_216;
/** Largest decimal scale tried for the integer modes. */
export const MAX_DECIMAL_SCALE = 9;

/** Value coding of a chunk. */
export const VALUE_MODES = ["xor", "delta", "dod"] as const;
export type ValueMode = (typeof VALUE_MODES)[number];

/** Samples of one series: parallel arrays. */
export interface Samples {
  /** Integer milliseconds. */
  readonly t: ArrayLike<number>;
  /** float64 values (bits are what round-trips). */
  readonly v: Float64Array;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
// lo/hi word offsets of a float64 in a Uint32Array view
const LO = LITTLE_ENDIAN ? 0 : 1;
const HI = LITTLE_ENDIAN ? 1 : 0;

const POW10 = Array.from({ length: MAX_DECIMAL_SCALE + 1 }, (_, k) => 10 ** k);

/** Count of leading zero bits of the 64-bit value (hi, lo). */
const clz64 = (hi: number, lo: number): number => (hi !== 0 ? Math.clz32(hi) : 32 + Math.clz32(lo));
/** Count of trailing zero bits of the 64-bit value (hi, lo), which is not 0. */
function ctz64(hi: number, lo: number): number {
  if (lo !== 0) return 31 - Math.clz32(lo & -lo);
  return 32 + 31 - Math.clz32(hi & -hi);
}

/** Writes the `sig` bits of (hi, lo) >> shift. */
function writeShifted(w: BitWriter, hi: number, lo: number, shift: number, sig: number): void {
  let h = hi >>> 0;
  let l = lo >>> 0;
  if (shift >= 32) {
    l = h >>> (shift - 32);
    h = 0;
  } else if (shift > 0) {
    l = ((l >>> shift) | (h << (32 - shift))) >>> 0;
    h = h >>> shift;
  }
  if (sig > 32) {
    w.writeBits(h, sig - 32);
    w.writeBits(l, 32);
  } else w.writeBits(sig === 32 ? l : l & ((2 ** sig - 1) | 0), sig);
}

/** Reads `sig` bits and shifts them left by `shift`: returns [hi, lo]. */
function readShifted(r: BitReader, sig: number, shift: number): [number, number] {
  let h = 0;
  let l: number;
  if (sig > 32) {
    h = r.readBits(sig - 32);
    l = r.readBits(32);
  } else l = r.readBits(sig);
  if (shift >= 32) return [(l << (shift - 32)) >>> 0, 0];
  if (shift > 0) return [((h << shift) | (l >>> (32 - shift))) >>> 0, (l << shift) >>> 0];
  return [h >>> 0, l >>> 0];
}

function checkTimestamps(t: ArrayLike<number>): void {
  for (let i = 0; i < t.length; i++) {
    const x = t[i];
    if (!Number.isInteger(x) || Math.abs(x) >= MAX_TIMESTAMP)
      throw new RangeError(`timestamp[${i}] must be an integer number of ms below 2^50 in magnitude; got ${String(x)}`);
  }
}

function writeTimestamps(w: BitWriter, t: ArrayLike<number>): void {
  const n = t.length;
  if (n === 0) return;
  const z = t[0] >= 0 ? t[0] * 2 : -t[0] * 2 - 1;
  w.writeWide(z, 53);
  if (n === 1) return;
  let delta = t[1] - t[0];
  w.writeBucket(delta);
  for (let i = 2; i < n; i++) {
    const d = t[i] - t[i - 1];
    w.writeBucket(d - delta);
    delta = d;
  }
}

function readTimestamps(r: BitReader, n: number): Float64Array {
  const t = new Float64Array(n);
  if (n === 0) return t;
  const z = r.readWide(53);
  t[0] = z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  if (n === 1) return t;
  let delta = r.readBucket();
  t[1] = t[0] + delta;
  for (let i = 2; i < n; i++) {
    delta += r.readBucket();
    t[i] = t[i - 1] + delta;
  }
  return t;
}

/** The smallest scale k with every value exactly m / 10^k (|m| ≤ 2^50), or undefined. */
export function decimalScale(v: Float64Array): number | undefined {
  if (v.length === 0) return undefined;
  outer: for (let k = 0; k <= MAX_DECIMAL_SCALE; k++) {
    const p = POW10[k];
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      const m = k === 0 ? x : Math.round(x * p);
      // -0 is an integer to JS but the integer code has no sign for zero
      if (Object.is(m, -0) || !Number.isInteger(m) || Math.abs(m) >= MAX_TIMESTAMP) continue outer;
      if (!Object.is(k === 0 ? m : m / p, x)) continue outer;
    }
    return k;
  }
  return undefined;
}

function scaled(v: Float64Array, k: number): Float64Array {
  const p = POW10[k];
  return k === 0 ? v : v.map((x) => Math.round(x * p));
}

function writeInts(w: BitWriter, m: Float64Array, mode: "delta" | "dod"): void {
  const n = m.length;
  if (n === 0) return;
  w.writeBucket(m[0]);
  if (n === 1) return;
  let delta = m[1] - m[0];
  w.writeBucket(delta);
  for (let i = 2; i < n; i++) {
    const d = m[i] - m[i - 1];
    w.writeBucket(mode === "dod" ? d - delta : d);
    delta = d;
  }
}

function readInts(r: BitReader, n: number, mode: "delta" | "dod", k: number): Float64Array {
  const v = new Float64Array(n);
  if (n === 0) return v;
  const p = POW10[k];
  let m = r.readBucket();
  v[0] = k === 0 ? m : m / p;
  if (n === 1) return v;
  let delta = r.readBucket();
  m += delta;
  v[1] = k === 0 ? m : m / p;
  for (let i = 2; i < n; i++) {
    const x = r.readBucket();
    if (mode === "dod") delta += x;
    else delta = x;
    m += delta;
    if (Math.abs(m) > MAX_BUCKET_MAGNITUDE) throw new CorruptChunkError("integer value out of range");
    v[i] = k === 0 ? m : m / p;
  }
  return v;
}

function header(mode: ValueMode, scale: number, n: number): BitWriter {
  const w = new BitWriter(16 + n);
  w.writeBits(CHUNK_FORMAT, 8);
  w.writeBits(VALUE_MODES.indexOf(mode), 8);
  w.writeBits(scale, 8);
  w.writeVarint(n);
  return w;
}

/*
 * Format 2: the same header (then, for the integer modes, a varint common factor g), then
 * - timestamps: the first (zigzag, 53 bits), then the first delta and the delta-of-deltas as one
 *   adaptive stream (core/metrics/bits.ts: a width per chunk, zero runs);
 * - values: `xor` as Gorilla with runs (after RUN_AFTER repeats of a value, a gamma count of
 *   further repeats), or the integers m as one adaptive stream [m0, d1/g, x2/g, …] where the
 *   d are deltas, the x deltas (`delta`) or delta-of-deltas (`dod`) and g the greatest common
 *   divisor of the deltas (page, sector and kB granularity: 4096, 512, 1024).
 */

function writeTimestamps2(w: BitWriter, t: ArrayLike<number>): void {
  const n = t.length;
  if (n === 0) return;
  const z = t[0] >= 0 ? t[0] * 2 : -t[0] * 2 - 1;
  w.writeWide(z, 53);
  if (n === 1) return;
  const xs = new Float64Array(n - 1);
  let delta = t[1] - t[0];
  xs[0] = delta;
  for (let i = 2; i < n; i++) {
    const d = t[i] - t[i - 1];
    xs[i - 1] = d - delta;
    delta = d;
  }
  writeAdaptive(w, xs);
}

function readTimestamps2(r: BitReader, n: number): Float64Array {
  const t = new Float64Array(n);
  if (n === 0) return t;
  const z = r.readWide(53);
  t[0] = z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  if (n === 1) return t;
  readAdaptive(r, n - 1, t, 1);
  let delta = t[1];
  t[1] = t[0] + delta;
  for (let i = 2; i < n; i++) {
    delta += t[i];
    if (Math.abs(delta) > MAX_BUCKET_MAGNITUDE) throw new CorruptChunkError("timestamp delta out of range");
    t[i] = t[i - 1] + delta;
  }
  return t;
}

/**
 * Gorilla's XOR values; `runs` (format 2): after {@link RUN_AFTER} repeats of a value, a gamma
 * count of further repeats (format 1 spends one bit on every repeat).
 */
function writeXor(w: BitWriter, v: Float64Array, runs: boolean): void {
  const u = new Uint32Array(v.buffer, v.byteOffset, v.length * 2);
  const n = v.length;
  if (n === 0) return;
  let ph = u[HI];
  let pl = u[LO];
  w.writeBits(ph, 32);
  w.writeBits(pl, 32);
  let lead = -1;
  let trail = 0;
  for (let i = 1; i < n;) {
    const ch = u[2 * i + HI];
    const cl = u[2 * i + LO];
    if (ch === ph && cl === pl) {
      let run = 1;
      if (runs) while (i + run < n && u[2 * (i + run) + HI] === ph && u[2 * (i + run) + LO] === pl) run++;
      w.writeBits(0, Math.min(run, RUN_AFTER));
      if (run >= RUN_AFTER) writeGamma(w, run - RUN_AFTER + 1);
      i += run;
      continue;
    }
    const xh = (ch ^ ph) >>> 0;
    const xl = (cl ^ pl) >>> 0;
    ph = ch;
    pl = cl;
    let lz = clz64(xh, xl);
    const tz = ctz64(xh, xl);
    if (lead >= 0 && lz >= lead && tz >= trail) {
      w.writeBits(0b10, 2);
      writeShifted(w, xh, xl, trail, 64 - lead - trail);
    } else {
      if (lz > 31) lz = 31;
      const sig = 64 - lz - tz;
      w.writeBits(0b11, 2);
      w.writeBits(lz, 5);
      w.writeBits(sig === 64 ? 0 : sig, 6);
      writeShifted(w, xh, xl, tz, sig);
      lead = lz;
      trail = tz;
    }
    i++;
  }
}

function readXor(r: BitReader, n: number, runs: boolean): Float64Array {
  const v = new Float64Array(n);
  if (n === 0) return v;
  const u = new Uint32Array(v.buffer);
  let ph = r.readBits(32);
  let pl = r.readBits(32);
  u[HI] = ph;
  u[LO] = pl;
  let lead = -1;
  let trail = 0;
  let repeats = 0;
  for (let i = 1; i < n;) {
    if (r.readBit() === 0) {
      u[2 * i + HI] = ph;
      u[2 * i + LO] = pl;
      i++;
      if (runs && ++repeats === RUN_AFTER) {
        const more = readGamma(r) - 1;
        if (i + more > n) throw new CorruptChunkError("repeat run past the end of the chunk");
        for (let k = 0; k < more; k++, i++) {
          u[2 * i + HI] = ph;
          u[2 * i + LO] = pl;
        }
        repeats = 0;
      }
      continue;
    }
    repeats = 0;
    if (r.readBit() === 1) {
      lead = r.readBits(5);
      let sig = r.readBits(6);
      if (sig === 0) sig = 64;
      trail = 64 - lead - sig;
      if (trail < 0) throw new CorruptChunkError(`xor window of ${sig} bits after ${lead} leading zeros`);
    } else if (lead < 0) throw new CorruptChunkError("xor reuses a window before one was set");
    const [xh, xl] = readShifted(r, 64 - lead - trail, trail);
    ph = (ph ^ xh) >>> 0;
    pl = (pl ^ xl) >>> 0;
    u[2 * i + HI] = ph;
    u[2 * i + LO] = pl;
    i++;
  }
  return v;
}

const gcd = (a: number, b: number): number => {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
};

/** The integer stream of values m: [m0, d1/g, x2/g, …] and the factor g. */
function intStream(m: Float64Array, mode: "delta" | "dod"): { g: number; xs: Float64Array } {
  const n = m.length;
  let g = 0;
  for (let i = 1; i < n && g !== 1; i++) g = gcd(g, Math.abs(m[i] - m[i - 1]));
  if (g === 0) g = 1;
  const xs = new Float64Array(n);
  if (n === 0) return { g, xs };
  xs[0] = m[0];
  let delta = 0;
  for (let i = 1; i < n; i++) {
    const d = (m[i] - m[i - 1]) / g;
    xs[i] = mode === "dod" && i > 1 ? d - delta : d;
    delta = d;
  }
  return { g, xs };
}

function readInts2(r: BitReader, n: number, mode: "delta" | "dod", k: number, g: number): Float64Array {
  const v = new Float64Array(n);
  if (n === 0) return v;
  readAdaptive(r, n, v);
  const p = POW10[k];
  let m = v[0];
  let delta = 0;
  v[0] = k === 0 ? m : m / p;
  for (let i = 1; i < n; i++) {
    const x = v[i];
    delta = mode === "dod" && i > 1 ? delta + x : x;
    m += delta * g;
    if (Math.abs(m) > MAX_BUCKET_MAGNITUDE) throw new CorruptChunkError("integer value out of range");
    v[i] = k === 0 ? m : m / p;
  }
  return v;
}

/** Encodes with one value mode (`delta`/`dod` need `scale`, from {@link decimalScale}). */
export function encodeWith(s: Samples, mode: ValueMode, scale = 0): Uint8Array {
  const n = s.t.length;
  if (s.v.length !== n) throw new RangeError(`samples: ${n} timestamps but ${s.v.length} values`);
  if (n > MAX_CHUNK_SAMPLES) throw new RangeError(`a chunk holds at most ${MAX_CHUNK_SAMPLES} samples; got ${n}`);
  checkTimestamps(s.t);
  const w = header(mode, scale, n);
  if (mode === "xor") {
    writeTimestamps2(w, s.t);
    writeXor(w, s.v, true);
  } else {
    const { g, xs } = intStream(scaled(s.v, scale), mode);
    w.writeVarint(g);
    writeTimestamps2(w, s.t);
    if (n > 0) writeAdaptive(w, xs);
  }
  return w.finish();
}

/** Encodes in the first layout (format 1): kept to test that chunks written by earlier versions still decode. */
export function encodeFormat1(s: Samples, mode: ValueMode, scale = 0): Uint8Array {
  const n = s.t.length;
  checkTimestamps(s.t);
  const w = new BitWriter(16 + n);
  w.writeBits(1, 8);
  w.writeBits(VALUE_MODES.indexOf(mode), 8);
  w.writeBits(scale, 8);
  w.writeVarint(n);
  writeTimestamps(w, s.t);
  if (mode === "xor") writeXor(w, s.v, false);
  else writeInts(w, scaled(s.v, scale), mode);
  return w.finish();
}

/**
 * Encodes one series' samples into a chunk, in the value mode that gives the fewest bytes.
 * @throws RangeError when lengths differ or a timestamp is not an integer within ±2^50
 */
export function encodeChunk(s: Samples): Uint8Array {
  let best = encodeWith(s, "xor");
  const k = decimalScale(s.v);
  if (k !== undefined)
    for (const mode of ["delta", "dod"] as const) {
      const c = encodeWith(s, mode, k);
      if (c.length < best.length) best = c;
    }
  return best;
}

/** What a chunk header says. */
export interface ChunkInfo {
  mode: ValueMode;
  scale: number;
  count: number;
}

/** Reads a chunk's header. @throws CorruptChunkError */
export function chunkInfo(chunk: Uint8Array): ChunkInfo {
  if (chunk.length < 4) throw new CorruptChunkError(`${chunk.length} bytes is shorter than a header`);
  if (chunk[0] !== 1 && chunk[0] !== 2) throw new CorruptChunkError(`unknown format ${chunk[0]}`);
  const mode = VALUE_MODES[chunk[1]];
  if (mode === undefined) throw new CorruptChunkError(`unknown value mode ${chunk[1]}`);
  const scale = chunk[2];
  if (scale > MAX_DECIMAL_SCALE) throw new CorruptChunkError(`decimal scale ${scale}`);
  const r = new BitReader(chunk, 3);
  return { mode, scale, count: r.readVarint() };
}

/** Decodes a chunk into its samples (timestamps as a Float64Array of integers). @throws CorruptChunkError */
export function decodeChunk(chunk: Uint8Array): { t: Float64Array; v: Float64Array } {
  const { mode, scale } = chunkInfo(chunk);
  const r = new BitReader(chunk, 3);
  const n = r.readVarint();
  if (chunk[0] === 1) {
    if (n > chunk.length * 8) throw new CorruptChunkError(`${n} samples cannot fit ${chunk.length} bytes`);
    const t = readTimestamps(r, n);
    const v = mode === "xor" ? readXor(r, n, false) : readInts(r, n, mode, scale);
    return { t, v };
  }
  // runs let a chunk hold far more samples than bits; bound n by what one chunk may hold
  if (n > MAX_CHUNK_SAMPLES) throw new CorruptChunkError(`${n} samples is more than a chunk holds`);
  if (mode === "xor") {
    const t = readTimestamps2(r, n);
    return { t, v: readXor(r, n, true) };
  }
  const g = r.readVarint();
  if (g < 1) throw new CorruptChunkError("integer factor 0");
  const t = readTimestamps2(r, n);
  return { t, v: readInts2(r, n, mode, scale, g) };
}
