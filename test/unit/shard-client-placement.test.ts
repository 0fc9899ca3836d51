import fc from "fast-check";
import {
  ackGroup,
  ackStatus,
  newestReply,
  staleReplicas,
  targetsOf,
  unmetGroups,
  writeGroups,
} from "../../core/sharding/acks";
import {
  PlacementError,
  compareKeys,
  makePlacer,
  prefixEnd,
  rangeIndexOf,
  successorReplicas,
  tenantKeyRanges,
  tenantOf,
} from "../../core/sharding/placement";
import { buildRing, replicasFor } from "../../core/sharding/ring";
import { ShardMapSchema } from "../../core/sharding/shard-map";

const shards = (n: number, zones?: string[]) =>
  Array.from({ length: n }, (_, i) => ({
    name: `s${i}`,
    weight: 1,
    host: `h${i}`,
    port: 5432,
    database: "app",
    ...(zones ? { zone: zones[i % zones.length] } : {}),
  }));

const utf8 = (s: string) => Buffer.from(s, "utf8");

describe("key order", () => {
  it("compareKeys is UTF-8 byte order (PostgreSQL's C collation), not UTF-16 code unit order", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), fc.string({ unit: "grapheme" }), (a, b) => {
        expect(Math.sign(compareKeys(a, b))).toBe(Math.sign(Buffer.compare(utf8(a), utf8(b))));
      }),
    );
    expect(compareKeys("\uffee", "\u{1f600}")).toBeLessThan(0); // "\uffee" < "\u{1f600}" by code point, the reverse in UTF-16
  });

  it("prefixEnd bounds exactly the strings with the prefix", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", minLength: 1 }), fc.string({ unit: "grapheme" }), (prefix, s) => {
        const end = prefixEnd(prefix)!;
        const inRange = compareKeys(s, prefix) >= 0 && compareKeys(s, end) < 0;
        expect(inRange).toBe(s.startsWith(prefix));
      }),
    );
    expect(prefixEnd("")).toBeUndefined();
    expect(prefixEnd("ab\u{10ffff}")).toBe("ac");
    expect(prefixEnd("a\ud7ff")).toBe("a\ue000");
  });
});

describe("range strategy", () => {
  const ranges = [
    { start: "", shard: "s0" },
    { start: "2026-01", shard: "s1" },
    { start: "2026-07", shard: "s2" },
  ];

  it("places a key in the last range whose start is ≤ the key", () => {
    expect(rangeIndexOf(ranges, "2025-12-31T23:59")).toBe(0);
    expect(rangeIndexOf(ranges, "2026-01")).toBe(1);
    expect(rangeIndexOf(ranges, "2026-06-30T10:00")).toBe(1);
    expect(rangeIndexOf(ranges, "2026-07-01")).toBe(2);
    expect(rangeIndexOf(ranges, "zzz")).toBe(2);
    const p = makePlacer({ vnodesPerWeight: 8, replicationFactor: 2, shards: shards(3) }, { kind: "range", ranges });
    expect(p.replicas("2026-03-05T12:00:00Z/evt-1")).toEqual(["s1", "s2"]);
    expect(p.replicas("2026-08-01")).toEqual(["s2", "s0"]);
    expect(p.replicaSets()).toEqual([
      ["s0", "s1"],
      ["s1", "s2"],
      ["s0", "s2"],
    ]);
  });

  it("agrees with a linear search for any boundaries and key", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ unit: "grapheme", minLength: 1 }), { maxLength: 20 }),
        fc.string({ unit: "grapheme" }),
        (starts, key) => {
          const rs = ["", ...starts.sort(compareKeys)].map((start) => ({ start }));
          let expected = 0;
          rs.forEach((r, i) => {
            if (compareKeys(r.start, key) <= 0) expected = i;
          });
          expect(rangeIndexOf(rs, key)).toBe(expected);
        },
      ),
    );
  });

  it("is validated in the shard map with the path named", () => {
    const map = { epoch: 0, vnodesPerWeight: 8, replicationFactor: 1, consistency: "one", shards: shards(2) };
    const bad = ShardMapSchema.safeParse({
      ...map,
      strategy: {
        kind: "range",
        ranges: [
          { start: "a", shard: "s0" },
          { start: "a", shard: "s9" },
        ],
      },
    });
    expect(bad.success).toBe(false);
    const msgs = bad.error!.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    expect(msgs).toEqual([
      'strategy.ranges.0.start: the first range must start at "" so every key has a range; got "a"',
      'strategy.ranges.1.shard: must name a shard of the map (s0, s1); got "s9"',
      'strategy.ranges.1.start: must be greater than the previous range\'s start "a"; got "a"',
    ]);
    expect(
      ShardMapSchema.parse({ ...map, strategy: { kind: "range", ranges: [{ start: "", shard: "s1" }] } }).strategy,
    ).toEqual({ kind: "range", ranges: [{ start: "", shard: "s1" }] });
    expect(ShardMapSchema.parse({ ...map, strategy: { kind: "directory" } }).strategy).toEqual({
      kind: "directory",
      separator: ":",
      tenants: {},
    });
    const badPins = ShardMapSchema.safeParse({
      ...map,
      strategy: { kind: "directory", tenants: { acme: "s9", "a:b": "s0" } },
    });
    expect(badPins.error!.issues.map((i) => `${i.path.join(".")}: ${i.message}`)).toEqual([
      'strategy.tenants.acme: pins the tenant to shard "s9", which is not in the shard map (s0, s1)',
      'strategy.tenants.a:b: must not contain the separator ":" (a key\'s tenant is its text before the first one)',
    ]);
  });
});

