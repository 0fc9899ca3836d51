/**
 * Prometheus remote-write 1.0 payloads (`prometheus.WriteRequest`, protobuf; the HTTP body is
 * snappy block-compressed, undone by the runtime): decoding with every check done before anything
 * is written, and encoding (the typed client, tests and the bench send it). Pure.
 *
 * protobufjs (a dependency already pulled in by gRPC) reads the wire format; sample values are
 * taken straight from their 8 little-endian bytes into a Float64Array, never through a JS number,
 * so NaN payloads (the stale marker) arrive bit-exactly.
 *
 * A payload is refused as a whole (the error names the series and what is wrong) when: the body is
 * not a WriteRequest, a series' labels are invalid (core/metrics/labels.ts), a timestamp is out of
 * range, a series carries native histograms (not supported), or it has more than
 * {@link MAX_SAMPLES_PER_REQUEST} samples.
 */
import { Reader, Writer } from "protobufjs/minimal";
import { MAX_TIMESTAMP } from "./codec";
import { LabelError, seriesOf, type Series } from "./labels";

/** Most samples one request may carry (Prometheus sends up to max_samples_per_send, 2000 at most by default). */
export const MAX_SAMPLES_PER_REQUEST = 1_000_000;

/** A payload the receiver refuses (HTTP 400); `path` names where. */
export class PayloadError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = "PayloadError";
  }
}

/**
 * Memo of validated series by the raw bytes of their labels (a request repeats the same series:
 * Prometheus sends one entry per sample), so parsing, validation and hashing run once per series.
 * Bounded: cleared when it holds `limit` entries.
 */
export class SeriesCache {
  /** FNV-1a of the label bytes → entries with that hash (the bytes are compared on a hit). */
  private readonly map = new Map<number, { bytes: Uint8Array; series: Series }[]>();
  private count = 0;
  constructor(readonly limit = 500_000) {}

  /** The series whose label bytes are `body[from, to)`. */
  get(body: Uint8Array, from: number, to: number, hash: number): Series | undefined {
    const list = this.map.get(hash);
    if (!list) return undefined;
    outer: for (const e of list) {
      if (e.bytes.length !== to - from) continue;
      for (let i = 0; i < e.bytes.length; i++) if (e.bytes[i] !== body[from + i]) continue outer;
      return e.series;
    }
    return undefined;
  }

  set(body: Uint8Array, from: number, to: number, hash: number, series: Series): void {
    if (this.count >= this.limit) {
      this.map.clear();
      this.count = 0;
    }
    const entry = { bytes: body.slice(from, to), series };
    const list = this.map.get(hash);
    if (list) list.push(entry);
    else this.map.set(hash, [entry]);
    this.count++;
  }

  get size(): number {
    return this.count;
  }
}

/** FNV-1a (32-bit) of `b[from, to)`. */
function fnv1a(b: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return h >>> 0;
}

/** Samples of one series in one request, in arrival order. */
export interface SeriesBatch {
  series: Series;
  t: number[];
  /** Value bits: 2 × uint32 per sample (lo, hi), as written into a Float64Array's buffer. */
  v: Float64Array;
}

