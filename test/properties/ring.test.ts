import fc from "fast-check";
import murmurhash from "murmurhash";
import {
  HASH_SPACE,
  PARTITION_COUNT,
  PARTITION_SPAN,
  RING_SEED,
  RingError,
  buildRing,
  diffOwnership,
  hashKey,
  ownerOf,
  ownerOfHash,
  ownership,
  partitionOf,
  replicaRanges,
  replicasFor,
  replicasForHash,
  ringOfShardMap,
  type OwnershipMove,
  type Ring,
  type RingNodeInput,
} from "../../core/sharding/ring";
import type { ShardMap } from "../../core/sharding/shard-map";

/**
 * Runs per property. A build ranks every node on all 2^17 partitions (tens of milliseconds), so
 * ring properties run 100 times; each run checks whole rings (every partition), not samples.
 */
const RUNS = { numRuns: 20 };
/** Properties that build no ring run 1000 times. */
const MANY_RUNS = { numRuns: 1000 };

// ---- generators -------------------------------------------------------------------------------

const nameArb = fc.string({ minLength: 1, maxLength: 10 });
const nodeArb = fc.record({
  name: nameArb,
  weight: fc.constantFrom(0.25, 0.5, 1, 1.5, 2, 3),
  zone: fc.option(fc.constantFrom("az-a", "az-b", "az-c", "az-d"), { nil: undefined }),
});
const nodesArb = (minLength: number, maxLength: number) =>
  fc.uniqueArray(nodeArb, { minLength, maxLength, selector: (n) => n.name });
const vnodesArb = fc.integer({ min: 1, max: 32 });
/** A small key sample per run keeps 1000 runs fast; the range-level checks cover the whole space. */
const keysArb = fc.array(fc.string({ maxLength: 24 }), { minLength: 1, maxLength: 24 });

/** Distinct failure domains of a node list (a node without a zone is a domain of its own). */
const domainCount = (nodes: readonly RingNodeInput[]): number =>
  new Set(nodes.map((n) => (n.zone === undefined ? `node:${n.name}` : `zone:${n.zone}`))).size;

/** The move containing a hash, or undefined (moves are sorted and disjoint). */
function moveAt(moves: readonly OwnershipMove[], hash: number): OwnershipMove | undefined {
  let lo = 0;
  let hi = moves.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (moves[mid].end <= hash) lo = mid + 1;
    else if (moves[mid].start > hash) hi = mid - 1;
    else return moves[mid];
  }
  return undefined;
}

/** Problems of a move list: each range non-empty, inside [0, 2^32), sorted, disjoint, maximal, from ≠ to. */
function malformed(moves: readonly OwnershipMove[]): string[] {
  const problems: string[] = [];
  let prev: OwnershipMove | undefined;
  for (const m of moves) {
    const at = JSON.stringify(m);
    if (!Number.isInteger(m.start) || !Number.isInteger(m.end) || m.start < 0 || m.end > HASH_SPACE || m.end <= m.start)
      problems.push(`bad range ${at}`);
    if (m.from === m.to) problems.push(`no-op move ${at}`);
    if (prev !== undefined && m.start < prev.end) problems.push(`unsorted or overlapping ${at}`);
    if (prev !== undefined && prev.end === m.start && prev.from === m.from && prev.to === m.to)
      problems.push(`not merged ${at}`);
    prev = m;
  }
  return problems;
}

const movedSpan = (moves: readonly OwnershipMove[]): number => moves.reduce((s, m) => s + (m.end - m.start), 0);

// ---- properties -------------------------------------------------------------------------------

