/**
 * Bit streams for the chunk codec: a growable writer and a reader of up to 32 bits at a time,
 * most significant bit first, plus the signed-integer "bucket" code shared by timestamps
 * (delta-of-delta) and integer values (delta or delta-of-delta). Pure.
 *
 * Bucket code of an integer x (|x| ≤ 2^52), on its zigzag form z (0, -1, 1, -2, … → 0, 1, 2, 3, …):
 *   `0`            z = 0
 *   `10`    + 7    z < 2^7
 *   `110`   + 14   z < 2^14
 *   `1110`  + 20   z < 2^20
 *   `11110` + 32   z < 2^32
 *   `11111` + 53   z < 2^53
 * Gorilla's own buckets are for second timestamps (7/9/12/32); these fit millisecond timestamps
 * and the jitter of real scrapes (a few ms: 10 bits) as well as scaled integer values.
 */

/** Largest magnitude the bucket code (and so the codec's timestamps and integer values) carries. */
export const MAX_BUCKET_MAGNITUDE = 2 ** 52;

export class BitWriter {
  private buf: Uint8Array;
  /** Bits written. */
  private pos = 0;

  constructor(initialBytes = 64) {
    this.buf = new Uint8Array(Math.max(8, initialBytes));
  }

  private ensure(bits: number): void {
    const need = (this.pos + bits + 7) >>> 3;
    if (need <= this.buf.length) return;
    const next = new Uint8Array(Math.max(need, this.buf.length * 2));
    next.set(this.buf);
    this.buf = next;
  }

  /** Writes the low `n` bits of `value` (0 ≤ n ≤ 32), most significant first. */
  writeBits(value: number, n: number): void {
    if (n === 0) return;
    this.ensure(n);
    let v = n === 32 ? value >>> 0 : (value >>> 0) & ((1 << n) - 1);
    let left = n;
    while (left > 0) {
      const byte = this.pos >>> 3;
      const free = 8 - (this.pos & 7);
      const take = Math.min(free, left);
      const shift = left - take;
      const chunk = (v >>> shift) & ((1 << take) - 1);
      this.buf[byte] |= chunk << (free - take);
      this.pos += take;
      left -= take;
      v = shift === 0 ? 0 : (v & ((2 ** shift - 1) | 0)) >>> 0;
    }
  }

  writeBit(bit: 0 | 1 | boolean): void {
    this.writeBits(bit ? 1 : 0, 1);
  }

  /** Writes a non-negative integer below 2^53 in `n` bits (33 ≤ n ≤ 53 uses two writes). */
  writeWide(value: number, n: number): void {
    if (n <= 32) return this.writeBits(value, n);
    const hi = Math.floor(value / 2 ** 32);
    this.writeBits(hi, n - 32);
    this.writeBits(value - hi * 2 ** 32, 32);
  }

  /** Writes a signed integer (|x| ≤ 2^52) in the bucket code. */
  writeBucket(x: number): void {
    const z = x >= 0 ? x * 2 : -x * 2 - 1;
    if (z === 0) this.writeBits(0, 1);
    else if (z < 2 ** 7) {
      this.writeBits(0b10, 2);
      this.writeBits(z, 7);
    } else if (z < 2 ** 14) {
      this.writeBits(0b110, 3);
      this.writeBits(z, 14);
    } else if (z < 2 ** 20) {
      this.writeBits(0b1110, 4);
      this.writeBits(z, 20);
    } else if (z < 2 ** 32) {
      this.writeBits(0b11110, 5);
      this.writeBits(z, 32);
    } else {
      this.writeBits(0b11111, 5);
      this.writeWide(z, 53);
    }
  }

  /** Appends whole bytes (the writer must be byte-aligned). */
  writeBytes(bytes: Uint8Array): void {
    if ((this.pos & 7) !== 0) throw new Error("BitWriter.writeBytes: not byte-aligned");
    this.ensure(bytes.length * 8);
    this.buf.set(bytes, this.pos >>> 3);
    this.pos += bytes.length * 8;
  }