describe("directory strategy", () => {
  it("pins listed tenants and hashes the others", () => {
    const input = { vnodesPerWeight: 8, replicationFactor: 2, shards: shards(4) };
    const p = makePlacer(input, { kind: "directory", separator: ":", tenants: { acme: "s3", globex: "s1" } });
    expect(p.replicas("acme:orders/1")).toEqual(["s3", "s0"]);
    expect(p.replicas("acme")).toEqual(["s3", "s0"]);
    expect(p.replicas("globex:x")).toEqual(["s1", "s2"]);
    const ring = buildRing(input.shards, 8);
    for (const k of ["initech:1", "umbrella:2", "acmeco:3"]) expect(p.replicas(k)).toEqual(replicasFor(ring, k, 2));
    expect(tenantOf("a/b:c", "/")).toBe("a");
    expect(p.replicaSets()).toEqual(
      expect.arrayContaining([
        ["s0", "s3"],
        ["s1", "s2"],
      ]),
    );
  });

  it("refuses a pin to a shard outside the map, naming the tenant", () => {
    expect(() =>
      makePlacer(
        { vnodesPerWeight: 8, replicationFactor: 1, shards: shards(2) },
        { kind: "directory", separator: ":", tenants: { acme: "s7" } },
      ),
    ).toThrow(
      new PlacementError(
        "strategy.tenants.acme",
        'pins the tenant to shard "s7", which is not in the shard map (s0, s1)',
      ),
    );
  });

  it("scans of a pinned tenant's keys touch only its replicas; of a range, only the ranges' owners", () => {
    const input = { vnodesPerWeight: 8, replicationFactor: 2, shards: shards(4) };
    const dir = makePlacer(input, { kind: "directory", separator: ":", tenants: { acme: "s3" } });
    expect(dir.scanSets("acme:", prefixEnd("acme:"))).toEqual([["s0", "s3"]]);
    expect(dir.scanSets("acme:orders/", prefixEnd("acme:orders/"))).toEqual([["s0", "s3"]]);
    expect(dir.scanSets("", undefined)).toEqual(dir.replicaSets());
    expect(dir.scanSets("globex:", prefixEnd("globex:")).length).toBeGreaterThan(1);
    const ranges = makePlacer(
      { ...input, replicationFactor: 1 },
      {
        kind: "range",
        ranges: [
          { start: "", shard: "s0" },
          { start: "m", shard: "s1" },
          { start: "t", shard: "s2" },
        ],
      },
    );
    expect(ranges.scanSets("n", "p")).toEqual([["s1"]]);
    expect(ranges.scanSets("a", "t")).toEqual([["s0"], ["s1"]]);
    expect(ranges.scanSets("a", "t\u0000")).toEqual([["s0"], ["s1"], ["s2"]]);
    expect(ranges.scanSets("u", undefined)).toEqual([["s2"]]);
    expect(tenantKeyRanges("acme", ":")).toEqual([
      { start: "acme", end: "acme\u0001" },
      { start: "acme:", end: "acme;" },
    ]);
  });

  it("successor replicas prefer unused zones, then list order", () => {
    const zoned = shards(4, ["a", "a", "b", "b"]);
    expect(successorReplicas(zoned, "s0", 2)).toEqual(["s0", "s2"]);
    expect(successorReplicas(zoned, "s0", 3)).toEqual(["s0", "s2", "s1"]);
    expect(successorReplicas(zoned, "s3", 2)).toEqual(["s3", "s0"]);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.nat(), fc.nat(), (n, o, r) => {
        const list = shards(n, ["x", "y", "z"]);
        const rf = (r % n) + 1;
        const reps = successorReplicas(list, `s${o % n}`, rf);
        expect(new Set(reps).size).toBe(rf);
        expect(reps[0]).toBe(`s${o % n}`);
        expect(new Set(reps.map((s) => list.find((x) => x.name === s)!.zone)).size).toBe(
          Math.min(rf, new Set(list.map((x) => x.zone)).size),
        );
      }),
    );
  });
});