describe("ring properties (fast-check)", () => {
  it("hashes any string like MurmurHash3 x86_32 of its UTF-8 bytes (ASCII fast path included)", () => {
    const utf8 = new TextEncoder();
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 40 }),
          fc.string({ unit: "binary", maxLength: 40 }),
          fc.string({ unit: "grapheme", maxLength: 12 }),
        ),
        (key) => {
          expect(hashKey(key)).toBe(murmurhash.v3(utf8.encode(key), RING_SEED));
        },
      ),
      MANY_RUNS,
    );
  });

  it("is deterministic and independent of the order the nodes are listed in", () => {
    fc.assert(
      fc.property(
        nodesArb(1, 10).chain((nodes) =>
          fc.tuple(
            fc.constant(nodes),
            fc.shuffledSubarray(nodes, { minLength: nodes.length, maxLength: nodes.length }),
          ),
        ),
        vnodesArb,
        keysArb,
        ([nodes, shuffled], vnodes, keys) => {
          const a = buildRing(nodes, vnodes);
          const b = buildRing(shuffled, vnodes);
          expect(b.nodes).toEqual(a.nodes);
          expect(b.size).toBe(a.size);
          // No hash anywhere in the 2^32 space changes owner: the rings are the same partition.
          expect(diffOwnership(a, b)).toEqual([]);
          expect(ownership(b)).toEqual(ownership(a));
          const n = Math.min(3, nodes.length);
          expect(keys.map((k) => replicasFor(b, k, n))).toEqual(keys.map((k) => replicasFor(a, k, n)));
          // Same replica lists everywhere (compared as text: ~10^5 ranges are too many for toEqual).
          const text = (r: Ring) =>
            replicaRanges(r, nodes.length)
              .map((x) => `${x.start}-${x.end}:${x.replicas.join("\0")}`)
              .join("\n");
          expect(text(b) === text(a)).toBe(true);
          expect(keys.map((k) => ownerOf(b, k))).toEqual(keys.map((k) => ownerOf(a, k)));
        },
      ),
      RUNS,
    );
  });

  it("places replicas on distinct nodes, primary first, spanning min(n, zones) zones", () => {
    fc.assert(
      fc.property(
        nodesArb(1, 10).chain((nodes) => fc.tuple(fc.constant(nodes), fc.integer({ min: 1, max: nodes.length }))),
        vnodesArb,
        keysArb,
        ([nodes, n], vnodes, keys) => {
          const ring = buildRing(nodes, vnodes);
          // Zones do not move points: without them, replicasFor lists every node in clockwise order.
          const zoneless = buildRing(
            nodes.map(({ name, weight }) => ({ name, weight })),
            vnodes,
          );
          const zoneOf = new Map(
            nodes.map((x) => [x.name, x.zone === undefined ? `node:${x.name}` : `zone:${x.zone}`]),
          );
          const domains = domainCount(nodes);
          const wrong: string[] = [];
          for (const k of keys) {
            const replicas = replicasFor(ring, k, n);
            // Reference placement: clockwise, first one node per unused zone, then the rest in order.
            const clockwise = replicasFor(zoneless, k, nodes.length);
            const firstOfZone = clockwise.filter(
              (x, i) => clockwise.findIndex((y) => zoneOf.get(y) === zoneOf.get(x)) === i,
            );
            const expected = [...firstOfZone, ...clockwise.filter((x) => !firstOfZone.includes(x))].slice(0, n);
            const why = [
              expected.join("\0") !== replicas.join("\0") && `expected ${JSON.stringify(expected)}`,
              replicas.length !== n && "count",
              new Set(replicas).size !== replicas.length && "duplicate node",
              replicas[0] !== ownerOf(ring, k) && "primary is not the owner",
              replicasForHash(ring, hashKey(k), n).join("\0") !== replicas.join("\0") && "replicasForHash differs",
              new Set(replicas.map((r) => zoneOf.get(r))).size !== Math.min(n, domains) && "zones not spread",
              // A larger replica set extends a smaller one (adding a replica never reshuffles the others).
              n > 1 &&
                replicasFor(ring, k, n - 1).join("\0") !== replicas.slice(0, n - 1).join("\0") &&
                "n-1 is not a prefix",
            ].filter(Boolean);
            if (why.length > 0) wrong.push(`${JSON.stringify(k)} → ${JSON.stringify(replicas)}: ${why.join(", ")}`);
          }
          expect(wrong).toEqual([]);
        },
      ),
      RUNS,
    );
  });

  it("adding a node moves keys only onto the new node", () => {
    fc.assert(
      fc.property(nodesArb(2, 10), vnodesArb, keysArb, (all, vnodes, keys) => {
        const added = all[all.length - 1];
        const before = buildRing(all.slice(0, -1), vnodes);
        const after = buildRing(all, vnodes);
        expect(
          keys.filter((k) => ownerOf(after, k) !== ownerOf(before, k) && ownerOf(after, k) !== added.name),
        ).toEqual([]);
        const moves = diffOwnership(before, after);
        expect(moves.filter((m) => m.to !== added.name)).toEqual([]);
        // What moved is exactly the new node's share.
        expect(movedSpan(moves) / HASH_SPACE).toBeCloseTo(ownership(after).get(added.name) ?? NaN, 9);
      }),
      RUNS,
    );
  });

  it("removing a node moves only the keys it owned", () => {
    fc.assert(
      fc.property(
        nodesArb(2, 10).chain((nodes) => fc.tuple(fc.constant(nodes), fc.integer({ min: 0, max: nodes.length - 1 }))),
        vnodesArb,
        keysArb,
        ([nodes, drop], vnodes, keys) => {
          const removed = nodes[drop].name;
          const before = buildRing(nodes, vnodes);
          const after = buildRing(
            nodes.filter((_, i) => i !== drop),
            vnodes,
          );
          expect(
            keys.filter((k) => ownerOf(before, k) !== removed && ownerOf(after, k) !== ownerOf(before, k)),
          ).toEqual([]);
          expect(keys.filter((k) => ownerOf(after, k) === removed)).toEqual([]);
          const moves = diffOwnership(before, after);
          expect(moves.filter((m) => m.from !== removed)).toEqual([]);
          expect(movedSpan(moves) / HASH_SPACE).toBeCloseTo(ownership(before).get(removed) ?? NaN, 9);
        },
      ),
      RUNS,
    );
  });

  /*
   * Balance bound for 2..16 equal-weight nodes: every node's share is within [0.88, 1.12] × the
   * mean share 1/N.
   *
   * Why it is sound: each of the 2^17 partitions goes to one node by rendezvous hashing, so a
   * node's partition count is Binomial(2^17, 1/N), mean μ = 2^17/N ≥ 8192. Chernoff:
   * P(X ≥ (1+δ)μ) ≤ exp(-δ²μ/(2+δ)) = exp(-55.7) at δ = 0.12, and P(X ≤ (1-δ)μ) ≤ exp(-δ²μ/2) =
   * exp(-59); a union over ≤ 16 nodes and 20 runs is < 1e-20. It can fail: a node of weight 1.3
   * among equals holds ≈ 1.28 × the mean (the example test "the balance bound rejects ..." below).
   */
  const BALANCE_MAX = 1.12;
  const BALANCE_MIN = 0.88;

  it("keeps every node's share within [0.88, 1.12] × the mean", () => {
    fc.assert(
      fc.property(fc.uniqueArray(nameArb, { minLength: 2, maxLength: 16 }), (names) => {
        const shares = [...ownership(buildRing(names.map((name) => ({ name, weight: 1 })))).values()];
        const mean = 1 / names.length;
        expect(Math.max(...shares) / mean).toBeLessThanOrEqual(BALANCE_MAX);
        expect(Math.min(...shares) / mean).toBeGreaterThanOrEqual(BALANCE_MIN);
      }),
      RUNS,
    );
  });

  /*
   * Weights: a node's share is within 25 % of vnodes_i / Σ vnodes (weights ≥ 0.25, ≤ 10 nodes, at
   * most 3 × 10 weight units, so μ = 2^17 × share ≥ 2^17 × 0.25/30 ≈ 1092 partitions). Chernoff at
   * δ = 0.25: exp(-δ²μ/(2+δ)) = exp(-30) above, exp(-δ²μ/2) = exp(-34) below; a union over
   * 10 nodes and 20 runs is < 1e-9.
   */
  it("gives each node a share proportional to its weight", () => {
    fc.assert(
      fc.property(nodesArb(1, 10), vnodesArb, (nodes, vnodes) => {
        const ring = buildRing(nodes, vnodes);
        const total = ring.nodes.reduce((s, m) => s + m.vnodes, 0);
        const shares = ownership(ring);
        const off = ring.nodes.filter((m) => Math.abs((shares.get(m.name) ?? 0) / (m.vnodes / total) - 1) > 0.25);
        expect(off).toEqual([]);
      }),
      RUNS,
    );
  });

  it("replicaRanges covers the hash space with maximal ranges that agree with replicasForHash", () => {
    fc.assert(
      fc.property(
        nodesArb(1, 8).chain((nodes) => fc.tuple(fc.constant(nodes), fc.integer({ min: 1, max: nodes.length }))),
        fc.array(fc.integer({ min: 0, max: HASH_SPACE - 1 }), { maxLength: 24 }),
        ([nodes, n], hashes) => {
          const ring = buildRing(nodes, 16);
          const ranges = replicaRanges(ring, n);
          const problems: string[] = [];
          ranges.forEach((r, i) => {
            const prev = ranges[i - 1];
            if (
              r.start !== (prev?.end ?? 0) ||
              r.end <= r.start ||
              r.start % PARTITION_SPAN !== 0 ||
              r.end % PARTITION_SPAN !== 0
            )
              problems.push(`bad range ${i}`);
            if (prev !== undefined && prev.replicas.join("\0") === r.replicas.join("\0"))
              problems.push(`not merged ${i}`);
            for (const h of [r.start, r.end - 1, ...hashes.filter((x) => x >= r.start && x < r.end)])
              if (replicasForHash(ring, h, n).join("\0") !== r.replicas.join("\0")) problems.push(`hash ${h}`);
          });
          expect(ranges[ranges.length - 1].end).toBe(HASH_SPACE);
          expect(problems).toEqual([]);
        },
      ),
      RUNS,
    );
  });

  it("diffOwnership ranges agree with per-key and per-hash owner changes", () => {
    fc.assert(
      fc.property(
        nodesArb(2, 10).chain((pool) =>
          fc.tuple(fc.subarray(pool, { minLength: 1 }), fc.subarray(pool, { minLength: 1 })),
        ),
        vnodesArb,
        vnodesArb,
        keysArb,
        fc.array(fc.integer({ min: 0, max: HASH_SPACE - 1 }), { maxLength: 24 }),
        ([nodesA, nodesB], vA, vB, keys, hashes) => {
          const before = buildRing(nodesA, vA);
          const after = buildRing(nodesB, vB);
          const moves = diffOwnership(before, after);
          expect(malformed(moves)).toEqual([]);
          // Every hash probed (keys, random hashes, both ends of every range and the hashes just
          // outside it) moves exactly as the range containing it says, or keeps its owner.
          const probes = [...keys.map(hashKey), ...hashes];
          for (const m of moves) probes.push(m.start, m.end - 1, m.start - 1, m.end);
          const wrong: string[] = [];
          for (const h of probes) {
            if (h < 0 || h >= HASH_SPACE) continue;
            const m = moveAt(moves, h);
            const was = ownerOfHash(before, h);
            const is = ownerOfHash(after, h);
            if (m === undefined ? was !== is : was !== m.from || is !== m.to)
              wrong.push(`hash ${h}: ${was} → ${is}, range ${JSON.stringify(m)}`);
          }
          expect(wrong).toEqual([]);
          expect(keys.map((k) => ownerOfHash(after, hashKey(k)))).toEqual(keys.map((k) => ownerOf(after, k)));
          // Net ownership change of every node = what it receives − what it gives away.
          const net = new Map<string, number>();
          for (const m of moves) {
            net.set(m.to, (net.get(m.to) ?? 0) + (m.end - m.start));
            net.set(m.from, (net.get(m.from) ?? 0) - (m.end - m.start));
          }
          const a = ownership(before);
          const b = ownership(after);
          const off = [...new Set([...a.keys(), ...b.keys()])].filter(
            (name) => Math.abs((b.get(name) ?? 0) - (a.get(name) ?? 0) - (net.get(name) ?? 0) / HASH_SPACE) > 1e-9,
          );
          expect(off).toEqual([]);
        },
      ),
      RUNS,
    );
  });
});

