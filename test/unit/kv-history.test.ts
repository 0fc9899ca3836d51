/**
 * The data layer's history checker (test/support/kv-history.ts) on hand-made histories: each rule
 * catches its violation, and legal histories (concurrent operations, writes of unknown outcome,
 * reads explained by a delete, superseded writes) pass.
 */
import type { Version } from "../../core/sharding/hlc";
import { QuorumUnavailableError, WriteSupersededError } from "../../runtime/shard-client/errors";
import {
  KvHistory,
  canonical,
  checkKvHistory,
  formatViolations,
  type FinalState,
  type KvOp,
  type RawRow,
} from "../support/kv-history";

const v = (wall: number, node = "n1"): Version => ({ wall, logical: 0, node });
function write(
  op: "put" | "delete",
  client: string,
  key: string,
  value: unknown,
  version: Version | undefined,
  call: number,
  ret: number,
  status: KvOp["status"],
): KvOp {
  return {
    client,
    op,
    key,
    ...(op === "put" ? { value } : {}),
    ...(version ? { version } : {}),
    status,
    call,
    ret: status === "unknown" ? Infinity : ret,
    ...(status !== "ok" ? { error: `${op} ${JSON.stringify(key)}: quorum unavailable` } : {}),
  };
}
/** Version, invocation and completion times (and outcome) of a hand-made operation. */
type At = [version: Version | undefined, call: number, ret: number, status?: KvOp["status"]];
const put = (client: string, key: string, value: unknown, ...[version, call, ret, status = "ok"]: At) =>
  write("put", client, key, value, version, call, ret, status);
const del = (client: string, key: string, ...[version, call, ret, status = "ok"]: At) =>
  write("delete", client, key, undefined, version, call, ret, status);
const get = (client: string, key: string, value: unknown, ...[version, call, ret]: At): KvOp => ({
  client,
  op: "get",
  key,
  ...(value !== undefined ? { value, version } : {}),
  status: "ok",
  call,
  ret,
});

const rules = (ops: KvOp[], final?: FinalState) =>
  checkKvHistory(ops, { final, shards: ["s1", "s2", "s3"] }).violations.map((x) => x.rule);

/** A final state of three replicas s1..s3 (quorum 2) for every key. */
function final(rows: Record<string, Record<string, RawRow>>): FinalState {
  return {
    rows: new Map(Object.entries(rows).map(([s, m]) => [s, new Map(Object.entries(m))])),
    replicasOf: () => ["s1", "s2", "s3"],
    quorum: 2,
  };
}
const live = (value: unknown, version: Version): RawRow => ({ value, version, deleted: false });
const tomb = (version: Version): RawRow => ({ version, deleted: true });

describe("legal histories pass", () => {
  it("concurrent writes and reads, a write of unknown outcome read later, a read explained by a delete", () => {
    const ops = [
      put("a", "k", "a:1", v(10, "a"), 0, 10),
      get("b", "k", "a:1", v(10, "a"), 11, 12),
      // concurrent with the next read: either order is fine
      put("b", "k", "b:1", undefined, 13, 0, "unknown"),
      get("c", "k", "b:1", v(14, "b"), 14, 20),
      get("a", "k", "b:1", v(14, "b"), 21, 22),
      del("c", "k", v(30, "c"), 23, 30),
      get("b", "k", undefined, undefined, 31, 32),
      put("a", "k", "a:2", v(40, "a"), 33, 40),
      get("c", "k", "a:2", v(40, "a"), 41, 42),
    ];
    const r = checkKvHistory(ops, {
      final: final({
        s1: { k: live("a:2", v(40, "a")) },
        s2: { k: live("a:2", v(40, "a")) },
        s3: { k: tomb(v(30, "c")) },
      }),
      shards: ["s1"],
    });
    expect(formatViolations(r)).toBe("");
    expect(r.counts).toMatchObject({ "put:ok": 2, "put:unknown": 1, "delete:ok": 1, "get:ok": 5, "get:absent": 1 });
    expect(r.keysChecked).toBe(1);
  });

  it("overlapping reads may return versions in either order", () => {
    const ops = [
      put("a", "k", "x", v(1), 0, 5),
      put("a", "k", "y", v(6), 6, 20),
      get("b", "k", "y", v(6), 7, 15),
      get("c", "k", "x", v(1), 8, 16), // started before the newer read completed
    ];
    expect(rules(ops)).toEqual([]);
  });

  it("a read of absent is explained by a delete of unknown outcome (any version)", () => {
    const ops = [
      put("a", "k", "x", v(1), 0, 5),
      get("b", "k", "x", v(1), 6, 7),
      del("c", "k", undefined, 8, 0, "unknown"),
      get("b", "k", undefined, undefined, 9, 10),
    ];
    expect(rules(ops)).toEqual([]);
  });

  it("an acknowledged write superseded on the final replicas by a newer write passes durability", () => {
    const ops = [put("a", "k", "x", v(1), 0, 5), put("b", "k", "y", undefined, 6, 0, "unknown")];
    expect(rules(ops, final({ s1: { k: live("y", v(7, "b")) }, s2: { k: live("y", v(7, "b")) } }))).toEqual([]);
  });

  it("a delete of unknown outcome may leave its tombstone (identified by the writer id)", () => {
    const ops = [put("a", "k", "x", v(1), 0, 5), { ...del("b", "k", undefined, 6, 0, "unknown"), node: "b" }];
    expect(
      rules(ops, final({ s1: { k: tomb(v(7, "b")) }, s2: { k: tomb(v(7, "b")) }, s3: { k: live("x", v(1)) } })),
    ).toEqual([]);
  });
});

