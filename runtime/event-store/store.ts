/**
 * EventStore: event streams on the sharded PostgreSQL (docs/design/events.md).
 *
 * - Placement: streams on the core ring by stream id (core/events/placement.ts), following the
 *   event placement in the config service (`events/placement`, watched; created from the shard
 *   map on first use) and the shards' addresses from the shard map (watched).
 * - Appends: one call of the shard's append function (runtime/event-store/sql.ts): expected
 *   version, idempotency by event id, HLC stamps, the event fence. Connection failures are retried
 *   with the same ids until `retryMs` (an append whose outcome was unknown is then answered
 *   exactly once: stored, or a duplicate of what was stored).
 * - Payloads sealed under a per-stream key (./crypto.ts); deleting a stream deletes its key,
 *   purges the projections' rows of it, and refuses every later read, replay or append.
 * - Reads: a stream by version; a shard's log gap-free (the xmin rule, core/events/position.ts);
 *   a shard's log up to a fixed position (rebuilds). Events come back upcast.
 */
import { randomUUID, randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { PoolClient } from "pg";
import pino, { type Logger } from "pino";
import { z } from "zod";
import {
  checkEventIds,
  checkExpectedVersion,
  encodeExpectedVersion,
  type ExpectedVersion,
} from "../../core/events/append-rules";
import { checkHandlerName } from "../../core/events/names";
import {
  EventPlacementSchema,
  StreamRouter,
  checkStreamId,
  initialEventPlacement,
  missingShards,
  type EventPlacement,
} from "../../core/events/placement";
import { formatPosition, positionOf, type Position } from "../../core/events/position";
import { UpcasterChain, checkEventType, type Upcaster } from "../../core/events/upcast";
import { HybridClock, checkNodeId } from "../../core/sharding/hlc";
import { hashKey } from "../../core/sharding/ring";
import type { ShardMap } from "../../core/sharding/shard-map";
import { configKey, SHARD_MAP_KEY, type ConfigClient } from "../config-client";
import { RouterPools, isSqlError, type ShardAddress } from "../shard-client/pools";
import { PayloadCipher, type StreamKey } from "./crypto";
import {
  EventArgumentError,
  EventEpochError,
  EventIdConflictError,
  EventStoreError,
  StreamDeletedError,
  StreamMovingError,
  WrongExpectedVersionError,
} from "./errors";
import {
  APPEND_SQL,
  APPEND_STATEMENT,
  ENSURE_SCHEMA_SQL,
  EVENTS_LOCK_CLASS,
  NOTIFY_SQL,
  READ_STREAM_SQL,
  RELEASE_HOLDER_SQL,
  RELEASE_SQL,
  REPLAY_SQL,
  SCHEMA_PRESENT_SQL,
  STREAM_KEYS_SQL,
  STREAM_KEY_SQL,
  type EventRow,
} from "./sql";
import type { AppendResult, NewEvent, ProjectionContext, ProjectionDefinition, RecordedEvent } from "./types";
import { liveTableOf, rebuildGeneration } from "./tables";
import { AppendNotifier, ShardWaker } from "./waker";
import { StoredEvent } from "./stored-event";

/** Where the event placement lives in the config service. */
export const EVENT_PLACEMENT_KEY = configKey("events/placement", EventPlacementSchema);

/** Options of {@link EventStore.connect}. */
export const EventStoreOptionsSchema = z.strictObject({
  user: z.string().min(1),
  nodeId: z.string().optional(),
  reach: z
    .record(z.string(), z.strictObject({ host: z.string().min(1), port: z.number().int().min(1).max(65535) }))
    .default({}),
  connectTimeoutMs: z.number().int().min(10).max(600_000).default(2000),
  statementTimeoutMs: z.number().int().min(10).max(600_000).default(10_000),
  poolSize: z.number().int().min(1).max(1000).default(8),
  epochWaitMs: z.number().int().min(0).max(600_000).default(3000),
  /** How long an append whose shard did not answer is retried (same ids: idempotent), in ms. */
  retryMs: z.number().int().min(0).max(3_600_000).default(10_000),
  /**
   * Shortest interval between two wake-up NOTIFYs this client sends a shard after its appends
   * committed (coalesced: one per interval however many appends), in ms. Live readers wake up to
   * this much later; 0 notifies after every append (NOTIFY serialises commits: see sql.ts).
   */
  notifyIntervalMs: z.number().int().min(0).max(60_000).default(10),
  /**
   * After how long a shard's release bound held by one open transaction is reported (a warning
   * naming the session, and {@link ReleasedBatch.heldBy}), in ms. Readers keep waiting for it:
   * this is a diagnostic, never a skip.
   */
  stallWarnMs: z.number().int().min(100).max(3_600_000).default(30_000),
});

export type EventStoreOptions = z.input<typeof EventStoreOptionsSchema> & {
  config: ConfigClient;
  password: string | (() => string | Promise<string>);
  /** The master key wrapping every stream's data key (32 bytes, base64 or hex): crypto-shredding. */
  masterKey: string | Buffer;
  upcasters?: readonly Upcaster[];
  /** Projections whose rows a stream deletion purges (the runners are started separately). */
  projections?: readonly ProjectionDefinition[];
  physicalClock?: () => number;
  logger?: Logger;
};

/** One gap-free read of a shard's log. */
export interface ReleasedBatch {
  readonly shard: string;
  /** The snapshot's xmin: every transaction below it has finished. */
  readonly xmin: bigint;
  /** Released events after the cursor (deleted streams left out, but their positions passed). */
  readonly events: RecordedEvent[];
  /** Where the next read continues (the last released row's position, deleted ones included). */
  readonly cursor: Position;
  /** True when the read returned every released row (fewer than the limit). */
  readonly complete: boolean;
  /**
   * The transaction that has held this shard's release bound for at least `stallWarnMs`, when
   * one has: nothing after it is released until it ends.
   */
  readonly heldBy?: ReleaseHolder;
}

/** A transaction holding a shard's release bound (from pg_stat_activity or pg_prepared_xacts). */
export interface ReleaseHolder {
  /** The bound (the transaction's id). */
  readonly xid: bigint;
  /** The session's backend pid (`pg_terminate_backend(pid)` ends it); absent for a prepared transaction. */
  readonly pid?: number;
  /** A prepared transaction's gid (`ROLLBACK PREPARED` ends it). */
  readonly gid?: string;
  /** `active`, `idle in transaction`, `prepared`, ... (null when this role may not see it). */
  readonly state: string | null;
  readonly application: string | null;
  readonly client: string | null;
  /** How long the transaction has been open, in seconds. */
  readonly openSeconds: number;
  /** The session's current or last statement (first 200 characters). */
  readonly query: string | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const KEY_CACHE_MAX = 100_000;
const MAX_SEQ = 2n ** 63n - 1n;

/** Whether a failure is the connection's (shard down, restarting, cut): the statement's outcome is unknown. */
function isConnectionFailure(e: unknown): boolean {
  if (isSqlError(e)) return ["57P01", "57P02", "57P03", "08000", "08003", "08006", "53300"].includes(e.code);
  return true;
}

export class EventStore {
  readonly nodeId: string;
  readonly log: Logger;
  readonly upcasters: UpcasterChain;
  readonly #cipher: PayloadCipher;
  readonly #clock: HybridClock;
  readonly #pools: RouterPools;
  readonly #opts: z.output<typeof EventStoreOptionsSchema>;
  readonly #projections: readonly ProjectionDefinition[];
  readonly #schema = new Map<string, Promise<void>>();
  readonly #keys = new Map<string, StreamKey>();
  readonly #unwrapped = new Map<string, StreamKey>();
  /** Keys read from the shards (committed), by stream: what reads decrypt with. `#keys` may hold a new stream's key before it committed. */
  readonly #readKeys = new Map<string, StreamKey>();
  readonly #lastAppended = new Map<string, Position>();
  /** Per shard: the last release bound seen, since when, and what holds it (stall diagnostics). */
  readonly #bounds = new Map<string, { xmin: bigint; since: number; checkedAt: number; heldBy?: ReleaseHolder }>();
  #placement!: EventPlacement;
  #router!: StreamRouter;
  #map!: ShardMap;
  #watches: Array<{ close(): Promise<void> }> = [];
  readonly #wakers = new Map<string, ShardWaker>();
  readonly #notifiers = new Map<string, AppendNotifier>();
  readonly #password: string | (() => string | Promise<string>);
  #closed = false;

  private constructor(
    readonly config: ConfigClient,
    options: EventStoreOptions,
  ) {
    const { config: _c, password, masterKey, upcasters, projections, physicalClock, logger, ...rest } = options;
    void _c;
    const parsed = EventStoreOptionsSchema.safeParse(rest);
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      throw new EventArgumentError(`EventStore option ${i.path.join(".")}`, i.message);
    }
    this.#opts = parsed.data;
    this.#password = password;
    this.#cipher = new PayloadCipher(masterKey);
    this.upcasters = new UpcasterChain(upcasters ?? []);
    (projections ?? []).forEach((p, i) => checkHandlerName(p.name, `projections[${i}].name`));
    this.#projections = projections ?? [];
    this.nodeId = checkNodeId(
      this.#opts.nodeId ??
        `${hostname()
          .replace(/[^A-Za-z0-9._-]/g, "-")
          .slice(0, 40)}-${process.pid}-${randomBytes(3).toString("hex")}`,
      "nodeId",
    );
    this.log = (logger ?? pino({ name: "event-store", level: process.env.SCALEPLANE_LOG_LEVEL ?? "info" })).child({
      node: this.nodeId,
    });
    this.#clock = new HybridClock(this.nodeId, physicalClock ?? Date.now);
    this.#pools = new RouterPools(
      {
        user: this.#opts.user,
        password,
        connectTimeoutMs: this.#opts.connectTimeoutMs,
        statementTimeoutMs: this.#opts.statementTimeoutMs,
        poolSize: this.#opts.poolSize,
      },
      this.log,
    );
  }

  /**
   * Loads the shard map and the event placement (creating the placement from the map when none is
   * stored) and watches both. Connections open on first use.
   * @throws EventArgumentError naming a bad option; EventStoreError when no shard map is stored
   */
  static async connect(options: EventStoreOptions): Promise<EventStore> {
    const s = new EventStore(options.config, options);
    const map = await s.config.getShardMap();
    if (!map)
      throw new EventStoreError(
        `no shard map at ${s.config.fullKey(SHARD_MAP_KEY.name)}: the ShardedDatabase publishes it on deploy`,
      );
    s.#map = map;
    s.#install(await s.#loadOrInitPlacement(map));
    s.#watches.push(
      await s.config.watch(SHARD_MAP_KEY, (m) => {
        if (m && m.epoch > s.#map.epoch) s.#map = m;
      }),
      await s.config.watch(EVENT_PLACEMENT_KEY, (p) => {
        if (p && p.epoch > s.#placement.epoch) s.#install(p);
      }),
    );
    // changes between the reads and the watches' start
    const [m2, p2] = await Promise.all([s.config.getShardMap(), s.config.get(EVENT_PLACEMENT_KEY)]);
    if (m2 && m2.epoch > s.#map.epoch) s.#map = m2;
    if (p2 && p2.epoch > s.#placement.epoch) s.#install(p2);
    return s;
  }

  async #loadOrInitPlacement(map: ShardMap): Promise<EventPlacement> {
    const existing = await this.config.get(EVENT_PLACEMENT_KEY);
    if (existing) return existing;
    const full = this.config.fullKey(EVENT_PLACEMENT_KEY.name);
    const initial = initialEventPlacement(map);
    const body = this.config.encode(EVENT_PLACEMENT_KEY, initial);
    const res = await this.config.call(`init ${full}`, () =>
      this.config.etcd
        .if(full, "Create", "==", 0)
        .then(this.config.etcd.put(full).value(body))
        .else(this.config.etcd.get(full))
        .options(this.config.callOptions())
        .commit(),
    );
    if (res.succeeded) {
      this.log.info({ shards: initial.shards.length }, "event placement initialised from the shard map");
      return initial;
    }
    const kv = res.responses[0]?.response_range?.kvs[0];
    if (!kv) throw new EventStoreError(`init ${full}: transaction failed but returned no current value`);
    return this.config.decode(EVENT_PLACEMENT_KEY, kv.value);
  }

  #install(p: EventPlacement): void {
    this.#placement = p;
    this.#router = new StreamRouter(p);
    this.log.info(
      { epoch: p.epoch, shards: p.shards.length, migration: p.migration?.phase },
      "event placement installed",
    );
  }

  /** The event placement the store follows. */
  get placement(): EventPlacement {
    return this.#placement;
  }

  /** Every shard that may hold streams (old and new sets during a move). */
  get shards(): string[] {
    return this.#router.shardNames;
  }

  /** The shard holding `streamId` (where reads go; during a move, the old or new owner by phase). */
  shardOf(streamId: string): string {
    const r = this.#router.route(checkStreamId(streamId));
    return r.kind === "owner" ? r.shard : r.read;
  }

  /** The registered projections (purged on deletion). */
  get projections(): readonly ProjectionDefinition[] {
    return this.#projections;
  }

  #address(shard: string): ShardAddress {
    const missing = missingShards(this.#placement, this.#map.shards);
    if (missing.includes(shard))
      throw new EventStoreError(
        `shard ${shard} holds event streams (event placement epoch ${this.#placement.epoch}) but is not in the shard map (epoch ${this.#map.epoch}): move its streams before removing it`,
      );
    const s = this.#map.shards.find((x) => x.name === shard)!;
    const r = this.#opts.reach[shard];
    return { host: r?.host ?? s.host, port: r?.port ?? s.port, database: s.database };
  }

  /** Runs `fn` on a pooled connection to `shard` (event schema ensured). */
  async withShard<T>(shard: string, fn: (c: PoolClient) => Promise<T>): Promise<T> {
    if (this.#closed) throw new EventStoreError("EventStore is closed");
    return this.#pools.run(shard, this.#address(shard), async (c) => {
      await this.#ensureSchema(shard, c);
      return fn(c);
    });
  }

  #ensureSchema(shard: string, c: PoolClient): Promise<void> {
    let p = this.#schema.get(shard);
    if (!p) {
      p = (async () => {
        const present = (await c.query<{ present: boolean }>(SCHEMA_PRESENT_SQL)).rows[0]?.present;
        if (!present) await c.query(ENSURE_SCHEMA_SQL);
      })();
      this.#schema.set(shard, p);
      p.catch(() => this.#schema.delete(shard));
    }
    return p;
  }

  // ---- appends --------------------------------------------------------------------------------

  /**
   * Appends `events` to `streamId` atomically if its version satisfies `expectedVersion`.
   * Idempotent by event id: retrying the same append (same ids, same order) answers with the
   * versions first stored and writes nothing.
   * @throws WrongExpectedVersionError, StreamDeletedError, EventIdConflictError, StreamMovingError,
   *   EventEpochError, EventArgumentError; a connection error once `retryMs` has passed
   */
  async append(
    streamId: string,
    events: readonly NewEvent[],
    options: { expectedVersion?: ExpectedVersion } = {},
  ): Promise<AppendResult> {
    const { stream, expected, prepared, h } = this.#begin(streamId, events, options);
    const deadline = Date.now() + this.#opts.retryMs;
    let epochRetried = false;
    for (let keyAttempt = 0; ;) {
      const route = this.#router.routeHash(h);
      if (route.kind === "moving") throw new StreamMovingError(stream, route.from, route.to);
      const shard = route.shard;
      const epoch = this.#placement.epoch;
      let row: AppendRow;
      try {
        row = await this.withShard(shard, (c) => this.#call(c, shard, epoch, stream, h, expected, prepared, false));
      } catch (e) {
        if (e instanceof EventStoreError || e instanceof EventArgumentError) throw e;
        if (isSqlError(e) && e.code === "23505")
          throw new EventIdConflictError(
            stream,
            prepared.map((x) => x.id),
          );
        if (!isConnectionFailure(e) || Date.now() >= deadline) throw e;
        this.log.debug(
          { err: (e as Error).message, stream },
          "append: shard did not answer; retrying with the same ids",
        );
        await sleep(100);
        continue;
      }
      if (row.status === "stale_epoch") {
        const minEpoch = Number(row.detail);
        if (epochRetried || !(await this.#awaitPlacement(minEpoch))) throw new EventEpochError(shard, epoch, minEpoch);
        epochRetried = true;
        continue;
      }
      const done = this.#finish(row, shard, stream, expected, prepared.length, keyAttempt++);
      if (done === "retry") continue;
      // a duplicate too: the first attempt's commit may have gone unannounced
      this.#notifyAppended(shard);
      return done;
    }
  }

  /** Wakes the shard's live readers after an append committed (coalesced per shard; see `notifyIntervalMs`). */
  #notifyAppended(shard: string): void {
    let n = this.#notifiers.get(shard);
    if (!n) {
      n = new AppendNotifier(
        () => this.withShard(shard, (c) => c.query(NOTIFY_SQL)),
        this.#opts.notifyIntervalMs,
        () => this.#closed,
      );
      this.#notifiers.set(shard, n);
    }
    n.kick();
  }

  async #call(
    c: PoolClient,
    shard: string,
    epoch: number,
    stream: string,
    h: number,
    expected: ExpectedVersion,
    prepared: readonly Prepared[],
    notify: boolean,
  ): Promise<AppendRow> {
    const key = await this.#streamKey(stream, c);
    const aad = Buffer.from(stream, "utf8");
    const sealed = prepared.map((e) => this.#cipher.seal(key, aad, { d: e.data, m: e.metadata ?? {} }));
    const stamp = this.#clock.now();
    // a named statement: parsed and planned once per connection; the payloads travel as one
    // binary bytea (node-postgres sends Buffers in binary), cut by their lengths
    const r = await c.query<AppendRow>({
      name: APPEND_STATEMENT,
      text: APPEND_SQL,
      values: [
        epoch,
        stream,
        h,
        encodeExpectedVersion(expected),
        key.id,
        key.wrapped,
        stamp.wall,
        stamp.logical,
        this.nodeId,
        this.#depsFor(shard),
        prepared.map((e) => e.id),
        prepared.map((e) => e.type),
        prepared.map((e) => e.schemaVersion),
        prepared.map((e) => e.causationId ?? null),
        prepared.map((e) => e.correlationId ?? null),
        sealed.length === 1 ? sealed[0] : Buffer.concat(sealed),
        sealed.map((b) => b.length),
        notify,
      ],
    });
    return r.rows[0];
  }

  /**
   * Appends inside the caller's transaction on `client`, a connection to the stream's shard
   * ({@link shardOf}): the events commit or roll back with the caller's other writes there (an
   * outbox). Take it as the transaction's FIRST write: the append must hold the stream's lock
   * before the transaction has an id, or a concurrent append to the stream may make it fail with
   * SQLSTATE SPE01 (never misorder the log). No retries.
   */
  async appendIn(
    client: PoolClient,
    streamId: string,
    events: readonly NewEvent[],
    options: { expectedVersion?: ExpectedVersion } = {},
  ): Promise<AppendResult> {
    const { stream, expected, prepared, h } = this.#begin(streamId, events, options);
    for (let attempt = 0; ; attempt++) {
      const route = this.#router.routeHash(h);
      if (route.kind === "moving") throw new StreamMovingError(stream, route.from, route.to);
      // notified by the function itself, at the caller's commit
      const row = await this.#call(client, route.shard, this.#placement.epoch, stream, h, expected, prepared, true);
      const done = this.#finish(row, route.shard, stream, expected, prepared.length, attempt);
      if (done !== "retry") return done;
    }
  }

  /** The result of an append's row, or "retry" (a concurrent creator's key was taken). @throws the append's errors */
  #finish(
    row: AppendRow,
    shard: string,
    stream: string,
    expected: ExpectedVersion,
    count: number,
    attempt: number,
  ): AppendResult | "retry" {
    switch (row.status) {
      case "appended": {
        this.#clock.observe({ wall: Number(row.stamp_wall), logical: row.stamp_logical! });
        const position = positionOf(row.tx!, row.last_seq!);
        this.#lastAppended.set(shard, position);
        return { version: row.cur_version!, firstVersion: row.first_version!, duplicate: false, shard, position };
      }
      case "duplicate":
        return { version: row.first_version! + count - 1, firstVersion: row.first_version!, duplicate: true, shard };
      case "wrong_version":
        throw new WrongExpectedVersionError(stream, expected, row.cur_version!);
      case "deleted":
        this.#keys.delete(stream);
        throw new StreamDeletedError(stream);
      case "id_conflict":
        throw new EventIdConflictError(stream, (row.detail ?? "").split(",").filter(Boolean));
      case "key_mismatch":
        // another client created the stream first, under its own key: take that one
        this.#keys.set(stream, this.#unwrap(Buffer.from(row.detail!, "base64")));
        if (attempt >= 3) throw new EventStoreError(`append to ${stream}: the stream's key keeps changing`);
        return "retry";
      case "stale_epoch":
        throw new EventEpochError(shard, this.#placement.epoch, Number(row.detail));
      default:
        throw new EventStoreError(`append to ${stream}: unexpected status ${String(row.status)}`);
    }
  }

  /** Validates an append's arguments (errors name them) before anything is sent. */
  #begin(streamId: string, events: readonly NewEvent[], options: { expectedVersion?: ExpectedVersion }) {
    const stream = checkStreamId(streamId);
    const expected = checkExpectedVersion(options.expectedVersion ?? "any");
    if (!Array.isArray(events)) throw new EventArgumentError("events", "must be an array of events");
    const prepared = events.map((e, i) => this.#prepare(e, i));
    checkEventIds(prepared.map((e) => e.id));
    return { stream, expected, prepared, h: hashKey(stream) };
  }

  #prepare(e: NewEvent, i: number): Prepared {
    if (typeof e !== "object" || e === null) throw new EventArgumentError(`events[${i}]`, "must be an object");
    checkEventType(e.type, `events[${i}].type`);
    if (e.data === undefined) throw new EventArgumentError(`events[${i}].data`, "must be a JSON value");
    const schemaVersion = e.schemaVersion ?? this.upcasters.latestVersion(e.type);
    if (!Number.isInteger(schemaVersion) || schemaVersion < 1)
      throw new EventArgumentError(
        `events[${i}].schemaVersion`,
        `must be a whole number ≥ 1; got ${String(schemaVersion)}`,
      );
    for (const f of ["causationId", "correlationId"] as const)
      if (e[f] !== undefined && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(e[f]!))
        throw new EventArgumentError(`events[${i}].${f}`, `must be a lower-case UUID; got ${JSON.stringify(e[f])}`);
    return { ...e, id: e.id ?? randomUUID(), schemaVersion };
  }

  #depsFor(shard: string): string | null {
    const deps: Record<string, string> = {};
    for (const [s, p] of this.#lastAppended) if (s !== shard) deps[s] = formatPosition(p);
    return Object.keys(deps).length > 0 ? JSON.stringify(deps) : null;
  }

  async #awaitPlacement(epoch: number): Promise<boolean> {
    const until = Date.now() + this.#opts.epochWaitMs;
    for (;;) {
      if (this.#placement.epoch >= epoch) return true;
      const p = await this.config.get(EVENT_PLACEMENT_KEY).catch(() => undefined);
      if (p && p.epoch > this.#placement.epoch) this.#install(p);
      if (this.#placement.epoch >= epoch) return true;
      if (Date.now() >= until) return false;
      await sleep(50);
    }
  }

  #unwrap(wrapped: Buffer): StreamKey {
    const k = wrapped.toString("base64");
    let key = this.#unwrapped.get(k);
    if (!key) {
      key = this.#cipher.unwrap(wrapped);
      if (this.#unwrapped.size >= KEY_CACHE_MAX) this.#unwrapped.delete(this.#unwrapped.keys().next().value!);
      this.#unwrapped.set(k, key);
    }
    return key;
  }

  async #streamKey(stream: string, c: PoolClient): Promise<StreamKey> {
    const cached = this.#keys.get(stream);
    if (cached) return cached;
    const r = await c.query<{ key_id: Buffer; data_key: Buffer | null; deleted: boolean }>(STREAM_KEY_SQL, [stream]);
    const row = r.rows[0];
    if (row?.deleted) throw new StreamDeletedError(stream);
    const key = row?.data_key ? this.#unwrap(row.data_key) : this.#cipher.newKey();
    if (this.#keys.size >= KEY_CACHE_MAX) this.#keys.delete(this.#keys.keys().next().value!);
    this.#keys.set(stream, key);
    return key;
  }

  // ---- reads ----------------------------------------------------------------------------------

  /**
   * Decodes an event row (a deleted stream's row gives undefined). The payload is decrypted and
   * upcast lazily, on the first read of `data` or `metadata`: consumers that look only at types,
   * streams and versions pay no decryption. The stream's key must be known to this client: rows
   * read through {@link decodeRows} (every read of the store) are.
   * @throws EventStoreError when the stream's key was not loaded
   */
  decode(shard: string, row: EventRow, aad?: Buffer): RecordedEvent | undefined {
    if (row.deleted) return undefined;
    const key = this.#readKeys.get(row.stream);
    if (!key) throw new EventStoreError(`decode ${row.stream}: its key was not loaded (read it with decodeRows)`);
    const ad = aad ?? Buffer.from(row.stream, "utf8");
    return new StoredEvent(shard, row, this.upcasters.plan(row.type, row.schema_version), (sealed) =>
      this.#cipher.open(key, ad, sealed),
    );
  }

  /**
   * Decodes rows read on `c` (a connection to `shard`): loads the keys of streams this client
   * has not seen yet (one query for all of them), leaves out deleted streams' rows.
   */
  async decodeRows(c: PoolClient, shard: string, rows: readonly EventRow[]): Promise<RecordedEvent[]> {
    await this.#loadKeys(c, rows);
    const out: RecordedEvent[] = [];
    const aads = new Map<string, Buffer>();
    for (const row of rows) {
      if (row.deleted || row.id === null) continue;
      let aad = aads.get(row.stream);
      if (!aad) aads.set(row.stream, (aad = Buffer.from(row.stream, "utf8")));
      // a stream deleted between the read and the key query has no key left: skip it as deleted
      if (this.#readKeys.has(row.stream)) out.push(this.decode(shard, row, aad)!);
    }
    return out;
  }

  async #loadKeys(c: PoolClient, rows: readonly EventRow[]): Promise<void> {
    const missing = new Set<string>();
    for (const row of rows)
      if (!row.deleted && row.id !== null && !this.#readKeys.has(row.stream)) missing.add(row.stream);
    if (missing.size === 0) return;
    const r = await c.query<{ stream: string; data_key: Buffer }>(STREAM_KEYS_SQL, [[...missing]]);
    for (const k of r.rows) this.#cacheKey(k.stream, this.#unwrap(k.data_key));
  }

  #cacheKey(stream: string, key: StreamKey): void {
    if (this.#readKeys.size >= KEY_CACHE_MAX) this.#readKeys.delete(this.#readKeys.keys().next().value!);
    this.#readKeys.set(stream, key);
  }

  /**
   * Events of a stream after version `fromVersion` (@default 0: from the start), at most `limit`
   * (@default 1000), in version order. Empty for a stream that does not exist.
   * @throws StreamDeletedError
   */
  async readStream(streamId: string, options: { fromVersion?: number; limit?: number } = {}): Promise<RecordedEvent[]> {
    const stream = checkStreamId(streamId);
    const from = options.fromVersion ?? 0;
    const limit = options.limit ?? 1000;
    if (!Number.isInteger(from) || from < 0) throw new EventArgumentError("fromVersion", "must be a whole number ≥ 0");
    if (!Number.isInteger(limit) || limit < 1 || limit > 100_000)
      throw new EventArgumentError("limit", "must be a whole number from 1 to 100000");
    const shard = this.shardOf(stream);
    return this.withShard(shard, (c) => this.readStreamOn(c, shard, stream, from, from + limit));
  }

  /** A stream's events in (`after`, `upTo`] on `c`, a connection to its shard (inside the caller's transaction). */
  async readStreamOn(
    c: PoolClient,
    shard: string,
    stream: string,
    after: number,
    upTo: number,
  ): Promise<RecordedEvent[]> {
    if (upTo <= after) return [];
    const r = await c.query<EventRow & { stream_deleted: boolean | null }>(READ_STREAM_SQL, [
      stream,
      after,
      upTo - after,
    ]);
    if (r.rows[0]?.stream_deleted) throw new StreamDeletedError(stream);
    return this.decodeRows(c, shard, r.rows);
  }

  /** A projection context on `c` for generation `gen` (undefined: live). */
  contextFor(c: PoolClient, shard: string, def: ProjectionDefinition, gen: number | undefined): ProjectionContext {
    return {
      shard,
      client: c,
      rebuilding: gen !== undefined,
      table: (name) => liveTableOf(def, name, gen),
      streamEvents: (stream, after, upTo) => this.readStreamOn(c, shard, stream, after, upTo),
    };
  }

  /** The stream's version (0 when it has no events). @throws StreamDeletedError */
  async streamVersion(streamId: string): Promise<number> {
    const stream = checkStreamId(streamId);
    const shard = this.shardOf(stream);
    const r = await this.withShard(shard, (c) =>
      c.query<{ version: number; deleted: boolean }>(STREAM_KEY_SQL, [stream]),
    );
    if (r.rows[0]?.deleted) throw new StreamDeletedError(stream);
    return r.rows[0]?.version ?? 0;
  }

  /**
   * The next released events of `shard` after `cursor` (gap-free: never past a transaction in
   * flight), at most `limit` (@default 1000).
   */
  async readReleased(shard: string, cursor: Position, limit = 1000): Promise<ReleasedBatch> {
    const { r, rows, events, heldBy } = await this.withShard(shard, async (c) => {
      const r = await c.query<EventRow & { xmin: string }>(RELEASE_SQL, [
        cursor.tx.toString(),
        cursor.seq.toString(),
        limit,
      ]);
      const rows = r.rows.filter((x) => x.tx !== null);
      const events = await this.decodeRows(c, shard, rows);
      return { r, rows, events, heldBy: await this.#watchBound(c, shard, BigInt(r.rows[0].xmin)) };
    });
    const xmin = BigInt(r.rows[0].xmin);
    const last = rows[rows.length - 1];
    return {
      shard,
      xmin,
      events,
      cursor: last ? positionOf(last.tx, last.seq) : cursor,
      complete: rows.length < limit,
      ...(heldBy ? { heldBy } : {}),
    };
  }

  /**
   * Stall diagnostics of the release bound: when a shard's bound has not moved for
   * `stallWarnMs`, asks the shard which transaction holds it (at most once per interval) and, if
   * one does, warns naming it. Readers still wait for it: a transaction that never ends stops
   * them, and this says which one to end.
   */
  async #watchBound(c: PoolClient, shard: string, xmin: bigint): Promise<ReleaseHolder | undefined> {
    const now = Date.now();
    const b = this.#bounds.get(shard);
    if (!b || b.xmin !== xmin) {
      this.#bounds.set(shard, { xmin, since: now, checkedAt: now });
      return undefined;
    }
    const every = this.#opts.stallWarnMs;
    if (now - b.since < every || now - b.checkedAt < every) return b.heldBy;
    b.checkedAt = now;
    const r = await c.query<{
      pid: number | null;
      gid: string | null;
      state: string | null;
      application: string | null;
      client: string | null;
      open_s: number | null;
      query: string | null;
    }>(RELEASE_HOLDER_SQL, [xmin.toString()]);
    const h = r.rows[0];
    b.heldBy = h
      ? {
          xid: xmin,
          ...(h.pid !== null ? { pid: h.pid } : {}),
          ...(h.gid !== null ? { gid: h.gid } : {}),
          state: h.state,
          application: h.application,
          client: h.client,
          openSeconds: Math.round(h.open_s ?? (now - b.since) / 1000),
          query: h.query,
        }
      : undefined;
    if (b.heldBy)
      this.log.warn(
        { shard, holder: { ...b.heldBy, xid: xmin.toString() } },
        `readers of shard ${shard} are held at release bound ${xmin} by a transaction open ${b.heldBy.openSeconds} s ` +
          (b.heldBy.gid !== undefined
            ? `(prepared transaction ${b.heldBy.gid}): nothing after it is delivered until it ends (ROLLBACK PREPARED or COMMIT PREPARED it if it never will)`
            : `(pid ${b.heldBy.pid}, ${b.heldBy.state ?? "state hidden"}, application ${JSON.stringify(b.heldBy.application)}): nothing after it is delivered until it ends (SELECT pg_terminate_backend(${b.heldBy.pid}) if it never will)`),
      );
    return b.heldBy;
  }

  /** The position every row below the shard's release bound `xmin` is at or before. */
  static boundOf(xmin: bigint): Position {
    return { tx: xmin - 1n, seq: MAX_SEQ };
  }

  /** Events of `shard` after `from` and at or before `upTo` (rebuilds), at most `limit`. */
  async readRange(
    shard: string,
    from: Position,
    upTo: Position,
    limit = 5000,
  ): Promise<{ events: RecordedEvent[]; cursor: Position; done: boolean }> {
    const { r, events } = await this.withShard(shard, async (c) => {
      const r = await c.query<EventRow>(REPLAY_SQL, [
        from.tx.toString(),
        from.seq.toString(),
        upTo.tx.toString(),
        upTo.seq.toString(),
        limit,
      ]);
      return { r, events: await this.decodeRows(c, shard, r.rows) };
    });
    const last = r.rows[r.rows.length - 1];
    return { events, cursor: last ? positionOf(last.tx, last.seq) : from, done: r.rows.length < limit };
  }

  // ---- deletion -------------------------------------------------------------------------------

  /**
   * Deletes a stream for privacy, in one transaction on its shard: its data key is destroyed
   * (crypto-shredding: its events can never be decrypted again), every registered projection's
   * rows of it are purged (live tables and a rebuild's shadow tables), its persistent-subscription
   * messages dropped; with `hard`, its event rows are deleted too. Later reads, replays and
   * appends refuse it. Resolves with whether the stream existed.
   */
  async deleteStream(streamId: string, options: { hard?: boolean } = {}): Promise<boolean> {
    const stream = checkStreamId(streamId);
    const route = this.#router.route(stream);
    if (route.kind === "moving") throw new StreamMovingError(stream, route.from, route.to);
    const shard = route.shard;
    const existed = await this.withShard(shard, async (c) => {
      await c.query("BEGIN");
      try {
        await c.query("SELECT pg_advisory_xact_lock($1, ($2::bigint - 2147483648)::integer)", [
          EVENTS_LOCK_CLASS,
          hashKey(stream),
        ]);
        const r = await c.query<{ stream: string }>(
          "UPDATE scaleplane_event_streams SET deleted_at = now(), data_key = NULL WHERE stream = $1 AND deleted_at IS NULL RETURNING stream",
          [stream],
        );
        if (r.rowCount === 0) {
          await c.query("ROLLBACK");
          return false;
        }
        for (const p of this.#projections) {
          const gens: (number | undefined)[] = [undefined];
          const rebuild = await rebuildGeneration(c, p.name);
          if (rebuild !== undefined) gens.push(rebuild);
          for (const gen of gens) {
            await p.purge(this.contextFor(c, shard, p, gen), [stream]);
          }
        }
        await c.query("DELETE FROM scaleplane_event_group_queue WHERE stream = $1", [stream]);
        await c.query("DELETE FROM scaleplane_event_group_parked WHERE stream = $1", [stream]);
        if (options.hard) await c.query("DELETE FROM scaleplane_events WHERE stream = $1", [stream]);
        await c.query("COMMIT");
        return true;
      } catch (e) {
        await c.query("ROLLBACK").catch(() => undefined);
        throw e;
      }
    });
    this.#keys.delete(stream);
    this.#readKeys.delete(stream);
    if (existed) this.log.info({ stream, shard, hard: options.hard ?? false }, "stream deleted");
    return existed;
  }

  /**
   * Resolves at the next append committed on `shard` (LISTEN/NOTIFY) or after `ms`: how a reader
   * that caught up waits. Only a wake-up: what is released is still decided by the xmin rule.
   */
  waitForAppend(shard: string, ms: number): Promise<void> {
    let w = this.#wakers.get(shard);
    if (!w) {
      w = new ShardWaker(async () => {
        const a = this.#address(shard);
        const pw = typeof this.#password === "function" ? await this.#password() : this.#password;
        return {
          host: a.host,
          port: a.port,
          database: a.database,
          user: this.#opts.user,
          password: pw,
          connectionTimeoutMillis: this.#opts.connectTimeoutMs,
          application_name: "scaleplane-event-waker",
        };
      });
      this.#wakers.set(shard, w);
    }
    return w.wait(ms);
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Stops watching and closes every connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#wakers.values()].map((w) => w.close()));
    await Promise.all(this.#watches.map((w) => w.close().catch(() => undefined)));
    await this.#pools.end();
  }
}

type Prepared = NewEvent & { id: string; schemaVersion: number };

interface AppendRow {
  status: string;
  first_version: number | null;
  cur_version: number | null;
  tx: string | null;
  first_seq: string | null;
  last_seq: string | null;
  stamp_wall: string | null;
  stamp_logical: number | null;
  detail: string | null;
}