  /** An unsigned LEB128 varint (byte-aligned writers only; values below 2^53). */
  writeVarint(value: number): void {
    const out: number[] = [];
    let v = value;
    while (v >= 0x80) {
      out.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    out.push(v);
    this.writeBytes(Uint8Array.from(out));
  }

  /** Bits written so far. */
  get bitLength(): number {
    return this.pos;
  }

  /** The bytes written (the last one zero-padded). */
  finish(): Uint8Array {
    return this.buf.slice(0, (this.pos + 7) >>> 3);
  }
}

/** Thrown when a stream ends early or holds an impossible code. */
export class CorruptChunkError extends Error {
  constructor(message: string) {
    super(`corrupt chunk: ${message}`);
    this.name = "CorruptChunkError";
  }
}

/**
 * Adaptive integer streams (chunk format 2). A stream of signed integers (|x| ≤ 2^52) is coded on
 * their zigzag form z with one width W (0–53) chosen per stream, the one giving the fewest bits:
 *   `0`                z = 0
 *   `10` + W bits      z < 2^W
 *   `11` + 6 + w bits  otherwise (w = the bit length of z)
 * and runs of zeros: after {@link RUN_AFTER} zeros in a row, an Elias-gamma count g ≥ 1 says that
 * g − 1 more zeros follow. Regular scrapes (timestamp delta-of-delta 0) and constant or flat
 * series then cost a few bytes per chunk instead of a bit per sample.
 */
export const RUN_AFTER = 8;

const bitLength = (z: number): number =>
  z === 0 ? 0 : z < 2 ** 32 ? 32 - Math.clz32(z) : 32 + (32 - Math.clz32(Math.floor(z / 2 ** 32)));
const zigzag = (x: number): number => (x >= 0 ? x * 2 : -x * 2 - 1);

/** Writes an Elias-gamma code of g ≥ 1 (g < 2^32). */
export function writeGamma(w: BitWriter, g: number): void {
  const n = 31 - Math.clz32(g);
  w.writeBits(0, n);
  w.writeBits(g, n + 1);
}

/** Reads an Elias-gamma code. */
export function readGamma(r: BitReader): number {
  let n = 0;
  while (r.readBit() === 0) {
    if (++n > 31) throw new CorruptChunkError("gamma code longer than 32 bits");
  }
  return n === 0 ? 1 : 2 ** n + r.readBits(n);
}

/** The width W that codes `xs` in the fewest bits. */
function bestWidth(xs: ArrayLike<number>): number {
  const hist = new Array<number>(54).fill(0);
  for (let i = 0; i < xs.length; i++) hist[bitLength(zigzag(xs[i]))]++;
  let best = 0;
  let bestCost = Infinity;
  for (let W = 0; W <= 53; W++) {
    let cost = 0;
    for (let b = 1; b <= 53; b++) cost += hist[b] * (b <= W ? 2 + W : 8 + b);
    if (cost < bestCost) {
      bestCost = cost;
      best = W;
    }
  }
  return best;
}

/** Writes `xs` as an adaptive stream (its width first, 6 bits). */
export function writeAdaptive(w: BitWriter, xs: ArrayLike<number>): void {
  const W = bestWidth(xs);
  w.writeBits(W, 6);
  const n = xs.length;
  for (let i = 0; i < n;) {
    if (xs[i] === 0) {
      let run = 1;
      while (i + run < n && xs[i + run] === 0) run++;
      w.writeBits(0, Math.min(run, RUN_AFTER));
      if (run >= RUN_AFTER) writeGamma(w, run - RUN_AFTER + 1);
      i += run;
      continue;
    }
    const z = zigzag(xs[i]);
    const b = bitLength(z);
    if (b <= W) {
      w.writeBits(0b10, 2);
      w.writeWide(z, W);
    } else {
      w.writeBits(0b11, 2);
      w.writeBits(b, 6);
      w.writeWide(z, b);
    }
    i++;
  }
}

/** Reads `n` integers of an adaptive stream into `out` (from index `at`). */
export function readAdaptive(r: BitReader, n: number, out: Float64Array, at = 0): void {
  const W = r.readBits(6);
  if (W > 53) throw new CorruptChunkError(`stream width ${W}`);
  let zeros = 0;
  for (let i = at; i < at + n;) {
    if (r.readBit() === 0) {
      out[i++] = 0;
      if (++zeros === RUN_AFTER) {
        const more = readGamma(r) - 1;
        if (i + more > at + n) throw new CorruptChunkError("zero run past the end of the stream");
        for (let k = 0; k < more; k++) out[i++] = 0;
        zeros = 0;
      }
      continue;
    }
    zeros = 0;
    const width = r.readBit() === 0 ? W : r.readBits(6);
    if (width > 53) throw new CorruptChunkError(`value width ${width}`);
    const z = r.readWide(width);
    out[i++] = z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }
}

/** Payload widths of the bucket code after the prefixes 10, 110, 1110, 11110 and 11111. */
const BUCKET_WIDTHS = [7, 14, 20, 32, 53];

export class BitReader {
  private pos: number;
  private readonly end: number;

  constructor(
    private readonly buf: Uint8Array,
    startByte = 0,
  ) {
    this.pos = startByte * 8;
    this.end = buf.length * 8;
  }

  /** Reads `n` bits (0 ≤ n ≤ 32) as an unsigned number. */
  readBits(n: number): number {
    if (n === 0) return 0;
    if (this.pos + n > this.end) throw new CorruptChunkError(`needs ${n} more bits at bit ${this.pos}`);
    let v = 0;
    let left = n;
    while (left > 0) {
      const byte = this.buf[this.pos >>> 3];
      const off = this.pos & 7;
      const avail = 8 - off;
      const take = Math.min(avail, left);
      const chunk = (byte >>> (avail - take)) & ((1 << take) - 1);
      v = v * 2 ** take + chunk;
      this.pos += take;
      left -= take;
    }
    return v;
  }

  readBit(): number {
    return this.readBits(1);
  }

  /** Reads an unsigned integer of `n` bits, n ≤ 53. */
  readWide(n: number): number {
    if (n <= 32) return this.readBits(n);
    const hi = this.readBits(n - 32);
    return hi * 2 ** 32 + this.readBits(32);
  }

  /** Reads a bucket-coded signed integer. */
  readBucket(): number {
    // unary prefix: the number of 1 bits before a 0 (at most 5) selects the payload width
    let ones = 0;
    while (ones < 5 && this.readBit() === 1) ones++;
    if (ones === 0) return 0;
    const z = this.readWide(BUCKET_WIDTHS[ones - 1]);
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  /** An unsigned LEB128 varint (byte-aligned). */
  readVarint(): number {
    if ((this.pos & 7) !== 0) throw new CorruptChunkError("varint not byte-aligned");
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.readBits(8);
      v += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return v;
      scale *= 0x80;
    }
    throw new CorruptChunkError("varint longer than 8 bytes");
  }

  /** Bits left. */
  get remaining(): number {
    return this.end - this.pos;
  }
}