describe("each rule catches its violation", () => {
  it("durability: an acknowledged write held by fewer than a quorum of its final replicas", () => {
    const ops = [put("a", "k", "x", v(1), 0, 5), put("a", "k", "y", v(6), 6, 8)];
    const r = checkKvHistory(ops, { final: final({ s1: { k: live("y", v(6)) }, s2: { k: live("x", v(1)) } }) });
    expect(r.violations.map((x) => x.rule)).toEqual(["durability"]);
    expect(r.violations[0].message).toMatch(
      /put\("y"\) → ok @ 6\.0@n1 \[6\.0, 8\.0\] is held .* by 1 of the final replicas \[s1, s2, s3\] \(s1\), fewer than 2/,
    );
    // missing everywhere
    expect(rules(ops, final({}))).toEqual(["durability"]);
  });

  it("monotonic reads: a read older than one that completed before it started", () => {
    const ops = [
      put("a", "k", "x", v(1), 0, 5),
      put("a", "k", "y", undefined, 6, 0, "unknown"),
      get("b", "k", "y", v(7), 7, 8),
      get("c", "k", "x", v(1), 9, 10),
    ];
    const r = checkKvHistory(ops);
    expect(r.violations.map((x) => x.rule)).toEqual(["monotonic-reads"]);
    expect(r.violations[0].message).toMatch(/c: get → "x" @ 1\.0@n1 .* is older than b: get → "y" @ 7\.0@n1/);
  });

  it("monotonic reads: absent after a value with no delete to explain it", () => {
    const ops = [
      put("a", "k", "x", v(1), 0, 5),
      get("b", "k", "x", v(1), 6, 7),
      get("c", "k", undefined, undefined, 8, 9),
    ];
    expect(rules(ops)).toEqual(["monotonic-reads"]);
  });

  it("monotonic reads: a value older than the delete an earlier absent read must have seen", () => {
    const ops = [
      put("a", "k", "x", v(1), 0, 5),
      get("b", "k", "x", v(1), 6, 7),
      del("a", "k", v(20), 8, 30), // acknowledged only after the next reads
      get("b", "k", undefined, undefined, 9, 10), // only the delete's tombstone explains it
      get("c", "k", "x", v(1), 11, 12), // older than that tombstone: the key came back
    ];
    expect(rules(ops)).toEqual(["monotonic-reads"]);
  });

  it("read your writes: a read older than the reader's own acknowledged write", () => {
    const ops = [put("a", "k", "x", v(1), 0, 5), put("b", "k", "y", v(6, "b"), 6, 8), get("b", "k", "x", v(1), 9, 10)];
    expect(rules(ops)).toEqual(["read-your-writes"]);
    // absent after the reader's own put, with no delete: also older than its write
    const absent = [put("b", "k", "y", v(6, "b"), 6, 8), get("b", "k", undefined, undefined, 9, 10)];
    expect(rules(absent)).toEqual(["read-your-writes"]);
  });

  it("no deleted key comes back: a read after an acknowledged delete returns an older value", () => {
    const ops = [put("a", "k", "x", v(1), 0, 5), del("b", "k", v(6, "b"), 6, 8), get("c", "k", "x", v(1), 9, 10)];
    expect(rules(ops)).toEqual(["deleted-came-back"]);
    // a newer put after the delete is not the deleted value coming back
    const later = [...ops.slice(0, 2), put("a", "k", "z", v(9), 8.5, 8.8), get("c", "k", "z", v(9), 9, 10)];
    expect(rules(later)).toEqual([]);
  });

  it("no deleted key comes back: the final replicas hold the older value instead of the tombstone", () => {
    const ops = [put("a", "k", "x", v(1), 0, 5), del("b", "k", v(6, "b"), 6, 8)];
    expect(
      rules(ops, final({ s1: { k: tomb(v(6, "b")) }, s2: { k: live("x", v(1)) }, s3: { k: live("x", v(1)) } })),
    ).toEqual(["deleted-came-back"]);
  });

  it("phantom: a value no put wrote, a superseded put's value, a value at another version, a stray tombstone", () => {
    expect(rules([get("a", "k", "ghost", v(1), 0, 1)])).toEqual(["phantom"]);
    const superseded = put("a", "k", "lost", v(1), 0, 2, "fail");
    superseded.error = `put "k" at version 1.0@n1 was superseded on every replica`;
    expect(rules([superseded, get("b", "k", "lost", v(1), 3, 4)])).toEqual(["phantom"]);
    expect(rules([put("a", "k", "x", v(1), 0, 2), get("b", "k", "x", v(5), 3, 4)])).toEqual(["phantom"]);
    expect(
      rules([put("a", "k", "x", v(1), 0, 2)], final({ s1: { k: live("x", v(1)) }, s2: { k: tomb(v(3, "z")) } })),
    ).toEqual(["phantom"]);
  });

  it("refusals name the key or a shard", () => {
    const bad = put("a", "k1", "x", undefined, 0, 0, "unknown");
    bad.error = "connection terminated";
    const ok = put("a", "k2", "y", undefined, 0, 0, "unknown");
    ok.error = "shard s2 refuses shard-map epoch 3";
    expect(rules([bad, ok])).toEqual(["unnamed-refusal"]);
  });
});

