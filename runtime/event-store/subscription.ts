/**
 * Catch-up subscriptions over every shard: the global read (`$all`). Each shard is read gap-free
 * (core/events/position.ts) from the subscription's checkpoint; the shards are merged by
 * {@link CausalMerge} (per-stream order; a client's events in the order it appended them; stamp
 * order otherwise as far as the logs allow). Once caught up, the subscription waits for an
 * append's NOTIFY (or polls): it then goes on live, the same code path.
 *
 * Delivery is at-least-once: the checkpoint (one position per shard, each stored on its shard in
 * `scaleplane_event_checkpoints` as `subscription:<name>`) is saved every `checkpointEvery`
 * events and on stop; after a crash the events since the last save come again, in the same
 * per-stream order. Exactly-once effects are what projections are for (runtime/event-store/projector.ts).
 */
import { checkHandlerName } from "../../core/events/names";
import { CausalMerge } from "../../core/events/order";
import { positionOf, POSITION_ZERO, type Position, type PositionVector } from "../../core/events/position";
import { EventStore, type ReleaseHolder } from "./store";
import type { RecordedEvent } from "./types";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Checkpoint row name of a subscription. */
export const subscriptionCheckpoint = (name: string): string => `subscription:${name}`;

/** Options of {@link subscribeAll}. */
export interface SubscribeAllOptions {
  /** Subscription name (checkpoint rows); without one, the subscription starts at `from` and keeps no checkpoint. */
  name?: string;
  /** Where to start when there is no checkpoint. @default {} (the start of every shard) */
  from?: PositionVector;
  /** Called for every event, one at a time, in merge order. */
  handler: (event: RecordedEvent) => Promise<void> | void;
  /** Events read per shard and round. @default 1000 */
  batchSize?: number;
  /** Events between checkpoint saves. @default 1000 */
  checkpointEvery?: number;
  /** Longest wait for a wake-up when caught up, in ms. @default 1000 */
  idleMs?: number;
  /** Most events buffered per shard while waiting for another shard (bounds memory). @default 20000 */
  maxBuffered?: number;
  /** Called on a read or handler failure; the subscription retries after `retryMs`. @default log */
  onError?: (e: unknown) => void;
  /** @default 500 */
  retryMs?: number;
}

/** Where a subscription stands on one shard ({@link Subscription.state}). */
export interface SubscriptionShardState {
  readonly shard: string;
  /** Delivered up to here (the checkpoint's position). */
  readonly frontier: Position;
  /** Read up to here. */
  readonly cursor: Position;
  /** The shard's release bound at the last read (`xmin`: every transaction below it finished). */
  readonly xmin?: bigint;
  /** Events read and not yet delivered. */
  readonly buffered: number;
  /** The next event to deliver from this shard, and the dependency it waits for (none: deliverable). */
  readonly head?: Position;
  readonly waitsFor?: { shard: string; position: Position };
  /** The transaction holding the release bound for at least the store's `stallWarnMs`, if one does. */
  readonly heldBy?: ReleaseHolder;
}

/** A running subscription. */
export interface Subscription {
  /** Per shard: where it stands, and what it waits for (a stalled subscription says why). */
  state(): SubscriptionShardState[];
  /** The delivered frontier per shard. */
  readonly position: PositionVector;
  /** Events delivered so far (this run). */
  readonly delivered: number;
  /** Resolves once every event released up to now on every shard was delivered. */
  caughtUp(): Promise<void>;
  /** Stops after the event in hand, saves the checkpoint. */
  stop(): Promise<void>;
}

async function loadCheckpoint(store: EventStore, name: string): Promise<PositionVector> {
  const out: Record<string, Position> = {};
  await Promise.all(
    store.shards.map(async (shard) => {
      const r = await store.withShard(shard, (c) =>
        c.query<{ tx: string; seq: string }>(
          "SELECT tx::text AS tx, seq::text AS seq FROM scaleplane_event_checkpoints WHERE name = $1",
          [subscriptionCheckpoint(name)],
        ),
      );
      if (r.rows[0]) out[shard] = positionOf(r.rows[0].tx, r.rows[0].seq);
    }),
  );
  return out;
}

async function saveCheckpoint(store: EventStore, name: string, v: PositionVector): Promise<void> {
  await Promise.all(
    Object.entries(v).map(([shard, p]) =>
      store.withShard(shard, (c) =>
        c.query(
          `INSERT INTO scaleplane_event_checkpoints (name, tx, seq) VALUES ($1, $2::xid8, $3)
           ON CONFLICT (name) DO UPDATE SET tx = excluded.tx, seq = excluded.seq, updated_at = now()
           WHERE (scaleplane_event_checkpoints.tx, scaleplane_event_checkpoints.seq) < (excluded.tx, excluded.seq)`,
          [subscriptionCheckpoint(name), p.tx.toString(), p.seq.toString()],
        ),
      ),
    ),
  );
}

