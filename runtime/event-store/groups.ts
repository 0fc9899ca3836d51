/**
 * Persistent subscriptions (competing consumers), EventStoreDB's model on the shards: a group's
 * feeder (a fenced, leader-elected runner per shard, exactly like a projection) copies every
 * released event's position into the group's queue on that shard, in the same transaction as its
 * checkpoint (each event enqueued once). Consumers anywhere claim messages with a lease
 * (`FOR UPDATE SKIP LOCKED`: no two consumers get the same message at once), then ack (delete),
 * or nack (retried later); a message nacked or expired `maxDeliveries` times is parked
 * (`scaleplane_event_group_parked`) until an operator replays it. Delivery is at-least-once: a
 * consumer that dies keeps its messages only until their lease ends. No order across consumers.
 */
import { checkHandlerName } from "../../core/events/names";

import { runProjections, type ProjectionRunners, type ShardProjectorOptions } from "./projector";
import { EVENTS_AT_SQL, type EventRow } from "./sql";
import type { EventStore } from "./store";
import type { ConfigClient } from "../config-client";
import type { ProjectionDefinition, RecordedEvent } from "./types";

/** The feeder of a group: a projection writing queue rows (it owns no table of its own). */
export function groupFeeder(group: string): ProjectionDefinition {
  checkHandlerName(group, "group");
  return {
    name: `group_${group}`.slice(0, 40),
    tables: [],
    async apply(ctx, events) {
      await ctx.client.query(
        `INSERT INTO scaleplane_event_group_queue (grp, tx, seq, stream, version)
         SELECT $1, t, s, st, v FROM unnest($2::xid8[], $3::bigint[], $4::text[], $5::int[]) AS u(t, s, st, v)
         ON CONFLICT DO NOTHING`,
        [
          group,
          events.map((e) => e.position.tx.toString()),
          events.map((e) => e.position.seq.toString()),
          events.map((e) => e.stream),
          events.map((e) => e.version),
        ],
      );
    },
    async purge() {
      // deleteStream drops the stream's queued and parked messages itself
    },
  };
}

/** Starts the feeders of a group on every shard (leader-elected). */
export function runGroupFeeders(
  store: EventStore,
  group: string,
  options: ShardProjectorOptions & { config: ConfigClient; candidateId: string; ttlSeconds?: number },
): ProjectionRunners {
  return runProjections(store, [groupFeeder(group)], options);
}

/** A claimed message. */
export interface GroupMessage {
  readonly event: RecordedEvent;
  /** Deliveries so far, this one included. */
  readonly attempts: number;
  ack(): Promise<void>;
  /** Gives it back (retried after `retryMs`), or parks it once it was delivered `maxDeliveries` times. */
  nack(reason: string): Promise<void>;
}

