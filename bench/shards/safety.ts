/**
 * The data-safety part of the shards bench (`npm run bench -- shards`): what issue 15's rules cost
 * and whether they hold, on real PostgreSQL and etcd (local processes on 127.0.0.1), each figure a
 * ratio against a baseline run in the same process, minutes apart at most.
 *
 * One etcd and five PostgreSQL instances, replication factor 3, writes and reads at `quorum`
 * (w = r = 2):
 *
 * - `shrink_copy_vs_raw`: a shrink 5 → 3 shards by the real rebalancer (`runRebalance`, as the
 *   copy figure calls it). Every key sits on 3 of the 5 shards at one version (all replicas
 *   agree); afterwards it sits on all 3 staying shards. The planner gives each new replica of a
 *   range rf − w + 1 = 2 old replicas to read (core/sharding/rebalance), so the copy reads every
 *   row it lands twice and merges the second read by version (the second source's rows meet the
 *   first's on the target: a unique violation, then "apply if newer" merges). Figure: rows landed
 *   ÷ the rebalance's own copy time (`report.copyMs`, COPY out → chunks written → commit, summed
 *   over pairs) against rows/s of raw `COPY TO STDOUT` → `COPY FROM STDIN` pipes
 *   (pg-copy-streams) of the same rows (every (range, target) copy of the plan, read once from its
 *   first source, with the rebalance's SELECT) into a fresh table of the same shape (primary key
 *   and hash index) on the same target. The rebalance runs with `parallel: 1` (one pair at a
 *   time, like the pipes, so that its summed copy time is its copy's wall time: on 2 cores two
 *   pairs at once would each take longer and the sum would overstate the cost). Its other costs
 *   (verification, progress records, fences, cleanup) are outside the figure, as in `copy_vs_raw`.
 *   `shrink_copy_vs_raw_same_reads` divides by raw pipes of exactly the pairs the rebalance
 *   copies (both sources of each range, same slices): the cost of the merge alone, the
 *   second read being charged to both sides. Rounds on fresh data (`--rounds`), the raw pipes
 *   seconds before the rebalance; the ratios are the rounds' medians, `_min`/`_max` their spread.
 * - `quorum_read_p99_vs_before`: after the last shrink (3 shards, every key on all 3 at the same
 *   version: 0 disagreement), two routers in this process read the same keys at `quorum`, one
 *   read at a time, in alternating blocks: today's ShardClient (blocking read repair, the
 *   background repair of late replies) ÷ the same client with `readRepair.enabled: false` (its
 *   own switch: no repair of any kind, i.e. the read path without the blocking repair; before
 *   issue 15 it had only the background repair, which at 0 disagreement writes nothing either).
 *   Same pools, same SQL, same keys in the same order. p99 per round of each, the ratio per
 *   round, the median ratio (spread printed). The repairing client's `repairStats.blocking` must
 *   stay 0 (else the replicas disagreed and the figure would not be at 0 disagreement).
 * - `skewed_writes_refused`: a router whose physical clock (the client's `physicalClock` option)
 *   reads 5 minutes ahead writes `--skewed-writes` fresh keys at `quorum`; the fraction refused
 *   with ClockOffsetError (goal: 1, all of them). `skewed_rows_stored` counts, read raw from every
 *   instance, rows of those keys, rows carrying that router's writer id, and rows whose version
 *   is more than the clock bound ahead of now (goal 0).
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { Presets, SingleBar } from "cli-progress";
import type { ConsistencyLevel } from "../../core/config";
import { makePlacer } from "../../core/sharding/placement";
import type { RowSlice } from "../../core/sharding/rebalance";
import type { HashRange } from "../../core/sharding/ring";
import { ConfigClient } from "../../runtime/config-client";
import { copyPairs, runRebalance } from "../../runtime/rebalance";
import { planMigration } from "../../runtime/rebalance/plan";
import { ClockOffsetError, ShardClient } from "../../runtime/shard-client";
import { ENSURE_SCHEMA_SQL } from "../../runtime/shard-client/sql";
import { startLocalEtcd } from "../../test/support/etcd-cluster";
import { startPgCluster, type PgCluster, type PgInstance } from "../../test/support/pg-cluster";
import { median, percentile, quiet, rawPipe, seedKeys, wholeNumber } from "./copy";

/** Shards before and after the shrink. */
const FROM_SHARDS = 5;
const TO_SHARDS = 3;
const RF = 3;
const LEVEL: ConsistencyLevel = "quorum";
/** How far ahead the skewed router's clock reads. */
const SKEW_MS = 5 * 60_000;
/** Reads per client in one block of the alternating read rounds. */
const READ_BLOCK = 50;

