import fc from "fast-check";
import {
  HASH_SPACE,
  PARTITION_COUNT,
  PARTITION_SPAN,
  buildRing,
  replicasForHash,
  type Ring,
} from "../../core/sharding/ring";
import { RebalanceError, batches, planRebalance, type Placement, type RangeMove } from "../../core/sharding/rebalance";
import type { ShardMember } from "../../core/sharding/shard-map";

/**
 * Runs per property: each run builds four rings (2^17 partitions ranked each) and checks every
 * partition of the hash space against an independent oracle, so 15 runs cover a lot.
 */
const RUNS = { numRuns: 15 };

// ---- generators -------------------------------------------------------------------------------

/** A shard of the pool; its endpoint follows from its name (so names are never reused for another node). */
const member = (name: string, weight: number, zone?: string): ShardMember => ({
  name,
  weight,
  ...(zone === undefined ? {} : { zone }),
  host: `${name}.db.internal`,
  port: 5432,
  database: "app",
});

const poolArb = fc
  .uniqueArray(
    fc.record({
      name: fc.constantFrom(...Array.from({ length: 10 }, (_, i) => `s${i}`)),
      weight: fc.constantFrom(0.5, 1, 1, 2, 3),
      zone: fc.option(fc.constantFrom("az-a", "az-b", "az-c"), { nil: undefined }),
    }),
    { minLength: 2, maxLength: 9, selector: (s) => s.name },
  )
  .map((xs) => xs.map((s) => member(s.name, s.weight, s.zone)));

/** A placement over a non-empty subset of the pool, with a replication factor that fits it. */
const placementArb = (pool: ShardMember[]) =>
  fc.subarray(pool, { minLength: 1 }).chain((shards) =>
    fc.record({
      shards: fc.constant(shards),
      vnodesPerWeight: fc.constantFrom(150, 150, 16),
      replicationFactor: fc.integer({ min: 1, max: Math.min(3, shards.length) }),
    }),
  );

const changeArb = poolArb.chain((pool) => fc.tuple(placementArb(pool), placementArb(pool)));

// ---- oracle -----------------------------------------------------------------------------------

const setKey = (xs: readonly string[]) => [...xs].sort().join("\0");

/** Old and new replica lists of every partition, straight from the rings. */
function partitionReplicas(before: Placement, after: Placement): { from: string[][]; to: string[][] } {
  const a: Ring = buildRing(before.shards, before.vnodesPerWeight);
  const b: Ring = buildRing(after.shards, after.vnodesPerWeight);
  const from: string[][] = [];
  const to: string[][] = [];
  for (let p = 0; p < PARTITION_COUNT; p++) {
    from.push(replicasForHash(a, p * PARTITION_SPAN, before.replicationFactor));
    to.push(replicasForHash(b, p * PARTITION_SPAN, after.replicationFactor));
  }
  return { from, to };
}