/** A decoded request: samples grouped by series. */
export interface DecodedWrite {
  batches: SeriesBatch[];
  samples: number;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reads a varint as a signed 64-bit integer that must fit ±2^50 (protobuf int64 two's complement). */
function readInt64(r: Reader, path: string): number {
  const buf = r.buf;
  let lo = 0;
  let hi = 0;
  let shift = 0;
  let i = r.pos;
  for (; ; i++) {
    if (i >= r.len) throw new PayloadError(path, "truncated varint");
    const b = buf[i];
    if (shift < 28) lo |= (b & 0x7f) << shift;
    else if (shift === 28) {
      lo |= (b & 0x0f) << 28;
      hi |= (b & 0x7f) >>> 4;
    } else hi |= (b & 0x7f) << (shift - 32);
    shift += 7;
    if ((b & 0x80) === 0) break;
    if (shift > 63) throw new PayloadError(path, "varint longer than 10 bytes");
  }
  r.pos = i + 1;
  const value = (hi | 0) * 2 ** 32 + (lo >>> 0);
  if (Math.abs(value) >= MAX_TIMESTAMP)
    throw new PayloadError(path, `timestamp ${value} is out of range (|t| < 2^50 ms)`);
  return value;
}

/** Reads one Label message (its length prefix at `at`). */
function readLabel(body: Uint8Array, at: number, path: string): [string, string] {
  const r = Reader.create(body);
  r.pos = at;
  const lend = r.uint32() + r.pos;
  let name = "";
  let value = "";
  while (r.pos < lend) {
    const t = r.uint32();
    if (t >>> 3 === 1 && (t & 7) === 2) name = r.string();
    else if (t >>> 3 === 2 && (t & 7) === 2) value = r.string();
    else r.skipType(t & 7);
  }
  if (r.pos !== lend) throw new PayloadError(`${path}.labels`, "malformed label");
  return [name, value];
}

/**
 * Decodes and validates a WriteRequest. Series sent as several entries (Prometheus sends one
 * entry per sample) are merged.
 * @throws PayloadError naming what is wrong
 */
export function decodeWriteRequest(body: Uint8Array, cache?: SeriesCache): DecodedWrite {
  const r = Reader.create(body);
  const bySeries = new Map<string, { series: Series; t: number[]; bits: number[] }>();
  let samples = 0;
  let index = 0;
  try {
    while (r.pos < r.len) {
      const tag = r.uint32();
      if (tag >>> 3 !== 1) {
        r.skipType(tag & 7);
        continue;
      }
      if ((tag & 7) !== 2) throw new PayloadError("WriteRequest.timeseries", "wrong wire type");
      const end = r.uint32() + r.pos;
      if (end > r.len) throw new PayloadError(`timeseries[${index}]`, "truncated");
      const path = `timeseries[${index++}]`;
      const labels: [string, string][] = [];
      const ts: number[] = [];
      const bits: number[] = [];
      const ranges: number[] = [];
      let labelsFrom = -1;
      let labelsTo = -1;
      let contiguous = true;
      while (r.pos < end) {
        const fieldStart = r.pos;
        const t2 = r.uint32();
        const field = t2 >>> 3;
        if (field === 1 && (t2 & 7) === 2) {
          const lstart = r.pos;
          const lend = r.uint32() + r.pos;
          if (lend > end) throw new PayloadError(`${path}.labels`, "truncated");
          if (labelsFrom < 0) labelsFrom = fieldStart;
          else if (labelsTo !== fieldStart) contiguous = false;
          labelsTo = lend;
          ranges.push(lstart);
          r.pos = lend;
        } else if (field === 2 && (t2 & 7) === 2) {
          const send = r.uint32() + r.pos;
          let lo = 0;
          let hi = 0;
          let t = 0;
          while (r.pos < send) {
            const t3 = r.uint32();
            if (t3 >>> 3 === 1 && (t3 & 7) === 1) {
              const p = r.pos;
              if (p + 8 > r.len) throw new PayloadError(`${path}.samples`, "truncated double");
              const b = r.buf;
              lo = (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
              hi = (b[p + 4] | (b[p + 5] << 8) | (b[p + 6] << 16) | (b[p + 7] << 24)) >>> 0;
              r.pos = p + 8;
            } else if (t3 >>> 3 === 2 && (t3 & 7) === 0) t = readInt64(r, `${path}.samples[${ts.length}].timestamp`);
            else r.skipType(t3 & 7);
          }
          ts.push(t);
          bits.push(lo, hi);
        } else if (field === 4) throw new PayloadError(`${path}.histograms`, "native histograms are not supported");
        else r.skipType(t2 & 7);
      }
      if (ts.length === 0) continue;
      // the cache is keyed by the label bytes (when they are one run, as every encoder writes them)
      const cacheable = cache !== undefined && contiguous && labelsFrom >= 0;
      const hash = cacheable ? fnv1a(body, labelsFrom, labelsTo) : 0;
      let series = cacheable ? cache.get(body, labelsFrom, labelsTo, hash) : undefined;
      if (!series) {
        for (const at of ranges) labels.push(readLabel(body, at, path));
        try {
          series = seriesOf(labels, path);
        } catch (e) {
          if (e instanceof LabelError) throw new PayloadError(e.path, e.message.slice(e.path.length + 1));
          throw e;
        }
        if (cacheable) cache.set(body, labelsFrom, labelsTo, hash, series);
      }
      samples += ts.length;
      if (samples > MAX_SAMPLES_PER_REQUEST)
        throw new PayloadError("WriteRequest", `more than ${MAX_SAMPLES_PER_REQUEST} samples in one request`);
      const acc = bySeries.get(series.id);
      if (acc) {
        acc.t.push(...ts);
        acc.bits.push(...bits);
      } else bySeries.set(series.id, { series, t: ts, bits });
    }
  } catch (e) {
    if (e instanceof PayloadError) throw e;
    throw new PayloadError("WriteRequest", `not a valid protobuf message: ${(e as Error).message}`);
  }
  const batches = [...bySeries.values()].map(({ series, t, bits }) => {
    const v = new Float64Array(t.length);
    const u = new Uint32Array(v.buffer);
    for (let i = 0; i < t.length; i++) {
      u[2 * i + (LITTLE_ENDIAN ? 0 : 1)] = bits[2 * i];
      u[2 * i + (LITTLE_ENDIAN ? 1 : 0)] = bits[2 * i + 1];
    }
    return { series, t, v };
  });
  return { batches, samples };
}

/** One series to encode: labels (any order) and samples. */
export interface WriteSeries {
  labels: Record<string, string>;
  t: ArrayLike<number>;
  v: Float64Array;
}

/** Encodes a WriteRequest (uncompressed protobuf; values written from their bits). */
export function encodeWriteRequest(series: readonly WriteSeries[]): Uint8Array {
  const w = Writer.create();
  for (const s of series) {
    const ts = w.uint32((1 << 3) | 2).fork();
    for (const [name, value] of Object.entries(s.labels)) {
      ts.uint32((1 << 3) | 2).fork();
      ts.uint32((1 << 3) | 2).string(name);
      ts.uint32((2 << 3) | 2).string(value);
      ts.ldelim();
    }
    const u = new Uint32Array(s.v.buffer, s.v.byteOffset, s.v.length * 2);
    for (let i = 0; i < s.t.length; i++) {
      ts.uint32((2 << 3) | 2).fork();
      // a double's wire form is its 8 bytes little-endian: the low word then the high word
      ts.uint32((1 << 3) | 1)
        .fixed32(u[2 * i + (LITTLE_ENDIAN ? 0 : 1)])
        .fixed32(u[2 * i + (LITTLE_ENDIAN ? 1 : 0)]);
      ts.uint32((2 << 3) | 0).int64(s.t[i]);
      ts.ldelim();
    }
    ts.ldelim();
  }
  return w.finish();
}
