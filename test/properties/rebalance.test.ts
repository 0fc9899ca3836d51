import fc from "fast-check";
import type { ConsistencyLevel } from "../../core/config";
import { requiredAcks } from "../../core/sharding/consistency";
import {
  HASH_SPACE,
  PARTITION_COUNT,
  PARTITION_SPAN,
  buildRing,
  replicasForHash,
  type Ring,
} from "../../core/sharding/ring";
import {
  RebalanceError,
  batches,
  copyReadQuorum,
  holdersNeeded,
  planRebalance,
  type Placement,
  type RangeMove,
} from "../../core/sharding/rebalance";
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

const LEVELS: readonly ConsistencyLevel[] = ["one", "quorum", "all"];

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

/** A placement over a non-empty subset of the pool, with a replication factor that fits it and a level. */
const placementArb = (pool: ShardMember[]) =>
  fc.subarray(pool, { minLength: 1 }).chain((shards) =>
    fc.record({
      shards: fc.constant(shards),
      vnodesPerWeight: fc.constantFrom(150, 150, 16),
      replicationFactor: fc.integer({ min: 1, max: Math.min(4, shards.length) }),
      consistency: fc.constantFrom(...LEVELS),
    }),
  );

const changeArb = poolArb.chain((pool) => fc.tuple(placementArb(pool), placementArb(pool)));

/** A change and a dead set: any subset of the old shards (so it may include staying ones: refused). */
const changeWithDeadArb = changeArb.chain(([before, after]) =>
  fc.tuple(
    fc.constant(before),
    fc.constant(after),
    fc.subarray(
      before.shards.map((s) => s.name),
      { maxLength: Math.min(3, before.shards.length) },
    ),
  ),
);

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

/** Every subset of `xs` with `n` members. */
function subsets<T>(xs: readonly T[], n: number): T[][] {
  if (n === 0) return [[]];
  if (xs.length < n) return [];
  const [first, ...rest] = xs;
  return [...subsets(rest, n - 1).map((s) => [first, ...s]), ...subsets(rest, n)];
}

/**
 * Where an acknowledged write survives, for a partition: the old replicas `from`, the new `to`,
 * and the plan's copies there (target → sources). For EVERY write quorum the old placement could
 * have acknowledged a write with (any `w` of `from`, dead shards included), the replicas of `to`
 * that hold the write once the copies ran: a target holds it when it was in the quorum or reads a
 * source that was; any other replica only when it was in the quorum. Returns the problems: a new
 * replica left without the write, or fewer holders than every read of the new placement needs
 * (then some read quorum misses an acknowledged write: it is lost to readers).
 */
function lostWrites(
  before: Placement,
  after: Placement,
  from: readonly string[],
  to: readonly string[],
  copies: ReadonlyMap<string, readonly string[]>,
): string[] {
  const problems: string[] = [];
  const w = requiredAcks(before.consistency, before.replicationFactor);
  const need = holdersNeeded(after.consistency, after.replicationFactor);
  const r = requiredAcks(after.consistency, after.replicationFactor);
  for (const quorum of subsets(from, w)) {
    const holders = to.filter((x) => quorum.includes(x) || (copies.get(x) ?? []).some((s) => quorum.includes(s)));
    for (const x of to)
      if (!from.includes(x) && !holders.includes(x))
        problems.push(`new replica ${x} lacks a write acknowledged by ${quorum.join(", ")}`);
    if (holders.length < need)
      problems.push(
        `a write acknowledged by ${quorum.join(", ")} is on ${holders.length} of ${to.join(", ")}; reads of ${r} need ${need}`,
      );
    // The same, said as reads: every read quorum of the new placement must see the write.
    if (need > 1)
      for (const read of subsets(to, r))
        if (!read.some((x) => holders.includes(x)))
          problems.push(`a read of ${read.join(", ")} misses a write acknowledged by ${quorum.join(", ")}`);
  }
  return problems;
}

