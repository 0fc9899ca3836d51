/**
 * ShardClient: the router an application embeds to use the sharded database as a replicated
 * key-value store (docs/design/sharding.md is the contract it implements).
 *
 * - Placement: the shard map in etcd (ConfigClient, SHARD_MAP_KEY), watched; a key's replicas
 *   come from the map's strategy (core/sharding/placement.ts: hash ring, key ranges, or tenants
 *   pinned in the map's directory). A scan asks only the shards its key range can live on.
 * - Versions: a hybrid logical clock per client (core/sharding/hlc.ts) issues every write's
 *   version; reads feed the versions they see back into it. Every replica applies a row only if it
 *   is newer (version, then value: sql.ts), so the newest write wins everywhere regardless of
 *   arrival order. The writer id is unique: leased in etcd while the client runs (./node-id.ts).
 * - Bounded clocks (the map's `maxClockOffsetMs`, CockroachDB's max-offset rule): a shard refuses a
 *   version further ahead of its clock than the bound, and every reply carries the shard's clock,
 *   so a router whose clock is further off than the bound in either direction gets
 *   ClockOffsetError instead of writes that win (fast clock) or lose (slow clock) for minutes; a
 *   row version further ahead than the bound is an error, never ignored.
 * - Consistency per call (`one` / `quorum` / `all`, default the map's): a write is acknowledged
 *   once that many replicas applied it; a write that lost on every replica to a newer row is
 *   WriteSupersededError, not a success. A read returns the newest of that many replies. When the
 *   level cannot be met, QuorumUnavailableError names each failed shard and why.
 * - Monotonic reads: a read at `quorum` or `all` whose replies disagree writes the newest row to a
 *   quorum of the key's replicas (both replica sets during a migration) before it returns
 *   (Cassandra's blocking read repair), so no later read returns an older row. Replicas left over
 *   are repaired in the background through a bounded queue (what it drops is counted:
 *   `repairStats.dropped`).
 * - Epoch fence: every statement carries the router's map epoch; a shard whose fence is newer
 *   refuses it. The router then waits (bounded) for the newer map and retries once with the same
 *   version (idempotent).
 * - Migrations: while the map has `migration`, writes go to the old and the new replicas and
 *   need the level in both sets; reads use the old set until phase `cutover`, the new one after.
 */
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { PoolClient } from "pg";
import pino, { type Logger } from "pino";
import { z } from "zod";
import { CONSISTENCY_LEVELS, type ConsistencyLevel } from "../../core/config";
import {
  ClockOffsetExceeded,
  DEFAULT_MAX_CLOCK_OFFSET_MS,
  HybridClock,
  checkNodeId,
  compareStored,
  compareVersions,
  type Version,
} from "../../core/sharding/hlc";
import {
  ackGroup,
  ackStatus,
  blockingRepairTargets,
  newestReply,
  staleReplicas,
  targetsOf,
  unmetGroups,
  writeGroups,
  type AckGroup,
  type AckStatus,
} from "../../core/sharding/acks";
import { compareKeys, makePlacer, prefixEnd, type Placer } from "../../core/sharding/placement";
import { hashKey } from "../../core/sharding/ring";
import type { ShardMap } from "../../core/sharding/shard-map";
import { SHARD_MAP_KEY, type ConfigClient } from "../config-client";
import {
  ClockOffsetError,
  QuorumUnavailableError,
  ShardArgumentError,
  StaleEpochError,
  WriteSupersededError,
  type ShardFailure,
} from "./errors";
import { NodeIdLease } from "./node-id";
import { describeFailure, RouterPools, type ShardAddress } from "./pools";
import { RepairQueue, type RepairStats } from "./repair";
import { FENCED_UPSERT_SQL, READ_SQL, SCAN_SQL, type StoredRow } from "./sql";

/** Longest key, in UTF-8 bytes (a btree entry must fit a third of a page). */
export const MAX_KEY_BYTES = 1024;
/** Largest page a scan returns. */
export const MAX_SCAN_LIMIT = 10_000;

