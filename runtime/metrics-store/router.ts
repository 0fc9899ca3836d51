/**
 * The metrics store's router: which shards hold a series, and the fenced, replicated writes and
 * reads of its tables. It follows the same shard map as the shard client (etcd `shard-map`,
 * watched, reloaded when a shard's epoch fence is newer) and reuses its pieces: the ring
 * (core/sharding/ring.ts: a series sits at `h = hashKey(series id)`), the consistency math and
 * ack groups (core/sharding/acks.ts: during a migration writes need the level in the old and the
 * new replica sets), the epoch fence (`scaleplane_meta`) and the per-shard pools with deadlines
 * (runtime/shard-client/pools.ts). Only the statements differ (./schema.ts).
 *
 * Writes: one statement per target shard (its own transaction); a batch is acknowledged when every
 * series' groups are met. Samples are idempotent (a (series, timestamp) written twice is one
 * sample), so a retried or replayed write is harmless. Reads: the index (`metrics_series`) of
 * every shard of the read placement, then the samples of the matched series only from their
 * replicas (`one`: one replica, `quorum`: a quorum, merged).
 */
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { PoolClient } from "pg";
import pino, { type Logger } from "pino";
import type { ConsistencyLevel } from "../../core/config";
import { ackGroup, ackStatus, targetsOf, unmetGroups, writeGroups, type AckGroup } from "../../core/sharding/acks";
import { requiredAcks } from "../../core/sharding/consistency";
import { makePlacer, type Placer } from "../../core/sharding/placement";
import { buildRing, replicasForHash, type Ring } from "../../core/sharding/ring";
import type { ShardMap } from "../../core/sharding/shard-map";
import { idToBigint } from "../../core/metrics/labels";
import type { SeriesBatch } from "../../core/metrics/remote-write";
import { SHARD_MAP_KEY, type ConfigClient } from "../config-client";
import { QuorumUnavailableError, StaleEpochError, type ShardFailure } from "../shard-client/errors";
import { describeFailure, RouterPools, type ShardAddress } from "../shard-client/pools";
import { ENSURE_METRICS_SCHEMA_SQL, INGEST_SQL, METRICS_SCHEMA_PRESENT_SQL } from "./schema";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Options of the router. */
export interface RouterOptions {
  config: ConfigClient;
  user: string;
  password: string | (() => string | Promise<string>);
  /** Per-shard address overrides (127.0.0.1 ports of Docker shards seen from the host). */
  reach?: Record<string, { host: string; port: number }>;
  connectTimeoutMs?: number;
  statementTimeoutMs?: number;
  poolSize?: number;
  /** How long a refused (stale-epoch) call waits for the newer shard map. @default 3000 */
  epochWaitMs?: number;
  /** This process's writer id (the horizon follows each writer's newest sample). */
  writerId?: string;
  logger?: Logger;
}

interface State {
  map: ShardMap;
  ring: Ring;
  oldRing?: Ring;
  /** Ring of the read placement (old during dual-write). */
  readRing: Ring;
  readPlacer: Placer;
  /** The read placement's distinct replica sets (computed on the first read: it ranks every partition). */
  readSets?: string[][];
  addresses: Map<string, ShardAddress>;
}

/** What one write did. */
export interface WriteOutcome {
  /** Samples stored (acknowledged at the level). */
  accepted: number;
  /** Samples at or below a shard's horizon (older than the out-of-order window): refused, not stored. */
  tooOld: number;
  /** The first refused sample, for the error message. */
  firstTooOld?: { series: string; t: number; horizon: number };
}

/** Per-shard rows of a shard read. */
export type ShardRows<R> = Map<string, R[]>;

export class MetricsRouter {
  readonly log: Logger;
  readonly writerId: string;
  private readonly pools: RouterPools;
  private readonly schemaReady = new Map<string, Promise<void>>();
  private readonly knownSeries = new Map<string, Set<string>>();
  private state!: State;
  private watch?: { close(): Promise<void> };
  private lastStamp = 0;
  private closed = false;