/** Problems of a plan against the partition oracle (empty when the plan is exact and valid). */
function planProblems(before: Placement, after: Placement, moves: readonly RangeMove[]): string[] {
  const problems: string[] = [];
  const { from, to } = partitionReplicas(before, after);
  const afterNames = new Set(after.shards.map((s) => s.name));
  const moveOf = new Int32Array(PARTITION_COUNT).fill(-1);
  let prevEnd = 0;
  moves.forEach((m, i) => {
    const at = `move ${i} [${m.start}, ${m.end})`;
    if (
      m.start < prevEnd ||
      m.end <= m.start ||
      m.end > HASH_SPACE ||
      m.start % PARTITION_SPAN !== 0 ||
      m.end % PARTITION_SPAN !== 0
    )
      problems.push(`${at}: bad or unsorted range`);
    prevEnd = m.end;
    if (setKey(m.from) === setKey(m.to)) problems.push(`${at}: replica set does not change`);
    const prev = moves[i - 1];
    if (
      prev &&
      prev.end === m.start &&
      prev.from.join("\0") === m.from.join("\0") &&
      prev.to.join("\0") === m.to.join("\0")
    )
      problems.push(`${at}: not merged with the previous move`);
    for (let p = m.start / PARTITION_SPAN; p < m.end / PARTITION_SPAN; p++) moveOf[p] = i;
    // Copies: exactly one per new replica, from a surviving old replica, never to an old holder.
    const newcomers = m.to.filter((t) => !m.from.includes(t));
    if (m.copies.map((c) => c.target).join("\0") !== newcomers.join("\0"))
      problems.push(
        `${at}: copy targets ${JSON.stringify(m.copies.map((c) => c.target))} ≠ new replicas ${JSON.stringify(newcomers)}`,
      );
    for (const c of m.copies) {
      if (c.range.start !== m.start || c.range.end !== m.end) problems.push(`${at}: copy range differs`);
      if (m.from.includes(c.target)) problems.push(`${at}: copy to ${c.target}, which already had the range`);
      if (!m.from.includes(c.source) || !afterNames.has(c.source))
        problems.push(`${at}: source ${c.source} is not a surviving old replica`);
      if (c.sources[0] !== c.source || c.sources.some((s) => !m.from.includes(s) || !afterNames.has(s)))
        problems.push(`${at}: bad sources ${JSON.stringify(c.sources)}`);
    }
    // After the copies, every new replica holds the range.
    const holders = new Set([...m.from, ...m.copies.map((c) => c.target)]);
    if (m.to.some((t) => !holders.has(t))) problems.push(`${at}: a new replica gets no copy`);
  });
  // Every partition: moved exactly when its replica set changes, and then as the move says.
  for (let p = 0; p < PARTITION_COUNT && problems.length < 20; p++) {
    const changed = setKey(from[p]) !== setKey(to[p]);
    const i = moveOf[p];
    if (changed && i < 0)
      problems.push(`partition ${p}: replica set ${JSON.stringify(from[p])} → ${JSON.stringify(to[p])} but no move`);
    if (!changed && i >= 0) problems.push(`partition ${p}: in move ${i} but its replica set does not change`);
    if (i >= 0 && (moves[i].from.join("\0") !== from[p].join("\0") || moves[i].to.join("\0") !== to[p].join("\0")))
      problems.push(
        `partition ${p}: move ${i} says ${JSON.stringify(moves[i].from)} → ${JSON.stringify(moves[i].to)}, ring says ${JSON.stringify(from[p])} → ${JSON.stringify(to[p])}`,
      );
  }
  return problems;
}

/** Partitions whose old replicas all leave the shard set (what must be refused). */
function orphanedPartitions(before: Placement, after: Placement): number {
  const a = buildRing(before.shards, before.vnodesPerWeight);
  const afterNames = new Set(after.shards.map((s) => s.name));
  let orphaned = 0;
  for (let p = 0; p < PARTITION_COUNT; p++)
    if (!replicasForHash(a, p * PARTITION_SPAN, before.replicationFactor).some((x) => afterNames.has(x))) orphaned++;
  return orphaned;
}

/** The RebalanceError a call throws (fails the test when it throws nothing or something else). */
function refusal(call: () => unknown): RebalanceError {
  try {
    call();
  } catch (e) {
    expect(e).toBeInstanceOf(RebalanceError);
    return e as RebalanceError;
  }
  throw new Error("call did not throw");
}

// ---- properties -------------------------------------------------------------------------------

describe("rebalance planner properties (fast-check)", () => {
  it("moves exactly the ranges whose replica set changes, copying each only to its new replicas", () => {
    fc.assert(
      fc.property(changeArb, ([before, after]) => {
        const orphaned = orphanedPartitions(before, after);
        if (orphaned > 0) {
          // Refused iff some range would lose every old replica at once.
          const e = refusal(() => planRebalance(before, after));
          expect(e.argument).toBe("after.shards");
          expect(e.message).toMatch(/removes every replica of \d+ hash range/);
          return;
        }
        const plan = planRebalance(before, after);
        expect(planProblems(before, after, plan.moves)).toEqual([]);
        expect(plan.movedShare).toBeCloseTo(plan.moves.reduce((s, m) => s + m.end - m.start, 0) / HASH_SPACE, 12);
        const received = new Map<string, number>();
        for (const m of plan.moves)
          for (const c of m.copies)
            received.set(c.target, (received.get(c.target) ?? 0) + (m.end - m.start) / HASH_SPACE);
        for (const [name, share] of plan.receivedShare) expect(share).toBeCloseTo(received.get(name) ?? NaN, 12);
      }),
      RUNS,
    );
  });

  it("never refuses a change that removes fewer shards than the old replication factor", () => {
    fc.assert(
      fc.property(changeArb, ([before, after]) => {
        const names = new Set(after.shards.map((s) => s.name));
        const removed = before.shards.filter((s) => !names.has(s.name)).length;
        fc.pre(removed < before.replicationFactor);
        expect(() => planRebalance(before, after)).not.toThrow();
      }),
      RUNS,
    );
  });

  it("adding a shard (no zones) copies only to it, and only its share of each old replica set", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 3 }),
        fc.constantFrom(0.5, 1, 2),
        (n, rf0, weight) => {
          const rf = Math.min(rf0, n);
          const shards = Array.from({ length: n }, (_, i) => member(`s${i}`, 1));
          const before = { shards, vnodesPerWeight: 150, replicationFactor: rf };
          const after = { shards: [...shards, member("new", weight)], vnodesPerWeight: 150, replicationFactor: rf };
          const plan = planRebalance(before, after);
          expect(plan.added).toEqual(["new"]);
          expect(plan.removed).toEqual([]);
          expect(plan.moves.flatMap((m) => m.copies.map((c) => c.target)).filter((t) => t !== "new")).toEqual([]);
          // Each move swaps exactly one old replica for the new shard.
          expect(plan.moves.filter((m) => m.to.filter((t) => !m.from.includes(t)).length !== 1)).toEqual([]);
          expect([...plan.receivedShare.keys()]).toEqual(plan.moves.length > 0 ? ["new"] : []);
        },
      ),
      RUNS,
    );
  });

  it("batches keep every move once, in order, at most maxRangesPerBatch each", () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 200 }), fc.integer({ min: 1, max: 50 }), (moves, max) => {
        const bs = batches(moves, max);
        expect(bs.flat()).toEqual(moves);
        expect(bs.every((b) => b.length >= 1 && b.length <= max)).toBe(true);
        expect(bs.length).toBe(Math.ceil(moves.length / max));
      }),
      { numRuns: 1000 },
    );
  });
});