/** The options of the safety figures (validated). */
interface SafetyOptions {
  keys: number;
  rounds: number;
  reads: number;
  skewedWrites: number;
}

/** What one shrink round measured. */
interface ShrinkRound {
  /** Rows the shrink lands (one per (key, copy target)): the raw-once pipes' rows. */
  landed: number;
  /** Rows the rebalance read from its sources. */
  read: number;
  copySeconds: number;
  rawOnceSeconds: number;
  rawSameReadsSeconds: number;
  rawSameReadsRows: number;
}

const fixed = (x: number, digits = 3) => Number(x.toFixed(digits));

/** The shard-map placement of the first `n` instances (rf 3, quorum). */
function placement(cluster: PgCluster, n: number) {
  return {
    vnodesPerWeight: 150,
    replicationFactor: RF,
    consistency: LEVEL,
    shards: cluster.instances
      .slice(0, n)
      .map((i) => ({ name: i.name, weight: 1, host: i.host, port: i.port, database: i.database })),
  };
}

/** Groups (source, target, range) triples into one slice per (source, target), in first-seen order. */
function slicesByPair(
  triples: readonly { source: string; target: string; range: HashRange }[],
): { source: string; target: string; slice: RowSlice }[] {
  const byPair = new Map<string, HashRange[]>();
  for (const t of triples) {
    const k = `${t.source}\u0000${t.target}`;
    const ranges = byPair.get(k);
    if (ranges) ranges.push(t.range);
    else byPair.set(k, [t.range]);
  }
  return [...byPair].map(([k, ranges]) => {
    const [source, target] = k.split("\u0000");
    return { source, target, slice: { ranges } };
  });
}

/** The shrink's plan and the raw pipes it is measured against (the same every round: planned once). */
interface ShrinkPlan {
  moves: number;
  /** Sources per copy (min, max). */
  sources: [number, number];
  /** Per copy batch, every (range, target) copy once from its first source, one slice per (source, target). */
  once: { source: string; target: string; slice: RowSlice }[];
  /** Per copy batch, exactly the rebalance's (source, target) pairs (every source). */
  sameReads: { source: string; target: string; slice: RowSlice }[];
}

/** Plans the shrink as the engine does (runtime/rebalance/plan.ts, copy batches) and derives the raw pipes. */
function planShrink(cluster: PgCluster): ShrinkPlan {
  const planned = planMigration(placement(cluster, FROM_SHARDS), placement(cluster, TO_SHARDS));
  const moves = planned.batches.flatMap((b) => b.moves);
  const filtered = moves.find((m) => m.keys || m.exceptKeys);
  if (filtered) throw new Error(`bench shrink: a hash-ring shrink planned a move with key filters (${filtered.label})`);
  const sources = moves.flatMap((m) => m.copies.map((c) => c.sources.length));
  return {
    moves: moves.length,
    // (a reduce: a spread of 100k+ arguments overflows the stack)
    sources: [sources.reduce((a, b) => Math.min(a, b)), sources.reduce((a, b) => Math.max(a, b))],
    // Batch by batch, like the engine: each batch's pipes scan each source once per pair.
    once: planned.batches.flatMap((b) =>
      slicesByPair(
        b.moves.flatMap((m) =>
          m.copies.map((c) => ({ source: c.sources[0], target: c.target, range: { start: m.start, end: m.end } })),
        ),
      ),
    ),
    sameReads: planned.batches.flatMap((b) => copyPairs(b)),
  };
}