describe("KvHistory records outcomes", () => {
  it("ok with the stored version, superseded as fail with its version, other errors as unknown", async () => {
    let t = 0;
    const h = new KvHistory(() => ++t);
    const version = v(5, "me");
    const client = {
      nodeId: "me",
      put: jest
        .fn()
        .mockResolvedValueOnce({ version })
        .mockRejectedValueOnce(new WriteSupersededError("put", "k", v(6, "me"), v(9, "x")))
        .mockRejectedValueOnce(new QuorumUnavailableError("put", "k", "quorum", [], [])),
      delete: jest.fn().mockResolvedValue({ version: v(7, "me") }),
      get: jest
        .fn()
        .mockResolvedValueOnce({ value: { b: 1, a: 2 }, version })
        .mockResolvedValueOnce(undefined),
    };
    await h.put("c", client, "k", 1);
    await h.put("c", client, "k", 2);
    await h.put("c", client, "k", 3);
    await h.delete("c", client, "k");
    await h.get("c", client, "k");
    await h.get("c", client, "k");
    expect(h.ops.map((o) => [o.op, o.status, o.version?.wall, o.node])).toEqual([
      ["put", "ok", 5, "me"],
      ["put", "fail", 6, "me"],
      ["put", "unknown", undefined, "me"],
      ["delete", "ok", 7, "me"],
      ["get", "ok", 5, "me"],
      ["get", "ok", undefined, "me"],
    ]);
    expect(h.ops[2].ret).toBe(Infinity);
    expect(h.ops[2].error).toMatch(/quorum unavailable/);
    expect(h.ops[5].value).toBeUndefined();
    expect(canonical(h.ops[4].value)).toBe('{"a":2,"b":1}');
  });
});
