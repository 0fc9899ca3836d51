/**
 * The online rebalance engine: moves the sharded database from the placement in the shard map to
 * a desired one while routers keep reading and writing, and finishes the same migration when run
 * again after being killed at any point. Used by the ShardRebalance dynamic provider (during
 * `pulumi up`) and by `npm run rebalance` (outside it); the decisions (which ranges move where,
 * in which batches, and which changes are refused) are core/sharding/rebalance's, this module does the I/O.
 *
 * One run, under the fenced lease `shard-rebalance` (two rebalancers never run at once; every
 * etcd write below is fenced by it), is a loop over the stored state until it matches the desired
 * placement (docs/design/sharding.md):
 *
 * 1. no migration, placement differs: plan (a refusal throws before anything moves); create the
 *    schema on every shard; record `rebalance/active` (stage planned); CAS the map to epoch e+1
 *    with the new shards and `migration {phase: dual-write, from: old}`; raise the fence
 *    `min_epoch` to e+1 on every shard.
 * 2. phase dual-write: copy each batch's ranges to every target of the plan (every new replica,
 *    and staying ones the holders rule needs) from `rf − w + 1` old replicas merged by version
 *    (core/sharding/rebalance: they meet every write quorum of the old placement), verify each
 *    pair, recording each batch in `rebalance/<id>/progress`; then CAS to phase cutover (reads
 *    use the new owners) and raise the fence.
 * 3. phase cutover: record stage cleanup; CAS the migration away (e+3); raise the fence.
 * 4. stage cleanup (no migration in the map): delete the moved rows from the shards that no
 *    longer own them; delete the progress keys.
 *
 * Why the map is changed before the fence is raised (the fence is still raised before any copy,
 * cutover read or cleanup relies on it): a router still at the old epoch that is refused by the
 * fence reloads the map and must find the new epoch there at once, so writes never stall on a
 * fence whose map is not published; and a crash between the two leaves no shard fenced ahead of
 * the map. Safety is unchanged: the copy starts only after the fence is up on every shard, so any
 * write it could miss either committed before (the copy sees it) or carries the new epoch and is
 * dual-written.
 */
