import fc from "fast-check";
import {
  decimalScale,
  decodeChunk,
  encodeChunk,
  encodeWith,
  chunkInfo,
  CorruptChunkError,
  encodeFormat1,
  MAX_CHUNK_SAMPLES,
  MAX_DECIMAL_SCALE,
} from "../../../core/metrics/codec";
import { RUN_AFTER } from "../../../core/metrics/bits";

/** Float64Array holding exactly these 64-bit patterns. */
function fromBits(bits: readonly bigint[]): Float64Array {
  const b = new BigUint64Array(bits.map((x) => BigInt.asUintN(64, x)));
  return new Float64Array(b.buffer);
}
const bitsOf = (v: Float64Array) => Array.from(new BigUint64Array(v.buffer, v.byteOffset, v.length));

const STALE = 0x7ff0000000000002n;
const SPECIAL = [
  STALE,
  0x7ff8000000000000n, // quiet NaN
  0x7ff0000000000001n, // signalling NaN, payload 1
  0xfff8000000000001n, // negative NaN with payload
  0x7fffffffffffffffn,
  0x7ff0000000000000n, // +Inf
  0xfff0000000000000n, // -Inf
  0x8000000000000000n, // -0
  0x0000000000000000n,
  0x0000000000000001n, // smallest subnormal
  0x000fffffffffffffn, // largest subnormal
  0x7fefffffffffffffn, // max float
];

const bits64 = fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.constantFrom(...SPECIAL));
const timestamp = fc.integer({ min: -(2 ** 50) + 1, max: 2 ** 50 - 1 });

function roundTrip(t: number[], v: Float64Array): void {
  const chunk = encodeChunk({ t, v });
  const out = decodeChunk(chunk);
  expect(Array.from(out.t)).toEqual(t);
  expect(bitsOf(out.v)).toEqual(bitsOf(v));
  // every mode that applies round-trips too, not only the one picked
  const k = decimalScale(v);
  for (const mode of k === undefined ? (["xor"] as const) : (["xor", "delta", "dod"] as const)) {
    const o = decodeChunk(encodeWith({ t, v }, mode, mode === "xor" ? 0 : k));
    expect(bitsOf(o.v)).toEqual(bitsOf(v));
    expect(Array.from(o.t)).toEqual(t);
  }
}