/** Options of {@link ShardClient.connect}. */
export const ShardClientOptionsSchema = z.strictObject({
  /** Database role of the shards. */
  user: z.string().min(1),
  /** Writer id: the version tie-break (1-64 of A-Z a-z 0-9 . _ -). @default `<hostname>-<pid>-<random>` */
  nodeId: z.string().optional(),
  /** Per-shard address overrides, by shard name (e.g. 127.0.0.1 ports of Docker shards seen from the host). */
  reach: z
    .record(z.string(), z.strictObject({ host: z.string().min(1), port: z.number().int().min(1).max(65535) }))
    .default({}),
  /** Deadline to get a connection to a shard, in ms. @default 2000 */
  connectTimeoutMs: z.number().int().min(10).max(600_000).default(2000),
  /** Deadline of one statement on a shard, in ms. @default 2000 */
  statementTimeoutMs: z.number().int().min(10).max(600_000).default(2000),
  /** Connections per shard. @default 8 */
  poolSize: z.number().int().min(1).max(1000).default(8),
  /** How long a refused (stale-epoch) operation waits for the newer shard map, in ms. @default 3000 */
  epochWaitMs: z.number().int().min(0).max(600_000).default(3000),
  /** Read repair: on by default; at most `maxInFlight` repairs at once and `maxQueued` waiting. */
  readRepair: z
    .strictObject({
      enabled: z.boolean().default(true),
      maxInFlight: z.number().int().min(1).max(1000).default(16),
      maxQueued: z.number().int().min(0).max(1_000_000).default(10_000),
    })
    .default({ enabled: true, maxInFlight: 16, maxQueued: 10_000 }),
});

export type ShardClientOptions = z.input<typeof ShardClientOptionsSchema> & {
  /** Where the shard map is read and watched (and the writer id leased); the caller closes it. */
  config: ConfigClient;
  /** Password of `user`, or a function returning it (e.g. reading a mounted secret file). */
  password: string | (() => string | Promise<string>);
  /** Physical time source of the version clock, in ms. @default Date.now */
  physicalClock?: () => number;
  /** pino logger. @default pino({ name: "shard-client" }) at SCALEPLANE_LOG_LEVEL or "info" */
  logger?: Logger;
  /**
   * Called after a write (put or delete) is acknowledged at its consistency level and before the
   * call returns, e.g. `invalidateAfterWrite(cache)` (scaleplane/cache-client): a read that starts
   * after the call returned then never sees an older cached value. A rejection makes the call
   * throw it, although the write itself was applied. @default none
   */
  afterWrite?: (write: { op: "put" | "delete"; key: string; version: Version }) => Promise<void>;
};

/** Per-call options. */
export interface CallOptions {
  /** Consistency of this call. @default the shard map's `consistency` */
  consistency?: ConsistencyLevel;
}

/** A stored value with its version. */
export interface Item<T = unknown> {
  key: string;
  value: T;
  version: Version;
}

/** The result of a write: the version it was stored under. */
export interface WriteResult {
  version: Version;
}

/** Which keys a scan covers: a prefix, or a range `[start, end)` (`end` absent = no upper bound). */
export type ScanRange = { prefix: string } | { start?: string; end?: string };

/** A page of a scan. */
export interface ScanPage<T = unknown> {
  /** Live keys (no tombstones) in key order (Unicode code point order), newest version each. */
  items: Item<T>[];
  /** Start key of the next page (pass as `start`, with the same `end`), absent when the range is exhausted. */
  next?: string;
}

type RowVersion = Version & { value: string | null };

/** Everything the router derives from one shard map (and directory table). */
interface RouterState {
  readonly map: ShardMap;
  /** Write placement (the map's shards). */
  readonly current: Placer;
  /** The old placement while a migration runs. */
  readonly old?: Placer;
  /** Where reads go: old during `dual-write`, current otherwise. */
  readonly read: Placer;
  readonly addresses: ReadonlyMap<string, ShardAddress>;
}

interface RepairTask {
  shard: string;
  key: string;
  row: RowVersion;
}

type Reply<R> =
  | { shard: string; ok: true; result: R }
  | { shard: string; ok: false; failure: ShardFailure; staleEpoch?: number; clockOffsetMs?: number };

/** What every statement's result carries: the shard's fence, and its clock when the statement reads it. */
interface ShardReply {
  readonly minEpoch: number;
  /** The shard's clock during the statement, in epoch ms. */
  readonly nowMs?: number;
  /** The shard refused the write's version as this far ahead of its clock, in ms. */
  readonly skewedByMs?: number;
}

/** The reply of a fenced write. */
interface WriteReply extends ShardReply {
  /** The row was applied (0 or 1). */
  readonly applied: number;
  /** The version the shard held when the statement started (undefined: none). */
  readonly held: Version | undefined;
}

/** A read's reply: the row (undefined: none). */
interface ReadReply extends ShardReply {
  readonly row: RowVersion | undefined;
}

/** What one attempt of an operation on a router state ended with: a result, or shards refusing its epoch. */
type Attempt<T> = { value: T } | { stale: { shard: string; minEpoch: number } };