import { createHash, randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { ConsistencyLevel } from "../../core/config";
import { HASH_SPACE } from "../../core/sharding/ring";
import type { ShardMap, ShardMember } from "../../core/sharding/shard-map";
import type { ConfigClient, Leadership } from "../config-client";
import { copySlice, deleteOutside, deleteSlice, describeSlice, sliceSize, verifySlice } from "./copy";
import { failpoint } from "./failpoint";
import {
  RebalanceError,
  rowsHeldBy,
  type Placement as PlanPlacement,
  type RangeMove,
  type RowSlice,
} from "../../core/sharding/rebalance";
import { SHARD_TABLES } from "./tables";
import { planMigration, type MigrationPlan } from "./plan";
import { ACTIVE_KEY, SWEEP_KEY, progressKey, type ActiveMigration, type Placement, type Progress } from "./progress";
import { RebalanceConnections, type ShardCredentials, type ShardReach } from "./shards";
import * as shardSql from "../shard-client/sql";

/** The shard map a rebalance moves to (epoch and migration are the engine's). */
export interface DesiredShardMap extends Placement {
  readonly consistency: ConsistencyLevel;
  /** Maximum clock offset between routers and shards, in ms (the map's; absent: the routers' default). */
  readonly maxClockOffsetMs?: number;
}

/** Whether the map's settings other than the placement (level, clock bound) are the desired ones. */
function sameSettings(map: ShardMap, desired: DesiredShardMap): boolean {
  return map.consistency === desired.consistency && map.maxClockOffsetMs === desired.maxClockOffsetMs;
}

/** A progress report of a running rebalance. */
export type RebalanceEvent =
  | { kind: "info"; message: string }
  | {
      kind: "copy";
      migrationId: string;
      batchesDone: number;
      batchesTotal: number;
      rowsCopied: number;
      bytesCopied: number;
    };

/** Options of {@link runRebalance} and {@link previewRebalance}. */
export interface RebalanceOptions {
  /** The config-service client (the caller creates and closes it). */
  config: ConfigClient;
  /** The shard map to move to. */
  desired: DesiredShardMap;
  /** Database credentials of the shards. */
  credentials: ShardCredentials;
  /** How this process reaches shards whose map host/port it cannot (`name → host:port`). @default {} */
  reach?: ShardReach;
  /** Candidate id in the `shard-rebalance` election. @default `<hostname>-<pid>-<random>` */
  candidateId?: string;
  /** TTL of the lease: how long a crashed rebalancer blocks the next one, in s. @default 10 */
  leaseTtlSeconds?: number;
  /** How long to wait for the lease held by another rebalancer, in ms. @default 60000 */
  leaseWaitMs?: number;
  /** (source, target) pairs copied at once. @default 2 */
  parallel?: number;
  /** Copy throttle in rows per second; 0 = unthrottled. @default 0 */
  maxRowsPerSecond?: number;
  /** Progress reports. */
  onEvent?: (e: RebalanceEvent) => void;
  /**
   * Finds `host:port` for shards neither `reach` nor the map's host/port lets this process reach
   * (e.g. on Docker, the 127.0.0.1 port a shard container publishes): shard name → `host:port`
   * for those it finds. @default none
   */
  resolveReach?: (shards: readonly ShardMember[]) => Promise<Record<string, string>>;
}

/** What a run did. */
export interface RebalanceReport {
  /** none: already at the desired map; initialized: first map published; reconfigured: only settings changed; migrated: data moved. */
  action: "none" | "initialized" | "reconfigured" | "migrated";
  /** Epoch of the shard map when the run finished. */
  epoch: number;
  /** Ids of the migrations this run finished (a resumed one, then a new one). */
  migrations: string[];
  batches: number;
  ranges: number;
  rowsCopied: number;
  bytesCopied: number;
  /**
   * (source, target) pairs verified clean for the migrations this run finished, including pairs an
   * earlier, interrupted run verified (a run resumed after the cutover copies nothing itself).
   */
  verifiedPairs: number;
  /** Of those, pairs whose checksums differed (writes in flight) and were proven by the key-level pass. */
  keyLevelVerified: number;
  rowsDeleted: number;
  /** Shards that did not answer a probe during the run (leaving ones are worked around under the planner's rule). */
  deadShards: string[];
  /** Shards whose cleanup was skipped because they did not answer (a staying one is swept by a later run). */
  skippedCleanups: string[];
  /** Time spent in the copies themselves (COPY out → chunks inserted or merged on the target → commit), summed over pairs, in ms. */
  copyMs: number;
  /** Time spent verifying copied pairs, summed over pairs, in ms. */
  verifyMs: number;
  durationMs: number;
}

/** The election every rebalancer campaigns in. */
export const REBALANCE_ELECTION = "shard-rebalance";

/** A change the rebalance will not make (thrown before anything moves). */
export class RebalanceRefusedError extends Error {
  /**
   * @param argument - the refused argument as core/sharding/rebalance names it (`after.shards[2].port`, `after.shards`)
   * @param message - what is refused and what to do instead
   */
  constructor(
    readonly argument: string,
    message: string,
  ) {
    super(message);
    this.name = "RebalanceRefusedError";
  }
}

/** Another rebalancer holds the lease and did not release it in time. */
export class RebalanceBusyError extends Error {
  constructor(
    readonly holder: string | undefined,
    waitedMs: number,
  ) {
    super(
      `another rebalance holds the "${REBALANCE_ELECTION}" lease${holder ? ` (${holder})` : ""} and did not finish within ${waitedMs} ms; ` +
        "wait for it (it resumes where it stopped) or, if it crashed, retry after its lease expires",
    );
    this.name = "RebalanceBusyError";
  }
}

/**
 * This rebalancer lost its leadership (lease expired, e.g. while paused) or a newer one claimed
 * its shards: it stopped, and its statements are refused by etcd and by the shards. The newer
 * rebalancer finishes the migration; running again waits for it and resumes where it stopped.
 */
export class RebalanceDeposedError extends Error {
  constructor(
    readonly fencingToken: number,
    why: string,
  ) {
    super(
      `this rebalancer (fencing token ${fencingToken}) was deposed: ${why}. It stopped; a newer rebalancer holds the "${REBALANCE_ELECTION}" lease and finishes the migration (run again to wait for it)`,
    );
    this.name = "RebalanceDeposedError";
  }
}

/** Whether an error (or its cause) is a refusal by the shards' fence or etcd's (a newer rebalancer took over). */
function isDeposed(e: unknown): boolean {
  for (let x = e; x instanceof Error; x = (x as { cause?: unknown }).cause) {
    if ((x as { code?: unknown }).code === shardSql.DEPOSED_SQLSTATE || x.name === "FencingError") return true;
    if (x.message.includes(shardSql.DEPOSED_SQLSTATE) || /was deposed|is deposed/.test(x.message)) return true;
  }
  return false;
}

type MapWithMigration = ShardMap;
type Migration = NonNullable<ShardMap["migration"]>;

/**
 * The placement part of a shard map (or of a migration's old placement), with the consistency
 * level its writes were acknowledged at: the map's, or a recorded `from`'s; a `from` recorded
 * before levels were recorded counts as `one` (then every old replica is read).
 */
export function placementOf(m: Placement): Placement & { consistency: ConsistencyLevel } {
  return {
    vnodesPerWeight: m.vnodesPerWeight,
    replicationFactor: m.replicationFactor,
    shards: m.shards.map((s) => ({ ...s })),
    consistency: m.consistency ?? "one",
    ...(m.strategy && m.strategy.kind !== "hash" ? { strategy: structuredClone(m.strategy) } : {}),
  };
}

/** A placement's strategy as one string (absent = hash; directory tenants in name order). */
function strategyKey(p: Pick<PlanPlacement, "strategy">): string {
  const st = p.strategy;
  if (st === undefined || st.kind === "hash") return "hash";
  if (st.kind === "range") return JSON.stringify(st);
  return JSON.stringify([st.separator, Object.entries(st.tenants).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]);
}

const memberKey = (s: ShardMember) => JSON.stringify([s.name, s.weight, s.zone ?? null, s.host, s.port, s.database]);

/** Whether two placements hold data in the same places (shard order and consistency do not matter). */
export function samePlacement(a: Placement, b: Placement): boolean {
  if (
    strategyKey(a) !== strategyKey(b) ||
    a.vnodesPerWeight !== b.vnodesPerWeight ||
    a.replicationFactor !== b.replicationFactor ||
    a.shards.length !== b.shards.length
  )
    return false;
  const keys = new Set(a.shards.map(memberKey));
  return b.shards.every((s) => keys.has(memberKey(s)));
}

/** Every shard of two placements, by name (old entry first). */
function unionShards(a: Placement, b: Placement): ShardMember[] {
  const out = new Map<string, ShardMember>();
  for (const s of [...a.shards, ...b.shards]) if (!out.has(s.name)) out.set(s.name, s);
  return [...out.values()];
}

/** A (source, target) copy of a batch with the slice of rows it copies (of every table). */
export interface CopyPair {
  source: string;
  target: string;
  slice: RowSlice;
}

/** The key filters of a move, as one string (moves with the same filters share a slice). */
const filtersOf = (m: RangeMove) => JSON.stringify([m.keys ?? null, m.exceptKeys ?? null]);

/** The slice of `moves` (same key filters): their hash ranges, with the filters. */
function sliceOf(moves: readonly RangeMove[]): RowSlice {
  const m = moves[0];
  return {
    ranges: moves.map(({ start, end }) => ({ start, end })),
    ...(m.keys ? { keys: m.keys } : {}),
    ...(m.exceptKeys ? { exceptKeys: m.exceptKeys } : {}),
  };
}

/** Groups moves by `group` (and their key filters) into slices. */
function slicesBy(items: readonly { group: string; move: RangeMove }[]): Map<string, RowSlice> {
  const groups = new Map<string, RangeMove[]>();
  for (const { group, move } of items) {
    const k = `${group}\u0000${filtersOf(move)}`;
    const list = groups.get(k);
    if (list) list.push(move);
    else groups.set(k, [move]);
  }
  return new Map([...groups].map(([k, ms]) => [k, sliceOf(ms)]));
}

/**
 * The (source, target) pairs of a batch with the slice each copies: each copy's target reads
 * each of its sources (core/sharding/rebalance: rf − w + 1 old replicas with the target's own
 * rows, so every write quorum is met; rows merge by the table's rule). Moves with other key
 * filters (a tenant, a key range) make pairs of their own.
 */
export function copyPairs(batch: MigrationPlan["batches"][number]): CopyPair[] {
  const items = batch.moves.flatMap((m) =>
    m.copies.flatMap((c) => c.sources.map((source) => ({ group: `${source}\u0000${c.target}`, move: m }))),
  );
  return [...slicesBy(items)].map(([k, slice]) => {
    const [source, target] = k.split("\u0000");
    return { source, target, slice };
  });
}

/** The slices each shard stops holding in a batch (deleted from it after the cutover). */
export function releasedSlices(batch: MigrationPlan["batches"][number]): Array<[string, RowSlice]> {
  const items = batch.moves.flatMap((m) =>
    m.from.filter((s) => !m.to.includes(s)).map((shard) => ({ group: shard, move: m })),
  );
  return [...slicesBy(items)].map(([k, slice]) => [k.split("\u0000")[0], slice]);
}

/**
 * The digest of what a plan's batches achieve: ranges, replica lists and copy targets. Not the
 * copies' sources: they depend on which shards answer, and a batch verified from some sources is
 * as complete as from others, so a rerun that finds another shard dead keeps its done batches.
 */
function digestOf(plan: MigrationPlan): string {
  const h = createHash("sha256");
  for (const b of plan.batches)
    h.update(JSON.stringify(b.moves.map((m) => [m.start, m.end, m.from, m.to, m.copies.map((c) => c.target)])));
  return h.digest("hex").slice(0, 32);
}

/**
 * Plans computed in this process, by (from, to). Planning is pure but CPU-heavy (seconds for
 * large rings): it is done once per pair of placements, and before the lease is taken, so a long
 * synchronous computation never starves the lease's keep-alive.
 */
const planCache = new Map<string, MigrationPlan>();

/** Plans the move from one placement to another in copy batches; a refusal is a RebalanceRefusedError. */
function plan(from: PlanPlacement, to: PlanPlacement, dead: readonly string[] = []): MigrationPlan {
  const canon = (p: PlanPlacement) => [
    p.vnodesPerWeight,
    p.replicationFactor,
    p.consistency,
    strategyKey(p),
    p.shards.map(memberKey).sort(),
  ];
  const key = JSON.stringify([canon(from), canon(to), [...dead].sort()]);
  const cached = planCache.get(key);
  if (cached) return cached;
  let p: MigrationPlan;
  try {
    p = planMigration(from, to, { dead });
  } catch (e) {
    if (!(e instanceof RebalanceError)) throw e;
    throw new RebalanceRefusedError(e.argument, `shard change refused before anything moved: ${e.message}`);
  }
  if (planCache.size >= 8) planCache.delete(planCache.keys().next().value!);
  planCache.set(key, p);
  return p;
}

/**
 * Computes (and caches) the plans the stored state will need, before the lease: a refused change
 * is reported at once, and no planning blocks the event loop while the lease must be kept alive.
 */
async function planAhead(options: RebalanceOptions): Promise<void> {
  const { config, desired } = options;
  const [map, active] = await Promise.all([config.getShardMap(), config.get(ACTIVE_KEY)]);
  if (!map) return;
  const pairs: [PlanPlacement, PlanPlacement][] = [];
  if (map.migration) pairs.push([placementOf(map.migration.from), placementOf(map)]);
  else if (active?.stage === "cleanup") pairs.push([placementOf(active.from), placementOf(active.to)]);
  if (!samePlacement(map, desired) || !sameSettings(map, desired)) pairs.push([placementOf(map), placementOf(desired)]);
  if (pairs.length === 0) return;
  // The run plans with the shards that do not answer (a failed shard being replaced): probe them
  // now so that plan is in the cache too (a large change plans for seconds, which under the lease
  // would starve its keep-alive).
  const dead: string[] = [];
  const pools = new RebalanceConnections(options.credentials, options.reach);
  try {
    const shards = pairs.flatMap(([a, b]) => unionShards(a as Placement, b as Placement));
    await connectTo(pools, [...new Map(shards.map((s) => [s.name, s])).values()], options.resolveReach);
    const names = [...new Set(shards.map((s) => s.name))];
    const answers = await Promise.all(
      names.map((n) =>
        pools.ping(n, PROBE_TIMEOUT_MS).then(
          () => true,
          () => false,
        ),
      ),
    );
    names.forEach((n, i) => answers[i] || dead.push(n));
  } catch {
    // Probing is only a hint for the cache: the run probes again under the lease.
  } finally {
    await pools.close();
  }
  for (const [from, to] of pairs) {
    plan(from, to);
    const silent = dead.filter((n) => from.shards.some((s) => s.name === n) || to.shards.some((s) => s.name === n));
    if (silent.length > 0)
      try {
        plan(from, to, silent);
      } catch {
        // A refusal with these shards silent is the run's to report, after it probes them again.
      }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The id of the etcd cluster behind `config` (from a response header; the fencing tokens' scope). */
async function etcdClusterId(config: ConfigClient): Promise<string> {
  const res = await config.call("read the etcd cluster id", () =>
    config.etcd.get(config.fullKey("shard-map")).options(config.callOptions()).exec(),
  );
  return String(res.header.cluster_id);
}

/** Registers shards with the connections, resolving where to reach those `reach` does not name. */
async function connectTo(
  pools: RebalanceConnections,
  shards: readonly ShardMember[],
  resolveReach: RebalanceOptions["resolveReach"],
): Promise<void> {
  pools.add(shards);
  const missing = shards.filter((s) => !pools.reaches(s.name));
  if (missing.length === 0 || !resolveReach) return;
  for (const [name, hostPort] of Object.entries(await resolveReach(missing))) pools.reachAt(name, hostPort);
}

/** Runs `fn` over `items` with at most `limit` at once; the first failure rejects (after the rest settle). */
async function eachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (e) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure !== undefined) throw failure;
}

/** How many times a pair is copied again when its verification finds rows missing. */
const RECOPY_ATTEMPTS = 3;

/** How long a shard may take to answer a liveness probe before it counts as dead, in ms. */
const PROBE_TIMEOUT_MS = 4000;

/** One run's context. */
class Run {
  readonly report: RebalanceReport = {
    action: "none",
    epoch: 0,
    migrations: [],
    batches: 0,
    ranges: 0,
    rowsCopied: 0,
    bytesCopied: 0,
    verifiedPairs: 0,
    keyLevelVerified: 0,
    rowsDeleted: 0,
    deadShards: [],
    skippedCleanups: [],
    copyMs: 0,
    verifyMs: 0,
    durationMs: 0,
  };

  /** Migrations whose copy this run went through (and counted the verified pairs of). */
  readonly copied = new Set<string>();
  /** Shards that did not answer their last probe (probed again at every step: one that is back is used again). */
  readonly dead = new Set<string>();
  /** Shards this run claimed with its fencing token. */
  private readonly claimed = new Set<string>();
  /** Aborted (with a RebalanceDeposedError) when the lease behind the run's leadership is lost. */
  readonly lease = new AbortController();

  constructor(
    readonly o: RebalanceOptions,
    readonly lead: Leadership,
    readonly pools: RebalanceConnections,
    /** Id of the etcd cluster that issued the fencing token. */
    readonly cluster: string,
  ) {}

  info(message: string): void {
    this.o.onEvent?.({ kind: "info", message });
  }

  /** Registers shards with the connections (see {@link connectTo}). */
  know(shards: readonly ShardMember[]): Promise<void> {
    return connectTo(this.pools, shards, this.o.resolveReach);
  }

  /**
   * Probes shards (a short connect and `SELECT 1`); records which do not answer and returns them.
   * A shard counts as silent only when a second probe fails too: one answer slower than the
   * timeout on a loaded machine is not a dead shard (and would refuse a change for nothing).
   */
  async probe(names: readonly string[]): Promise<Set<string>> {
    const attempt = (n: string) =>
      this.pools.ping(n, PROBE_TIMEOUT_MS).then(
        () => undefined,
        (e: Error) => e,
      );
    const first = await Promise.all(names.map(attempt));
    const outcomes = await Promise.all(first.map((e, i) => (e === undefined ? undefined : attempt(names[i]))));
    const silent = new Set<string>();
    outcomes.forEach((e, i) => {
      const name = names[i];
      if (e === undefined) {
        if (this.dead.delete(name)) this.info(`shard ${name} answers again`);
        return;
      }
      silent.add(name);
      if (!this.dead.has(name)) this.info(`shard ${name} does not answer (${e.message})`);
      this.dead.add(name);
      if (!this.report.deadShards.includes(name)) this.report.deadShards.push(name);
    });
    return silent;
  }

  /** The answering shards among `names` (as of their last probe). */
  live(names: readonly string[]): string[] {
    return names.filter((n) => !this.dead.has(n));
  }

  /** Throws the run's RebalanceDeposedError once its lease is lost: the run stops at its next step. */
  checkLease(): void {
    if (this.lease.signal.aborted) throw this.lease.signal.reason;
  }

  private async onAll(shards: readonly string[], what: string, fn: (shard: string) => Promise<unknown>): Promise<void> {
    this.checkLease();
    const results = await Promise.allSettled(shards.map(fn));
    const failed = results.flatMap((r, i) =>
      r.status === "rejected" ? [`${shards[i]}: ${(r.reason as Error).message}`] : [],
    );
    if (failed.length > 0) throw new Error(`${what} failed on ${failed.length} shard(s): ${failed.join("; ")}`);
  }

  /** The shard schema (the router's table and the fences), then every other described table with its fence trigger. */
  ensureSchema(shards: readonly string[]): Promise<void> {
    return this.onAll(shards, "creating the shard schema", async (s) => {
      await this.pools.query(s, shardSql.ENSURE_SCHEMA_SQL);
      for (const t of SHARD_TABLES)
        if (t.schemaSql !== "") {
          await this.pools.query(s, t.schemaSql);
          await this.pools.query(s, shardSql.fenceTriggerSql(t.name));
        }
    });
  }

  /**
   * Makes the shards ready for this run's statements: the schema (the fence trigger with it), then
   * the claim with the run's fencing token, once per shard per run. From the claim on, statements
   * of an older rebalancer on that shard fail, and this run's fail once a newer one claims it.
   */
  async prepare(shards: readonly string[]): Promise<void> {
    const todo = shards.filter((s) => !this.claimed.has(s));
    if (todo.length === 0) return;
    await this.ensureSchema(todo);
    await this.onAll(todo, `claiming the shards with fencing token ${this.lead.fencingToken}`, (s) =>
      this.pools.query(s, shardSql.CLAIM_REBALANCER_SQL, [this.lead.fencingToken, this.cluster]),
    );
    for (const s of todo) this.claimed.add(s);
  }

  raiseFence(shards: readonly string[], epoch: number): Promise<void> {
    return this.onAll(shards, `raising the epoch fence to ${epoch}`, (s) =>
      this.pools.query(s, shardSql.RAISE_FENCE_SQL, [epoch]),
    );
  }

  async casMap(
    map: MapWithMigration,
    mutate: (m: MapWithMigration) => MapWithMigration,
    why: string,
  ): Promise<MapWithMigration> {
    this.checkLease();
    const next = await this.o.config.updateShardMap(map.epoch, mutate, { fence: this.lead });
    this.info(`shard map epoch ${map.epoch} → ${next.epoch}: ${why}`);
    this.report.epoch = next.epoch;
    return next;
  }

  /** `m` with the desired settings and placement `to` (its strategy too: none is the hash ring). */
  desiredMap(m: MapWithMigration, to: Placement): MapWithMigration {
    const { strategy: _old, ...rest } = { ...m, ...this.o.desired, shards: to.shards };
    return to.strategy ? { ...rest, strategy: to.strategy } : rest;
  }

  /** Step 1: probe, plan (a refusal throws here, before anything moves), record, publish the migration, fence. */
  async start(map: MapWithMigration): Promise<void> {
    const from = placementOf(map);
    const to = placementOf(this.o.desired);
    const all = unionShards(from, to);
    await this.know(all);
    await this.probe(all.map((s) => s.name));
    const p = plan(from, to, [...this.dead]);
    const moves = p.batches.reduce((n, b) => n + b.moves.length, 0);
    if (moves === 0) {
      // No replica needs a copy (e.g. a weaker consistency level): publish the map, move nothing.
      await this.casMap(map, (m) => this.desiredMap(m, to), "settings changed, no data moves");
      if (this.report.action === "none") this.report.action = "reconfigured";
      return;
    }
    const live = this.live(all.map((s) => s.name));
    await this.prepare(live);
    const id = `${new Date()
      .toISOString()
      .replace(/[-:.TZ]/g, "")
      .slice(0, 14)}-${randomBytes(4).toString("hex")}`;
    const active: ActiveMigration = {
      id,
      stage: "planned",
      from,
      to,
      planDigest: digestOf(p),
      startedAt: new Date().toISOString(),
    };
    await this.lead.fencedPut(ACTIVE_KEY, active);
    failpoint("rebalance.after-plan");
    this.info(
      `migration ${id}: ${from.shards.length} → ${to.shards.length} shards, ${moves} range move(s) in ${p.batches.length} batch(es)` +
        (p.plan.dead.length > 0 ? `; ${p.plan.dead.join(", ")} do(es) not answer and leave(s) unread` : ""),
    );
    await this.raiseFence(live, map.epoch);
    const next = await this.casMap(
      map,
      (m) => ({ ...this.desiredMap(m, to), migration: { id, phase: "dual-write", from } }),
      `migration ${id} published, routers dual-write`,
    );
    failpoint("rebalance.after-dual-write-cas");
    await this.raiseFence(live, next.epoch);
  }

  /** Steps 2 and 3 for the migration in the map. */
  async advance(map: MapWithMigration, mig: Migration, active: ActiveMigration | undefined): Promise<void> {
    const from = placementOf(mig.from);
    const to = placementOf(map);
    const shards = unionShards(from, to);
    const all = shards.map((s) => s.name);
    await this.know(shards);
    await this.probe(all);
    // Dead shards change the copies' sources only: the digest (and the batches done) stay.
    const whole = plan(from, to);
    const digest = digestOf(whole);
    if (!active || active.id !== mig.id) {
      // The record is written before the map changes; rebuild it if it was removed by hand.
      active = { id: mig.id, stage: "copying", from, to, planDigest: digest, startedAt: new Date().toISOString() };
      await this.lead.fencedPut(ACTIVE_KEY, active);
    }
    if (!this.report.migrations.includes(mig.id)) this.report.migrations.push(mig.id);
    this.report.action = "migrated";
    if (mig.phase === "dual-write") {
      // A staying shard that does not answer, or too few answering sources, is refused here.
      const p = plan(from, to, [...this.dead]);
      const live = this.live(all);
      await this.prepare(live);
      // Idempotent; repairs a crash between the map change and the fence.
      await this.raiseFence(live, map.epoch);
      await this.copyAll(mig.id, from, to, p, digest);
      failpoint("rebalance.before-cutover-cas");
      // Again: a shard that answers again since (a dead leaving one) gets the fence before the switch.
      await this.prepare(this.live(all));
      await this.raiseFence(this.live(all), map.epoch);
      const next = await this.casMap(
        map,
        (m) => ({ ...m, migration: { ...m.migration!, phase: "cutover" } }),
        `migration ${mig.id} cut over, reads use the new shards`,
      );
      failpoint("rebalance.after-cutover-cas");
      await this.raiseFence(this.live(all), next.epoch);
      failpoint("rebalance.after-cutover");
      return;
    }
    // phase cutover: remember the cleanup, then end the migration in the map. A leaving shard that
    // died after the copy is not needed any more; a staying one is (its fence must be raised).
    const deadStaying = to.shards.filter((s) => this.dead.has(s.name)).map((s) => s.name);
    if (deadStaying.length > 0)
      throw new Error(
        `migration ${mig.id}: shard(s) ${deadStaying.join(", ")} of the new placement do not answer; the migration completes once they do (run again)`,
      );
    if (!this.copied.has(mig.id)) {
      // Copied and verified by an earlier run that was killed after the cutover.
      const recorded = await this.o.config.get(progressKey(mig.id));
      if (recorded?.planDigest === digest) this.report.verifiedPairs += recorded.verifiedPairs ?? 0;
    }
    // Before e+3 (writes to the new owners only) no router may be left at e+1 (reading the old owners).
    await this.prepare(this.live(all));
    await this.raiseFence(this.live(all), map.epoch);
    await this.lead.fencedPut(ACTIVE_KEY, { ...active, stage: "cleanup" });
    failpoint("rebalance.after-cleanup-record");
    const next = await this.casMap(
      map,
      (m) => {
        const { migration: _done, ...rest } = m;
        return rest;
      },
      `migration ${mig.id} complete, only the new shards serve`,
    );
    failpoint("rebalance.after-complete-cas");
    await this.raiseFence(this.live(all), next.epoch);
  }

  /**
   * Copies and verifies every batch not yet recorded as done. A pair that fails because a shard
   * stopped answering makes the run probe the batch's shards and plan again without the silent
   * ones (other sources, same batches; refused when the rule no longer holds), then redo the batch.
   */
  async copyAll(
    id: string,
    from: PlanPlacement,
    to: PlanPlacement,
    planned: MigrationPlan,
    digest: string,
  ): Promise<void> {
    let p = planned;
    const key = progressKey(id);
    const stored = await this.o.config.get(key);
    const progress: Progress =
      stored && stored.planDigest === digest ? stored : { planDigest: digest, done: [], rowsCopied: 0, bytesCopied: 0 };
    const done = new Set(progress.done);
    const total = p.batches.length;
    this.copied.add(id);
    this.report.verifiedPairs += progress.verifiedPairs ?? 0;
    if (done.size > 0)
      this.info(`migration ${id}: resuming, ${done.size}/${total} batch(es) already copied and verified`);
    const emit = () =>
      this.o.onEvent?.({
        kind: "copy",
        migrationId: id,
        batchesDone: done.size,
        batchesTotal: total,
        rowsCopied: progress.rowsCopied,
        bytesCopied: progress.bytesCopied,
      });
    emit();
    const throttle = this.o.maxRowsPerSecond ?? 0;
    for (let i = 0; i < total; i++) {
      if (done.has(i)) continue;
      this.checkLease();
      const started = Date.now();
      let outcome: { rows: number; bytes: number; verified: number };
      for (;;) {
        try {
          outcome = await this.copyBatch(p.batches[i]);
          break;
        } catch (e) {
          this.checkLease();
          if (isDeposed(e)) throw e;
          const involved = [...new Set(copyPairs(p.batches[i]).flatMap((x) => [x.source, x.target]))];
          const silent = await this.probe(this.live(involved));
          if (silent.size === 0) throw e;
          this.info(
            `migration ${id}: batch ${i + 1}/${total} stopped (${(e as Error).message}); planning again without ${[...silent].join(", ")}`,
          );
          p = plan(from, to, [...this.dead]);
        }
      }
      const batch = p.batches[i];
      this.report.batches++;
      this.report.ranges += batch.moves.length;
      this.report.rowsCopied += outcome.rows;
      this.report.bytesCopied += outcome.bytes;
      this.report.verifiedPairs += outcome.verified;
      done.add(i);
      progress.done = [...done].sort((a, b) => a - b);
      progress.rowsCopied += outcome.rows;
      progress.bytesCopied += outcome.bytes;
      progress.verifiedPairs = (progress.verifiedPairs ?? 0) + outcome.verified;
      await this.lead.fencedPut(key, progress);
      emit();
      failpoint("rebalance.after-batch");
      if (throttle > 0) {
        const due = (outcome.rows / throttle) * 1000 - (Date.now() - started);
        if (due > 0) await sleep(due);
      }
    }
  }

  /** Copies and verifies one batch's pairs: targets in parallel, the pairs into one target in turn. */
  private async copyBatch(
    batch: MigrationPlan["batches"][number],
  ): Promise<{ rows: number; bytes: number; verified: number }> {
    let rows = 0;
    let bytes = 0;
    let verified = 0;
    // Pairs into one target run one after the other (they merge the same keys); targets in parallel.
    const byTarget = new Map<string, CopyPair[]>();
    for (const p of copyPairs(batch)) byTarget.set(p.target, [...(byTarget.get(p.target) ?? []), p]);
    await eachLimit([...byTarget.values()], Math.max(1, this.o.parallel ?? 2), (pairs) =>
      eachLimit(pairs, 1, async ({ source, target, slice }) => {
        let pairClean = true;
        for (const table of SHARD_TABLES)
          for (let attempt = 1; ; attempt++) {
            const copyStarted = performance.now();
            const c = await copySlice(this.pools, table, source, target, slice, this.lease.signal);
            const verifyStarted = performance.now();
            this.report.copyMs += verifyStarted - copyStarted;
            rows += c.rows;
            bytes += c.bytes;
            const v = await verifySlice(this.pools, table, source, target, slice);
            this.report.verifyMs += performance.now() - verifyStarted;
            if (v.clean) {
              if (!v.checksumsMatch) pairClean = false;
              break;
            }
            const what = `verification of ${describeSlice(table, slice)} ${source} → ${target}: ${v.missing} row(s) missing, ${v.older} older on ${target} (e.g. ${v.sample.map((k) => JSON.stringify(k)).join(", ")})`;
            if (attempt >= RECOPY_ATTEMPTS) throw new Error(`${what}; still after ${attempt} copies`);
            this.info(`${what}; copying again`);
          }
        verified++;
        if (!pairClean) this.report.keyLevelVerified++;
      }),
    );
    return { rows, bytes, verified };
  }

  /**
   * Step 4: delete the moved rows from the shards that no longer own them. A shard that does not
   * answer is skipped and the run goes on: a leaving one is out of the map (its rows are of no
   * use to anyone), a staying one is recorded and swept by a later run once it answers.
   */
  async cleanup(map: MapWithMigration, active: ActiveMigration): Promise<void> {
    const shards = unionShards(active.from, active.to);
    const all = shards.map((s) => s.name);
    await this.know(shards);
    await this.probe(all);
    if (!this.report.migrations.includes(active.id)) this.report.migrations.push(active.id);
    this.report.action = "migrated";
    await this.prepare(this.live(all));
    await this.raiseFence(this.live(all), map.epoch);
    failpoint("rebalance.before-cleanup");
    const p = plan(placementOf(active.from), placementOf(active.to));
    const staying = new Set(map.shards.map((s) => s.name));
    const sweepLater = new Set<string>();
    for (const batch of p.batches) {
      const released = releasedSlices(batch).filter(([shard]) => {
        if (!this.dead.has(shard)) return true;
        if (staying.has(shard)) sweepLater.add(shard);
        if (!this.report.skippedCleanups.includes(shard)) {
          this.report.skippedCleanups.push(shard);
          this.info(
            staying.has(shard)
              ? `shard ${shard} does not answer: its moved rows are deleted by a later run once it does`
              : `leaving shard ${shard} does not answer: its copies of the moved rows are left on it (it is out of the shard map)`,
          );
        }
        return false;
      });
      await eachLimit(released, Math.max(1, this.o.parallel ?? 2), async ([shard, slice]) => {
        for (const table of SHARD_TABLES) {
          this.checkLease();
          this.report.rowsDeleted += await deleteSlice(this.pools, table, shard, slice);
        }
        failpoint("rebalance.in-cleanup");
      });
    }
    this.info(`migration ${active.id}: ${this.report.rowsDeleted} moved row(s) deleted from their old shards`);
    failpoint("rebalance.after-cleanup");
    if (sweepLater.size > 0) {
      const pending = (await this.o.config.get(SWEEP_KEY))?.shards ?? [];
      await this.lead.fencedPut(SWEEP_KEY, { shards: [...new Set([...pending, ...sweepLater])].sort() });
    }
    await this.lead.fencedDelete(progressKey(active.id));
    await this.lead.fencedDelete(ACTIVE_KEY);
  }

  /**
   * The sweeps earlier runs could not do (a staying shard that did not answer at its cleanup):
   * each such shard that answers now loses every row outside the ranges it holds in the current
   * placement (no migration is in flight, and the fence is at the map's epoch, so no router or
   * rebalancer writes there). A shard out of the map is forgotten; one still silent stays recorded.
   */
  async sweep(map: MapWithMigration, shards: readonly string[]): Promise<void> {
    const current = placementOf(map);
    const inMap = shards.filter((s) => map.shards.some((m) => m.name === s));
    await this.know(map.shards);
    await this.probe(inMap);
    const now = this.live(inMap);
    await this.prepare(now);
    await this.raiseFence(now, map.epoch);
    for (const shard of now) {
      const held = rowsHeldBy(current, shard);
      let deleted = 0;
      for (const table of SHARD_TABLES) deleted += await deleteOutside(this.pools, table, shard, held);
      this.report.rowsDeleted += deleted;
      this.info(`shard ${shard} swept: ${deleted} row(s) outside what it holds deleted (left by a cleanup it missed)`);
    }
    const left = inMap.filter((s) => this.dead.has(s));
    if (left.length > 0) await this.lead.fencedPut(SWEEP_KEY, { shards: left });
    else await this.lead.fencedDelete(SWEEP_KEY);
  }
}

/** Most state transitions one run makes (a resumed migration and a new one take at most 8). */
const MAX_STEPS = 16;

/**
 * Moves the database to `options.desired`, resuming any migration a previous run left; resolves
 * when the shard map is at the desired placement with no migration and no cleanup pending.
 * Throws RebalanceRefusedError (before anything moves) for a data-losing change and
 * RebalanceBusyError when another rebalancer keeps the lease.
 */
export async function runRebalance(options: RebalanceOptions): Promise<RebalanceReport> {
  const started = Date.now();
  const { config } = options;
  const waitMs = options.leaseWaitMs ?? 60_000;
  const candidate = options.candidateId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
  await planAhead(options);
  // Fencing tokens are revisions of one etcd cluster: the shards compare them within its id.
  const cluster = await etcdClusterId(config);
  let lead: Leadership;
  try {
    lead = await config.campaign(REBALANCE_ELECTION, candidate, {
      ttlSeconds: options.leaseTtlSeconds ?? 10,
      timeoutMs: waitMs,
    });
  } catch (e) {
    if (/not elected within/.test((e as Error).message))
      throw new RebalanceBusyError(await config.leader(REBALANCE_ELECTION).catch(() => undefined), waitMs);
    throw e;
  }
  const pools = new RebalanceConnections(options.credentials, options.reach, {
    fence: { cluster, token: lead.fencingToken },
  });
  const run = new Run(options, lead, pools, cluster);
  // Lease lost (expired while paused, partitioned): stop at the next step. Whatever this run still
  // has in flight is refused by etcd (fenced writes) and by the shards (the fence trigger) once
  // the next rebalancer claims them.
  lead.onLost((e) => {
    run.info(`lease lost (${e.message}): stopping`);
    run.lease.abort(new RebalanceDeposedError(lead.fencingToken, e.message));
  });
  let swept = false;
  try {
    for (let step = 0; step < MAX_STEPS; step++) {
      const map = await config.getShardMap();
      if (!map) {
        const { created, map: stored } = await config.initShardMap({ epoch: 0, ...options.desired });
        if (created) {
          await run.know(options.desired.shards);
          await run.prepare(options.desired.shards.map((s) => s.name));
          run.report.action = "initialized";
          run.info(`shard map published at epoch 0 with ${options.desired.shards.length} shard(s)`);
        }
        run.report.epoch = stored.epoch;
        continue;
      }
      run.report.epoch = map.epoch;
      const active = await config.get(ACTIVE_KEY);
      if (map.migration) {
        await run.advance(map, map.migration, active);
        continue;
      }
      if (active?.stage === "cleanup") {
        await run.cleanup(map, active);
        continue;
      }
      if (active) {
        // Recorded but never published (the run died before its CAS): nothing moved; forget it.
        run.info(`migration ${active.id} was planned but never started; discarding it`);
        await lead.fencedDelete(ACTIVE_KEY);
        continue;
      }
      if (!swept) {
        // Once per run: shards an earlier cleanup could not reach.
        swept = true;
        const pending = await config.get(SWEEP_KEY);
        if (pending && pending.shards.length > 0) await run.sweep(map, pending.shards);
        continue;
      }
      if (samePlacement(map, options.desired) && sameSettings(map, options.desired)) {
        run.report.durationMs = Date.now() - started;
        run.report.copyMs = Math.round(run.report.copyMs);
        run.report.verifyMs = Math.round(run.report.verifyMs);
        return run.report;
      }
      await run.start(map);
    }
    throw new Error(`rebalance did not converge within ${MAX_STEPS} steps (is another tool changing the shard map?)`);
  } catch (e) {
    if (run.lease.signal.aborted) throw run.lease.signal.reason;
    if (isDeposed(e)) throw new RebalanceDeposedError(lead.fencingToken, (e as Error).message);
    throw e;
  } finally {
    await pools.close();
    await lead.resign().catch(() => undefined);
  }
}

/** One (source, target) copy of a dry-run plan with its size estimated on the source. */
export interface PlannedCopy {
  batch: number;
  source: string;
  target: string;
  ranges: number;
  /** Key ranges the copy is limited to (a key range of the range strategy, a tenant), when it is. */
  keys?: number;
  /** Share of the hash space the ranges cover (of the keys they are limited to, when they are). */
  share: number;
  rows: number;
  bytes: number;
}

/** What a rebalance would do (no lease, no writes). */
export interface RebalancePreview {
  /** none: nothing to do; initialize: no map yet; reconfigure: settings only; resume: a migration is in flight; migrate: data would move. */
  action: "none" | "initialize" | "reconfigure" | "resume" | "migrate";
  epoch?: number;
  migrationId?: string;
  from?: Placement;
  to: Placement;
  batches: number;
  copies: PlannedCopy[];
  rows: number;
  bytes: number;
}

/**
 * The plan of a rebalance to `options.desired` with rows and bytes estimated on the source
 * shards: read-only (no lease, no etcd or shard writes). A refused change throws
 * RebalanceRefusedError as the real run would.
 */
export async function previewRebalance(options: Omit<RebalanceOptions, "onEvent">): Promise<RebalancePreview> {
  const map = await options.config.getShardMap();
  const to = placementOf(options.desired);
  if (!map) return { action: "initialize", to, batches: 0, copies: [], rows: 0, bytes: 0 };
  const from = map.migration ? placementOf(map.migration.from) : placementOf(map);
  const target = map.migration ? placementOf(map) : to;
  const same = samePlacement(from, to) && sameSettings(map, options.desired);
  const p = map.migration || !same ? plan(from, target) : undefined;
  if (!p || (!map.migration && p.batches.length === 0))
    return { action: same ? "none" : "reconfigure", epoch: map.epoch, to, batches: 0, copies: [], rows: 0, bytes: 0 };
  const pools = new RebalanceConnections(options.credentials, options.reach);
  await connectTo(pools, unionShards(from, target), options.resolveReach);
  try {
    const copies: PlannedCopy[] = [];
    for (let b = 0; b < p.batches.length; b++)
      for (const pair of copyPairs(p.batches[b])) {
        let rows = 0;
        let bytes = 0;
        for (const table of SHARD_TABLES) {
          const size = await sliceSize(pools, table, pair.source, pair.slice);
          rows += size.rows;
          bytes += size.bytes;
        }
        const share = pair.slice.ranges.reduce((n, r) => n + (r.end - r.start), 0) / HASH_SPACE;
        copies.push({
          batch: b,
          source: pair.source,
          target: pair.target,
          ranges: pair.slice.ranges.length,
          ...(pair.slice.keys ? { keys: pair.slice.keys.length } : {}),
          share,
          rows,
          bytes,
        });
      }
    return {
      action: map.migration ? "resume" : "migrate",
      epoch: map.epoch,
      ...(map.migration ? { migrationId: map.migration.id } : {}),
      from,
      to: target,
      batches: p.batches.length,
      copies,
      rows: copies.reduce((n, c) => n + c.rows, 0),
      bytes: copies.reduce((n, c) => n + c.bytes, 0),
    };
  } finally {
    await pools.close();
  }
}