// ---- examples ---------------------------------------------------------------------------------

const five = ["a", "b", "c", "d", "e"].map((n) => member(n, 1));
const at = (shards: ShardMember[], replicationFactor: number, vnodesPerWeight = 150): Placement => ({
  shards,
  replicationFactor,
  vnodesPerWeight,
});

describe("rebalance planner: refusals name the argument, before anything moves", () => {
  it("refuses removing every replica of some range at once (2 of 5 shards at replication 2)", () => {
    const e = refusal(() => planRebalance(at(five, 2), at(five.slice(0, 3), 2)));
    expect(e.argument).toBe("after.shards");
    expect(e.message).toMatch(/removes every replica of \d+ hash range\(s\) at once/);
    expect(e.message).toMatch(/held only by (d, e|e, d)/);
    expect(e.message).toContain("removing d, e at replicationFactor 2");
    expect(e.message).toContain("raise replicationFactor first");
  });

  it("refuses removing a shard at replication 1 (its ranges have no other copy), accepts it at 2", () => {
    expect(refusal(() => planRebalance(at(five, 1), at(five.slice(1), 1))).argument).toBe("after.shards");
    const plan = planRebalance(at(five, 2), at(five.slice(1), 2));
    expect(plan.removed).toEqual(["a"]);
    // Sources are survivors only: "a" is leaving, so it never serves a copy.
    expect(plan.moves.flatMap((m) => m.copies.flatMap((c) => c.sources)).filter((s) => s === "a")).toEqual([]);
    expect(plan.moves.every((m) => m.from.includes("a") && !m.to.includes("a"))).toBe(true);
  });

  it("accepts removing 2 of 5 at replication 3 (a surviving copy always exists)", () => {
    const plan = planRebalance(at(five, 3), at(five.slice(0, 3), 3));
    expect(plan.removed).toEqual(["d", "e"]);
    expect(planProblems(at(five, 3), at(five.slice(0, 3), 3), plan.moves)).toEqual([]);
  });

  it.each([
    ["host", { host: "elsewhere.internal" }, /must stay "c\.db\.internal" for shard "c"; got "elsewhere\.internal"/],
    ["port", { port: 6543 }, /must stay 5432 for shard "c"; got 6543/],
    ["database", { database: "other" }, /must stay "app" for shard "c"; got "other"/],
  ])("refuses a shard name reused for another node (%s)", (field, change, message) => {
    const after = five.map((s) => (s.name === "c" ? { ...s, ...change } : s));
    const e = refusal(() => planRebalance(at(five, 2), at(after, 2)));
    expect(e.argument).toBe(`after.shards[2].${field}`);
    expect(e.message).toMatch(message);
    expect(e.message).toContain("never reused for another node");
  });

  it.each([
    [
      "a replication factor above the shard count",
      () => planRebalance(at(five, 2), at(five.slice(0, 2), 3)),
      "after.replicationFactor",
      /from 1 to the shard count \(2\).*got 3/,
    ],
    ["a replication factor of 0", () => planRebalance(at(five, 0), at(five, 2)), "before.replicationFactor", /got 0/],
    [
      "a negative weight",
      () => planRebalance(at(five, 2), at([...five, member("f", -1)], 2)),
      "after.shards[5].weight",
      /finite number > 0; got -1/,
    ],
    [
      "a duplicate shard",
      () => planRebalance(at(five, 2), at([...five, member("a", 1)], 2)),
      "after.shards[5].name",
      /must be unique/,
    ],
    ["no shards", () => planRebalance(at(five, 2), at([], 1)), "after.shards", /at least one/],
    [
      "a bad vnodesPerWeight",
      () => planRebalance(at(five, 2, 0), at(five, 2)),
      "before.vnodesPerWeight",
      /from 1 to 4096; got 0/,
    ],
    [
      "a missing placement",
      () => planRebalance(at(five, 2), undefined as unknown as Placement),
      "after",
      /must be a placement/,
    ],
    ["maxRangesPerBatch 0", () => batches([1, 2], 0), "maxRangesPerBatch", /whole number ≥ 1; got 0/],
  ])("refuses %s", (_what, call, argument, message) => {
    const e = refusal(call);
    expect(e.argument).toBe(argument);
    expect(e.message).toContain(argument);
    expect(e.message).toMatch(message);
  });
});