// ---- examples ---------------------------------------------------------------------------------

/** The RingError a call throws (fails the test when it does not throw one). */
function ringError(call: () => unknown): RingError {
  try {
    call();
  } catch (e) {
    expect(e).toBeInstanceOf(RingError);
    return e as RingError;
  }
  throw new Error("call did not throw");
}

describe("ring: bad input is refused with the argument named", () => {
  const ok = [
    { name: "a", weight: 1 },
    { name: "b", weight: 1 },
  ];
  it.each([
    ["an empty node list", () => buildRing([]), "nodes", /at least one node/],
    [
      "a node list that is not an array",
      () => buildRing(undefined as unknown as RingNodeInput[]),
      "nodes",
      /at least one node/,
    ],
    [
      "a duplicate name",
      () => buildRing([...ok, { name: "a", weight: 2 }]),
      "nodes[2].name",
      /must be unique; "a" is also nodes\[0\]\.name/,
    ],
    ["an empty name", () => buildRing([{ name: "", weight: 1 }]), "nodes[0].name", /non-empty string/],
    [
      "a name with a lone surrogate",
      () => buildRing([{ name: "x\uD800", weight: 1 }]),
      "nodes[0].name",
      /well-formed Unicode/,
    ],
    ["weight 0", () => buildRing([...ok, { name: "c", weight: 0 }]), "nodes[2].weight", /finite number > 0; got 0/],
    ["a negative weight", () => buildRing([{ name: "a", weight: -1 }]), "nodes[0].weight", /> 0; got -1/],
    ["a NaN weight", () => buildRing([{ name: "a", weight: NaN }]), "nodes[0].weight", /got NaN/],
    ["an infinite weight", () => buildRing([{ name: "a", weight: Infinity }]), "nodes[0].weight", /got Infinity/],
    ["an empty zone", () => buildRing([{ name: "a", weight: 1, zone: "" }]), "nodes[0].zone", /non-empty string/],
    ["vnodesPerWeight 0", () => buildRing(ok, 0), "vnodesPerWeight", /whole number from 1 to 4096; got 0/],
    ["vnodesPerWeight 4097", () => buildRing(ok, 4097), "vnodesPerWeight", /got 4097/],
    ["a fractional vnodesPerWeight", () => buildRing(ok, 1.5), "vnodesPerWeight", /got 1.5/],
    [
      "more than 1024 nodes",
      () => buildRing(Array.from({ length: 1025 }, (_, i) => ({ name: `n${i}`, weight: 1 }))),
      "nodes",
      /at most 1024 nodes; got 1025/,
    ],
    [
      "more replicas than nodes",
      () => replicasFor(buildRing(ok), "k", 3),
      "n",
      /from 1 to the ring's node count \(2\); got 3/,
    ],
    ["zero replicas", () => replicasFor(buildRing(ok), "k", 0), "n", /got 0/],
    ["a non-string key", () => ownerOf(buildRing(ok), 42 as unknown as string), "key", /must be a string; got 42/],
    ["a hash outside [0, 2^32)", () => ownerOfHash(buildRing(ok), HASH_SPACE), "hash", /0 to 2\^32-1; got 4294967296/],
    ["a fractional hash", () => replicasForHash(buildRing(ok), 1.5, 1), "hash", /got 1.5/],
    ["a negative partition hash", () => partitionOf(-1), "hash", /got -1/],
    ["replicaRanges of more replicas than nodes", () => replicaRanges(buildRing(ok), 3), "n", /got 3/],
  ])("%s", (_what, call, argument, message) => {
    const e = ringError(call);
    expect(e.argument).toBe(argument);
    expect(e.message).toContain(argument);
    expect(e.message).toMatch(message);
  });
});

