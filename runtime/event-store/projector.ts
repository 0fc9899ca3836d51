/**
 * Projections: read models kept on each shard beside the streams they read (CQRS query side).
 *
 * Exactly-once effect. A projection runs on each shard under a leader elected through the config
 * service (one election per projection and shard); its fencing token (the election key's create
 * revision, strictly increasing across leaders) is written into the projection's checkpoint row
 * when it takes over. Every batch is one transaction on the shard: lock the checkpoint row, check
 * that it still holds this runner's token and the position the batch starts from, apply the
 * events (the handler's writes), move the checkpoint. A runner that was deposed (lease lost,
 * paused, partitioned) finds a newer token and rolls back: its batch never commits after its
 * successor took over. A runner killed mid-batch leaves nothing (the transaction dies with it);
 * its successor starts from the checkpoint. Events come from the gap-free release
 * (core/events/position.ts), so no event is skipped either.
 *
 * Rebuild without downtime ({@link rebuildProjection}): a shadow generation of the tables is
 * filled from the start of the log up to the live checkpoint, in resumable chunks (each chunk and
 * the rebuild's own checkpoint in one transaction), while the live tables keep serving and the
 * live runner keeps applying. The swap is one transaction: it locks the live checkpoint row (the
 * live runner waits), applies what the shadow still lacks to reach the very same position,
 * optionally compares both generations row for row, renames the live tables away and the shadow
 * ones into their names (readers wait only for these renames: `lock_timeout` bounds them, and a
 * swap that cannot get the locks in time rolls back and retries), and records the new generation.
 *
 * Deletion: a batch takes `FOR KEY SHARE` on the stream rows it touches (compatible with appends,
 * which update non-key columns) and leaves out deleted streams; a deletion takes `FOR UPDATE`
 * (via its UPDATE of the row), so the two serialise and no batch re-creates a purged row.
 */
import type { PoolClient } from "pg";
import {
  checkHandlerName,
  checkTableName,
  generationTable,
  retiredTable,
  runnerElection,
} from "../../core/events/names";
import { comparePositions, formatPosition, positionOf, POSITION_ZERO, type Position } from "../../core/events/position";
import type { ConfigClient, Leadership } from "../config-client";
import { EventArgumentError, EventStoreError, RunnerFencedError } from "./errors";
import { ident } from "./sql";
import { EventStore } from "./store";
import type { ProjectionDefinition, RecordedEvent } from "./types";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Checkpoint row name of a projection. */
export const projectionCheckpoint = (name: string): string => `projection:${name}`;

/** Validates a projection definition. @throws EventArgumentError naming the field */
export function checkProjection(def: ProjectionDefinition, argument = "projection"): ProjectionDefinition {
  checkHandlerName(def?.name, `${argument}.name`);
  if (def.version !== undefined && (!Number.isInteger(def.version) || def.version < 1))
    throw new EventArgumentError(`${argument}.version`, `must be a whole number ≥ 1; got ${String(def.version)}`);
  if (!Array.isArray(def.tables)) throw new EventArgumentError(`${argument}.tables`, "must be a list of tables");
  def.tables.forEach((t, i) => checkTableName(t.name, `${argument}.tables[${i}].name`));
  if (typeof def.apply !== "function") throw new EventArgumentError(`${argument}.apply`, "must be a function");
  if (typeof def.purge !== "function") throw new EventArgumentError(`${argument}.purge`, "must be a function");
  return def;
}

/** Creates a projection's live tables and checkpoint row on a shard when missing (idempotent). */
export async function ensureProjection(store: EventStore, def: ProjectionDefinition, shard: string): Promise<void> {
  checkProjection(def);
  await store.withShard(shard, async (c) => {
    await c.query("BEGIN");
    try {
      await c.query("SELECT pg_advisory_xact_lock(hashtext($1))", [projectionCheckpoint(def.name)]);
      for (const t of def.tables) {
        const exists = (await c.query<{ r: string | null }>("SELECT to_regclass($1)::text AS r", [ident(t.name)]))
          .rows[0].r;
        if (!exists) await c.query(t.ddl(t.name));
      }
      await c.query(
        "INSERT INTO scaleplane_event_checkpoints (name, generation, version) VALUES ($1, 1, $2) ON CONFLICT (name) DO NOTHING",
        [projectionCheckpoint(def.name), def.version ?? 1],
      );
      await c.query("COMMIT");
    } catch (e) {
      await c.query("ROLLBACK").catch(() => undefined);
      throw e;
    }
  });
}

