/**
 * The global merge (core/events/order.ts) over simulated shards: transactions get their ids when
 * they start and commit later in any order; a reader releases only rows below each shard's
 * oldest running transaction (the xmin rule) in random batch sizes. Whatever the interleaving:
 * every committed event is delivered exactly once, per-stream order holds, each client's events
 * come out in the order it appended them, and the merge never gets stuck.
 */
import fc from "fast-check";
import { hlcObserve, type HlcTimestamp } from "../../../core/sharding/hlc";
import { CausalMerge, appendStamps, streamStamp, nextStamp, type MergeItem } from "../../../core/events/order";
import { comparePositions, type Position } from "../../../core/events/position";

const MAX_SEQ = 2n ** 63n;

interface SimEvent extends MergeItem {
  readonly stream: string;
  readonly version: number;
  readonly client: number;
  readonly ordinal: number;
}

interface Txn {
  shard: number;
  xid: bigint;
  events: SimEvent[];
  commitAt: number;
  client: number;
}

const scenario = fc.record({
  shards: fc.integer({ min: 1, max: 4 }),
  clients: fc.integer({ min: 1, max: 4 }),
  streamsPerClient: fc.integer({ min: 1, max: 3 }),
  steps: fc.array(
    fc.record({
      client: fc.nat(),
      stream: fc.nat(),
      count: fc.integer({ min: 1, max: 3 }),
      delay: fc.integer({ min: 0, max: 12 }),
      skew: fc.integer({ min: -50, max: 50 }),
      read: fc.boolean(),
      limit: fc.integer({ min: 1, max: 6 }),
    }),
    { minLength: 1, maxLength: 80 },
  ),
  streamShard: fc.array(fc.nat(), { minLength: 12, maxLength: 12 }),
});