describe("ring: weights, vnodes and ownership", () => {
  it("ranks a node with max(1, round(weight × vnodesPerWeight)) weight quanta over 2^17 partitions", () => {
    const ring = buildRing(
      [
        { name: "tiny", weight: 0.001 },
        { name: "half", weight: 1.5 },
        { name: "one", weight: 1 },
      ],
      3,
    );
    expect(ring.nodes.map((n) => [n.name, n.vnodes])).toEqual([
      ["half", 5],
      ["one", 3],
      ["tiny", 1],
    ]);
    expect(ring.size).toBe(PARTITION_COUNT);
    // Shares follow the quanta (5 : 3 : 1), not the raw weights (1.5 : 1 : 0.001).
    const shares = ownership(ring);
    expect((shares.get("half") ?? 0) / (5 / 9)).toBeCloseTo(1, 1);
    expect((shares.get("tiny") ?? 0) / (1 / 9)).toBeCloseTo(1, 1);
  });

  it("moves no key when vnodesPerWeight changes and weights are whole numbers (only weight ratios count)", () => {
    const nodes = [
      { name: "a", weight: 1 },
      { name: "b", weight: 2 },
      { name: "c", weight: 3, zone: "z" },
    ];
    expect(diffOwnership(buildRing(nodes, 150), buildRing(nodes, 7))).toEqual([]);
    const text = (r: Ring) =>
      replicaRanges(r, 2)
        .map((x) => `${x.start}-${x.end}:${x.replicas.join("\0")}`)
        .join("\n");
    expect(text(buildRing(nodes, 150)) === text(buildRing(nodes, 7))).toBe(true);
  });

  it("gives a weight-2 node about twice the share of a weight-1 node", () => {
    const nodes = [
      { name: "big", weight: 2 },
      ...Array.from({ length: 7 }, (_, i) => ({ name: `small-${i}`, weight: 1 })),
    ];
    const shares = ownership(buildRing(nodes, 1000));
    const big = shares.get("big") ?? NaN;
    const small = (1 - big) / 7;
    expect(big / small).toBeGreaterThan(1.8);
    expect(big / small).toBeLessThan(2.2);
    // And keys follow the shares: 20,000 keys land on "big" ≈ 2/9 of the time.
    let onBig = 0;
    const ring = buildRing(nodes, 1000);
    for (let i = 0; i < 20000; i++) if (ownerOf(ring, `user:${i}`) === "big") onBig++;
    expect(onBig / 20000).toBeCloseTo(big, 1);
  });

  it("ownership sums to 1, and a single node owns everything", () => {
    const shares = ownership(buildRing(["a", "b", "c", "d"].map((name, i) => ({ name, weight: i + 1 }))));
    expect([...shares.values()].reduce((s, x) => s + x, 0)).toBeCloseTo(1, 12);
    const solo = buildRing([{ name: "only", weight: 3 }], 5);
    expect(ownership(solo)).toEqual(new Map([["only", 1]]));
    expect(replicasFor(solo, "any", 1)).toEqual(["only"]);
    expect(diffOwnership(solo, solo)).toEqual([]);
  });

  it("the balance bound rejects an unequal ring (the [0.88, 1.12] bound can fail)", () => {
    const names = Array.from({ length: 16 }, (_, i) => ({ name: `shard-${i}`, weight: i === 0 ? 1.3 : 1 }));
    const shares = ownership(buildRing(names));
    expect((shares.get("shard-0") ?? 0) * 16).toBeGreaterThan(1.12);
  });

  it("balances 16 equal shards within 1.05 × the mean at the default vnodes (the bench's set)", () => {
    const shares = [
      ...ownership(buildRing(Array.from({ length: 16 }, (_, i) => ({ name: `shard-${i}`, weight: 1 })))).values(),
    ];
    expect(Math.max(...shares) * 16).toBeLessThanOrEqual(1.05);
    expect(Math.min(...shares) * 16).toBeGreaterThanOrEqual(0.95);
  });

  it("scores two names whose 32-bit hashes collide independently (64-bit node identity)", () => {
    // "n19436#0" and "n51901#0" have the same MurmurHash3 (found by a birthday search).
    expect(hashKey("n19436#0")).toBe(hashKey("n51901#0"));
    const a = buildRing([
      { name: "n51901#0", weight: 1 },
      { name: "n19436#0", weight: 1 },
    ]);
    const b = buildRing([
      { name: "n19436#0", weight: 1 },
      { name: "n51901#0", weight: 1 },
    ]);
    const shares = ownership(a);
    expect(shares.get("n19436#0")).toBeCloseTo(0.5, 1);
    expect(shares.get("n51901#0")).toBeCloseTo(0.5, 1);
    expect(diffOwnership(a, b)).toEqual([]);
    expect(replicasFor(a, "k", 2)).toEqual(replicasFor(b, "k", 2));
  });

  it("places whole partitions: a hash's owner is its partition's (partition = hash >>> 15)", () => {
    const ring = buildRing(["a", "b", "c", "d", "e"].map((name) => ({ name, weight: 1 })));
    expect(PARTITION_COUNT * PARTITION_SPAN).toBe(HASH_SPACE);
    expect([0, PARTITION_SPAN - 1, PARTITION_SPAN, HASH_SPACE - 1].map(partitionOf)).toEqual([
      0,
      0,
      1,
      PARTITION_COUNT - 1,
    ]);
    for (const p of [0, 1, 4242, PARTITION_COUNT - 1]) {
      const first = p * PARTITION_SPAN;
      const last = first + PARTITION_SPAN - 1;
      expect(ownerOfHash(ring, last)).toBe(ownerOfHash(ring, first));
      expect(replicasForHash(ring, last, 5)).toEqual(replicasForHash(ring, first, 5));
    }
  });
});