  private constructor(private readonly o: RouterOptions) {
    this.log = (o.logger ?? pino({ name: "metrics-store", level: process.env.SCALEPLANE_LOG_LEVEL ?? "info" })).child({
      component: "router",
    });
    this.writerId =
      o.writerId ??
      `${hostname()
        .replace(/[^A-Za-z0-9._-]/g, "-")
        .slice(0, 40)}-${process.pid}-${randomBytes(3).toString("hex")}`;
    this.pools = new RouterPools(
      {
        user: o.user,
        password: o.password,
        connectTimeoutMs: o.connectTimeoutMs ?? 2000,
        statementTimeoutMs: o.statementTimeoutMs ?? 10_000,
        poolSize: o.poolSize ?? 4,
      },
      this.log,
    );
  }

  /** Loads the shard map (it must exist) and follows it. */
  static async connect(o: RouterOptions): Promise<MetricsRouter> {
    const r = new MetricsRouter(o);
    const map = await o.config.getShardMap();
    if (!map)
      throw new Error(`no shard map at ${o.config.fullKey(SHARD_MAP_KEY.name)}: the ShardedDatabase publishes it`);
    r.install(map);
    r.watch = await o.config.watch(SHARD_MAP_KEY, (m) => {
      if (m && m.epoch > r.state.map.epoch) r.install(m);
    });
    const again = await o.config.getShardMap();
    if (again && again.epoch > r.state.map.epoch) r.install(again);
    return r;
  }

  /** The config client the router follows the shard map through. */
  get config(): ConfigClient {
    return this.o.config;
  }

  /** The shard map followed. */
  get map(): ShardMap {
    return this.state.map;
  }

  private install(map: ShardMap): void {
    const ring = buildRing(map.shards, map.vnodesPerWeight);
    const oldRing = map.migration
      ? buildRing(map.migration.from.shards, map.migration.from.vnodesPerWeight)
      : undefined;
    const dual = map.migration?.phase === "dual-write";
    const readInput = dual && map.migration ? map.migration.from : map;
    const addresses = new Map<string, ShardAddress>();
    for (const s of [...(map.migration?.from.shards ?? []), ...map.shards]) {
      const reach = this.o.reach?.[s.name];
      addresses.set(s.name, { host: reach?.host ?? s.host, port: reach?.port ?? s.port, database: s.database });
    }
    this.state = {
      map,
      ring,
      ...(oldRing ? { oldRing } : {}),
      readRing: dual && oldRing ? oldRing : ring,
      readPlacer: makePlacer(readInput),
      addresses,
    };
    this.knownSeries.clear();
    this.pools.retain(new Set(addresses.keys()));
    this.log.info(
      { epoch: map.epoch, shards: map.shards.length, migration: map.migration?.phase },
      "shard map installed",
    );
  }

  /** Waits until the followed epoch is ≥ `epoch` (reading etcd while the watch lags). */
  private async awaitEpoch(epoch: number, shard: string): Promise<void> {
    const until = Date.now() + (this.o.epochWaitMs ?? 3000);
    for (;;) {
      if (this.state.map.epoch >= epoch) return;
      const m = await this.o.config.getShardMap().catch(() => undefined);
      if (m && m.epoch > this.state.map.epoch) this.install(m);
      if (this.state.map.epoch >= epoch) return;
      if (Date.now() >= until) throw new StaleEpochError(shard, this.state.map.epoch, epoch);
      await sleep(50);
    }
  }

  /** Runs `fn` on a connection to `shard`, the metrics schema ensured first. */
  run<T>(shard: string, fn: (c: PoolClient) => Promise<T>, st: State = this.state): Promise<T> {
    if (this.closed) throw new Error("MetricsRouter is closed");
    const address = st.addresses.get(shard);
    if (!address) throw new Error(`shard ${shard} has no address in shard map epoch ${st.map.epoch}`);
    const key = `${shard}@${address.host}:${address.port}/${address.database}`;
    return this.pools.run(shard, address, async (c) => {
      let ready = this.schemaReady.get(key);
      if (!ready) {
        ready = (async () => {
          const present = (await c.query<{ present: boolean }>(METRICS_SCHEMA_PRESENT_SQL)).rows[0]?.present;
          if (!present) await c.query(ENSURE_METRICS_SCHEMA_SQL);
        })();
        this.schemaReady.set(key, ready);
        ready.catch(() => this.schemaReady.delete(key));
      }
      await ready;
      return fn(c);
    });
  }

