/**
 * Shared by the data layer's chaos tests (shard-failpoints, shard-faults): real PostgreSQL
 * shards and a real etcd, shard clients whose every operation is recorded in a history
 * (test/support/kv-history.ts), a rebalancer run in its own process (./rebalancer-child.ts) that
 * a test kills at a failpoint, pauses or lets finish, and the final raw contents of the shards
 * the history is checked against.
 *
 * The workload: each logical client (its own ShardClient, so its own writer id) loops over a
 * small key set: 40 % reads (half of them of a key it wrote last, so read-your-writes is
 * exercised), 15 % deletes, 45 % puts of a value unique to the client (`<client>:<seq>`), with a
 * short pause between operations (bounded traffic on loopback). Several clients write the same
 * keys, so versions, not only one writer's order, decide.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import pino from "pino";
import { quorum } from "../../core/etcd/spec";
import { makePlacer } from "../../core/sharding/placement";
import type { ShardMap } from "../../core/sharding/shard-map";
import { ConfigClient } from "../../runtime/config-client";
import { ShardClient, type ShardClientOptions } from "../../runtime/shard-client";
import {
  RebalanceDeposedError,
  runRebalance,
  type DesiredShardMap,
  type RebalanceOptions,
  type RebalanceReport,
} from "../../runtime/rebalance";
import { startLocalEtcd, type LocalEtcd } from "../support/etcd-cluster";
import {
  checkKvHistory,
  formatViolations,
  KvHistory,
  type FinalState,
  type KvCheckResult,
  type RawRow,
} from "../support/kv-history";
import { startPgCluster, type PgCluster, type PgInstance } from "../support/pg-cluster";
import { shardMapOf } from "../integration/shard-rebalance/support";

export const silent = pino({ level: "silent" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** etcd, the shards, a config client on this file's own prefix, the history. */
export interface ChaosEnv {
  readonly etcd: LocalEtcd;
  readonly cluster: PgCluster;
  readonly config: ConfigClient;
  readonly prefix: string;
  readonly history: KvHistory;
  /** Shard clients made so far (closed by stop). */
  readonly clients: ShardClient[];
  /** The workload's clients (one shard client each), made at the start. */
  readonly workers: { name: string; client: ShardClient }[];
  stop(): Promise<void>;
}

/**
 * Starts etcd and `shards` PostgreSQL instances, publishes the first shard map (the instances
 * `initial`, by index) and connects a workload client per name in `workers`.
 */
export async function startChaosEnv(
  name: string,
  shards: number,
  initial: readonly number[],
  workers: readonly string[],
): Promise<ChaosEnv> {
  const [etcd, cluster] = await Promise.all([
    startLocalEtcd(name),
    startPgCluster(shards, { namePrefix: name, startTimeoutMs: 60_000 }),
  ]);
  const prefix = `/${name}-${process.pid}/`;
  const config = ConfigClient.create({ endpoints: [etcd.endpoint], prefix, deadlineMs: 10_000, logger: silent });
  const clients: ShardClient[] = [];
  const env: ChaosEnv = {
    etcd,
    cluster,
    config,
    prefix,
    history: new KvHistory(),
    clients,
    workers: [],
    async stop() {
      await Promise.all(clients.map((c) => c.close(1000).catch(() => undefined)));
      config.close();
      await Promise.all([cluster.cleanup(), etcd.stop()]);
    },
  };
  const first = await rebalanceHere(env, desiredOf(env, namesOf(env, initial)));
  if (first.action !== "initialized") throw new Error(`the first shard map was not published: ${first.action}`);
  for (const w of workers) env.workers.push({ name: w, client: await shardClient(env) });
  return env;
}

/** The desired map of some of the cluster's instances: rf 3, quorum, 16 virtual nodes per weight (quick to plan). */
export function desiredOf(env: ChaosEnv, names: readonly string[]): DesiredShardMap {
  const instances = names.map((n) => env.cluster.instances.find((i) => i.name === n)!);
  return shardMapOf(instances, 3, { vnodes: 16, consistency: "quorum" });
}

/** Instance names by index. */
export const namesOf = (env: ChaosEnv, indexes: readonly number[]) => indexes.map((i) => env.cluster.instances[i].name);