/**
 * Applies `events` (one batch, in log order) inside the caller's transaction: takes `FOR KEY
 * SHARE` on their stream rows, leaves out deleted streams, and calls the handler with the tables
 * of generation `gen` (undefined: live). Returns how many events the handler got.
 */
export async function applyEvents(
  store: EventStore,
  c: PoolClient,
  shard: string,
  def: ProjectionDefinition,
  events: readonly RecordedEvent[],
  gen: number | undefined,
): Promise<number> {
  if (events.length === 0) return 0;
  const streams = [...new Set(events.map((e) => e.stream))];
  const r = await c.query<{ stream: string; deleted: boolean }>(
    "SELECT stream, deleted_at IS NOT NULL AS deleted FROM scaleplane_event_streams WHERE stream = ANY($1) FOR KEY SHARE",
    [streams],
  );
  const deleted = new Set(r.rows.filter((x) => x.deleted).map((x) => x.stream));
  const live = deleted.size > 0 ? events.filter((e) => !deleted.has(e.stream)) : events;
  if (live.length === 0) return 0;
  await def.apply(store.contextFor(c, shard, def, gen), live);
  return live.length;
}

/** Options of a projection runner on one shard. */
export interface ShardProjectorOptions {
  /** Events per batch (one transaction). @default 500 */
  batchSize?: number;
  /** Longest wait for a wake-up once caught up, in ms (a poll, never a skip). @default 1000 */
  idleMs?: number;
  /** Test hook: runs inside each batch's transaction after the handler, before the commit. */
  beforeCommit?: (batch: { events: number; to: Position }) => Promise<void>;
  /** Called after each committed batch. */
  onBatch?: (batch: { events: number; to: Position; shard: string }) => void;
}

/** The projection runner of one shard, holding a fencing token. */
export class ShardProjector {
  #cursor: Position = POSITION_ZERO;
  #claimed = false;

  constructor(
    readonly store: EventStore,
    readonly def: ProjectionDefinition,
    readonly shard: string,
    readonly token: number,
    private readonly opts: ShardProjectorOptions = {},
  ) {
    checkProjection(def);
  }

  /** The position the runner has committed up to. */
  get position(): Position {
    return this.#cursor;
  }

  /** Writes this runner's token into the checkpoint row (refused when a newer runner already did). */
  async claim(): Promise<void> {
    await ensureProjection(this.store, this.def, this.shard);
    const r = await this.store.withShard(this.shard, (c) =>
      c.query<{ tx: string; seq: string }>(
        "UPDATE scaleplane_event_checkpoints SET fence = $2, updated_at = now() WHERE name = $1 AND fence <= $2 RETURNING tx::text AS tx, seq::text AS seq",
        [projectionCheckpoint(this.def.name), this.token],
      ),
    );
    if (r.rowCount === 0) throw new RunnerFencedError(this.def.name, this.shard, this.token);
    this.#cursor = positionOf(r.rows[0].tx, r.rows[0].seq);
    this.#claimed = true;
  }

