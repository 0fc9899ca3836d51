import fc from "fast-check";
import { blockRows, bucketsOutside, ROLLUP_1M, samplesOutside } from "../../../core/metrics/block";
import { decodeChunk } from "../../../core/metrics/codec";
import { decodeBuckets, rollup } from "../../../core/metrics/rollup";

const bitsOf = (v: Float64Array) => Array.from(new BigUint64Array(v.buffer, v.byteOffset, v.length));

describe("block rows and deletes", () => {
  it("a delete keeps exactly the samples outside the span (bits intact), and the rebuilt rollups are those of what is left", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 7_200_000 }), { maxLength: 300 }),
        fc.integer({ min: -1000, max: 7_300_000 }),
        fc.integer({ min: 0, max: 3_000_000 }),
        (ts, mint, len) => {
          const t = [...ts].sort((a, b) => a - b);
          const v = Float64Array.from(t, (x, i) => (i % 5 === 0 ? NaN : x / 7));
          const rows = blockRows(t, v);
          const maxt = mint + len;
          const left = samplesOutside(rows.chunk, mint, maxt);
          const keep = t.map((x, i) => [x, i] as const).filter(([x]) => x < mint || x > maxt);
          expect(left.t).toEqual(keep.map(([x]) => x));
          expect(bitsOf(left.v)).toEqual(bitsOf(Float64Array.from(keep, ([, i]) => v[i])));
          expect(left.removed).toBe(t.length - keep.length);
          const rebuilt = decodeBuckets(blockRows(left.t, left.v).r1m, decodeChunk);
          expect(rebuilt.map((b) => [b.end, b.count])).toEqual(
            rollup(left.t, left.v, ROLLUP_1M).map((b) => [b.end, b.count]),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it("without raw samples, a delete drops every rollup bucket the span touches and only those", () => {
    const t = Array.from({ length: 480 }, (_, i) => 15_000 * (i + 1));
    const { r1m } = blockRows(
      t,
      Float64Array.from(t, (_, i) => i),
    );
    // (61 s, 119 s] touches the buckets ending at 120 s only; [60 s, 60 s] the one ending at 60 s
    const left = decodeBuckets(bucketsOutside(r1m, ROLLUP_1M, 61_000, 119_000)!, decodeChunk).map((b) => b.end);
    expect(left).not.toContain(120_000);
    expect(left).toContain(60_000);
    expect(left).toContain(180_000);
    expect(left.length).toBe(119);
    const edge = decodeBuckets(bucketsOutside(r1m, ROLLUP_1M, 60_000, 60_000)!, decodeChunk).map((b) => b.end);
    expect(edge).not.toContain(60_000);
    expect(edge).toContain(120_000);
    expect(bucketsOutside(r1m, ROLLUP_1M, 0, 8_000_000)).toBeNull();
  });
});
