/**
 * Aggregate snapshots, coordinated with rebuilds by construction: snapshots are a projection
 * (`snapshotProjection`), so the live snapshot writer is the projection's fenced runner (one per
 * shard) and a rebuild writes its own shadow generation and swaps it in under the checkpoint
 * lock: the two never write the same table, and a rebuild never races a snapshot writer. The
 * command side ({@link loadAggregate}) reads the newest snapshot taken by the current code version
 * of the aggregate (an older one is ignored) and folds the events after it.
 *
 * A snapshot is taken when a batch brings a stream to or past a multiple of `every`: the state is
 * folded from the stream's previous snapshot and its events up to that version, read on the same
 * shard inside the batch's transaction.
 */
import { checkHandlerName } from "../../core/events/names";
import { EventArgumentError, StreamDeletedError } from "./errors";
import type { EventStore } from "./store";
import type { ProjectionDefinition, RecordedEvent } from "./types";

/** How an aggregate folds its events. */
export interface AggregateDefinition<S> {
  /** Code version of the fold: snapshots of another version are ignored. */
  readonly version: number;
  initial(): S;
  evolve(state: S, event: RecordedEvent): S;
}

const table = (name: string) => name;

/** The snapshot projection of an aggregate: a snapshot every `every` events of each stream. */
export function snapshotProjection<S>(
  name: string,
  aggregate: AggregateDefinition<S>,
  every: number,
): ProjectionDefinition {
  checkHandlerName(name, "snapshot projection name");
  if (!Number.isInteger(every) || every < 1)
    throw new EventArgumentError("every", `must be a whole number ≥ 1; got ${every}`);
  return {
    name,
    version: aggregate.version,
    tables: [
      {
        name: table(name),
        ddl: (t) =>
          `CREATE TABLE "${t}" (stream text COLLATE "C" PRIMARY KEY, version integer NOT NULL, code_version integer NOT NULL, state jsonb NOT NULL)`,
      },
    ],
    async apply(ctx, events) {
      const last = new Map<string, number>();
      for (const e of events) last.set(e.stream, e.version);
      for (const [stream, version] of last) {
        const target = version - (version % every);
        if (target < every) continue;
        const t = ctx.table(table(name));
        const prev = await ctx.client.query<{ version: number; state: S }>(
          `SELECT version, state FROM ${t} WHERE stream = $1 AND code_version = $2`,
          [stream, aggregate.version],
        );
        const from = prev.rows[0]?.version ?? 0;
        if (from >= target) continue;
        let state = prev.rows[0] ? prev.rows[0].state : aggregate.initial();
        // the events (from, target] of this stream, from this batch or read on the shard
        const inBatch = events.filter((e) => e.stream === stream && e.version > from && e.version <= target);
        const need = target - from - inBatch.length;
        const older = need > 0 ? await ctx.streamEvents(stream, from, from + need) : [];
        for (const e of [...older, ...inBatch]) state = aggregate.evolve(state, e);
        await ctx.client.query(
          `INSERT INTO ${t} (stream, version, code_version, state) VALUES ($1, $2, $3, $4)
           ON CONFLICT (stream) DO UPDATE SET version = excluded.version, code_version = excluded.code_version, state = excluded.state`,
          [stream, target, aggregate.version, JSON.stringify(state)],
        );
      }
    },
    async purge(ctx, streams) {
      await ctx.client.query(`DELETE FROM ${ctx.table(table(name))} WHERE stream = ANY($1)`, [streams]);
    },
  };
}

/**
 * The aggregate's current state and version: the newest snapshot of this code version (when the
 * snapshot projection `snapshots` exists) plus the events after it.
 * @throws StreamDeletedError
 */
export async function loadAggregate<S>(
  store: EventStore,
  streamId: string,
  aggregate: AggregateDefinition<S>,
  snapshots?: string,
): Promise<{ state: S; version: number; fromSnapshot: number }> {
  let state = aggregate.initial();
  let version = 0;
  let fromSnapshot = 0;
  if (snapshots) {
    const shard = store.shardOf(streamId);
    const r = await store
      .withShard(shard, (c) =>
        c.query<{ version: number; state: S }>(
          `SELECT version, state FROM "${table(snapshots)}" WHERE stream = $1 AND code_version = $2`,
          [streamId, aggregate.version],
        ),
      )
      .catch((e: { code?: string }) => {
        if (e.code === "42P01") return { rows: [] as { version: number; state: S }[] };
        throw e;
      });
    if (r.rows[0]) {
      state = r.rows[0].state;
      version = fromSnapshot = r.rows[0].version;
    }
  }
  for (;;) {
    const events = await store.readStream(streamId, { fromVersion: version, limit: 1000 });
    for (const e of events) state = aggregate.evolve(state, e);
    if (events.length > 0) version = events[events.length - 1].version;
    if (events.length < 1000) break;
  }
  if (version === 0 && fromSnapshot === 0) {
    // a deleted stream reads as deleted, not as empty
    await store.streamVersion(streamId);
  }
  return { state, version, fromSnapshot };
}

export { StreamDeletedError };