/** Pipes each pair's slice raw, one pair at a time; resolves with the rows and the summed pipe time. */
async function rawPipes(
  cluster: PgCluster,
  pairs: readonly { source: string; target: string; slice: RowSlice }[],
): Promise<{ rows: number; seconds: number }> {
  const byName = new Map(cluster.instances.map((i) => [i.name, i]));
  let rows = 0;
  let seconds = 0;
  for (const p of pairs) {
    const r = await rawPipe(byName.get(p.source)!, byName.get(p.target)!, p.slice);
    rows += r.rows;
    seconds += r.seconds;
  }
  return { rows, seconds };
}

/**
 * One shrink round on fresh data (its own etcd prefix, `config`): publish the 5-shard map, seed
 * every key on its 3 replicas, run the raw pipes, then the rebalance to 3 shards; checks that
 * every staying shard ends with every key.
 */
async function shrinkRound(
  round: number,
  o: SafetyOptions,
  config: ConfigClient,
  cluster: PgCluster,
  keys: readonly string[],
  plan: ShrinkPlan,
): Promise<ShrinkRound> {
  const credentials = { user: cluster.user, password: cluster.password };
  const all = cluster.instances.slice(0, FROM_SHARDS);
  const from = placement(cluster, FROM_SHARDS);
  const to = placement(cluster, TO_SHARDS);
  console.log(
    `shards bench (shrink), round ${round}/${o.rounds}: seeding ${o.keys} keys × ${RF} replicas on ${FROM_SHARDS} shards`,
  );
  // Fresh shards: no rows, no epoch fence and no rebalancer token from the previous round.
  const fresh = "DROP TABLE IF EXISTS scaleplane_kv, scaleplane_meta, scaleplane_rebalancer";
  await Promise.all(all.map((i) => i.query(fresh)));
  await Promise.all(all.map((i) => i.query(ENSURE_SCHEMA_SQL)));
  await runRebalance({ config, desired: from, credentials });
  const placer = makePlacer(from);
  const perShard = new Map<string, string[]>(all.map((i) => [i.name, []]));
  for (const k of keys) for (const s of placer.replicas(k)) perShard.get(s)!.push(k);
  await Promise.all(all.map((i) => seedKeys(i, perShard.get(i.name)!)));
  await Promise.all(all.map((i) => i.query("VACUUM ANALYZE scaleplane_kv")));
  await Promise.all(all.map((i) => i.query("CHECKPOINT")));

  console.log(
    `plan ${FROM_SHARDS} → ${TO_SHARDS}: ${plan.moves} ranges, ${plan.once.length} (first source, target) pipes, ` +
      `copies reading ${plan.sources[0]}-${plan.sources[1]} old replicas each: ${plan.sameReads.length} (source, target) pairs`,
  );

  const rawOnce = await rawPipes(cluster, plan.once);
  console.log(
    `raw COPY pipes, each copied range once from one source: ${rawOnce.rows} rows, ${Math.round(rawOnce.rows / rawOnce.seconds)} rows/s`,
  );
  const rawSame = await rawPipes(cluster, plan.sameReads);
  console.log(
    `raw COPY pipes of the rebalance's own pairs (every source): ${rawSame.rows} rows, ${Math.round(rawSame.rows / rawSame.seconds)} rows/s`,
  );
  await Promise.all(all.map((i) => i.query("CHECKPOINT")));
  await new Promise((r) => setTimeout(r, 500));

  const bar = new SingleBar(
    { format: "shrink copy [{bar}] {value}/{total} batches | {rows} rows read", hideCursor: true },
    Presets.shades_classic,
  );
  const report = await runRebalance({
    config,
    desired: to,
    credentials,
    parallel: 1,
    onEvent: (e) => {
      if (e.kind !== "copy") return;
      if (e.batchesDone === 0) bar.start(e.batchesTotal, 0, { rows: 0 });
      else bar.update(e.batchesDone, { rows: e.rowsCopied });
      if (e.batchesDone === e.batchesTotal) bar.stop();
    },
  });
  if (report.action !== "migrated" || report.copyMs <= 0)
    throw new Error(`bench shrink: the rebalance did not migrate (${JSON.stringify(report)})`);
  const staying = cluster.instances.slice(0, TO_SHARDS);
  const counts = await Promise.all(
    staying.map(async (i) => Number((await i.query<{ n: string }>("SELECT count(*) AS n FROM scaleplane_kv"))[0].n)),
  );
  if (counts.some((n) => n !== keys.length))
    throw new Error(
      `bench shrink: after the shrink the staying shards hold ${counts.join(", ")} rows, not ${keys.length} each`,
    );
  const copySeconds = report.copyMs / 1000;
  console.log(
    `shrink copy: ${rawOnce.rows} rows landed, ${report.rowsCopied} read (${(report.rowsCopied / rawOnce.rows).toFixed(2)} per row), copies ${copySeconds.toFixed(2)} s ` +
      `(${Math.round(rawOnce.rows / copySeconds)} rows landed/s, ${(rawOnce.seconds / copySeconds).toFixed(3)} × raw once, ${(rawSame.seconds / copySeconds).toFixed(3)} × raw same reads), ` +
      `verification ${(report.verifyMs / 1000).toFixed(2)} s, ${report.rowsDeleted} rows deleted, whole run ${(report.durationMs / 1000).toFixed(1)} s`,
  );
  return {
    landed: rawOnce.rows,
    read: report.rowsCopied,
    copySeconds,
    rawOnceSeconds: rawOnce.seconds,
    rawSameReadsSeconds: rawSame.seconds,
    rawSameReadsRows: rawSame.rows,
  };
}

