/**
 * The event store on real PostgreSQL (2 shards, one etcd): appends with expected versions and
 * idempotency (compared with the pure model on random histories), stamps, upcasters, encryption
 * at rest, the gap-free release under a stalled and a rolled-back writer, the order guard, and
 * deletion. Bounded: ~30-60 s.
 */
import fc from "fast-check";
import { decideAppend, type ExpectedVersion, type StoredId } from "../../../core/events/append-rules";
import { comparePositions, POSITION_ZERO } from "../../../core/events/position";
import {
  EventIdConflictError,
  EventStore,
  StreamDeletedError,
  WrongExpectedVersionError,
  eventSql,
  subscribeAll,
  type PositionVector,
} from "../../../runtime/event-store";
import { idOf, startEventsEnv, type EventsEnv } from "./support";

let env: EventsEnv;
let store: EventStore;

beforeAll(async () => {
  env = await startEventsEnv(2);
  store = await env.store({
    upcasters: [{ type: "Renamed", from: 1, renameTo: "Named", upcast: (d) => ({ ...(d as object), upcast: true }) }],
  });
});
afterAll(async () => env?.stop());

describe("appends", () => {
  it("stores events in versions, with metadata and stamps, encrypted at rest", async () => {
    const r = await store.append(
      "order-1",
      [
        { type: "Created", data: { total: 10 }, metadata: { user: "u1" }, correlationId: idOf(900) },
        { type: "Paid", data: { amount: 10 }, causationId: idOf(901) },
      ],
      { expectedVersion: "none" },
    );
    expect(r).toMatchObject({ version: 2, firstVersion: 1, duplicate: false, shard: store.shardOf("order-1") });
    const events = await store.readStream("order-1");
    expect(events.map((e) => [e.version, e.type, e.data])).toEqual([
      [1, "Created", { total: 10 }],
      [2, "Paid", { amount: 10 }],
    ]);
    expect(events[0].metadata).toEqual({ user: "u1" });
    expect(events[0].correlationId).toBe(idOf(900));
    expect(events[1].causationId).toBe(idOf(901));
    expect(comparePositions(events[1].position, events[0].position)).toBeGreaterThan(0);
    expect(events[1].stamp.logical + events[1].stamp.wall).toBeGreaterThan(
      events[0].stamp.logical + events[0].stamp.wall - 1,
    );
    const raw = await env
      .shard(r.shard)
      .query<{ data: Buffer }>("SELECT data FROM scaleplane_events WHERE stream = $1", ["order-1"]);
    for (const row of raw) expect(row.data.toString("latin1")).not.toContain("total");
  });

  it("upcasts old schema versions on read", async () => {
    await store.append("up-1", [{ type: "Renamed", data: { a: 1 }, schemaVersion: 1 }]);
    const [e] = await store.readStream("up-1");
    expect(e).toMatchObject({ type: "Named", schemaVersion: 2, data: { a: 1, upcast: true } });
  });

  it("lets exactly one of many concurrent appends with the same expected version win", async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 16 }, (_, i) => store.append("race-1", [{ type: "T", data: i }], { expectedVersion: 0 })),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const r of results.filter((x) => x.status === "rejected"))
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(WrongExpectedVersionError);
    expect(await store.streamVersion("race-1")).toBe(1);
  });

  it("matches the expected-version and idempotency model on random histories", async () => {
    let run = 0;
    let nextId = 10_000;
    const expected = fc.oneof(
      fc.constantFrom<ExpectedVersion>("any", "none", "exists"),
      fc.integer({ min: 0, max: 6 }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            stream: fc.integer({ min: 0, max: 1 }),
            expected,
            count: fc.integer({ min: 1, max: 3 }),
            reuse: fc.option(fc.nat(), { nil: undefined }),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        async (ops) => {
          run++;
          const streams = [`model-${run}-a`, `model-${run}-b`];
          const stored: StoredId[] = [];
          const used: string[][] = [];
          for (const op of ops) {
            const stream = streams[op.stream];
            const ids =
              op.reuse !== undefined && used.length > 0
                ? used[op.reuse % used.length]
                : Array.from({ length: op.count }, () => idOf(nextId++));
            used.push(ids);
            const current = stored.filter((s) => s.stream === stream).length;
            // ids are unique per shard: a reuse in a stream on another shard is not seen (a retry always is)
            const found = stored.filter((s) => ids.includes(s.id) && store.shardOf(s.stream) === store.shardOf(stream));
            const want = decideAppend(stream, op.expected, ids, current, false, found);
            const got = await store
              .append(
                stream,
                ids.map((id) => ({ id, type: "M", data: null })),
                { expectedVersion: op.expected },
              )
              .then(
                (r) =>
                  r.duplicate
                    ? { kind: "duplicate", first: r.firstVersion }
                    : { kind: "append", first: r.firstVersion },
                (e: unknown) =>
                  e instanceof WrongExpectedVersionError
                    ? { kind: "wrong-version", current: e.current }
                    : e instanceof EventIdConflictError
                      ? { kind: "id-conflict" }
                      : { kind: "error", e: String(e) },
              );
            expect(got).toEqual(want.kind === "id-conflict" ? { kind: "id-conflict" } : want);
            if (want.kind === "append") ids.forEach((id, i) => stored.push({ id, stream, version: want.first + i }));
          }
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe("gap-free release", () => {
  /** Appends in a transaction on its own connection and holds it open until `finish`. */
  async function stalled(stream: string, id: number) {
    const c = await env.shard(store.shardOf(stream)).connect();
    await c.query("BEGIN");
    await store.appendIn(c as never, stream, [{ id: idOf(id), type: "Stalled", data: id }]);
    return {
      finish: async (how: "COMMIT" | "ROLLBACK") => {
        await c.query(how);
        await c.end();
      },
    };
  }
  async function drain(shard: string, from = POSITION_ZERO) {
    let cursor = from;
    const seen: string[] = [];
    for (;;) {
      const b = await store.readReleased(shard, cursor, 1000);
      seen.push(...b.events.map((e) => e.id));
      cursor = b.cursor;
      if (b.complete) return { seen, cursor };
    }
  }

  it("never passes a transaction in flight, however long it stalls; rolled-back events never appear", async () => {
    // two streams on the same shard
    const a = "stall-a";
    let b = "stall-b0";
    for (let i = 1; store.shardOf(b) !== store.shardOf(a); i++) b = `stall-b${i}`;
    const shard = store.shardOf(a);
    const start = (await drain(shard)).cursor;

    const slow = await stalled(a, 50_001);
    const quick = await store.append(b, [{ id: idOf(50_002), type: "Quick", data: 1 }]);
    expect(quick.version).toBe(1);
    // the quick append committed, but a transaction that started before it is still open
    for (let i = 0; i < 3; i++) {
      expect((await drain(shard, start)).seen).toEqual([]);
      await new Promise((r) => setTimeout(r, 300));
    }
    await slow.finish("COMMIT");
    expect((await drain(shard, start)).seen).toEqual([idOf(50_001), idOf(50_002)]);

    const mark = (await drain(shard)).cursor;
    const doomed = await stalled(a, 50_003);
    await store.append(b, [{ id: idOf(50_004), type: "Quick", data: 2 }]);
    expect((await drain(shard, mark)).seen).toEqual([]);
    await doomed.finish("ROLLBACK");
    expect((await drain(shard, mark)).seen).toEqual([idOf(50_004)]);
    expect(await store.streamVersion(a)).toBe(1);
  });

  it("names the transaction holding the release bound once it held it for stallWarnMs, and still waits for it", async () => {
    const s2 = await env.store({ stallWarnMs: 300 });
    const stream = "held-1";
    const shard = s2.shardOf(stream);
    const start = (await drain(shard)).cursor;
    const c = await env.shard(shard).connect();
    try {
      const pid = (await c.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0].pid;
      await c.query("BEGIN");
      await s2.appendIn(c as never, stream, [{ id: idOf(60_001), type: "Held", data: 1 }]);
      let b = await s2.readReleased(shard, start, 10);
      for (let i = 0; i < 30 && !b.heldBy; i++) {
        await new Promise((r) => setTimeout(r, 100));
        b = await s2.readReleased(shard, start, 10);
      }
      expect(b.events).toEqual([]);
      expect(b.heldBy).toMatchObject({ xid: b.xmin, pid, state: "idle in transaction" });
      expect(b.heldBy!.openSeconds).toBeGreaterThanOrEqual(0);
      await c.query("COMMIT");
      b = await s2.readReleased(shard, start, 10);
      expect(b.heldBy).toBeUndefined();
      expect(b.events.map((e) => e.id)).toEqual([idOf(60_001)]);
    } finally {
      await c.end();
    }
  });

  it("refuses (SPE01) an append from a transaction that got its id before the stream's lock, rather than misorder the log", async () => {
    const stream = "guard-1";
    const shard = store.shardOf(stream);
    await store.append(stream, [{ type: "First", data: 1 }]);
    const c = await env.shard(shard).connect();
    try {
      await c.query("CREATE TABLE IF NOT EXISTS guard_scratch (x int)");
      await c.query("BEGIN");
      await c.query("INSERT INTO guard_scratch VALUES (1)"); // the transaction has its id now
      await store.append(stream, [{ type: "Later", data: 2 }]); // a newer transaction appends and commits
      await expect(store.appendIn(c as never, stream, [{ type: "Late", data: 3 }])).rejects.toMatchObject({
        code: eventSql.ORDER_GUARD_SQLSTATE,
      });
      await c.query("ROLLBACK");
    } finally {
      await c.end();
    }
    expect((await store.readStream(stream)).map((e) => e.type)).toEqual(["First", "Later"]);
  });
});

describe("global subscription", () => {
  it("delivers past a rolled-back append that another shard's events depend on, and reports caught up", async () => {
    // One writer store serving concurrent writers (as in the 10^6 acceptance run): an append in
    // a transaction becomes the store's dependency on its shard when the call returns, and that
    // transaction then rolls back. Events on the other shard depend on it, and a later event on
    // its own shard depends on those. Before the merge counted a dependency as met once its
    // shard's log passed it, the two shards' next events waited for each other forever.
    const w = await env.store();
    const [sa, sb] = w.shards;
    const streamOn = (shard: string, base: string) => {
      let s = `${base}0`;
      for (let i = 1; w.shardOf(s) !== shard; i++) s = `${base}${i}`;
      return s;
    };
    const a = streamOn(sa, "dl-a");
    const b1 = streamOn(sb, "dl-b1-");
    const b2 = streamOn(sb, "dl-b2-");
    // start after everything the other tests wrote (released up to now)
    const from: Record<string, { tx: bigint; seq: bigint }> = {};
    for (const shard of w.shards) {
      let cursor = POSITION_ZERO;
      for (let b = await w.readReleased(shard, cursor, 5000); ; b = await w.readReleased(shard, cursor, 5000)) {
        cursor = b.cursor;
        if (b.complete) break;
      }
      from[shard] = cursor;
    }

    const doomed = await env.shard(sb).connect();
    try {
      await doomed.query("BEGIN");
      await w.appendIn(doomed as never, b1, [{ id: idOf(70_001), type: "Doomed", data: 1 }]);
      await w.append(a, [{ id: idOf(70_002), type: "DependsOnDoomed", data: 2 }]);
      await w.append(b2, [{ id: idOf(70_003), type: "DependsOnA", data: 3 }]);
      await doomed.query("ROLLBACK");
    } finally {
      await doomed.end();
    }

    const seen: string[] = [];
    const sub = await subscribeAll(store, {
      from: from as PositionVector,
      idleMs: 100,
      handler: (e) => void seen.push(e.id),
    });
    try {
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        sub.caughtUp().then(() => "caught up"),
        new Promise<string>((r) => (timer = setTimeout(() => r("stuck"), 15_000))),
      ]).finally(() => clearTimeout(timer));
      expect({ outcome, seen }).toEqual({ outcome: "caught up", seen: [idOf(70_002), idOf(70_003)] });
    } finally {
      await sub.stop();
    }
  });
});

describe("deletion", () => {
  it("crypto-shreds a stream: reads, appends and replays refuse or skip it; other streams are untouched", async () => {
    await store.append("person-1", [{ type: "Registered", data: { email: "a@example.org" } }]);
    await store.append("person-2", [{ type: "Registered", data: { email: "b@example.org" } }]);
    expect(await store.deleteStream("person-1")).toBe(true);
    expect(await store.deleteStream("person-1")).toBe(false);
    await expect(store.readStream("person-1")).rejects.toBeInstanceOf(StreamDeletedError);
    await expect(store.append("person-1", [{ type: "X", data: 1 }])).rejects.toBeInstanceOf(StreamDeletedError);
    const other = await env.store({ config: store.config });
    await expect(other.append("person-1", [{ type: "X", data: 1 }])).rejects.toBeInstanceOf(StreamDeletedError);
    const seen: string[] = [];
    for (const shard of store.shards) {
      let cursor = POSITION_ZERO;
      for (;;) {
        const b = await store.readReleased(shard, cursor, 500);
        seen.push(...b.events.map((e) => e.stream));
        cursor = b.cursor;
        if (b.complete) break;
      }
    }
    expect(seen).toContain("person-2");
    expect(seen).not.toContain("person-1");
    const key = await env
      .shard(store.shardOf("person-1"))
      .query<{ data_key: Buffer | null }>("SELECT data_key FROM scaleplane_event_streams WHERE stream = 'person-1'");
    expect(key[0].data_key).toBeNull();
    expect((await store.readStream("person-2"))[0].data).toEqual({ email: "b@example.org" });
  });
});