describe("CausalMerge", () => {
  it("delivers every committed event once, in stream and per-client order, without getting stuck", () => {
    fc.assert(
      fc.property(scenario, (sc) => {
        const shardName = (i: number) => `s${i}`;
        const nextXid = Array.from({ length: sc.shards }, () => 100n);
        const nextSeq = Array.from({ length: sc.shards }, () => 1n);
        const running: Txn[] = [];
        const committed: Txn[][] = Array.from({ length: sc.shards }, () => []);
        const clientBusy = new Array<boolean>(sc.clients).fill(false);
        const clientClock: HlcTimestamp[] = Array.from({ length: sc.clients }, () => ({ wall: 0, logical: 0 }));
        const clientDeps: Record<string, Position>[] = Array.from({ length: sc.clients }, () => ({}));
        const clientOrdinal = new Array<number>(sc.clients).fill(0);
        const streamVersion = new Map<string, number>();
        const streamLast = new Map<string, HlcTimestamp>();
        const cursor: Position[] = Array.from({ length: sc.shards }, () => ({ tx: 0n, seq: 0n }));
        const merge = new CausalMerge<SimEvent>();
        const delivered: SimEvent[] = [];
        let now = 0;

        const commitDue = () => {
          for (let i = running.length - 1; i >= 0; i--) {
            const t = running[i];
            if (t.commitAt > now) continue;
            running.splice(i, 1);
            committed[t.shard].push(t);
            clientBusy[t.client] = false;
            const last = t.events[t.events.length - 1];
            clientClock[t.client] = hlcObserve(clientClock[t.client], last.stamp, 0);
            clientDeps[t.client] = { ...clientDeps[t.client], [shardName(t.shard)]: last.position };
          }
        };
        const readRound = (limit: number) => {
          for (let s = 0; s < sc.shards; s++) {
            const xmin = running.filter((t) => t.shard === s).reduce((m, t) => (t.xid < m ? t.xid : m), nextXid[s]);
            const rows = committed[s]
              .filter((t) => t.xid < xmin)
              .flatMap((t) => t.events)
              .filter((e) => comparePositions(e.position, cursor[s]) > 0)
              .sort((a, b) => comparePositions(a.position, b.position));
            const batch = rows.slice(0, limit);
            if (batch.length > 0) cursor[s] = batch[batch.length - 1].position;
            merge.push(shardName(s), batch);
            if (batch.length === rows.length) merge.complete(shardName(s), { tx: xmin - 1n, seq: MAX_SEQ });
          }
          for (let e = merge.next(); e; e = merge.next()) delivered.push(e);
        };

        for (const st of sc.steps) {
          now++;
          commitDue();
          const c = st.client % sc.clients;
          if (!clientBusy[c]) {
            const streamIdx = st.stream % sc.streamsPerClient;
            const stream = `c${c}-s${streamIdx}`;
            const shard = sc.streamShard[(c * 3 + streamIdx) % sc.streamShard.length] % sc.shards;
            const xid = nextXid[shard]++;
            const version = streamVersion.get(stream) ?? 0;
            clientClock[c] = { wall: Math.max(0, now * 10 + st.skew), logical: 0 };
            const stamps = appendStamps(clientClock[c], streamLast.get(stream), st.count);
            const deps = Object.fromEntries(Object.entries(clientDeps[c]).filter(([k]) => k !== shardName(shard)));
            const events: SimEvent[] = stamps.map((t, i) => ({
              shard: shardName(shard),
              position: { tx: xid, seq: nextSeq[shard]++ },
              stamp: { ...t, node: `c${c}` },
              deps,
              stream,
              version: version + i + 1,
              client: c,
              ordinal: clientOrdinal[c]++,
            }));
            streamVersion.set(stream, version + st.count);
            streamLast.set(stream, stamps[stamps.length - 1]);
            running.push({ shard, xid, events, commitAt: now + st.delay, client: c });
            clientBusy[c] = true;
          }
          if (st.read) readRound(st.limit);
        }
        // finish every transaction and drain
        now += 1000;
        commitDue();
        for (let i = 0; i < 10_000 && merge.buffered + undelivered() > 0; i++) readRound(7);
        function undelivered(): number {
          return committed.flat().reduce((n, t) => n + t.events.length, 0) - delivered.length;
        }

        const all = committed.flat().flatMap((t) => t.events);
        expect(delivered.length).toBe(all.length);
        expect(new Set(delivered.map((e) => `${e.shard}/${e.position.tx}.${e.position.seq}`)).size).toBe(all.length);
        const seenVersion = new Map<string, number>();
        const seenOrdinal = new Map<number, number>();
        for (const e of delivered) {
          expect(e.version).toBe((seenVersion.get(e.stream) ?? 0) + 1);
          seenVersion.set(e.stream, e.version);
          expect(e.ordinal).toBe((seenOrdinal.get(e.client) ?? -1) + 1);
          seenOrdinal.set(e.client, e.ordinal);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("refuses a push that goes back in a shard's order", () => {
    const m = new CausalMerge<MergeItem>();
    const item = (tx: bigint): MergeItem => ({
      shard: "a",
      position: { tx, seq: 1n },
      stamp: { wall: 1, logical: 0, node: "n" },
    });
    m.push("a", [item(5n)]);
    expect(() => m.push("a", [item(4n)])).toThrow(/is not after/);
  });

  it("resumes from a checkpoint vector: dependencies at or below it are met", () => {
    const m = new CausalMerge<MergeItem>({ a: { tx: 10n, seq: 3n } });
    m.push("b", [
      {
        shard: "b",
        position: { tx: 1n, seq: 1n },
        stamp: { wall: 1, logical: 0, node: "n" },
        deps: { a: { tx: 10n, seq: 2n } },
      },
    ]);
    expect(m.next()?.shard).toBe("b");
    m.push("b", [
      {
        shard: "b",
        position: { tx: 2n, seq: 1n },
        stamp: { wall: 1, logical: 0, node: "n" },
        deps: { a: { tx: 11n, seq: 1n } },
      },
    ]);
    expect(m.next()).toBeUndefined();
    m.complete("a", { tx: 11n, seq: 5n });
    expect(m.next()?.position.tx).toBe(2n);
  });
});

describe("stream stamps", () => {
  const ts = fc.record({
    wall: fc.integer({ min: 0, max: 2 ** 40 }),
    logical: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  });
  const cmp = (a: HlcTimestamp, b: HlcTimestamp) => (a.wall !== b.wall ? a.wall - b.wall : a.logical - b.logical);

  it("strictly increase along a stream whatever the clients' clocks say", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(ts, fc.integer({ min: 1, max: 5 })), { minLength: 1, maxLength: 60 }),
        (appends) => {
          let last: HlcTimestamp | undefined;
          for (const [client, count] of appends) {
            const stamps = appendStamps(client, last, count);
            expect(stamps).toHaveLength(count);
            if (last) expect(cmp(stamps[0], last)).toBeGreaterThan(0);
            expect(cmp(stamps[0], client)).toBeGreaterThanOrEqual(0);
            for (let i = 1; i < stamps.length; i++) expect(cmp(stamps[i], stamps[i - 1])).toBeGreaterThan(0);
            last = stamps[stamps.length - 1];
          }
        },
      ),
    );
  });

  it("keep the client's reading when it is ahead of the stream", () => {
    expect(streamStamp({ wall: 10, logical: 0 }, { wall: 5, logical: 9 })).toEqual({ wall: 10, logical: 0 });
    expect(streamStamp({ wall: 5, logical: 0 }, { wall: 5, logical: 9 })).toEqual({ wall: 5, logical: 10 });
    expect(nextStamp({ wall: 5, logical: 2 ** 31 - 1 })).toEqual({ wall: 6, logical: 0 });
  });
});
