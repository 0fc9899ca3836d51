import fc from "fast-check";
import {
  AppendArgumentError,
  checkEventIds,
  checkExpectedVersion,
  decideAppend,
  decodeExpectedVersion,
  encodeExpectedVersion,
  versionMatches,
  type ExpectedVersion,
  type StoredId,
} from "../../../core/events/append-rules";
import { checkHandlerName, checkTableName, generationTable, runnerElection } from "../../../core/events/names";
import {
  EventPlacementSchema,
  StreamRouter,
  checkStreamId,
  initialEventPlacement,
  missingShards,
} from "../../../core/events/placement";
import {
  advanceVector,
  comparePositions,
  formatPosition,
  formatVector,
  parsePosition,
  parseVector,
} from "../../../core/events/position";
import { UpcasterChain, UpcasterError } from "../../../core/events/upcast";
import { buildRing, hashKey, ownerOf } from "../../../core/sharding/ring";

const uuid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;

describe("append rules", () => {
  const expected = fc.oneof(fc.constantFrom<ExpectedVersion>("any", "none", "exists"), fc.integer({ min: 0, max: 12 }));

  it("a simulated store under random appends and retries never duplicates, skips or reorders versions", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            expected,
            count: fc.integer({ min: 1, max: 4 }),
            retryOf: fc.option(fc.nat(), { nil: undefined }),
          }),
          { maxLength: 60 },
        ),
        (ops) => {
          const stored: StoredId[] = [];
          const acked: { ids: string[]; first: number; expected: ExpectedVersion }[] = [];
          let next = 1;
          for (const op of ops) {
            const retry = op.retryOf !== undefined && acked.length > 0 ? acked[op.retryOf % acked.length] : undefined;
            const ids = retry ? retry.ids : Array.from({ length: op.count }, () => uuid(next++));
            const exp = retry ? retry.expected : op.expected;
            const current = stored.length;
            const found = stored.filter((s) => ids.includes(s.id));
            const d = decideAppend("s", exp, ids, current, false, found);
            if (retry) {
              // a retry of an acknowledged append is answered with its own versions
              expect(d).toEqual({ kind: "duplicate", first: retry.first });
              continue;
            }
            if (d.kind === "append") {
              expect(d.first).toBe(current + 1);
              expect(versionMatches(exp, current)).toBe(true);
              ids.forEach((id, i) => stored.push({ id, stream: "s", version: d.first + i }));
              acked.push({ ids, first: d.first, expected: exp });
            } else expect(d).toEqual({ kind: "wrong-version", current });
          }
          stored.forEach((s, i) => expect(s.version).toBe(i + 1));
        },
      ),
    );
  });

  it("a partial or foreign reuse of ids is a conflict, a deleted stream refuses", () => {
    const stored: StoredId[] = [
      { id: uuid(1), stream: "s", version: 1 },
      { id: uuid(2), stream: "s", version: 2 },
    ];
    expect(decideAppend("s", "any", [uuid(2), uuid(9)], 2, false, [stored[1]])).toEqual({
      kind: "id-conflict",
      ids: [uuid(2)],
    });
    expect(decideAppend("t", "any", [uuid(1)], 0, false, [stored[0]]).kind).toBe("id-conflict");
    expect(decideAppend("s", "any", [uuid(2), uuid(1)], 2, false, stored).kind).toBe("id-conflict");
    expect(decideAppend("s", 0, [uuid(1), uuid(2)], 2, false, stored)).toEqual({ kind: "duplicate", first: 1 });
    expect(decideAppend("s", 1, [uuid(1), uuid(2)], 2, false, stored)).toEqual({ kind: "wrong-version", current: 2 });
    expect(decideAppend("s", "any", [uuid(3)], 2, true, [])).toEqual({ kind: "deleted" });
  });

  it("encodes expected versions both ways and refuses bad ones by name", () => {
    fc.assert(fc.property(expected, (e) => expect(decodeExpectedVersion(encodeExpectedVersion(e))).toBe(e)));
    expect(() => checkExpectedVersion(-1)).toThrow(/expectedVersion must be/);
    expect(() => checkExpectedVersion("latest")).toThrow(AppendArgumentError);
    expect(() => checkEventIds([uuid(1), uuid(1)])).toThrow(/events\[1\]\.id repeats/);
    expect(() => checkEventIds(["x"])).toThrow(/events\[0\]\.id must be a lower-case UUID/);
    expect(() => checkEventIds([])).toThrow(/at least one event/);
  });
});