/** Runs the rebalance in this process to `desired` (a rerun after a kill, or a plain run). */
export async function rebalanceHere(
  env: ChaosEnv,
  desired: DesiredShardMap,
  extra: Partial<RebalanceOptions> = {},
): Promise<RebalanceReport> {
  const log: string[] = [];
  // A run whose lease expired (its keep-alives starved on a loaded CI machine) stops deposed and
  // says "run again": what an operator does, and a resumed run must finish the migration. Bounded.
  for (let attempt = 1; ; attempt++) {
    try {
      return await runRebalance({
        config: env.config,
        desired,
        credentials: { user: env.cluster.user, password: env.cluster.password },
        // the default 10 s lease: under a loaded CI a 2 s one can expire between keep-alives
        leaseWaitMs: 60_000,
        ...extra,
        onEvent: (e) => {
          if (e.kind === "info") log.push(e.message);
          extra.onEvent?.(e);
        },
      });
    } catch (e) {
      if (e instanceof RebalanceDeposedError && attempt < 3) {
        log.push(`attempt ${attempt} deposed (${e.message}); running again`);
        continue;
      }
      // what the run said before it failed, for the failure report
      (e as Error).message += `\nrebalance log:\n${log.join("\n")}`;
      throw e;
    }
  }
}

/** A shard client of the workload (connect timeouts short enough that a dead shard costs little). */
export async function shardClient(env: ChaosEnv, extra: Partial<ShardClientOptions> = {}): Promise<ShardClient> {
  const c = await ShardClient.connect({
    config: env.config,
    user: env.cluster.user,
    password: env.cluster.password,
    logger: silent,
    statementTimeoutMs: 5000,
    connectTimeoutMs: 3000,
    epochWaitMs: 10_000,
    poolSize: 2,
    ...extra,
  });
  env.clients.push(c);
  return c;
}