interface Gathered<R> {
  status: AckStatus;
  results: Map<string, R>;
  failures: ShardFailure[];
  acked: Set<string>;
  /** Highest fence seen above the router's epoch, when a shard refused the epoch. */
  stale?: { shard: string; minEpoch: number };
  /** The first shard whose clock (or refusal) showed this router's clock off by more than the bound. */
  clock?: { shard: string; offsetMs: number };
  /** Settles when every target has answered (for repairs). */
  all: Promise<Reply<R>[]>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LONE_SURROGATE = /\p{Cs}/u;
const encoder = new TextEncoder();

function checkKey(key: unknown, argument = "key"): string {
  if (typeof key !== "string" || key.length === 0)
    throw new ShardArgumentError(argument, `must be a non-empty string; got ${JSON.stringify(key) ?? String(key)}`);
  if (key.includes("\0"))
    throw new ShardArgumentError(argument, "must not contain NUL characters (PostgreSQL text cannot hold them)");
  if (LONE_SURROGATE.test(key))
    throw new ShardArgumentError(argument, "must be well-formed Unicode (no lone UTF-16 surrogates)");
  if (encoder.encode(key).length > MAX_KEY_BYTES)
    throw new ShardArgumentError(argument, `must be at most ${MAX_KEY_BYTES} UTF-8 bytes`);
  return key;
}

function encodeValue(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    throw new ShardArgumentError("value", `must be JSON-serialisable: ${(e as Error).message}`);
  }
  if (text === undefined)
    throw new ShardArgumentError("value", `must be a JSON value (got ${typeof value}); delete a key with delete()`);
  if (text.includes("\\u0000"))
    throw new ShardArgumentError("value", "must not contain NUL characters (jsonb cannot hold them)");
  return text;
}

function checkLevel(level: unknown): ConsistencyLevel | undefined {
  if (level === undefined) return undefined;
  if (!(CONSISTENCY_LEVELS as readonly unknown[]).includes(level))
    throw new ShardArgumentError(
      "consistency",
      `must be one of ${CONSISTENCY_LEVELS.join(", ")}; got ${JSON.stringify(level)}`,
    );
  return level as ConsistencyLevel;
}

const rowVersion = (r: {
  value: string | null;
  ver_wall: string | null;
  ver_logical: number | null;
  ver_node: string | null;
}): RowVersion | undefined =>
  r.ver_wall === null
    ? undefined
    : { wall: Number(r.ver_wall), logical: r.ver_logical!, node: r.ver_node!, value: r.value };

const publicVersion = (v: Version): Version => ({ wall: v.wall, logical: v.logical, node: v.node });

export class ShardClient {
  readonly nodeId: string;
  readonly log: Logger;
  private readonly clock: HybridClock;
  private readonly pools: RouterPools;
  private readonly repairs: RepairQueue<RepairTask>;
  private readonly opts: z.output<typeof ShardClientOptionsSchema>;
  private state!: RouterState;
  private installing: Promise<void> = Promise.resolve();
  private mapWatch?: { close(): Promise<void> };
  private nodeLease?: NodeIdLease;
  private closed = false;
  private readonly afterWrite: ShardClientOptions["afterWrite"];