  /** Reads and applies one batch; resolves with the events read (0 when caught up). @throws RunnerFencedError */
  async step(): Promise<number> {
    if (!this.#claimed) await this.claim();
    const batch = await this.store.readReleased(this.shard, this.#cursor, this.opts.batchSize ?? 500);
    if (comparePositions(batch.cursor, this.#cursor) === 0) return 0;
    const from = this.#cursor;
    await this.store.withShard(this.shard, async (c) => {
      await c.query("BEGIN");
      try {
        const cp = await c.query<{ tx: string; seq: string; fence: string }>(
          "SELECT tx::text AS tx, seq::text AS seq, fence::text AS fence FROM scaleplane_event_checkpoints WHERE name = $1 FOR UPDATE",
          [projectionCheckpoint(this.def.name)],
        );
        const row = cp.rows[0];
        if (!row || Number(row.fence) !== this.token || comparePositions(positionOf(row.tx, row.seq), from) !== 0)
          throw new RunnerFencedError(this.def.name, this.shard, this.token);
        const n = await applyEvents(this.store, c, this.shard, this.def, batch.events, undefined);
        await c.query(
          "UPDATE scaleplane_event_checkpoints SET tx = $2::xid8, seq = $3, updated_at = now() WHERE name = $1",
          [projectionCheckpoint(this.def.name), batch.cursor.tx.toString(), batch.cursor.seq.toString()],
        );
        if (this.opts.beforeCommit) await this.opts.beforeCommit({ events: n, to: batch.cursor });
        await c.query("COMMIT");
      } catch (e) {
        await c.query("ROLLBACK").catch(() => undefined);
        throw e;
      }
    });
    this.#cursor = batch.cursor;
    this.opts.onBatch?.({ events: batch.events.length, to: batch.cursor, shard: this.shard });
    return batch.events.length || 1;
  }

  /** Runs batches until `stop()` of the returned handle, waiting for appends when caught up. */
  async run(signal: { stopped: boolean }): Promise<void> {
    while (!signal.stopped && !this.store.closed) {
      const n = await this.step();
      if (n === 0 && !signal.stopped) await this.store.waitForAppend(this.shard, this.opts.idleMs ?? 1000);
    }
  }
}

/** A set of running projections (one leader-elected runner per projection and shard). */
export interface ProjectionRunners {
  /** Runners this process leads now, as `<projection>@<shard>`. */
  leading(): string[];
  /** Stops every runner and resigns every leadership. */
  stop(): Promise<void>;
}

/**
 * Campaigns for every (projection, shard) and runs the projections this process is elected for;
 * a lost leadership stops that runner (its next batch would be refused anyway), and the process
 * campaigns again.
 */
export function runProjections(
  store: EventStore,
  defs: readonly ProjectionDefinition[],
  options: ShardProjectorOptions & {
    config: ConfigClient;
    candidateId: string;
    ttlSeconds?: number;
    shards?: string[];
  },
): ProjectionRunners {
  defs.forEach((d, i) => checkProjection(d, `projections[${i}]`));
  const signal = { stopped: false };
  const leading = new Set<string>();
  const leaderships = new Set<Leadership>();
  const loops: Promise<void>[] = [];
  for (const def of defs)
    for (const shard of options.shards ?? store.shards)
      loops.push(
        (async () => {
          while (!signal.stopped && !store.closed) {
            let lead: Leadership | undefined;
            try {
              lead = await options.config.campaign(runnerElection("projection", def.name, shard), options.candidateId, {
                ttlSeconds: options.ttlSeconds ?? 10,
                timeoutMs: 2000,
              });
            } catch {
              await sleep(200);
              continue;
            }
            leaderships.add(lead);
            const mine = { stopped: false };
            lead.onLost(() => (mine.stopped = true));
            const both = {
              get stopped() {
                return signal.stopped || mine.stopped;
              },
            };
            leading.add(`${def.name}@${shard}`);
            try {
              await new ShardProjector(store, def, shard, lead.fencingToken, options).run(both);
            } catch (e) {
              store.log.warn({ err: (e as Error).message, projection: def.name, shard }, "projection runner stopped");
              await sleep(500);
            } finally {
              leading.delete(`${def.name}@${shard}`);
              leaderships.delete(lead);
              await lead.resign().catch(() => undefined);
            }
          }
        })(),
      );
  return {
    leading: () => [...leading].sort(),
    async stop() {
      signal.stopped = true;
      await Promise.all([...leaderships].map((l) => l.resign().catch(() => undefined)));
      await Promise.all(loops);
    },
  };
}

/** Progress of a rebuild. */
export interface RebuildProgress {
  readonly shard: string;
  readonly generation: number;
  /** Events applied to the shadow generation so far (this run). */
  readonly events: number;
  /** The rebuild's position and the live checkpoint it chases. */
  readonly position: Position;
  readonly target: Position;
  readonly phase: "replay" | "swap" | "done";
}

/** The result of a rebuild on one shard. */
export interface RebuildResult {
  readonly shard: string;
  readonly generation: number;
  readonly events: number;
  /** Row-for-row differences found between the live and the rebuilt tables at the same position (with `verify`). */
  readonly differences?: number;
  /** Milliseconds the swap held the tables' locks (readers wait at most this long). */
  readonly swapLockMs: number;
  readonly seconds: number;
}

const checkpointOf = async (c: PoolClient, name: string): Promise<{ position: Position; generation: number }> => {
  const r = await c.query<{ tx: string; seq: string; generation: number }>(
    "SELECT tx::text AS tx, seq::text AS seq, generation FROM scaleplane_event_checkpoints WHERE name = $1",
    [name],
  );
  if (!r.rows[0]) throw new EventStoreError(`no checkpoint ${name}: start the projection before rebuilding it`);
  return { position: positionOf(r.rows[0].tx, r.rows[0].seq), generation: r.rows[0].generation };
};

/**
 * Rebuilds a projection on one shard into a shadow generation while the live one serves, then
 * swaps (see the module doc). Resumable: a rebuild that died continues from its own checkpoint.
 */
export async function rebuildProjection(
  store: EventStore,
  def: ProjectionDefinition,
  shard: string,
  options: {
    chunk?: number;
    verify?: boolean;
    onProgress?: (p: RebuildProgress) => void;
    lockTimeoutMs?: number;
    /** How many times a swap that could not get its locks in time is retried. @default 20 */
    swapAttempts?: number;
    /** false: a dry run (replay and compare, then drop the shadow generation; the live tables stay). @default true */
    swap?: boolean;
  } = {},
): Promise<RebuildResult> {
  checkProjection(def);
  await ensureProjection(store, def, shard);
  const name = projectionCheckpoint(def.name);
  const chunk = options.chunk ?? 5000;
  const started = Date.now();
  // 1. the shadow generation (resumed when a rebuild row exists)
  const gen = await store.withShard(shard, async (c) => {
    await c.query("BEGIN");
    try {
      await c.query("SELECT pg_advisory_xact_lock(hashtext($1))", [name]);
      const existing = await c.query<{ generation: number }>(
        "SELECT generation FROM scaleplane_event_rebuilds WHERE name = $1",
        [def.name],
      );
      let g = existing.rows[0]?.generation;
      if (g === undefined) {
        g = (await checkpointOf(c, name)).generation + 1;
        for (const t of def.tables) {
          await c.query(`DROP TABLE IF EXISTS ${ident(generationTable(t.name, g))}`);
          await c.query(t.ddl(generationTable(t.name, g)));
        }
        await c.query("INSERT INTO scaleplane_event_rebuilds (name, generation, version) VALUES ($1, $2, $3)", [
          def.name,
          g,
          def.version ?? 1,
        ]);
      }
      await c.query("COMMIT");
      return g;
    } catch (e) {
      await c.query("ROLLBACK").catch(() => undefined);
      throw e;
    }
  });
  let events = 0;
  let pos = await store.withShard(shard, async (c) => {
    const r = await c.query<{ tx: string; seq: string }>(
      "SELECT tx::text AS tx, seq::text AS seq FROM scaleplane_event_rebuilds WHERE name = $1",
      [def.name],
    );
    return positionOf(r.rows[0].tx, r.rows[0].seq);
  });
  const report = (target: Position, phase: RebuildProgress["phase"]) =>
    options.onProgress?.({ shard, generation: gen, events, position: pos, target, phase });

  type Chunk = Awaited<ReturnType<EventStore["readRange"]>>;
  /** The chunk after `from`, up to `upTo`. */
  const readChunk = (from: Position, upTo: Position): Promise<Chunk> => store.readRange(shard, from, upTo, chunk);
  /**
   * Applies (pos, upTo] to the shadow on `c` (inside the caller's transaction when `inTx`); `read`
   * is that chunk when it was read ahead.
   */
  const replayChunk = async (c: PoolClient, upTo: Position, inTx: boolean, read?: Chunk): Promise<boolean> => {
    const r = read ?? (await readChunk(pos, upTo));
    if (comparePositions(r.cursor, pos) === 0) return false;
    if (!inTx) await c.query("BEGIN");
    try {
      const cur = await c.query<{ tx: string; seq: string }>(
        "SELECT tx::text AS tx, seq::text AS seq FROM scaleplane_event_rebuilds WHERE name = $1 AND generation = $2 FOR UPDATE",
        [def.name, gen],
      );
      if (!cur.rows[0] || comparePositions(positionOf(cur.rows[0].tx, cur.rows[0].seq), pos) !== 0)
        throw new EventStoreError(
          `rebuild of ${def.name} on ${shard}: another rebuild moved its checkpoint; run one at a time`,
        );
      events += await applyEvents(store, c, shard, def, r.events, gen);
      await c.query("UPDATE scaleplane_event_rebuilds SET tx = $2::xid8, seq = $3 WHERE name = $1", [
        def.name,
        r.cursor.tx.toString(),
        r.cursor.seq.toString(),
      ]);
      if (!inTx) await c.query("COMMIT");
    } catch (e) {
      if (!inTx) await c.query("ROLLBACK").catch(() => undefined);
      throw e;
    }
    pos = r.cursor;
    return true;
  };

  // 2. replay up to the live checkpoint (chasing it while the live runner moves on)
  for (;;) {
    const target = await store.withShard(shard, async (c) => (await checkpointOf(c, name)).position);
    let moved = false;
    // the next chunk is read (on another connection) while this one is applied: reading, and
    // decrypting and applying, each wait for the other otherwise
    let ahead: Promise<Chunk> | undefined;
    while (comparePositions(pos, target) < 0) {
      const r = await (ahead ?? readChunk(pos, target));
      ahead = r.done ? undefined : readChunk(r.cursor, target);
      // a failed apply ends the rebuild: the read ahead is dropped with it
      ahead?.catch(() => undefined);
      const more = await store.withShard(shard, (c) => replayChunk(c, target, false, r));
      if (!more) break;
      moved = true;
      report(target, "replay");
      if (r.done) break;
    }
    if (!moved) break;
  }

  // 3. the swap
  const lockTimeout = options.lockTimeoutMs ?? 500;
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await store.withShard(shard, async (c) => {
        await c.query("BEGIN");
        try {
          const live = await c.query<{ tx: string; seq: string; generation: number }>(
            "SELECT tx::text AS tx, seq::text AS seq, generation FROM scaleplane_event_checkpoints WHERE name = $1 FOR UPDATE",
            [name],
          );
          const target = positionOf(live.rows[0].tx, live.rows[0].seq);
          report(target, "swap");
          while (comparePositions(pos, target) < 0) if (!(await replayChunk(c, target, true))) break;
          let differences: number | undefined;
          if (options.verify) {
            differences = 0;
            for (const t of def.tables) {
              const a = ident(t.name);
              const b = ident(generationTable(t.name, gen));
              const d = await c.query<{ n: string }>(
                `SELECT ((SELECT count(*) FROM (SELECT * FROM ${a} EXCEPT ALL SELECT * FROM ${b}) x) +
                         (SELECT count(*) FROM (SELECT * FROM ${b} EXCEPT ALL SELECT * FROM ${a}) y))::text AS n`,
              );
              differences += Number(d.rows[0].n);
            }
          }
          if (options.swap === false) {
            for (const t of def.tables) await c.query(`DROP TABLE IF EXISTS ${ident(generationTable(t.name, gen))}`);
            await c.query("DELETE FROM scaleplane_event_rebuilds WHERE name = $1", [def.name]);
            await c.query("COMMIT");
            return { differences, swapLockMs: 0 };
          }
          await c.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(lockTimeout))}`);
          const lockStart = Date.now();
          for (const t of def.tables) {
            await c.query(
              `ALTER TABLE ${ident(t.name)} RENAME TO ${ident(retiredTable(t.name, live.rows[0].generation))}`,
            );
            await c.query(`ALTER TABLE ${ident(generationTable(t.name, gen))} RENAME TO ${ident(t.name)}`);
          }
          await c.query(
            "UPDATE scaleplane_event_checkpoints SET generation = $2, version = $3, updated_at = now() WHERE name = $1",
            [name, gen, def.version ?? 1],
          );
          await c.query("DELETE FROM scaleplane_event_rebuilds WHERE name = $1", [def.name]);
          await c.query("COMMIT");
          const swapLockMs = Date.now() - lockStart;
          for (const t of def.tables)
            await c.query(`DROP TABLE IF EXISTS ${ident(retiredTable(t.name, live.rows[0].generation))}`);
          return { differences, swapLockMs };
        } catch (e) {
          await c.query("ROLLBACK").catch(() => undefined);
          throw e;
        }
      });
      report(pos, "done");
      return {
        shard,
        generation: gen,
        events,
        ...(result.differences !== undefined ? { differences: result.differences } : {}),
        swapLockMs: result.swapLockMs,
        seconds: (Date.now() - started) / 1000,
      };
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code !== "55P03" || attempt >= (options.swapAttempts ?? 20)) throw e;
      store.log.info({ projection: def.name, shard, attempt }, "swap could not get the table locks in time; retrying");
      await sleep(100);
    }
  }
}

/** A projection's state on one shard (status, CLI). */
export interface ProjectionShardStatus {
  readonly shard: string;
  readonly position: string;
  readonly generation: number;
  readonly version: number | null;
  readonly fence: number;
  /** Released events not applied yet (up to 100 000 counted). */
  readonly lag: number;
  readonly rebuilding?: { generation: number; position: string };
  readonly updatedAt: Date;
}

/** The state of a projection on every shard. */
export async function projectionStatus(store: EventStore, def: ProjectionDefinition): Promise<ProjectionShardStatus[]> {
  return Promise.all(
    store.shards.map((shard) =>
      store.withShard(shard, async (c) => {
        const r = await c.query<{
          tx: string;
          seq: string;
          generation: number;
          version: number | null;
          fence: string;
          updated_at: Date;
        }>(
          "SELECT tx::text AS tx, seq::text AS seq, generation, version, fence::text AS fence, updated_at FROM scaleplane_event_checkpoints WHERE name = $1",
          [projectionCheckpoint(def.name)],
        );
        const row = r.rows[0];
        const pos = row ? positionOf(row.tx, row.seq) : POSITION_ZERO;
        const lag = await c.query<{ n: string }>(
          `SELECT count(*)::text AS n FROM (SELECT 1 FROM scaleplane_events WHERE (tx, seq) > ($1::xid8, $2::bigint)
             AND tx < pg_snapshot_xmin(pg_current_snapshot()) LIMIT 100000) x`,
          [pos.tx.toString(), pos.seq.toString()],
        );
        const rb = await c.query<{ generation: number; tx: string; seq: string }>(
          "SELECT generation, tx::text AS tx, seq::text AS seq FROM scaleplane_event_rebuilds WHERE name = $1",
          [def.name],
        );
        return {
          shard,
          position: formatPosition(pos),
          generation: row?.generation ?? 0,
          version: row?.version ?? null,
          fence: Number(row?.fence ?? 0),
          lag: Number(lag.rows[0].n),
          ...(rb.rows[0]
            ? {
                rebuilding: {
                  generation: rb.rows[0].generation,
                  position: formatPosition(positionOf(rb.rows[0].tx, rb.rows[0].seq)),
                },
              }
            : {}),
          updatedAt: row?.updated_at ?? new Date(0),
        };
      }),
    ),
  );
}