/** A rebalancer process (./rebalancer-child.ts). */
export interface RebalancerProcess {
  readonly pid: number;
  /** stdout lines so far (JSON events, then `report <json>`). */
  readonly lines: string[];
  /** Resolves when a stdout line matches (rejects after `timeoutMs` or when the process exits first). */
  waitForLine(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Resolves at exit (bounded by `timeoutMs`, after which the process is killed). */
  exited(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  signal(sig: NodeJS.Signals): void;
}

const CHILD = join(__dirname, "rebalancer-child.ts");

/** Starts a rebalancer process moving to `desired`; `extraEnv` e.g. `SCALEPLANE_FAILPOINTS`, `LEASE_TTL`, `MAX_ROWS_PER_SECOND`. */
export function spawnRebalancer(
  env: ChaosEnv,
  desired: DesiredShardMap,
  extraEnv: Record<string, string> = {},
): RebalancerProcess {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD], {
    env: {
      ...process.env,
      ETCD: env.etcd.endpoint,
      PREFIX: env.prefix,
      PGUSER: env.cluster.user,
      PGPASSWORD: env.cluster.password,
      DESIRED: JSON.stringify(desired),
      ...extraEnv,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  let partial = "";
  let stderr = "";
  const listeners = new Set<(line: string) => void>();
  child.stdout.on("data", (d: Buffer) => {
    const parts = (partial + d.toString()).split("\n");
    partial = parts.pop()!;
    for (const l of parts) {
      lines.push(l);
      for (const f of listeners) f(l);
    }
  });
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return {
    pid: child.pid!,
    lines,
    waitForLine(match, timeoutMs = 120_000) {
      const seen = lines.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const done = (f: () => void) => {
          clearTimeout(t);
          listeners.delete(on);
          f();
        };
        const on = (l: string) => match(l) && done(() => resolve(l));
        const t = setTimeout(
          () => done(() => reject(new Error(`no such line within ${timeoutMs} ms: ${stderr}`))),
          timeoutMs,
        );
        listeners.add(on);
        void exit.then(() => done(() => reject(new Error(`the rebalancer exited first: ${stderr}`))));
      });
    },
    async exited(timeoutMs = 180_000) {
      const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      try {
        return { ...(await exit), stderr };
      } finally {
        clearTimeout(t);
      }
    },
    signal(sig) {
      child.kill(sig);
    },
  };
}

/** Per client name, the next value's sequence number (values stay unique across workloads). */
const sequences = new Map<string, number>();

/** A running workload; `stop` resolves once every client's operation in flight has ended. */
export interface Workload {
  stop(): Promise<void>;
}

/** Starts the workload's clients over `keys` (see the module header), recording into `env.history`. */
export function startWorkload(
  env: ChaosEnv,
  clients: ReadonlyArray<{ name: string; client: ShardClient }>,
  keys: readonly string[],
  options: { pauseMs?: number; seed?: number } = {},
): Workload {
  let stopped = false;
  let seed = options.seed ?? 42;
  const random = () => {
    // mulberry32: reproducible choices per run
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const loops = clients.map(async ({ name, client }) => {
    let mine: string | undefined;
    while (!stopped) {
      const r = random();
      const key = r < 0.2 && mine !== undefined ? mine : keys[Math.floor(random() * keys.length)];
      let op;
      if (r < 0.4) op = await env.history.get(name, client, key);
      else if (r < 0.55) op = await env.history.delete(name, client, key);
      else {
        const seq = sequences.get(name) ?? 0;
        sequences.set(name, seq + 1);
        op = await env.history.put(name, client, key, `${name}:${seq}`);
      }
      if (op.op !== "get") mine = key;
      await sleep(op.status === "ok" ? (options.pauseMs ?? 8) : 50);
    }
  });
  return {
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

/** Every row under `prefix` on an instance, raw (none when it has no table yet). */
export async function rawRows(inst: PgInstance, prefix: string): Promise<Map<string, RawRow>> {
  const rows = await inst
    .query<{ key: string; value: string | null; wall: string; logical: number; node: string }>(
      `SELECT key, value::text AS value, ver_wall::text AS wall, ver_logical AS logical, ver_node AS node
       FROM scaleplane_kv WHERE starts_with(key, $1)`,
      [prefix],
    )
    .catch((e: { code?: string }) => {
      if (e.code === "42P01") return [];
      throw e;
    });
  return new Map(
    rows.map((r) => [
      r.key,
      {
        version: { wall: Number(r.wall), logical: r.logical, node: r.node },
        deleted: r.value === null,
        ...(r.value === null ? {} : { value: JSON.parse(r.value) as unknown }),
      },
    ]),
  );
}

/** What a history check found: the checker's result, and rows on shards outside their replica set. */
export interface ChaosCheck {
  readonly result: KvCheckResult;
  readonly map: ShardMap;
  /** `key@shard` for rows of running shards that are not among the key's replicas (a cleanup left them). */
  readonly misplaced: string[];
  readonly final: FinalState;
}

/**
 * Reads the shards raw (before any read repair: call it right after the workload stopped, before
 * any read) and checks the history against them, in the stored shard map's placement.
 */
export async function checkHistory(env: ChaosEnv, keyPrefix: string): Promise<ChaosCheck> {
  const map = (await env.config.getShardMap())!;
  const placer = makePlacer(map, map.strategy);
  const rows = new Map<string, Map<string, RawRow>>();
  for (const inst of env.cluster.instances) if (inst.running()) rows.set(inst.name, await rawRows(inst, keyPrefix));
  const inMap = new Set(map.shards.map((s) => s.name));
  const final: FinalState = {
    rows: new Map([...rows].filter(([s]) => inMap.has(s))),
    replicasOf: (key) => placer.replicas(key),
    quorum: quorum(map.replicationFactor),
  };
  const misplaced: string[] = [];
  for (const [shard, held] of rows)
    for (const key of held.keys()) if (!placer.replicas(key).includes(shard)) misplaced.push(`${key}@${shard}`);
  const result = checkKvHistory(env.history.ops, {
    final,
    shards: env.cluster.instances.map((i) => i.name),
  });
  return { result, map, misplaced, final };
}

/** {@link checkHistory}, failing the test with the first violations when there are any. */
export async function expectHistoryHolds(env: ChaosEnv, keyPrefix: string): Promise<ChaosCheck> {
  const check = await checkHistory(env, keyPrefix);
  expect(formatViolations(check.result)).toBe("");
  return check;
}