/** One read round's latencies (ms) of the repairing client and of the baseline. */
interface ReadRound {
  on: number[];
  off: number[];
}

/**
 * Reads `o.reads` keys per client per round at quorum, one at a time, alternating blocks of
 * {@link READ_BLOCK} between the repairing client and the baseline (which goes first alternates
 * too), the same keys in the same order for both.
 */
async function readRounds(
  config: ConfigClient,
  cluster: PgCluster,
  keys: readonly string[],
  o: SafetyOptions,
): Promise<{ rounds: ReadRound[]; blocking: number; dropped: number }> {
  const connect = (repair: boolean) =>
    ShardClient.connect({
      config,
      user: cluster.user,
      password: cluster.password,
      statementTimeoutMs: 10_000,
      logger: quiet(),
      ...(repair ? {} : { readRepair: { enabled: false } }),
    });
  const on = await connect(true);
  const off = await connect(false);
  try {
    // A deterministic key order (a linear congruential walk), the same for both clients.
    let seed = 12345;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return keys[seed % keys.length];
    };
    const read = async (c: ShardClient, key: string, into?: number[]) => {
      const t = performance.now();
      const got = await c.get(key, { consistency: LEVEL });
      const ms = performance.now() - t;
      if (!got) throw new Error(`bench quorum read: ${key} was seeded but read as absent`);
      into?.push(ms);
    };
    // Warm-up: connections opened, code paths compiled.
    for (let i = 0; i < 200; i++) {
      const k = next();
      await read(on, k);
      await read(off, k);
    }
    const rounds: ReadRound[] = [];
    for (let r = 1; r <= o.rounds; r++) {
      const round: ReadRound = { on: [], off: [] };
      for (let b = 0; b * READ_BLOCK < o.reads; b++) {
        const block = Array.from({ length: Math.min(READ_BLOCK, o.reads - b * READ_BLOCK) }, next);
        const order = b % 2 === 0 ? ([on, off] as const) : ([off, on] as const);
        for (const c of order) for (const k of block) await read(c, k, c === on ? round.on : round.off);
      }
      const [pOn, pOff] = [percentile(round.on, 99), percentile(round.off, 99)];
      console.log(
        `quorum reads, round ${r}/${o.rounds}: ${round.on.length} each; p50 ${percentile(round.on, 50).toFixed(2)} vs ${percentile(round.off, 50).toFixed(2)} ms, ` +
          `p99 ${pOn.toFixed(2)} ms (blocking repair) vs ${pOff.toFixed(2)} ms (no repair): ${(pOn / pOff).toFixed(3)}×`,
      );
      rounds.push(round);
    }
    await on.repairsIdle();
    return { rounds, blocking: on.repairStats.blocking, dropped: on.repairStats.dropped };
  } finally {
    await Promise.all([on.close(), off.close()]);
  }
}

