import fc from "fast-check";
import type { ConsistencyLevel } from "../../../core/config";
import { levelsOverlap, quorumsOverlap, requiredAcks, toleratedFailures } from "../../../core/sharding/consistency";

const rfArb = fc.integer({ min: 1, max: 16 });

describe("requiredAcks", () => {
  it.each([
    // [rf, one, quorum, all]: quorum is a strict majority, also for even rf (2 → 2, 4 → 3).
    [1, 1, 1, 1],
    [2, 1, 2, 2],
    [3, 1, 2, 3],
    [4, 1, 3, 4],
    [5, 1, 3, 5],
    [6, 1, 4, 6],
    [7, 1, 4, 7],
    [16, 1, 9, 16],
  ])("rf %i: one → %i, quorum → %i, all → %i", (rf, one, quorum, all) => {
    expect(requiredAcks("one", rf)).toBe(one);
    expect(requiredAcks("quorum", rf)).toBe(quorum);
    expect(requiredAcks("all", rf)).toBe(all);
  });

  it("quorum is the smallest set any two of which intersect (1000 runs)", () => {
    fc.assert(
      fc.property(rfArb, (rf) => {
        const q = requiredAcks("quorum", rf);
        expect(q + q).toBeGreaterThan(rf); // two quorums share a replica
        expect(2 * (q - 1)).toBeLessThanOrEqual(rf); // one fewer and two could be disjoint
        expect(q).toBeLessThanOrEqual(rf);
        // ceil(rf/2) (the tutorial's count) is not a majority for even rf.
        if (rf % 2 === 0) expect(q).toBe(Math.ceil(rf / 2) + 1);
      }),
      { numRuns: 1000 },
    );
  });

  it("toleratedFailures is what the remaining replicas can still acknowledge", () => {
    expect([1, 2, 3, 4, 5].map((rf) => toleratedFailures("quorum", rf))).toEqual([0, 0, 1, 1, 2]);
    expect(toleratedFailures("one", 3)).toBe(2);
    expect(toleratedFailures("all", 3)).toBe(0);
  });

  it.each([
    [
      () => requiredAcks("most" as ConsistencyLevel, 3),
      /requiredAcks: level must be one of one, quorum, all; got "most"/,
    ],
    [() => requiredAcks("one", 0), /requiredAcks: replicationFactor must be a whole number from 1 to 16; got 0/],
    [() => requiredAcks("quorum", 17), /replicationFactor .* got 17/],
    [() => requiredAcks("all", 2.5), /replicationFactor .* got 2.5/],
  ])("refuses bad input, naming the argument (%#)", (call, message) => {
    expect(call).toThrow(RangeError);
    expect(call).toThrow(message);
  });
});

describe("read/write overlap", () => {
  it("R + W > rf exactly when every read set meets every write set (1000 runs)", () => {
    fc.assert(
      fc.property(
        rfArb.chain((rf) =>
          fc.tuple(fc.constant(rf), fc.integer({ min: 1, max: rf }), fc.integer({ min: 1, max: rf })),
        ),
        ([rf, r, w]) => {
          // Brute force: the worst case puts the write on the first W replicas and the read on the last R.
          const written = new Set(Array.from({ length: w }, (_, i) => i));
          const worstRead = Array.from({ length: r }, (_, i) => rf - 1 - i);
          expect(quorumsOverlap(r, w, rf)).toBe(worstRead.some((i) => written.has(i)));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("quorum/quorum and one/all overlap; one/one does only with a single replica", () => {
    for (let rf = 1; rf <= 16; rf++) {
      expect(levelsOverlap("quorum", "quorum", rf)).toBe(true);
      expect(levelsOverlap("one", "all", rf)).toBe(true);
      expect(levelsOverlap("all", "one", rf)).toBe(true);
      expect(levelsOverlap("one", "one", rf)).toBe(rf === 1);
    }
    expect(levelsOverlap("one", "quorum", 3)).toBe(false);
    expect(levelsOverlap("one", "quorum", 2)).toBe(true);
  });

  it("refuses acknowledgement counts outside 1..rf, naming the argument", () => {
    expect(() => quorumsOverlap(0, 2, 3)).toThrow(
      /quorumsOverlap: readAcks must be a whole number from 1 to replicationFactor \(3\); got 0/,
    );
    expect(() => quorumsOverlap(2, 4, 3)).toThrow(/writeAcks .* got 4/);
    expect(() => quorumsOverlap(1, 1, 0)).toThrow(/replicationFactor must be a whole number from 1 to 16; got 0/);
  });
});