  /** The replicas of a series hash in the write placement (and the old one during a migration). */
  writeGroupsOf(h: number, level: ConsistencyLevel, st: State = this.state): AckGroup[] {
    const rf = st.map.replicationFactor;
    const now = replicasForHash(st.ring, h, rf);
    const old = st.oldRing ? replicasForHash(st.oldRing, h, st.map.migration!.from.replicationFactor) : undefined;
    return writeGroups(level, now, old);
  }

  /** The replicas a read of series hash `h` uses, owner first. */
  readReplicas(h: number, st: State = this.state): string[] {
    const rf =
      st.map.migration?.phase === "dual-write" ? st.map.migration.from.replicationFactor : st.map.replicationFactor;
    return replicasForHash(st.readRing, h, rf);
  }

  /** A write stamp: ms × 1024 + a counter, strictly increasing in this process. */
  private stamp(): number {
    const s = Math.max(Date.now() * 1024, this.lastStamp + 1);
    this.lastStamp = s;
    return s;
  }

  /**
   * Writes the samples of `batches` to every replica at the shard map's consistency (or
   * `level`), fenced by the epoch. Samples at or below a shard's horizon are refused and counted.
   * @throws QuorumUnavailableError (naming each failed shard) when a series' groups are not met;
   *   StaleEpochError when the map did not catch up with a shard's fence
   */
  async write(batches: readonly SeriesBatch[], level?: ConsistencyLevel): Promise<WriteOutcome> {
    const w = String(this.stamp());
    for (let attempt = 0; ; attempt++) {
      const st = this.state;
      const lvl = level ?? st.map.consistency;
      const perShard = new Map<string, SeriesBatch[]>();
      const groupsOf = batches.map((b) => {
        const groups = this.writeGroupsOf(b.series.h, lvl, st);
        for (const shard of targetsOf(groups)) {
          let list = perShard.get(shard);
          if (!list) perShard.set(shard, (list = []));
          list.push(b);
        }
        return groups;
      });
      const results = await Promise.all(
        [...perShard].map(async ([shard, list]) => {
          try {
            return { shard, ok: true as const, ...(await this.ingest(shard, list, w, st)) };
          } catch (e) {
            return { shard, ok: false as const, failure: { shard, ...describeFailure(e) } as ShardFailure };
          }
        }),
      );
      const stale = results.find((r) => r.ok && r.minEpoch > st.map.epoch);
      if (stale && stale.ok) {
        if (attempt === 0) {
          await this.awaitEpoch(stale.minEpoch, stale.shard);
          continue;
        }
        throw new StaleEpochError(stale.shard, st.map.epoch, stale.minEpoch);
      }
      const acked = new Set(results.filter((r) => r.ok).map((r) => r.shard));
      const failed = new Set(results.filter((r) => !r.ok).map((r) => r.shard));
      const horizon = new Map(results.flatMap((r) => (r.ok ? [[r.shard, r.horizon] as const] : [])));
      const out: WriteOutcome = { accepted: 0, tooOld: 0 };
      const unmet: AckGroup[] = [];
      batches.forEach((b, i) => {
        const groups = groupsOf[i];
        if (ackStatus(groups, acked, failed) !== "met") {
          unmet.push(...unmetGroups(groups, acked));
          return;
        }
        const hz = Math.max(...targetsOf(groups).map((s) => horizon.get(s) ?? -Infinity));
        for (const t of b.t) {
          if (t > hz) out.accepted++;
          else {
            out.tooOld++;
            out.firstTooOld ??= { series: b.series.id, t, horizon: hz };
          }
        }
      });
      if (unmet.length > 0)
        throw new QuorumUnavailableError(
          "put",
          `${unmet.length} series`,
          lvl,
          unmet.slice(0, 5).map((g) => ({ ...g, acked: g.shards.filter((s) => acked.has(s)).length })),
          results.flatMap((r) => (r.ok ? [] : [r.failure])),
        );
      return out;
    }
  }