/**
 * A router 5 minutes fast writes `o.skewedWrites` fresh keys; resolves with how many were refused
 * by the clock bound, acknowledged, or failed otherwise, and the rows of its found on any instance.
 */
async function skewedWrites(
  config: ConfigClient,
  cluster: PgCluster,
  o: SafetyOptions,
): Promise<{ refused: number; acknowledged: number; other: string[]; stored: number; example?: string }> {
  const client = await ShardClient.connect({
    config,
    user: cluster.user,
    password: cluster.password,
    logger: quiet(),
    physicalClock: () => Date.now() + SKEW_MS,
  });
  let refused = 0;
  let acknowledged = 0;
  let example: string | undefined;
  const other: string[] = [];
  try {
    for (let i = 0; i < o.skewedWrites; i++)
      try {
        await client.put(`skewed-${i}`, { i });
        acknowledged++;
      } catch (e) {
        if (e instanceof ClockOffsetError) {
          refused++;
          example ??= e.message;
        } else other.push((e as Error).message);
      }
  } finally {
    await client.close();
  }
  // Read raw from every instance (the two that left included): nothing of this router's.
  const bound = Date.now() + 60_000;
  const found = await Promise.all(
    cluster.instances.map(
      async (i: PgInstance) =>
        (
          await i.query<{ n: string }>(
            "SELECT count(*) AS n FROM scaleplane_kv WHERE key LIKE 'skewed-%' OR ver_node = $1 OR ver_wall > $2",
            [client.nodeId, bound],
          )
        )[0].n,
    ),
  );
  return { refused, acknowledged, other, stored: found.reduce((n, x) => n + Number(x), 0), example };
}

/**
 * Measures the figures (see the module header); `--shrink-keys <n>` keys seeded at rf 3
 * (@default 100000), `--rounds <n>` shrink and read rounds (@default 3, shared with the copy
 * part), `--quorum-reads <n>` reads per client per round (@default 2000), `--skewed-writes <n>`
 * (@default 200).
 */