describe("positions", () => {
  const pos = fc.record({
    tx: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    seq: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  });
  it("round-trip through text and order as (tx, seq)", () => {
    fc.assert(
      fc.property(pos, pos, (a, b) => {
        expect(parsePosition(formatPosition(a))).toEqual(a);
        const c = comparePositions(a, b);
        expect(Math.sign(c)).toBe(
          a.tx !== b.tx ? (a.tx < b.tx ? -1 : 1) : a.seq === b.seq ? 0 : a.seq < b.seq ? -1 : 1,
        );
      }),
    );
    expect(() => parsePosition("1.-2", "checkpoint.a")).toThrow(/checkpoint\.a must be/);
  });
  it("vectors only move forward", () => {
    const v = advanceVector(advanceVector({}, "a", { tx: 5n, seq: 1n }), "a", { tx: 4n, seq: 9n });
    expect(v.a).toEqual({ tx: 5n, seq: 1n });
    expect(parseVector(formatVector(v))).toEqual(v);
  });
});

describe("upcasters", () => {
  it("run a type's chain to its latest version, following renames", () => {
    const chain = new UpcasterChain([
      { type: "Opened", from: 1, upcast: (d) => ({ ...(d as object), currency: "EUR" }) },
      { type: "Opened", from: 2, renameTo: "AccountOpened", upcast: (d) => d },
      { type: "AccountOpened", from: 3, upcast: (d) => ({ ...(d as object), v4: true }) },
    ]);
    expect(chain.latestVersion("Opened")).toBe(3);
    expect(chain.latestVersion("AccountOpened")).toBe(4);
    expect(chain.plan("Opened", 1)).toMatchObject({ type: "AccountOpened", schemaVersion: 4 });
    expect(chain.upcast({ type: "Opened", schemaVersion: 1, data: { id: 1 } })).toEqual({
      type: "AccountOpened",
      schemaVersion: 4,
      data: { id: 1, currency: "EUR", v4: true },
    });
    const current = { type: "Other", schemaVersion: 1, data: 1 };
    expect(chain.upcast(current)).toBe(current);
  });
  it("refuse a repeated (type, from) and bad entries by index", () => {
    const u = { type: "A", from: 1, upcast: (d: unknown) => d };
    expect(() => new UpcasterChain([u, u])).toThrow(/upcasters\[1\] repeats/);
    expect(() => new UpcasterChain([{ ...u, from: 0 }])).toThrow(UpcasterError);
    expect(() => new UpcasterChain([{ ...u, type: "a b" }])).toThrow(/upcasters\[0\]\.type/);
  });
});

describe("stream placement", () => {
  const shards = [
    { name: "shard-0", weight: 1 },
    { name: "shard-1", weight: 1 },
    { name: "shard-2", weight: 2 },
  ];
  it("puts a stream on its ring owner", () => {
    const r = new StreamRouter(initialEventPlacement({ vnodesPerWeight: 150, shards }));
    const ring = buildRing(shards, 150);
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), (id) =>
        expect(r.route(id)).toEqual({ kind: "owner", shard: ownerOf(ring, id) }),
      ),
    );
  });
  it("during a move, marks exactly the streams whose owner changes as moving, read from the old owner until cutover", () => {
    const to = [...shards, { name: "shard-3", weight: 1 }];
    const base = { epoch: 1, vnodesPerWeight: 150, shards: to };
    const copy = new StreamRouter(
      EventPlacementSchema.parse({
        ...base,
        migration: { id: "m1", phase: "copy", from: { vnodesPerWeight: 150, shards } },
      }),
    );
    const cut = new StreamRouter(
      EventPlacementSchema.parse({
        ...base,
        migration: { id: "m1", phase: "cutover", from: { vnodesPerWeight: 150, shards } },
      }),
    );
    const before = buildRing(shards, 150);
    const after = buildRing(to, 150);
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), (id) => {
        const a = ownerOf(before, id);
        const b = ownerOf(after, id);
        if (a === b) expect(copy.route(id)).toEqual({ kind: "owner", shard: a });
        else {
          expect(copy.route(id)).toEqual({ kind: "moving", from: a, to: b, read: a });
          expect(cut.route(id)).toEqual({ kind: "moving", from: a, to: b, read: b });
        }
      }),
    );
    expect(copy.shardNames).toEqual(["shard-0", "shard-1", "shard-2", "shard-3"]);
    expect(missingShards(copy.placement, shards)).toEqual(["shard-3"]);
    expect(copy.routeHash(hashKey("x"))).toEqual(copy.route("x"));
  });
  it("refuses bad stream ids and names by argument", () => {
    expect(() => checkStreamId("")).toThrow(/streamId must be a non-empty string/);
    expect(() => checkStreamId("a\0b")).toThrow(/NUL/);
    expect(() => checkStreamId("x".repeat(513))).toThrow(/512/);
    expect(() => checkHandlerName("Bad-Name", "projections[0].name")).toThrow(/projections\[0\]\.name must be/);
    expect(() => checkTableName("a__b")).toThrow(/without "__"/);
    expect(generationTable("accounts", 3)).toBe("accounts__g3");
    expect(runnerElection("projection", "p", "shard/1")).toBe("events.projection.p.shard_1");
  });
});