/** Starts a catch-up subscription over every shard of the store (see the module doc). */
export async function subscribeAll(store: EventStore, options: SubscribeAllOptions): Promise<Subscription> {
  if (options.name !== undefined) checkHandlerName(options.name, "name");
  const batch = options.batchSize ?? 1000;
  const every = options.checkpointEvery ?? 1000;
  const maxBuffered = options.maxBuffered ?? 20_000;
  const start = options.name
    ? { ...(options.from ?? {}), ...(await loadCheckpoint(store, options.name)) }
    : (options.from ?? {});
  let saved: PositionVector = start;
  let merge = new CausalMerge<RecordedEvent>(start);
  let cursors = new Map<string, Position>(store.shards.map((s) => [s, start[s] ?? POSITION_ZERO]));
  let buffered = new Map<string, number>();
  const reads = new Map<string, { xmin: bigint; heldBy?: ReleaseHolder }>();
  /** Back to the last saved checkpoint (after a failure: what was not saved comes again). */
  const reset = () => {
    merge = new CausalMerge<RecordedEvent>(saved);
    cursors = new Map(store.shards.map((s) => [s, saved[s] ?? POSITION_ZERO]));
    buffered = new Map();
  };
  let delivered = 0;
  let sinceSave = 0;
  let stopped = false;
  let waiters: Array<() => void> = [];
  const save = async () => {
    if (sinceSave === 0) return;
    const v = merge.frontiers();
    if (options.name) await saveCheckpoint(store, options.name, v);
    saved = v;
    sinceSave = 0;
  };

  const loop = (async () => {
    while (!stopped && !store.closed) {
      try {
        let complete = true;
        let read = 0;
        await Promise.all(
          store.shards.map(async (shard) => {
            if ((buffered.get(shard) ?? 0) >= maxBuffered) {
              complete = false;
              return;
            }
            const cursor = cursors.get(shard) ?? POSITION_ZERO;
            const b = await store.readReleased(shard, cursor, batch);
            cursors.set(shard, b.cursor);
            reads.set(shard, { xmin: b.xmin, ...(b.heldBy ? { heldBy: b.heldBy } : {}) });
            merge.push(shard, b.events);
            buffered.set(shard, (buffered.get(shard) ?? 0) + b.events.length);
            read += b.events.length;
            if (b.complete) merge.complete(shard, EventStore.boundOf(b.xmin));
            else complete = false;
          }),
        );
        let n = 0;
        for (let e = merge.next(); e && !stopped; e = merge.next()) {
          await options.handler(e);
          buffered.set(e.shard, (buffered.get(e.shard) ?? 1) - 1);
          delivered++;
          n++;
          if (++sinceSave >= every) await save();
        }
        if (complete && merge.buffered === 0) {
          for (const w of waiters.splice(0)) w();
          await Promise.race(store.shards.map((s) => store.waitForAppend(s, options.idleMs ?? 1000)));
        } else if (n === 0 && read === 0) await sleep(20);
      } catch (e) {
        if (stopped || store.closed) break;
        (options.onError ?? ((err) => store.log.warn({ err: (err as Error).message }, "subscription retrying")))(e);
        reset();
        await sleep(options.retryMs ?? 500);
      }
    }
    await save().catch(() => undefined);
  })();

  return {
    state() {
      const m = new Map(merge.state().map((x) => [x.shard, x]));
      return store.shards.map((shard) => {
        const q = m.get(shard);
        const r = reads.get(shard);
        return {
          shard,
          frontier: q?.frontier ?? saved[shard] ?? POSITION_ZERO,
          cursor: cursors.get(shard) ?? POSITION_ZERO,
          buffered: q?.buffered ?? 0,
          ...(r ? { xmin: r.xmin } : {}),
          ...(q?.head ? { head: q.head } : {}),
          ...(q?.waitsFor ? { waitsFor: q.waitsFor } : {}),
          ...(r?.heldBy ? { heldBy: r.heldBy } : {}),
        };
      });
    },
    get position() {
      return merge.frontiers();
    },
    get delivered() {
      return delivered;
    },
    caughtUp: () => {
      return new Promise<void>((r) => waiters.push(r));
    },
    async stop() {
      stopped = true;
      for (const w of waiters.splice(0)) w();
      waiters = [];
      await loop;
    },
  };
}