describe("rebalance planner: plans", () => {
  it("plans nothing when nothing changes (and when only endpoints-independent fields are equal)", () => {
    const plan = planRebalance(at(five, 2), at([...five].reverse(), 2));
    expect(plan.moves).toEqual([]);
    expect(plan.movedShare).toBe(0);
    expect(plan.added).toEqual([]);
    expect(plan.removed).toEqual([]);
  });

  it("raising the replication factor 1 → 2 copies every range to its new second replica, from its primary", () => {
    const plan = planRebalance(at(five, 1), at(five, 2));
    expect(plan.movedShare).toBe(1);
    const wrong = plan.moves.filter(
      (m) =>
        m.to[0] !== m.from[0] ||
        m.copies.length !== 1 ||
        m.copies[0].source !== m.from[0] ||
        m.copies[0].target !== m.to[1],
    );
    expect(wrong).toEqual([]);
    expect(planProblems(at(five, 1), at(five, 2), plan.moves)).toEqual([]);
  });

  it("respects weights: doubling one shard's weight moves ranges only onto it, about its gain in share", () => {
    const before = at(five, 1);
    const after = at(
      five.map((s) => (s.name === "c" ? { ...s, weight: 2 } : s)),
      1,
    );
    const plan = planRebalance(before, after);
    expect(plan.moves.every((m) => m.to[0] === "c" && m.copies.length === 1 && m.copies[0].target === "c")).toBe(true);
    // Share 1/5 → 2/6: c gains 2/15 of the space (binomial spread over 2^17 partitions ≈ 0.1 %).
    expect(plan.movedShare).toBeGreaterThan(2 / 15 - 0.01);
    expect(plan.movedShare).toBeLessThan(2 / 15 + 0.01);
  });

  it("spreads copy sources over the surviving replicas", () => {
    const plan = planRebalance(at(five, 3), at([...five, member("f", 1)], 3));
    const sent = [...plan.sentShare.values()];
    expect(plan.sentShare.size).toBe(5);
    // Greedy least-sent-first keeps the busiest source within a few partitions of the idlest.
    expect(Math.max(...sent) - Math.min(...sent)).toBeLessThan(0.005);
    expect(plan.receivedShare.get("f")).toBeCloseTo(3 / 6, 1);
  });

  it("keeps zones: moving a shard to another zone re-spreads replicas and the plan stays exact", () => {
    const zoned = five.map((s, i) => ({ ...s, zone: ["z1", "z2", "z3"][i % 3] }));
    const after = zoned.map((s) => (s.name === "d" ? { ...s, zone: "z3" } : s));
    const plan = planRebalance(at(zoned, 3), at(after, 3));
    expect(plan.moves.length).toBeGreaterThan(0);
    expect(planProblems(at(zoned, 3), at(after, 3), plan.moves)).toEqual([]);
  });

  it("batches moves in hash order", () => {
    const plan = planRebalance(at(five, 2), at([...five, member("f", 1)], 2));
    const bs = batches(plan.moves, 100);
    expect(bs.flat().length).toBe(plan.moves.length);
    expect(bs.flat().every((m, i) => m === plan.moves[i])).toBe(true);
    expect(bs.flat().every((m, i, all) => i === 0 || all[i - 1].end <= m.start)).toBe(true);
  });
});