  private async ingest(
    shard: string,
    list: readonly SeriesBatch[],
    w: string,
    st: State,
  ): Promise<{ minEpoch: number; horizon: number; inserted: number }> {
    let known = this.knownSeries.get(shard);
    if (!known) this.knownSeries.set(shard, (known = new Set()));
    const h: string[] = [];
    const ids: string[] = [];
    const ts: number[] = [];
    const vs: string[] = [];
    const newIds: string[] = [];
    const newH: number[] = [];
    const newMetric: string[] = [];
    const newLabels: string[] = [];
    for (const b of list) {
      const id = idToBigint(b.series.id);
      if (!known.has(b.series.id)) {
        newIds.push(id);
        newH.push(b.series.h);
        newMetric.push(b.series.metric);
        newLabels.push(JSON.stringify(Object.fromEntries(b.series.labels)));
      }
      const u = new Uint32Array(b.v.buffer, b.v.byteOffset, b.v.length * 2);
      for (let i = 0; i < b.t.length; i++) {
        h.push(String(b.series.h));
        ids.push(id);
        ts.push(b.t[i]);
        const lo = u[2 * i + (LITTLE_ENDIAN ? 0 : 1)];
        const hi = u[2 * i + (LITTLE_ENDIAN ? 1 : 0)];
        vs.push(BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)).toString());
      }
    }
    const r = await this.run(
      shard,
      (c) =>
        c.query<{ min_epoch: string; horizon: string; inserted: number }>(INGEST_SQL, [
          h,
          ids,
          ts,
          vs,
          w,
          st.map.epoch,
          this.writerId,
          newIds,
          newH,
          newMetric,
          newLabels,
        ]),
      st,
    );
    const row = r.rows[0];
    const minEpoch = Number(row.min_epoch);
    if (minEpoch <= st.map.epoch) for (const b of list) known.add(b.series.id);
    return { minEpoch, horizon: Number(row.horizon), inserted: row.inserted };
  }

  /**
   * Runs `fn` on every shard of the read placement at once; each replica set must have `level`
   * answers (else QuorumUnavailableError). Returns the answers by shard.
   */
  async readAll<R>(
    fn: (c: PoolClient) => Promise<R>,
    level?: ConsistencyLevel,
  ): Promise<{ results: Map<string, R>; st: State }> {
    const st = this.state;
    const lvl = level ?? st.map.consistency;
    const shards = st.readPlacer.shardNames;
    const results = new Map<string, R>();
    const failures: ShardFailure[] = [];
    await Promise.all(
      shards.map(async (shard) => {
        try {
          results.set(shard, await this.run(shard, fn, st));
        } catch (e) {
          failures.push({ shard, ...describeFailure(e) });
        }
      }),
    );
    st.readSets ??= st.readPlacer.replicaSets();
    const groups = st.readSets.map((s) => ackGroup(lvl, s));
    const acked = new Set(results.keys());
    if (ackStatus(groups, acked, new Set(failures.map((f) => f.shard))) !== "met")
      throw new QuorumUnavailableError("scan", undefined, lvl, unmetGroups(groups, acked), failures);
    return { results, st };
  }

  /**
   * Reads the given series (id and h) from `required(level)` of their replicas among `alive`,
   * one statement per shard (`fn` gets the shard's series); merges nothing (the caller does).
   */
  async readSeries<R>(
    series: readonly { id: string; h: number }[],
    alive: ReadonlySet<string>,
    fn: (c: PoolClient, ids: string[], hs: string[]) => Promise<R[]>,
    level?: ConsistencyLevel,
    st: State = this.state,
  ): Promise<ShardRows<R>> {
    const lvl = level ?? st.map.consistency;
    const plan = new Map<string, { id: string; h: number }[]>();
    for (const s of series) {
      const replicas = this.readReplicas(s.h, st);
      const need = requiredAcks(lvl, replicas.length);
      const chosen = replicas.filter((r) => alive.has(r)).slice(0, need);
      if (chosen.length < need)
        throw new QuorumUnavailableError(
          "get",
          s.id,
          lvl,
          [{ shards: replicas, required: need, acked: chosen.length }],
          replicas.filter((r) => !alive.has(r)).map((shard) => ({ shard, reason: "did not answer the series lookup" })),
        );
      for (const shard of chosen) {
        let list = plan.get(shard);
        if (!list) plan.set(shard, (list = []));
        list.push(s);
      }
    }
    const out: ShardRows<R> = new Map();
    await Promise.all(
      [...plan].map(async ([shard, list]) => {
        out.set(
          shard,
          await this.run(
            shard,
            (c) =>
              fn(
                c,
                list.map((s) => idToBigint(s.id)),
                list.map((s) => String(s.h)),
              ),
            st,
          ),
        );
      }),
    );
    return out;
  }

  /** Stops following the map and closes every connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.watch?.close().catch(() => undefined);
    await this.pools.end();
  }
}