/** Claims up to `max` messages of `group` over every shard for `leaseMs`. */
export async function claimMessages(
  store: EventStore,
  group: string,
  options: { consumer: string; max?: number; leaseMs?: number; maxDeliveries?: number; retryMs?: number },
): Promise<GroupMessage[]> {
  checkHandlerName(group, "group");
  const max = options.max ?? 100;
  const maxDeliveries = options.maxDeliveries ?? 5;
  const out: GroupMessage[] = [];
  for (const shard of store.shards) {
    if (out.length >= max) break;
    const claimed = await store.withShard(shard, async (c) => {
      const r = await c.query<{ tx: string; seq: string; attempts: number }>(
        `UPDATE scaleplane_event_group_queue q SET attempts = q.attempts + 1,
           lease_until = now() + make_interval(secs => $3::float8 / 1000), lease_owner = $4
         WHERE (q.grp, q.tx, q.seq) IN (SELECT grp, tx, seq FROM scaleplane_event_group_queue
           WHERE grp = $1 AND lease_until < now() ORDER BY tx, seq LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING q.tx::text AS tx, q.seq::text AS seq, q.attempts`,
        [group, max - out.length, options.leaseMs ?? 30_000, options.consumer],
      );
      if (r.rows.length === 0) return [];
      const ev = await c.query<EventRow>(EVENTS_AT_SQL, [r.rows.map((x) => x.tx), r.rows.map((x) => x.seq)]);
      const byPos = new Map(
        (await store.decodeRows(c, shard, ev.rows)).map((e) => [`${e.position.tx}.${e.position.seq}`, e]),
      );
      return r.rows.map((m) => ({ ...m, event: byPos.get(`${m.tx}.${m.seq}`) }));
    });
    for (const m of claimed) {
      const key = [group, m.tx, m.seq, options.consumer];
      const event = m.event;
      if (!event) {
        // its stream was deleted meanwhile: nothing to deliver
        await store.withShard(shard, (c) =>
          c.query(
            "DELETE FROM scaleplane_event_group_queue WHERE grp = $1 AND tx = $2::xid8 AND seq = $3",
            key.slice(0, 3),
          ),
        );
        continue;
      }
      out.push({
        event,
        attempts: m.attempts,
        ack: async () => {
          await store.withShard(shard, (c) =>
            c.query(
              "DELETE FROM scaleplane_event_group_queue WHERE grp = $1 AND tx = $2::xid8 AND seq = $3 AND lease_owner = $4",
              key,
            ),
          );
        },
        nack: async (reason) => {
          await store.withShard(shard, (c) =>
            m.attempts >= maxDeliveries
              ? c.query(
                  `WITH d AS (DELETE FROM scaleplane_event_group_queue WHERE grp = $1 AND tx = $2::xid8 AND seq = $3 AND lease_owner = $4
                     RETURNING grp, tx, seq, stream, version, attempts)
                   INSERT INTO scaleplane_event_group_parked (grp, tx, seq, stream, version, attempts, last_error)
                   SELECT grp, tx, seq, stream, version, attempts, $5 FROM d ON CONFLICT DO NOTHING`,
                  [...key, reason],
                )
              : c.query(
                  `UPDATE scaleplane_event_group_queue SET lease_until = now() + make_interval(secs => $5::float8 / 1000),
                     lease_owner = NULL, last_error = $6 WHERE grp = $1 AND tx = $2::xid8 AND seq = $3 AND lease_owner = $4`,
                  [...key, options.retryMs ?? 1000, reason],
                ),
          );
        },
      });
    }
  }
  return out;
}

/** Parked messages of a group (every shard). */
export async function parkedMessages(
  store: EventStore,
  group: string,
): Promise<{ shard: string; stream: string; version: number; attempts: number; lastError: string | null }[]> {
  const out = [];
  for (const shard of store.shards) {
    const r = await store.withShard(shard, (c) =>
      c.query<{ stream: string; version: number; attempts: number; last_error: string | null }>(
        "SELECT stream, version, attempts, last_error FROM scaleplane_event_group_parked WHERE grp = $1 ORDER BY tx, seq",
        [group],
      ),
    );
    out.push(
      ...r.rows.map((x) => ({
        shard,
        stream: x.stream,
        version: x.version,
        attempts: x.attempts,
        lastError: x.last_error,
      })),
    );
  }
  return out;
}

/** Moves a group's parked messages back into its queue (attempts reset); resolves with how many. */
export async function replayParked(store: EventStore, group: string): Promise<number> {
  let n = 0;
  for (const shard of store.shards)
    n += await store.withShard(shard, async (c) => {
      const r = await c.query(
        `WITH d AS (DELETE FROM scaleplane_event_group_parked WHERE grp = $1 RETURNING grp, tx, seq, stream, version)
         INSERT INTO scaleplane_event_group_queue (grp, tx, seq, stream, version) SELECT * FROM d ON CONFLICT DO NOTHING`,
        [group],
      );
      return r.rowCount ?? 0;
    });
  return n;
}