describe("hash strategy", () => {
  it("is the ring's replica list, and every key's set is among replicaSets()", () => {
    const input = { vnodesPerWeight: 8, replicationFactor: 2, shards: shards(5) };
    const p = makePlacer(input);
    const ring = buildRing(input.shards, 8);
    const sets = new Set(p.replicaSets().map((s) => s.join(",")));
    for (let i = 0; i < 500; i++) {
      const k = `key-${i}`;
      expect(p.replicas(k)).toEqual(replicasFor(ring, k, 2));
      expect(sets.has([...p.replicas(k)].sort().join(","))).toBe(true);
    }
  });
});

describe("ack counting", () => {
  it("meets a group at its level and reports it unreachable once too many failed", () => {
    const g = [ackGroup("quorum", ["a", "b", "c"])];
    expect(g[0].required).toBe(2);
    expect(ackStatus(g, new Set(["a"]), new Set())).toBe("pending");
    expect(ackStatus(g, new Set(["a", "c"]), new Set(["b"]))).toBe("met");
    expect(ackStatus(g, new Set(["a"]), new Set(["b", "c"]))).toBe("unreachable");
    expect(ackStatus([ackGroup("all", ["a", "b", "c"])], new Set(["a", "b"]), new Set(["c"]))).toBe("unreachable");
    expect(ackStatus([ackGroup("one", ["a", "b", "c"])], new Set(["c"]), new Set(["a", "b"]))).toBe("met");
  });

  it("a migration write needs the level in the old AND the new replica set", () => {
    const groups = writeGroups("quorum", ["a", "b", "c"], ["c", "d", "e"]);
    expect(targetsOf(groups)).toEqual(["a", "b", "c", "d", "e"]);
    expect(ackStatus(groups, new Set(["a", "b"]), new Set())).toBe("pending");
    expect(ackStatus(groups, new Set(["a", "c", "d"]), new Set())).toBe("met"); // c counts for both
    expect(ackStatus(groups, new Set(["a", "b", "c"]), new Set(["d", "e"]))).toBe("unreachable");
    expect(unmetGroups(groups, new Set(["a", "b"]))).toEqual([{ shards: ["c", "d", "e"], required: 2, acked: 0 }]);
  });

  it("status is met exactly when every group has its required acks, unreachable exactly when one cannot", () => {
    const names = ["a", "b", "c", "d", "e"];
    const outcome = fc.constantFrom("ack", "fail", "pending");
    fc.assert(
      fc.property(
        fc.subarray(names, { minLength: 1 }),
        fc.subarray(names, { minLength: 1 }),
        fc.constantFrom("one", "quorum", "all" as const),
        fc.array(outcome, { minLength: 5, maxLength: 5 }),
        (s1, s2, level, outs) => {
          const groups = writeGroups(level, s1, s2);
          const acked = new Set(names.filter((_, i) => outs[i] === "ack"));
          const failed = new Set(names.filter((_, i) => outs[i] === "fail"));
          const status = ackStatus(groups, acked, failed);
          const cannot = groups.some((g) => g.shards.filter((s) => !failed.has(s)).length < g.required);
          const met = groups.every((g) => g.shards.filter((s) => acked.has(s)).length >= g.required);
          expect(status).toBe(cannot ? "unreachable" : met ? "met" : "pending");
        },
      ),
    );
  });

  it("finds the newest reply and the replicas to repair", () => {
    const v = (wall: number, node = "n") => ({ wall, logical: 0, node });
    const replies = [
      { shard: "a", version: v(5) },
      { shard: "b", version: v(7) },
      { shard: "c", version: undefined },
      { shard: "d", version: v(7, "m") },
    ];
    expect(newestReply(replies)).toEqual(v(7));
    expect(staleReplicas(replies, v(7))).toEqual(["a", "c", "d"]);
    expect(staleReplicas([{ shard: "a", version: undefined }], undefined)).toEqual([]);
  });

  it("refuses a group with repeated shards", () => {
    expect(() => ackGroup("one", ["a", "a"])).toThrow(/shards must be distinct/);
  });
});