describe("ring: hashing and placement are stable", () => {
  it("hashes with MurmurHash3 x86_32 (published test vector) over UTF-8 bytes", () => {
    expect(hashKey("The quick brown fox jumps over the lazy dog")).toBe(0x2fa826cd);
    expect(RING_SEED).toBe(0x9747b28c);
    const utf8 = new TextEncoder();
    for (const key of ["", "ü-🦀-ключ", "x".repeat(5000), "日本".repeat(700)])
      expect(hashKey(key)).toBe(murmurhash.v3(utf8.encode(key), RING_SEED));
  });

  // Pinned placement: a change here moves data between shards. (Re-pinned when placement moved
  // from random ring points to rendezvous-hashed partitions, before any release routed keys.)
  it("places keys where earlier releases did (moving them would strand data)", () => {
    const ring = buildRing([
      { name: "shard-0", weight: 1, zone: "a" },
      { name: "shard-1", weight: 1, zone: "b" },
      { name: "shard-2", weight: 1, zone: "c" },
      { name: "shard-3", weight: 2, zone: "a" },
    ]);
    expect(ring.vnodesPerWeight).toBe(150);
    expect(["user:1", "user:2", "user:3", "order:42", "ü-🦀", ""].map((k) => ownerOf(ring, k))).toEqual([
      "shard-3",
      "shard-0",
      "shard-3",
      "shard-3",
      "shard-0",
      "shard-3",
    ]);
    expect(replicasFor(ring, "user:1", 3)).toEqual(["shard-3", "shard-1", "shard-2"]);
    expect(replicasFor(ring, "user:2", 3)).toEqual(["shard-0", "shard-1", "shard-2"]);
    // Beyond the zones (a, b, c), the fourth replica is the other zone-a shard.
    expect(replicasFor(ring, "user:3", 4)).toEqual(["shard-3", "shard-1", "shard-2", "shard-0"]);
  });

  it("accepts shard-map shards and is immutable", () => {
    const map: ShardMap = {
      epoch: 3,
      vnodesPerWeight: 64,
      replicationFactor: 2,
      consistency: "quorum",
      shards: [
        { name: "s1", weight: 1, zone: "a", host: "127.0.0.1", port: 5433, database: "app" },
        { name: "s0", weight: 2, host: "127.0.0.1", port: 5432, database: "app" },
      ],
    };
    const ring: Ring = ringOfShardMap(map);
    expect(ring.nodes).toEqual([
      { name: "s0", weight: 2, vnodes: 128 },
      { name: "s1", weight: 1, zone: "a", vnodes: 64 },
    ]);
    expect(diffOwnership(ring, buildRing(map.shards, 64))).toEqual([]);
    expect(Object.isFrozen(ring)).toBe(true);
    expect(Object.isFrozen(ring.nodes)).toBe(true);
    expect(Object.isFrozen(ring.nodes[0])).toBe(true);
    expect(() => ((ring.nodes as unknown as RingNodeInput[]).length = 0)).toThrow(TypeError);
    expect(Object.keys(ring).sort()).toEqual(["nodes", "vnodesPerWeight"]);
  });
});