describe("chunk codec", () => {
  it("round-trips every float bit pattern and any timestamp order bit-exactly", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(timestamp, bits64), { maxLength: 200 }), (pairs) =>
        roundTrip(
          pairs.map((p) => p[0]),
          fromBits(pairs.map((p) => p[1])),
        ),
      ),
      { numRuns: 400 },
    );
  });

  it("round-trips sorted scrapes with jitter, counters with resets and decimal gauges", () => {
    const series = fc.record({
      start: fc.integer({ min: 0, max: 2 ** 42 }),
      step: fc.constantFrom(1000, 15_000, 60_000),
      jitter: fc.integer({ min: 0, max: 20 }),
      n: fc.integer({ min: 0, max: 300 }),
      kind: fc.constantFrom("counter", "gauge", "decimal", "constant", "mixed"),
      seed: fc.integer(),
    });
    fc.assert(
      fc.property(series, ({ start, step, jitter, n, kind, seed }) => {
        let x = seed >>> 0;
        const rnd = () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32;
        const t: number[] = [];
        const v = new Float64Array(n);
        let c = 0;
        for (let i = 0; i < n; i++) {
          t.push(start + i * step + Math.round(rnd() * jitter));
          if (kind === "counter") v[i] = c = rnd() < 0.01 ? 0 : c + Math.floor(rnd() * 5000);
          else if (kind === "gauge") v[i] = rnd() * 1e6 - 5e5;
          else if (kind === "decimal") v[i] = Math.round(rnd() * 1e6) / 100;
          else if (kind === "constant") v[i] = 42;
          else v[i] = i % 7 === 0 ? NaN : i % 5 === 0 ? -0 : Math.round(rnd() * 100) / 10;
        }
        roundTrip(t, v);
      }),
      { numRuns: 100 },
    );
  });

  it("still decodes chunks of the first layout (format 1, written by earlier versions)", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(timestamp, bits64), { maxLength: 100 }), (pairs) => {
        const t = pairs.map((p) => p[0]);
        const v = fromBits(pairs.map((p) => p[1]));
        const k = decimalScale(v);
        for (const mode of k === undefined ? (["xor"] as const) : (["xor", "delta", "dod"] as const)) {
          const old = encodeFormat1({ t, v }, mode, mode === "xor" ? 0 : k);
          expect(old[0]).toBe(1);
          const o = decodeChunk(old);
          expect(Array.from(o.t)).toEqual(t);
          expect(bitsOf(o.v)).toEqual(bitsOf(v));
        }
      }),
      { numRuns: 200 },
    );
  });

  it("codes regular scrapes and flat stretches as runs, and page-sized steps by their common factor", () => {
    const n = 480;
    const t = Array.from({ length: n }, (_, i) => 1_700_000_000_000 + i * 15_000);
    // a constant series: a few bytes for the whole chunk
    expect(encodeChunk({ t, v: new Float64Array(n).fill(1500) }).length).toBeLessThan(32);
    // flat with a rare step (an error counter), and a gauge moving by 4 KiB pages
    const rare = new Float64Array(n).map((_, i) => (i < 300 ? 7 : 8));
    expect(encodeChunk({ t, v: rare }).length).toBeLessThan(32);
    let pages = 1e6;
    const mem = new Float64Array(n).map((_, i) => (pages += ((i * 7919) % 61) - 30) * 4096);
    const c = encodeChunk({ t, v: mem });
    // |step| ≤ 30 pages: ~2 + 6 bits per sample, not the ~20 bits of the byte deltas
    expect(c.length / n).toBeLessThan(1.2);
    expect(bitsOf(decodeChunk(c).v)).toEqual(bitsOf(mem));
  });

  it("round-trips long runs of repeats and of regular steps (format 2's run codes) bit-exactly", () => {
    /** `segs` expanded: each item repeated its count times. */
    const expand = <T>(segs: [T, number][]): T[] => segs.flatMap(([x, k]) => Array.from({ length: k }, () => x));
    const segments = <T>(arb: fc.Arbitrary<T>) =>
      fc.array(fc.tuple(arb, fc.integer({ min: 1, max: 3 * RUN_AFTER })), { maxLength: 25 });
    const step = fc.oneof(fc.constantFrom(0, 1, 15_000, -15_000), fc.integer({ min: -(2 ** 30), max: 2 ** 30 }));
    fc.assert(
      fc.property(
        fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
        segments(step),
        segments(bits64),
        (start, steps, values) => {
          const d = expand(steps);
          const t = [start];
          for (const x of d) t.push(t[t.length - 1] + x);
          const bits = expand(values);
          // as many values as timestamps: cycle the value runs (or zeros when there are none)
          const v = fromBits(t.map((_, i) => (bits.length === 0 ? 0n : bits[i % bits.length])));
          roundTrip(t, v);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("round-trips counters and gauges with a common factor, constant stretches and resets", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 3, 512, 1024, 4096, 2 ** 30),
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.array(fc.tuple(fc.integer({ min: -100, max: 100 }), fc.integer({ min: 1, max: 3 * RUN_AFTER })), {
          maxLength: 25,
        }),
        fc.constantFrom(0, 1, 2, 3, 6),
        (g, m0, segs, k) => {
          const v: number[] = [];
          let m = m0;
          for (const [x, count] of segs)
            for (let i = 0; i < count; i++) {
              m = x === -100 ? 0 : m + x * g; // -100: a counter reset
              v.push(m / 10 ** k);
            }
          roundTrip(
            v.map((_, i) => 1_700_000_000_000 + i * 15_000),
            Float64Array.from(v),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it("round-trips zero runs of every length around the run threshold, at the start, middle and end", () => {
    for (let len = 0; len <= 2 * RUN_AFTER + 2; len++)
      for (const where of ["start", "middle", "end"] as const) {
        const flat = Array.from({ length: len }, () => 5);
        const v = where === "start" ? [...flat, 6, 9] : where === "end" ? [1, 2, ...flat] : [1, ...flat, 7];
        const t = v.map((_, i) => 1000 + i * 15_000 + (i === 1 ? 3 : 0));
        roundTrip(t, Float64Array.from(v));
      }
  });

  it("decodes arbitrary bytes only to samples or a CorruptChunkError", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 }),
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 0, max: MAX_DECIMAL_SCALE }),
        fc.integer({ min: 0, max: 127 }),
        fc.uint8Array({ maxLength: 64 }),
        (format, mode, scale, n, body) => {
          const chunk = Uint8Array.from([format, mode, scale, n, ...body]);
          try {
            const out = decodeChunk(chunk);
            expect(out.t.length).toBe(n);
            expect(out.v.length).toBe(n);
          } catch (e) {
            expect(e).toBeInstanceOf(CorruptChunkError);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("keeps the stale marker's payload and -0 (not canonicalised)", () => {
    const v = fromBits([0n, STALE, 0x8000000000000000n, STALE, 0x3ff0000000000000n]);
    const out = decodeChunk(encodeChunk({ t: [1, 2, 3, 4, 5], v }));
    expect(bitsOf(out.v)).toEqual([0n, STALE, 0x8000000000000000n, STALE, 0x3ff0000000000000n]);
  });

  it("picks the integer modes for counters and gauges and stays small", () => {
    const n = 480;
    const t = Array.from({ length: n }, (_, i) => 1_700_000_000_000 + i * 15_000);
    const counter = new Float64Array(n).map((_, i) => 1e9 + i * 1500 + (i % 3));
    const c = encodeChunk({ t, v: counter });
    expect(chunkInfo(c).mode).toBe("dod");
    expect(c.length / n).toBeLessThan(1.2);
    const constant = encodeChunk({ t, v: new Float64Array(n).fill(3) });
    expect(constant.length / n).toBeLessThan(0.3);
    const decimal = encodeChunk({
      t,
      v: new Float64Array(n).map((_, i) => Math.round((1234.56 + i * 14.97) * 100) / 100),
    });
    expect(chunkInfo(decimal).mode).not.toBe("xor");
    expect(chunkInfo(decimal).scale).toBe(2);
  });

  it("refuses bad input and corrupt chunks with a clear error", () => {
    expect(() => encodeChunk({ t: [1.5], v: new Float64Array(1) })).toThrow(/timestamp\[0\] must be an integer/);
    expect(() => encodeChunk({ t: [2 ** 50], v: new Float64Array(1) })).toThrow(/below 2\^50/);
    expect(() => encodeChunk({ t: [1, 2], v: new Float64Array(1) })).toThrow(/2 timestamps but 1 values/);
    const many = MAX_CHUNK_SAMPLES + 1;
    expect(() => encodeChunk({ t: { length: many }, v: new Float64Array(many) })).toThrow(/at most 16777216 samples/);
    const c = encodeChunk({ t: [1, 2, 3], v: new Float64Array([1.5, 2.25, 3.125]) });
    expect(() => decodeChunk(c.slice(0, c.length - 3))).toThrow(CorruptChunkError);
    expect(() => decodeChunk(Uint8Array.from([9, 0, 0, 0]))).toThrow(/unknown format 9/);
    // a zero run that claims more samples than the chunk has
    const flat = encodeChunk({ t: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], v: new Float64Array(12) });
    const lying = flat.slice();
    lying[3] = 10;
    expect(() => decodeChunk(lying)).toThrow(CorruptChunkError);
  });
});