export async function safetyFigures(argv: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({
    args: argv,
    options: {
      "shrink-keys": { type: "string" },
      rounds: { type: "string" },
      "quorum-reads": { type: "string" },
      "skewed-writes": { type: "string" },
    },
    strict: false,
    allowPositionals: true,
  });
  const o: SafetyOptions = {
    keys: wholeNumber(values, "shrink-keys", 100_000, 1000, 5_000_000),
    rounds: wholeNumber(values, "rounds", 3, 1, 15),
    reads: wholeNumber(values, "quorum-reads", 2000, 100, 1_000_000),
    skewedWrites: wholeNumber(values, "skewed-writes", 200, 1, 100_000),
  };
  const keys = Array.from({ length: o.keys }, (_, i) => `bench-${i + 1}`);
  // Autovacuum off, as in the copy part: a vacuum landing in one side of a ratio is noise.
  const [etcd, cluster] = await Promise.all([
    startLocalEtcd("bench-safety"),
    startPgCluster(FROM_SHARDS, { namePrefix: "bench-safety", settings: { autovacuum: "off" } }),
  ]);
  const configs: ConfigClient[] = [];
  try {
    const plan = planShrink(cluster);
    const shrinks: ShrinkRound[] = [];
    for (let r = 1; r <= o.rounds; r++) {
      const config = ConfigClient.create({
        endpoints: [etcd.endpoint],
        prefix: `/bench-shrink/${r}/`,
        logger: quiet(),
      });
      configs.push(config);
      shrinks.push(await shrinkRound(r, o, config, cluster, keys, plan));
    }
    // The last round's map: 3 shards, every key on all 3 at one version.
    const config = configs[configs.length - 1];
    console.log(
      `load average before the quorum reads: ${loadavg()
        .map((x) => x.toFixed(2))
        .join(" ")}`,
    );
    const reads = await readRounds(config, cluster, keys, o);
    if (reads.blocking > 0)
      throw new Error(
        `bench quorum read: ${reads.blocking} read(s) saw replicas disagree: the figure would not be at 0 disagreement`,
      );
    const skew = await skewedWrites(config, cluster, o);
    console.log(
      `router ${SKEW_MS / 60_000} min fast: ${skew.refused}/${o.skewedWrites} writes refused (e.g. "${skew.example ?? "none"}"), ` +
        `${skew.acknowledged} acknowledged, ${skew.other.length} failed otherwise${skew.other.length > 0 ? ` (e.g. "${skew.other[0]}")` : ""}; ` +
        `its rows found on the ${cluster.instances.length} instances: ${skew.stored}`,
    );

    const shrinkRatios = shrinks.map((s) => s.rawOnceSeconds / s.copySeconds);
    const readRatios = reads.rounds.map((r) => percentile(r.on, 99) / percentile(r.off, 99));
    return {
      shrink_copy_vs_raw: fixed(median(shrinkRatios)),
      shrink_copy_vs_raw_min: fixed(Math.min(...shrinkRatios)),
      shrink_copy_vs_raw_max: fixed(Math.max(...shrinkRatios)),
      shrink_copy_vs_raw_same_reads: fixed(median(shrinks.map((s) => s.rawSameReadsSeconds / s.copySeconds))),
      shrink_reads_per_row: fixed(median(shrinks.map((s) => s.read / s.landed))),
      shrink_rows_landed: shrinks[0].landed,
      shrink_copy_rows_per_s: Math.round(median(shrinks.map((s) => s.landed / s.copySeconds))),
      shrink_raw_rows_per_s: Math.round(median(shrinks.map((s) => s.landed / s.rawOnceSeconds))),
      shrink_rounds: o.rounds,
      quorum_read_p99_vs_before: fixed(median(readRatios)),
      quorum_read_p99_vs_before_min: fixed(Math.min(...readRatios)),
      quorum_read_p99_vs_before_max: fixed(Math.max(...readRatios)),
      quorum_read_p50_vs_before: fixed(median(reads.rounds.map((r) => percentile(r.on, 50) / percentile(r.off, 50)))),
      quorum_read_p99_ms: fixed(median(reads.rounds.map((r) => percentile(r.on, 99))), 2),
      quorum_read_p99_before_ms: fixed(median(reads.rounds.map((r) => percentile(r.off, 99))), 2),
      quorum_reads_per_round: o.reads,
      quorum_read_blocking_repairs: reads.blocking,
      quorum_read_repairs_dropped: reads.dropped,
      skewed_writes_refused: fixed(skew.refused / o.skewedWrites),
      skewed_writes: o.skewedWrites,
      skewed_writes_acknowledged: skew.acknowledged,
      skewed_writes_failed_otherwise: skew.other.length,
      skewed_rows_stored: skew.stored,
    };
  } finally {
    for (const c of configs) c.close();
    await Promise.all([cluster.cleanup(), etcd.stop()]);
  }
}