/** Problems of a plan against the partition oracle (empty when the plan is exact, valid and loses nothing). */
function planProblems(
  before: Placement,
  after: Placement,
  moves: readonly RangeMove[],
  dead: readonly string[] = [],
): string[] {
  const problems: string[] = [];
  const { from, to } = partitionReplicas(before, after);
  const k = copyReadQuorum(before.consistency, before.replicationFactor);
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
    const prev = moves[i - 1];
    if (
      prev &&
      prev.end === m.start &&
      prev.from.join("\0") === m.from.join("\0") &&
      prev.to.join("\0") === m.to.join("\0")
    )
      problems.push(`${at}: not merged with the previous move`);
    for (let p = m.start / PARTITION_SPAN; p < m.end / PARTITION_SPAN; p++) moveOf[p] = i;
    // Copies: every new replica gets one; each reads k old replicas (its own old rows included), none dead.
    const newcomers = m.to.filter((t) => !m.from.includes(t));
    const targets = m.copies.map((c) => c.target);
    if (newcomers.some((t) => !targets.includes(t))) problems.push(`${at}: a new replica gets no copy`);
    if (new Set(targets).size !== targets.length) problems.push(`${at}: a target is copied to twice`);
    for (const c of m.copies) {
      if (c.range.start !== m.start || c.range.end !== m.end) problems.push(`${at}: copy range differs`);
      if (!m.to.includes(c.target)) problems.push(`${at}: copy to ${c.target}, not a new replica`);
      if (c.sources.some((s) => !m.from.includes(s) || s === c.target))
        problems.push(`${at}: bad sources ${JSON.stringify(c.sources)}`);
      if (c.sources.some((s) => dead.includes(s))) problems.push(`${at}: reads dead ${JSON.stringify(c.sources)}`);
      if (c.sources.length + (m.from.includes(c.target) ? 1 : 0) !== k)
        problems.push(`${at}: ${c.target} reads ${c.sources.length} old replicas (+ its own), not ${k}`);
    }
    // The fewest staying targets that reach the holders the new placement needs.
    const miss = before.replicationFactor - requiredAcks(before.consistency, before.replicationFactor);
    const need = holdersNeeded(after.consistency, after.replicationFactor);
    const staying = m.to.filter((x) => m.from.includes(x)).length;
    let fewest = 0;
    while (newcomers.length + fewest + Math.max(0, staying - fewest - miss) < need && fewest < staying) fewest++;
    if (targets.length !== newcomers.length + fewest)
      problems.push(`${at}: ${targets.length} targets, the fewest that suffice is ${newcomers.length + fewest}`);
  });
  // Every partition: moved exactly when its replica set changes or its replicas need completing,
  // as the move says, and no write quorum of the old placement is lost.
  const checked = new Map<string, string[]>();
  for (let p = 0; p < PARTITION_COUNT && problems.length < 20; p++) {
    const i = moveOf[p];
    const changed = setKey(from[p]) !== setKey(to[p]);
    if (changed && i < 0)
      problems.push(`partition ${p}: replica set ${JSON.stringify(from[p])} → ${JSON.stringify(to[p])} but no move`);
    if (i >= 0 && (moves[i].from.join("\0") !== from[p].join("\0") || moves[i].to.join("\0") !== to[p].join("\0")))
      problems.push(
        `partition ${p}: move ${i} says ${JSON.stringify(moves[i].from)} → ${JSON.stringify(moves[i].to)}, ring says ${JSON.stringify(from[p])} → ${JSON.stringify(to[p])}`,
      );
    const copies = new Map(i < 0 ? [] : moves[i].copies.map((c) => [c.target, c.sources] as const));
    const key = `${from[p].join(",")}|${to[p].join(",")}|${[...copies].map(([t, s]) => `${t}<${s.join("+")}`).join(";")}`;
    let lost = checked.get(key);
    if (!lost) checked.set(key, (lost = lostWrites(before, after, from[p], to[p], copies)));
    if (lost.length > 0) problems.push(`partition ${p}: ${lost[0]}`);
    if (!changed && i >= 0 && moves[i].copies.length === 0)
      problems.push(`partition ${p}: in move ${i}, which neither changes the set nor copies`);
  }
  return problems;
}

/**
 * Whether some copy the rule needs cannot find its k answering old replicas (what must be
 * refused), computed without the planner: a partition whose new replicas (or the staying ones the
 * holders rule needs) cannot read k old replicas when the dead ones are left out.
 */