  private constructor(
    private readonly config: ConfigClient,
    options: ShardClientOptions,
  ) {
    const { config: _config, password, physicalClock, logger, afterWrite, ...rest } = options;
    this.afterWrite = afterWrite;
    void _config;
    const parsed = ShardClientOptionsSchema.safeParse(rest);
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      throw new ShardArgumentError(`ShardClient option ${i.path.join(".")}`, i.message);
    }
    this.opts = parsed.data;
    this.nodeId = checkNodeId(
      this.opts.nodeId ??
        `${hostname()
          .replace(/[^A-Za-z0-9._-]/g, "-")
          .slice(0, 40)}-${process.pid}-${randomBytes(3).toString("hex")}`,
      "nodeId",
    );
    this.log = (logger ?? pino({ name: "shard-client", level: process.env.SCALEPLANE_LOG_LEVEL ?? "info" })).child({
      node: this.nodeId,
    });
    this.clock = new HybridClock(this.nodeId, physicalClock ?? Date.now);
    this.pools = new RouterPools(
      {
        user: this.opts.user,
        password,
        connectTimeoutMs: this.opts.connectTimeoutMs,
        statementTimeoutMs: this.opts.statementTimeoutMs,
        poolSize: this.opts.poolSize,
      },
      this.log,
    );
    this.repairs = new RepairQueue(
      (t) => this.repair(t),
      this.opts.readRepair.maxInFlight,
      this.opts.readRepair.maxQueued,
      this.log,
    );
  }

  /**
   * Validates the options, loads the shard map (it must exist: the ShardedDatabase publishes it),
   * leases the writer id (./node-id.ts) and starts watching the map. Connections to shards are
   * opened on first use.
   * @throws ShardArgumentError naming a bad option or a writer id another client holds; Error when no shard map is stored
   */
  static async connect(options: ShardClientOptions): Promise<ShardClient> {
    const c = new ShardClient(options.config, options);
    const map = await c.config.getShardMap();
    if (!map)
      throw new Error(
        `no shard map at ${c.config.fullKey(SHARD_MAP_KEY.name)}: the ShardedDatabase publishes it on deploy`,
      );
    await c.install(map);
    c.nodeLease = await NodeIdLease.claim(c.config, c.nodeId, `${hostname()} pid ${process.pid}`, c.log);
    c.mapWatch = await c.config.watch(SHARD_MAP_KEY, (m) => {
      if (m && m.epoch > c.state.map.epoch)
        void c.install(m).catch((e: unknown) => c.log.error({ err: e }, "could not install the new shard map"));
    });
    // a change between the read and the watch's start would be missed: read once more
    const again = await c.config.getShardMap();
    if (again && again.epoch > c.state.map.epoch) await c.install(again);
    return c;
  }

  /** The shard map the router currently follows. */
  get map(): ShardMap {
    return this.state.map;
  }

  /** Read-repair counters. */
  get repairStats(): RepairStats {
    return { ...this.repairs.stats };
  }

  /** The replicas of `key` in the current write placement (owner first). */
  replicasOf(key: string): string[] {
    return this.state.current.replicas(checkKey(key));
  }

  /** Resolves when no read repair is queued or running. */
  repairsIdle(): Promise<void> {
    return this.repairs.idle();
  }

  // ---- map ----------------------------------------------------------------------------------

  /** Installs `map` (if newer than the current one). Serialised. */
  private install(map: ShardMap, force = false): Promise<void> {
    const run = this.installing.then(() => {
      if (!force && this.state && map.epoch <= this.state.map.epoch) return;
      this.state = this.derive(map);
      this.clock.maxOffsetMs = map.maxClockOffsetMs ?? DEFAULT_MAX_CLOCK_OFFSET_MS;
      this.pools.retain(new Set(this.state.addresses.keys()));
      this.log.info(
        {
          epoch: map.epoch,
          shards: map.shards.length,
          migration: map.migration?.phase,
          strategy: map.strategy?.kind ?? "hash",
        },
        "shard map installed",
      );
    });
    this.installing = run.catch(() => undefined);
    return run;
  }

  private derive(map: ShardMap): RouterState {
    const current = makePlacer(map, map.strategy);
    // The old placement keeps its own strategy (a migration may change it: a tenant re-pinned).
    const old = map.migration ? makePlacer(map.migration.from, map.migration.from.strategy) : undefined;
    const read = old && map.migration?.phase === "dual-write" ? old : current;
    const addresses = new Map<string, ShardAddress>();
    for (const s of [...(map.migration?.from.shards ?? []), ...map.shards]) {
      const r = this.opts.reach[s.name];
      addresses.set(s.name, { host: r?.host ?? s.host, port: r?.port ?? s.port, database: s.database });
    }
    return { map, current, ...(old ? { old } : {}), read, addresses };
  }

  /** Waits until the router follows an epoch ≥ `epoch` (reading etcd while the watch lags). */
  private async awaitEpoch(epoch: number, shard: string): Promise<void> {
    const until = Date.now() + this.opts.epochWaitMs;
    for (;;) {
      if (this.state.map.epoch >= epoch) return;
      const map = await this.config.getShardMap().catch(() => undefined);
      if (map && map.epoch > this.state.map.epoch) await this.install(map);
      if (this.state.map.epoch >= epoch) return;
      if (Date.now() >= until) throw new StaleEpochError(shard, this.state.map.epoch, epoch);
      await sleep(50);
    }
  }

  /**
   * Runs one attempt of an operation on the router's current state; when shards refused its
   * epoch (a rebalance moved on), waits (bounded) for the newer map and runs it once more, on the
   * new state. The one place the stale-epoch retry lives: put, delete, get and scan go through it.
   * `last` tells the attempt that a refusal can no longer be retried (it must throw instead).
   */
  private async onCurrentMap<T>(attempt: (st: RouterState, last: boolean) => Promise<Attempt<T>>): Promise<T> {
    const first = await attempt(this.state, false);
    if ("value" in first) return first.value;
    await this.awaitEpoch(first.stale.minEpoch, first.stale.shard);
    const second = await attempt(this.state, true);
    if ("value" in second) return second.value;
    // An attempt marked last never asks for another; this guards the contract.
    throw new StaleEpochError(second.stale.shard, this.state.map.epoch, second.stale.minEpoch);
  }

  // ---- fan-out ------------------------------------------------------------------------------

  /**
   * How far this router's clock is off a shard's by the shard's reading `nowMs`, taken while the
   * statement ran between this clock's `sent` and `received`: positive when this clock is ahead
   * (it read `sent` before the shard read `nowMs`), negative when behind. Delays only shrink the
   * estimate, so a slow machine never makes a clock look off. 0 within the bound.
   */
  private clockOffset(nowMs: number, sent: number, received: number): number {
    const bound = this.clock.maxOffsetMs;
    if (sent - nowMs > bound) return sent - nowMs;
    if (nowMs - received > bound) return received - nowMs;
    return 0;
  }

  /**
   * Runs `call` on every target at once; resolves as soon as the groups are met (the other calls
   * go on, and `all` settles when they are done), or else once every target has answered or
   * failed (each within its deadlines), so a failure reports every shard's outcome. A reply whose
   * fence is above the router's epoch, or whose shard clock (or refusal) shows this router's clock
   * off by more than the bound, counts as a failure and is reported in `stale` / `clock`.
   * `preAcked` shards count as having answered already (a repair counts the replicas that hold the row).
   */
  private gather<R extends ShardReply>(
    st: RouterState,
    targets: readonly string[],
    groups: readonly AckGroup[],
    call: (c: PoolClient) => Promise<R>,
    preAcked: ReadonlySet<string> = new Set(),
  ): Promise<Gathered<R>> {
    if (this.closed) throw new ShardArgumentError("ShardClient", "is closed");
    const acked = new Set<string>(preAcked);
    const failed = new Set<string>();
    const results = new Map<string, R>();
    const failures: ShardFailure[] = [];
    let stale: Gathered<R>["stale"];
    let clock: Gathered<R>["clock"];
    return new Promise((resolve) => {
      let done = false;
      let pending = targets.length;
      const settle = (force: boolean) => {
        if (done) return;
        const status = ackStatus(groups, acked, failed);
        if (status === "met" || force) {
          done = true;
          resolve({
            status,
            results: new Map(results),
            failures: [...failures],
            acked: new Set(acked),
            ...(stale ? { stale } : {}),
            ...(clock ? { clock } : {}),
            all,
          });
        }
      };
      const all = Promise.all(
        targets.map(async (shard): Promise<Reply<R>> => {
          let reply: Reply<R>;
          const address = st.addresses.get(shard);
          try {
            if (!address) throw new Error(`shard ${shard} has no address in shard map epoch ${st.map.epoch}`);
            const sent = this.clock.physicalMs();
            const result = await this.pools.run(shard, address, call);
            const received = this.clock.physicalMs();
            const offset = result.nowMs === undefined ? 0 : this.clockOffset(result.nowMs, sent, received);
            if (result.minEpoch > st.map.epoch) {
              const err = new StaleEpochError(shard, st.map.epoch, result.minEpoch);
              reply = {
                shard,
                ok: false,
                failure: { shard, reason: err.message, code: "STALE_EPOCH" },
                staleEpoch: result.minEpoch,
              };
            } else if (offset !== 0 || result.skewedByMs !== undefined) {
              const offsetMs = offset !== 0 ? offset : result.skewedByMs!;
              reply = {
                shard,
                ok: false,
                failure: {
                  shard,
                  reason: `clock off by ${Math.round(offsetMs)} ms (max ${this.clock.maxOffsetMs} ms)`,
                  code: "CLOCK_OFFSET",
                },
                clockOffsetMs: offsetMs,
              };
            } else reply = { shard, ok: true, result };
          } catch (e) {
            reply = { shard, ok: false, failure: { shard, ...describeFailure(e) } };
          }
          pending--;
          if (!done) {
            if (reply.ok) {
              acked.add(shard);
              results.set(shard, reply.result);
            } else {
              failed.add(shard);
              failures.push(reply.failure);
              if (reply.staleEpoch !== undefined && (!stale || reply.staleEpoch > stale.minEpoch))
                stale = { shard, minEpoch: reply.staleEpoch };
              if (reply.clockOffsetMs !== undefined && !clock) clock = { shard, offsetMs: reply.clockOffsetMs };
            }
            settle(pending === 0);
          }
          return reply;
        }),
      );
      if (targets.length === 0) settle(true);
    });
  }

  /** The error of an operation whose level was not met: the clock when a shard saw it off, else the quorum's. */
  private unmet(
    op: "put" | "delete" | "get" | "scan",
    key: string | undefined,
    level: ConsistencyLevel,
    groups: readonly AckGroup[],
    g: Gathered<unknown & ShardReply>,
  ): Error {
    if (g.clock) return new ClockOffsetError(op, key, g.clock.shard, g.clock.offsetMs, this.clock.maxOffsetMs);
    return new QuorumUnavailableError(op, key, level, unmetGroups(groups, g.acked), g.failures);
  }

  /** Observes a version read; a version further ahead than the clock bound is a ClockOffsetError. */
  private observe(op: "put" | "delete" | "get" | "scan", key: string | undefined, v: Version, shard?: string): void {
    try {
      this.clock.observe(v);
    } catch (e) {
      if (e instanceof ClockOffsetExceeded) throw new ClockOffsetError(op, key, shard, -e.aheadMs, e.maxOffsetMs);
      throw e;
    }
  }

  // ---- writes -------------------------------------------------------------------------------

  /**
   * Stores `value` (any JSON value) under `key`.
   * @throws QuorumUnavailableError, StaleEpochError, ClockOffsetError, WriteSupersededError, ShardArgumentError
   */
  async put(key: string, value: unknown, options: CallOptions = {}): Promise<WriteResult> {
    return this.write("put", checkKey(key), encodeValue(value), checkLevel(options.consistency));
  }

  /** Deletes `key` (writes a tombstone, so no older copy can resurrect it). @throws as {@link put} */
  async delete(key: string, options: CallOptions = {}): Promise<WriteResult> {
    return this.write("delete", checkKey(key), null, checkLevel(options.consistency));
  }

  private async write(
    op: "put" | "delete",
    key: string,
    value: string | null,
    level: ConsistencyLevel | undefined,
  ): Promise<WriteResult> {
    this.nodeLease?.check();
    const version = this.clock.now();
    const h = hashKey(key);
    /** Shards known to hold this version (applied it, on any attempt). */
    const holding = new Set<string>();
    // same version on a retry: replicas that applied it already ignore it
    const result = await this.onCurrentMap(async (st, last): Promise<Attempt<WriteResult>> => {
      const lvl = level ?? st.map.consistency;
      const groups = writeGroups(lvl, st.current.replicas(key), st.old?.replicas(key));
      const g = await this.gather(st, targetsOf(groups), groups, (c) =>
        this.upsert(c, st, key, h, value, version, this.clock.maxOffsetMs),
      );
      if (g.status === "met") {
        // A replica holds it when it applied it or held exactly it already (it applied it on an
        // earlier attempt); any other reply means a newer row won there.
        let winner: Version | undefined;
        for (const [shard, r] of g.results) {
          if (r.applied > 0 || (r.held && compareVersions(r.held, version) === 0)) holding.add(shard);
          else if (r.held && compareVersions(r.held, version) > 0 && (!winner || compareVersions(r.held, winner) > 0))
            winner = r.held;
        }
        if (![...g.acked].some((s) => holding.has(s))) {
          if (winner) this.observe(op, key, winner);
          throw new WriteSupersededError(op, key, publicVersion(version), winner && publicVersion(winner));
        }
        return { value: { version: publicVersion(version) } };
      }
      if (g.stale && !last) return { stale: g.stale };
      if (g.stale && g.failures.every((f) => f.code === "STALE_EPOCH"))
        throw new StaleEpochError(g.stale.shard, st.map.epoch, g.stale.minEpoch);
      throw this.unmet(op, key, lvl, groups, g);
    });
    // Once per acknowledged write (not per attempt), and never for a superseded one.
    await this.afterWrite?.({ op, key, version: result.version });
    return result;
  }

  /** One fenced "apply if newer" write of `row` on a shard; `maxOffsetMs` undefined skips the clock bound (a repair). */
  private async upsert(
    c: PoolClient,
    st: RouterState,
    key: string,
    h: number,
    value: string | null,
    version: Version,
    maxOffsetMs: number | undefined,
  ): Promise<WriteReply> {
    const r = await c.query<{
      min_epoch: string;
      now_ms: string;
      applied: number;
      skewed: boolean;
      held_wall: string | null;
      held_logical: number | null;
      held_node: string | null;
    }>(FENCED_UPSERT_SQL, [
      key,
      h,
      value,
      version.wall,
      version.logical,
      version.node,
      st.map.epoch,
      maxOffsetMs ?? null,
    ]);
    const row = r.rows[0];
    const nowMs = Number(row.now_ms);
    return {
      minEpoch: Number(row.min_epoch),
      nowMs,
      applied: row.applied,
      ...(row.skewed ? { skewedByMs: version.wall - nowMs } : {}),
      held:
        row.held_wall === null
          ? undefined
          : { wall: Number(row.held_wall), logical: row.held_logical!, node: row.held_node! },
    };
  }

  // ---- reads --------------------------------------------------------------------------------

  /**
   * The newest value of `key`, or undefined when absent or deleted. At `quorum` and `all`, replies
   * that disagree make the read write the newest row to a quorum first (monotonic reads).
   * @throws QuorumUnavailableError, StaleEpochError, ClockOffsetError, ShardArgumentError
   */
  async get<T = unknown>(key: string, options: CallOptions = {}): Promise<Item<T> | undefined> {
    checkKey(key);
    const level = checkLevel(options.consistency);
    return this.onCurrentMap(async (st, last): Promise<Attempt<Item<T> | undefined>> => {
      const lvl = level ?? st.map.consistency;
      const replicas = st.read.replicas(key);
      const groups = [ackGroup(lvl, replicas)];
      const g = await this.gather(st, replicas, groups, async (c): Promise<ReadReply> => {
        const r = await c.query<StoredRow & { min_epoch: string; now_ms: string }>(READ_SQL, [key]);
        return { minEpoch: Number(r.rows[0].min_epoch), nowMs: Number(r.rows[0].now_ms), row: rowVersion(r.rows[0]) };
      });
      if (g.status !== "met") {
        if (g.stale && !last) return { stale: g.stale };
        throw this.unmet("get", key, lvl, groups, g);
      }
      const answered = [...g.results].map(([shard, r]) => ({ shard, version: r.row }));
      const newest = newestReply(answered);
      if (newest) this.observe("get", key, newest);
      await this.settleReplicas(st, "get", key, lvl, newest, answered, g.all);
      if (!newest || newest.value === null) return { value: undefined };
      return { value: { key, value: JSON.parse(newest.value) as T, version: publicVersion(newest) } };
    });
  }

  /**
   * After a read of `key` at `level`: when the replies disagree and the level makes reads and
   * writes overlap, writes the newest row to the key's write groups until they are met (counting
   * the replicas that already hold it) before the read returns; the replicas still stale once all
   * replies are in are repaired in the background.
   * @throws QuorumUnavailableError when the newest row cannot reach a quorum (the read fails rather than be undone by a later one)
   */
  private async settleReplicas(
    st: RouterState,
    op: "get" | "scan",
    key: string,
    level: ConsistencyLevel,
    newest: RowVersion | undefined,
    answered: readonly { shard: string; version: RowVersion | undefined }[],
    late?: Promise<Reply<ReadReply>[]>,
  ): Promise<void> {
    if (!this.opts.readRepair.enabled || !newest) return;
    const holders = new Set(
      answered.filter((r) => r.version && compareStored(r.version, newest) === 0).map((r) => r.shard),
    );
    if (holders.size < answered.length && level !== "one") {
      const groups = writeGroups(level, st.current.replicas(key), st.old?.replicas(key));
      const targets = blockingRepairTargets(groups, holders);
      if (targets.length > 0) {
        this.repairs.stats.blocking++;
        const g = await this.gather(
          st,
          targets,
          groups,
          (c) => this.upsert(c, st, key, hashKey(key), newest.value, newest, undefined),
          holders,
        );
        if (g.status !== "met") throw this.unmet(op, key, level, groups, g);
        for (const s of g.acked) holders.add(s);
      }
    }
    // The rest (replicas outside the quorum, late replies) in the background.
    const more = (late ?? Promise.resolve([])).then((replies) => {
      const seen = [
        ...answered,
        ...replies.flatMap((r) =>
          r.ok && !answered.some((a) => a.shard === r.shard) ? [{ shard: r.shard, version: r.result.row }] : [],
        ),
      ];
      const best = newestReply(seen);
      if (best)
        for (const shard of staleReplicas(seen, best))
          if (!holders.has(shard)) this.repairs.push({ shard, key, row: best });
    });
    this.repairs.track(more);
  }

  /**
   * The live keys of a prefix or a range, in key order, newest version each (tombstones hidden),
   * at most `limit` (@default 1000) per page. Every shard of the read placement is asked; the
   * page is returned once every replica set has answered at the consistency level, and rows
   * found on a shard that is not one of the key's replicas are ignored. Keys whose replicas
   * disagree are settled as by {@link get} before the page is returned.
   * @throws QuorumUnavailableError, StaleEpochError, ClockOffsetError, ShardArgumentError
   */
  async scan<T = unknown>(range: ScanRange, options: CallOptions & { limit?: number } = {}): Promise<ScanPage<T>> {
    const level = checkLevel(options.consistency);
    const limit = options.limit ?? 1000;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SCAN_LIMIT)
      throw new ShardArgumentError("limit", `must be a whole number from 1 to ${MAX_SCAN_LIMIT}; got ${String(limit)}`);
    let start: string;
    let end: string | undefined;
    if ("prefix" in range) {
      if (typeof range.prefix !== "string") throw new ShardArgumentError("range.prefix", "must be a string");
      if (range.prefix !== "") checkKey(range.prefix, "range.prefix");
      start = range.prefix;
      end = prefixEnd(range.prefix);
    } else {
      start = range.start ?? "";
      end = range.end;
      if (start !== "") checkKey(start, "range.start");
      if (end !== undefined) checkKey(end, "range.end");
      if (end !== undefined && compareKeys(start, end) >= 0) return { items: [] };
    }
    return this.onCurrentMap(async (st, last): Promise<Attempt<ScanPage<T>>> => {
      const lvl = level ?? st.map.consistency;
      // Only the replica sets the range can map to: a key range of the range strategy, or a
      // pinned tenant's keys, touches only its owners.
      const sets = st.read.scanSets(start, end);
      const groups = sets.map((s) => ackGroup(lvl, s));
      type ScanRow = StoredRow & { key: string };
      const g = await this.gather(st, targetsOf(groups), groups, async (c) => {
        const r = await c.query<ScanRow & { min_epoch: string | null; now_ms: string | null; key: string | null }>(
          SCAN_SQL,
          [start, end ?? null, limit],
        );
        const fence = r.rows.find((x) => x.key === null);
        return {
          minEpoch: Number(fence?.min_epoch ?? 0),
          nowMs: Number(fence?.now_ms),
          rows: r.rows.filter((x): x is ScanRow & { min_epoch: null; now_ms: null; key: string } => x.key !== null),
        };
      });
      if (g.status !== "met") {
        if (g.stale && !last) return { stale: g.stale };
        throw this.unmet("scan", undefined, lvl, groups, g);
      }
      return { value: await this.mergeScan<T>(st, lvl, g.results, limit) };
    });
  }

  private async mergeScan<T>(
    st: RouterState,
    level: ConsistencyLevel,
    results: Map<string, { rows: Array<StoredRow & { key: string }> }>,
    limit: number,
  ): Promise<ScanPage<T>> {
    // rows past the first truncated shard's last key may be missing elsewhere: stop there
    let bound: string | undefined;
    for (const { rows } of results.values())
      if (rows.length >= limit) {
        const last = rows.reduce((m, r) => (compareKeys(r.key, m) > 0 ? r.key : m), rows[0].key);
        if (bound === undefined || compareKeys(last, bound) < 0) bound = last;
      }
    const replicasOf = new Map<string, string[]>();
    const seen = new Map<string, Map<string, RowVersion>>();
    for (const [shard, { rows }] of results)
      for (const r of rows) {
        if (bound !== undefined && compareKeys(r.key, bound) > 0) continue;
        let reps = replicasOf.get(r.key);
        if (!reps) replicasOf.set(r.key, (reps = st.read.replicas(r.key)));
        if (!reps.includes(shard)) continue; // a leftover on a former owner
        let m = seen.get(r.key);
        if (!m) seen.set(r.key, (m = new Map()));
        m.set(shard, rowVersion(r)!);
      }
    const keys = [...seen.keys()].sort(compareKeys);
    const items: Item<T>[] = [];
    let next: string | undefined = bound === undefined ? undefined : `${bound}\u0001`;
    const settling: Promise<void>[] = [];
    for (const key of keys) {
      const byShard = seen.get(key)!;
      const answered = replicasOf
        .get(key)!
        .filter((s) => results.has(s))
        .map((s) => ({ shard: s, version: byShard.get(s) }));
      const newest = newestReply(answered)!;
      this.observe("scan", key, newest);
      settling.push(this.settleReplicas(st, "scan", key, level, newest, answered));
      if (newest.value === null) continue;
      if (items.length === limit) {
        next = `${items[items.length - 1].key}\u0001`;
        break;
      }
      items.push({ key, value: JSON.parse(newest.value) as T, version: publicVersion(newest) });
    }
    await Promise.all(settling);
    return { items, ...(next !== undefined ? { next } : {}) };
  }

  // ---- read repair ------------------------------------------------------------------------------

  /**
   * Writes the newest row to a replica that lacked it ("if newer", fenced at the current epoch, no
   * clock bound: the row exists already), if the shard is still one of the key's replicas in the
   * current or (during a migration) the old placement.
   */
  private async repair(t: RepairTask): Promise<void> {
    const st = this.state;
    const address = st.addresses.get(t.shard);
    if (!address || !(st.current.replicas(t.key).includes(t.shard) || st.old?.replicas(t.key).includes(t.shard)))
      return; // no longer a replica
    const r = await this.pools.run(t.shard, address, (c) =>
      this.upsert(c, st, t.key, hashKey(t.key), t.row.value, t.row, undefined),
    );
    if (r.minEpoch > st.map.epoch) throw new StaleEpochError(t.shard, st.map.epoch, r.minEpoch);
    if (r.applied > 0) this.log.debug({ shard: t.shard, key: t.key }, "read repair applied");
  }

  /**
   * Stops watching, waits (at most `drainMs`, @default 5000) for running repairs, gives up the
   * writer id and closes every connection.
   */
  async close(drainMs = 5000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.mapWatch?.close().catch(() => undefined);
    await Promise.race([this.repairs.idle(), sleep(drainMs)]);
    await this.nodeLease?.release();
    await this.pools.end();
  }
}