function starvedPartitions(before: Placement, after: Placement, dead: readonly string[]): number {
  const { from, to } = partitionReplicas(before, after);
  const k = copyReadQuorum(before.consistency, before.replicationFactor);
  const miss = before.replicationFactor - requiredAcks(before.consistency, before.replicationFactor);
  const need = holdersNeeded(after.consistency, after.replicationFactor);
  let starved = 0;
  for (let p = 0; p < PARTITION_COUNT; p++) {
    const newcomers = to[p].filter((t) => !from[p].includes(t));
    const staying = to[p].filter((t) => from[p].includes(t));
    let extra = 0;
    while (newcomers.length + extra + Math.max(0, staying.length - extra - miss) < need && extra < staying.length)
      extra++;
    const live = from[p].filter((x) => !dead.includes(x));
    const ok =
      (newcomers.length === 0 || live.length >= k) &&
      staying.slice(0, extra).every((t) => live.filter((x) => x !== t).length >= k - 1);
    if (!ok) starved++;
  }
  return starved;
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
  it("for any maps, consistency levels and dead set it accepts, loses no acknowledged write (and refuses exactly the rest)", () => {
    fc.assert(
      fc.property(changeWithDeadArb, ([before, after, dead]) => {
        const staysDead = after.shards.findIndex((s) => dead.includes(s.name));
        if (staysDead >= 0) {
          const e = refusal(() => planRebalance(before, after, { dead }));
          expect(e.argument).toMatch(/^after\.shards\[\d+\]$/);
          expect(e.message).toMatch(/does not answer/);
          return;
        }
        if (starvedPartitions(before, after, dead) > 0) {
          const e = refusal(() => planRebalance(before, after, { dead }));
          expect(e.argument).toBe("options.dead");
          expect(dead.some((d) => e.message.includes(d))).toBe(true);
          expect(e.message).toMatch(/fewer than \d+ answering old replicas/);
          return;
        }
        const plan = planRebalance(before, after, { dead });
        expect(planProblems(before, after, plan.moves, dead)).toEqual([]);
        expect(plan.readQuorum).toBe(copyReadQuorum(before.consistency, before.replicationFactor));
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

  it("never refuses a change when every shard answers", () => {
    fc.assert(
      fc.property(changeArb, ([before, after]) => {
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
        fc.constantFrom(...LEVELS),
        (n, rf0, weight, consistency) => {
          const rf = Math.min(rf0, n);
          const shards = Array.from({ length: n }, (_, i) => member(`s${i}`, 1));
          const before = { shards, vnodesPerWeight: 150, replicationFactor: rf, consistency };
          const after = { ...before, shards: [...shards, member("new", weight)] };
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
const at = (
  shards: ShardMember[],
  replicationFactor: number,
  consistency: ConsistencyLevel = "quorum",
  vnodesPerWeight = 150,
): Placement => ({
  shards,
  replicationFactor,
  consistency,
  vnodesPerWeight,
});

describe("rebalance planner: the rule (rf − w + 1 answering old replicas per copy)", () => {
  it("removing 2 of 5 shards at rf 3 (quorum): reads 2 old replicas per copy, the leaving ones where the range needs them", () => {
    const plan = planRebalance(at(five, 3), at(five.slice(0, 3), 3));
    expect(plan.removed).toEqual(["d", "e"]);
    expect(plan.readQuorum).toBe(2);
    expect(planProblems(at(five, 3), at(five.slice(0, 3), 3), plan.moves)).toEqual([]);
    // Where d and e both held the range, one of them must be read: one surviving copy is not a quorum.
    const both = plan.moves.filter((m) => m.from.includes("d") && m.from.includes("e"));
    expect(both.length).toBeGreaterThan(0);
    for (const m of both) for (const c of m.copies) expect(c.sources.some((s) => s === "d" || s === "e")).toBe(true);
    // Staying shards are read first: a range held by a, b, d copies from a and b only.
    const oneLeaving = plan.moves.filter((m) => m.from.filter((x) => x === "d" || x === "e").length === 1);
    expect(oneLeaving.flatMap((m) => m.copies.flatMap((c) => c.sources)).filter((s) => s === "d" || s === "e")).toEqual(
      [],
    );
  });

  it("refuses removing 2 dead shards of 5 at rf 3 (quorum): ~30 % of the space keeps one answering old replica", () => {
    const e = refusal(() => planRebalance(at(five, 3), at(five.slice(0, 3), 3), { dead: ["d", "e"] }));
    expect(e.argument).toBe("options.dead");
    const share = Number(/\(([\d.]+) % of the keys/.exec(e.message)?.[1]);
    expect(share).toBeGreaterThan(25);
    expect(share).toBeLessThan(35);
    expect(e.message).toContain("shard(s) d, e do not answer");
    expect(e.message).toContain("a copy must read 2 old replicas (rf − w + 1)");
    expect(e.message).toMatch(/held by [a-e], [a-e], [a-e]\)/);
  });

  it("accepts one dead leaving shard at rf 3 (quorum): replacing a failed shard (remove + add) copies from the two others", () => {
    const replaced = [...five.slice(0, 4), member("f", 1)];
    const plan = planRebalance(at(five, 3), at(replaced, 3), { dead: ["e"] });
    expect(plan.removed).toEqual(["e"]);
    expect(plan.added).toEqual(["f"]);
    expect(plan.dead).toEqual(["e"]);
    expect(plan.moves.flatMap((m) => m.copies.flatMap((c) => c.sources))).not.toContain("e");
    expect(planProblems(at(five, 3), at(replaced, 3), plan.moves, ["e"])).toEqual([]);
  });

  it("at consistency one every old replica is read, so a dead one is refused; at all one suffices", () => {
    expect(planRebalance(at(five, 3, "one"), at(five.slice(0, 4), 3, "one")).readQuorum).toBe(3);
    expect(
      refusal(() => planRebalance(at(five, 3, "one"), at(five.slice(0, 4), 3, "one"), { dead: ["e"] })).argument,
    ).toBe("options.dead");
    const plan = planRebalance(at(five, 3, "all"), at(five.slice(0, 3), 3, "all"), { dead: ["d", "e"] });
    expect(plan.readQuorum).toBe(1);
    expect(plan.moves.every((m) => m.copies.every((c) => c.sources.length === 1))).toBe(true);
  });

  it("refuses a dead shard that stays or joins, naming it", () => {
    const e = refusal(() => planRebalance(at(five, 3), at(five, 3), { dead: ["c"] }));
    expect(e.argument).toBe("after.shards[2]");
    expect(e.message).toContain('shard "c", which does not answer: a shard that stays must answer');
    expect(refusal(() => planRebalance(at(five, 3), at(five, 3), { dead: ["zz"] })).argument).toBe("options.dead[0]");
  });

  it("raising the level one → quorum completes the replicas (a write acknowledged by one replica reaches a quorum)", () => {
    const plan = planRebalance(at(five, 3, "one"), at(five, 3, "quorum"));
    expect(plan.movedShare).toBe(1);
    expect(plan.moves.every((m) => m.copies.length === 2 && m.copies.every((c) => c.sources.length === 2))).toBe(true);
    expect(planProblems(at(five, 3, "one"), at(five, 3, "quorum"), plan.moves)).toEqual([]);
    // Lowering it moves nothing.
    expect(planRebalance(at(five, 3, "quorum"), at(five, 3, "one")).moves).toEqual([]);
  });

  it("lowering rf 5 → 3 (quorum) copies to a staying replica as well: two staying ones may both lack a write", () => {
    const seven = [...five, member("f", 1), member("g", 1)];
    const plan = planRebalance(at(seven, 5), at(seven, 3));
    expect(planProblems(at(seven, 5), at(seven, 3), plan.moves)).toEqual([]);
    expect(plan.moves.some((m) => m.copies.some((c) => m.from.includes(c.target)))).toBe(true);
  });
});

describe("rebalance planner: refusals name the argument, before anything moves", () => {
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
      () => planRebalance(at(five, 2, "quorum", 0), at(five, 2)),
      "before.vnodesPerWeight",
      /from 1 to 4096; got 0/,
    ],
    [
      "a bad consistency level",
      () => planRebalance(at(five, 2, "most" as ConsistencyLevel), at(five, 2)),
      "before.consistency",
      /one of one, quorum, all; got "most"/,
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
  it("plans nothing when nothing changes (shard order does not count)", () => {
    const plan = planRebalance(at(five, 2), at([...five].reverse(), 2));
    expect(plan.moves).toEqual([]);
    expect(plan.movedShare).toBe(0);
    expect(plan.added).toEqual([]);
    expect(plan.removed).toEqual([]);
  });

  it("raising the replication factor 1 → 2 copies every range to its new second replica, from its primary", () => {
    const plan = planRebalance(at(five, 1, "one"), at(five, 2, "one"));
    expect(plan.movedShare).toBe(1);
    const wrong = plan.moves.filter(
      (m) =>
        m.to[0] !== m.from[0] ||
        m.copies.length !== 1 ||
        m.copies[0].sources.join() !== m.from[0] ||
        m.copies[0].target !== m.to[1],
    );
    expect(wrong).toEqual([]);
    expect(planProblems(at(five, 1, "one"), at(five, 2, "one"), plan.moves)).toEqual([]);
  });

  it("respects weights: doubling one shard's weight moves ranges only onto it, about its gain in share", () => {
    const before = at(five, 1, "one");
    const after = at(
      five.map((s) => (s.name === "c" ? { ...s, weight: 2 } : s)),
      1,
      "one",
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
    expect(Math.max(...sent) - Math.min(...sent)).toBeLessThan(0.01);
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
