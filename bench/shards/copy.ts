/**
 * The rebalance part of the shards bench (`npm run bench -- shards`): the online rebalance's data
 * path and cutover measured on real PostgreSQL and etcd (local processes on 127.0.0.1), against a
 * raw pipe between the same two instances in the same process.
 *
 * Like for like, in rounds on fresh data (`--rounds`, each pairing its rebalance with its own
 * pipes seconds earlier; ratios are the rounds' medians, as a 2-core VM's speed drifts by a
 * quarter between runs a minute apart):
 * - a quiet round: the raw pipes and then the rebalance with nothing else running: the data
 *   path's throughput against a raw COPY's (`copy_vs_raw`);
 * - a round under writes: one writer (the real shard client, one write at a time, paced at
 *   `--write-rate` writes/s: a bounded load, not a saturating one) runs from before the raw pipe
 *   to the end of the rebalance: the stall and latency figures, and `copy_under_writes_vs_raw`,
 *   the same ratio with both sides sharing the machine with that writer. The rebalance then also
 *   does the online part of its work: the writer's keys in moving ranges are dual-written to the
 *   new shard, so chunks holding them fail their direct COPY and are merged by version instead.
 *
 * Figures (ratios and a stall; nothing asserts a time):
 * - `copy_vs_raw`: rows/s of the rebalance's copies (COPY out of the source's ranges, written on
 *   the target in chunks: rows of keys it lacks COPYed into the table, the others merged by
 *   "apply if newer"; the engine's own timing of its copies)
 *   moving shard A's rows to a new shard B (1 → 2 shards, replicationFactor 1), ÷ rows/s of a raw
 *   `COPY ... TO STDOUT` → `COPY ... FROM STDIN` pipe (pg-copy-streams) of all of A's rows into a
 *   table of the same shape (primary key and hash index) on B. `copy_phase_vs_raw` is the same
 *   over the whole copy phase (with each batch's count+checksum verification and its progress
 *   record in etcd). `copy_vs_raw_same_rows` divides by a raw pipe of only the rows the rebalance
 *   moves instead (its ranges, with its own SELECT, in one COPY): the source scans its whole
 *   table for either, so this one isolates the rebalance's overhead on the same rows, while
 *   `copy_vs_raw` also charges it the ranges' selectivity (half of the table in 1 → 2). The
 *   rebalance may beat a raw pipe: it writes on three target connections, the pipe on one.
 * - `cutover_pause_ms`: the longest time the writer waited between two acknowledged writes while
 *   the rebalance changed the shard map (dual-write, cutover, completion: three epoch CAS +
 *   fences), by the writer's own clock; the longest of the rounds under writes.
 * - `copy_vs_raw_min` / `copy_vs_raw_max`: the spread of `copy_vs_raw` over the rounds.
 * - `p99_write_during_vs_before`: the writer's p99 write latency while the copy runs ÷ its p99 in
 *   the seconds before anything else ran; `p99_write_during_raw_vs_before` is the same while the
 *   raw pipes ran: what any bulk copy between these instances costs the writer, for comparison.
 */
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import { Presets, SingleBar } from "cli-progress";
import pino from "pino";
import { from as copyFrom, to as copyTo } from "pg-copy-streams";
import type { RowSlice } from "../../core/sharding/rebalance";
import { hashKey } from "../../core/sharding/ring";
import { ConfigClient } from "../../runtime/config-client";
import { previewRebalance, runRebalance } from "../../runtime/rebalance";
import { planMigration } from "../../runtime/rebalance/plan";
import { copyOutSql } from "../../runtime/rebalance/sql";
import { ShardClient } from "../../runtime/shard-client";
import { ENSURE_SCHEMA_SQL, KV_COLUMNS, KV_TABLE } from "../../runtime/shard-client/sql";
import { startLocalEtcd } from "../../test/support/etcd-cluster";
import { startPgCluster, type PgCluster, type PgInstance } from "../../test/support/pg-cluster";

/** A logger for the bench's clients and rebalances: warnings and errors only, on stderr. */
export const quiet = () => pino({ level: "warn" }, pino.destination(2));

/** The `p`th percentile of `xs` (nearest rank). */
export const percentile = (xs: readonly number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

/** Seeds `rows` rows (the contract's table, `h` the ring hash of the key) on an instance. */
async function seed(inst: PgInstance, rows: number): Promise<void> {
  await seedKeys(
    inst,
    Array.from({ length: rows }, (_, i) => `bench-${i + 1}`),
  );
}

/**
 * Seeds one row per key (the contract's table, `h` the ring hash of the key, all at version
 * (1, 0, "seed"): replicas seeded alike agree) on an instance.
 */
export async function seedKeys(inst: PgInstance, all: readonly string[]): Promise<void> {
  await inst.query(ENSURE_SCHEMA_SQL);
  const c = await inst.connect();
  try {
    for (let from = 0; from < all.length; from += 10_000) {
      const keys = all.slice(from, from + 10_000);
      await c.query(
        `INSERT INTO scaleplane_kv (${KV_COLUMNS})
         SELECT k, h, jsonb_build_object('k', k, 'pad', repeat('x', 64)), 1, 0, 'seed' FROM unnest($1::text[], $2::bigint[]) AS u(k, h)`,
        [keys, keys.map(hashKey)],
      );
    }
  } finally {
    await c.end();
  }
}

/**
 * Rows/s of a raw COPY pipe of every row of `from`'s table (or only of `slice`, with the
 * rebalance's own SELECT) into a fresh same-shaped table on `to` (created and dropped outside the
 * time measured).
 */
export async function rawPipe(
  from: PgInstance,
  to: PgInstance,
  slice?: RowSlice,
): Promise<{ rows: number; rowsPerSecond: number; seconds: number }> {
  await to.query("DROP TABLE IF EXISTS bench_raw_copy");
  await to.query("CREATE TABLE bench_raw_copy (LIKE scaleplane_kv INCLUDING ALL)");
  const src = await from.connect();
  const dst = await to.connect();
  try {
    const started = process.hrtime.bigint();
    const out = src.query(
      copyTo(slice ? copyOutSql(KV_TABLE, slice) : `COPY (SELECT ${KV_COLUMNS} FROM scaleplane_kv) TO STDOUT`),
    );
    const into = dst.query(copyFrom(`COPY bench_raw_copy (${KV_COLUMNS}) FROM STDIN`));
    await pipeline(out, into);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const rows = Number(into.rowCount);
    return { rows, rowsPerSecond: rows / seconds, seconds };
  } finally {
    await Promise.all([src.end(), dst.end()]);
    await to.query("DROP TABLE IF EXISTS bench_raw_copy");
  }
}

/** The median of `xs` (the mean of the middle two for an even count). */
export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** What one round measured (latencies and stall NaN/0 in a quiet round). */
interface Round {
  copyRate: number;
  phaseRate: number;
  raw: number;
  rawSame: number;
  maxGap: number;
  p99Before: number;
  p99Raw: number;
  p99During: number;
  failedWrites: number;
}

/** The options of the copy figures (validated). */
interface CopyOptions {
  rows: number;
  writeRate: number;
  rounds: number;
}

/** `--<name>` of `values` as a whole number in min..max (`dflt` when absent); an error names the option. */
export const wholeNumber = (
  values: Record<string, unknown>,
  name: string,
  dflt: number,
  min: number,
  max: number,
): number => {
  const v = Number(values[name] ?? dflt);
  if (!Number.isInteger(v) || v < min || v > max)
    throw new Error(`--${name} must be a whole number in ${min}..${max}; got ${JSON.stringify(values[name])}`);
  return v;
};

/**
 * Measures the figures; `--copy-rows <n>` sets the rows seeded on the source (@default 200000),
 * `--write-rate <n>` the writer's pace in writes/s (@default 200), `--rounds <n>` how many times
 * the whole measurement is repeated on fresh data (@default 3). Each round pairs its own pipes
 * with its own rebalance, seconds apart; the ratios reported are the rounds' medians (this
 * machine's speed drifts by a quarter from one run to the next), the stall the longest of all.
 */
export async function copyFigures(argv: string[]): Promise<Record<string, number>> {
  const { values } = parseArgs({
    args: argv,
    options: { "copy-rows": { type: "string" }, "write-rate": { type: "string" }, rounds: { type: "string" } },
    strict: false,
    allowPositionals: true,
  });
  const o: CopyOptions = {
    rows: wholeNumber(values, "copy-rows", 200_000, 1000, 10_000_000),
    writeRate: wholeNumber(values, "write-rate", 200, 10, 5000),
    rounds: wholeNumber(values, "rounds", 3, 1, 15),
  };

  // Autovacuum off: a background vacuum landing in one measurement and not in the one it is
  // divided by would only add noise (the bench VACUUMs the source itself after seeding).
  const [etcd, cluster] = await Promise.all([
    startLocalEtcd("bench-copy"),
    startPgCluster(2, { namePrefix: "bench", settings: { autovacuum: "off" } }),
  ]);
  try {
    const quietRounds: Round[] = [];
    const writeRounds: Round[] = [];
    for (let r = 1; r <= o.rounds; r++) {
      quietRounds.push(await copyRound(r, false, o, etcd.endpoint, cluster));
      writeRounds.push(await copyRound(r, true, o, etcd.endpoint, cluster));
    }
    const ratio = (rounds: Round[], f: (x: Round) => number) => Number(median(rounds.map(f)).toFixed(3));
    const copyVsRaw = quietRounds.map((x) => x.copyRate / x.raw);
    return {
      copy_vs_raw: ratio(quietRounds, (x) => x.copyRate / x.raw),
      cutover_pause_ms: Number(Math.max(...writeRounds.map((x) => x.maxGap)).toFixed(1)),
      p99_write_during_vs_before: ratio(writeRounds, (x) => x.p99During / x.p99Before),
      p99_write_during_raw_vs_before: ratio(writeRounds, (x) => x.p99Raw / x.p99Before),
      copy_phase_vs_raw: ratio(quietRounds, (x) => x.phaseRate / x.raw),
      copy_vs_raw_same_rows: ratio(quietRounds, (x) => x.copyRate / x.rawSame),
      copy_vs_raw_min: Number(Math.min(...copyVsRaw).toFixed(3)),
      copy_vs_raw_max: Number(Math.max(...copyVsRaw).toFixed(3)),
      copy_under_writes_vs_raw: ratio(writeRounds, (x) => x.copyRate / x.raw),
      copy_rows_per_s: Math.round(median(quietRounds.map((x) => x.copyRate))),
      raw_copy_rows_per_s: Math.round(median(quietRounds.map((x) => x.raw))),
      raw_same_rows_per_s: Math.round(median(quietRounds.map((x) => x.rawSame))),
      writes_unacknowledged: writeRounds.reduce((n, x) => n + x.failedWrites, 0),
      write_rate: o.writeRate,
      copy_rounds: o.rounds,
    };
  } finally {
    await Promise.all([cluster.cleanup(), etcd.stop()]);
  }
}

/**
 * One round on fresh data: seed the source, publish the 1-shard map (its own etcd prefix), start
 * the writer (`writes`), run the raw pipes, then the rebalance to 2 shards.
 */
async function copyRound(
  round: number,
  writes: boolean,
  o: CopyOptions,
  endpoint: string,
  cluster: PgCluster,
): Promise<Round> {
  const [a, b] = cluster.instances;
  const config = ConfigClient.create({
    endpoints: [endpoint],
    prefix: `/bench-copy/${round}-${writes ? "writes" : "quiet"}/`,
    logger: quiet(),
  });
  const placement = (n: number) => ({
    vnodesPerWeight: 150,
    replicationFactor: 1,
    consistency: "one" as const,
    shards: cluster.instances
      .slice(0, n)
      .map((i) => ({ name: i.name, weight: 1, host: i.host, port: i.port, database: i.database })),
  });
  const credentials = { user: cluster.user, password: cluster.password };
  let client: ShardClient | undefined;
  try {
    console.log(
      `shards bench (copy), round ${round}/${o.rounds} ${writes ? `under ${o.writeRate} writes/s` : "quiet"}: seeding ${o.rows} rows on ${a.name}`,
    );
    // Fresh shards: no rows, and no epoch fence from the previous round's shard map.
    const fresh = "DROP TABLE IF EXISTS scaleplane_kv, scaleplane_meta";
    await Promise.all([a.query(fresh), b.query(fresh)]);
    await Promise.all([a.query(ENSURE_SCHEMA_SQL), b.query(ENSURE_SCHEMA_SQL)]);
    await seed(a, o.rows);
    await a.query("VACUUM ANALYZE scaleplane_kv");
    await Promise.all([a.query("CHECKPOINT"), b.query("CHECKPOINT")]);

    await runRebalance({ config, desired: placement(1), credentials });
    // The dry run: the plan with rows/bytes estimated on the source (it also computes the plan
    // before the writer starts: planning is CPU work in this process, not a stall of the system).
    const dry = await previewRebalance({ config, desired: placement(2), credentials });
    console.log(
      `plan ${a.name} → ${b.name}: ${dry.batches} batches, ${dry.rows} rows, ${(dry.bytes / 1048576).toFixed(1)} MiB estimated`,
    );
    const moved = planMigration(placement(1), placement(2)).plan.moves.map(({ start, end }) => ({ start, end }));
    if (writes)
      client = await ShardClient.connect({
        config,
        user: cluster.user,
        password: cluster.password,
        statementTimeoutMs: 10_000,
        logger: quiet(),
      });
    const c = client;

    // One writer, one write at a time, paced at writeRate, keys of its own; latencies by phase,
    // gaps between acknowledgements.
    type Phase = "before" | "raw" | "copy" | "other";
    let phase = "before" as Phase;
    let stop = false;
    const lat: Record<Phase, number[]> = { before: [], raw: [], copy: [], other: [] };
    let lastAck = performance.now();
    let maxGap = 0;
    let measureGaps = false;
    let failedWrites = 0;
    const interval = 1000 / o.writeRate;
    const writer = (async () => {
      if (!c) return;
      const started = performance.now();
      for (let i = 0; !stop; i++) {
        const due = started + i * interval;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const t = performance.now();
        try {
          await c.put(`writer-${i % 1000}`, { i });
        } catch (e) {
          // an unacknowledged write: counted, and the stall goes on until the next acknowledgement
          failedWrites++;
          if (failedWrites > 100) throw e;
          continue;
        }
        const now = performance.now();
        lat[phase].push(now - t);
        if (measureGaps) maxGap = Math.max(maxGap, now - lastAck);
        lastAck = now;
      }
    })();
    try {
      if (writes) await new Promise((r) => setTimeout(r, 3000));

      // The raw pipes (under the same writer in a round with writes).
      phase = "raw";
      const raw = await rawPipe(a, b);
      console.log(`raw COPY pipe ${a.name} → ${b.name}: ${raw.rows} rows, ${Math.round(raw.rowsPerSecond)} rows/s`);
      // The same pipe of only the rows the rebalance moves (its ranges, its SELECT): the source
      // scans the whole table either way, so this isolates the rebalance's own overhead.
      const rawSame = await rawPipe(a, b, { ranges: moved });
      console.log(
        `raw COPY pipe of the moved ranges only: ${rawSame.rows} rows, ${Math.round(rawSame.rowsPerSecond)} rows/s`,
      );
      phase = "other";
      await Promise.all([a.query("CHECKPOINT"), b.query("CHECKPOINT")]);
      await new Promise((r) => setTimeout(r, 500));

      const bar = new SingleBar(
        { format: "rebalance copy [{bar}] {value}/{total} batches | {rows} rows", hideCursor: true },
        Presets.shades_classic,
      );
      let copyStarted = 0;
      let copySeconds = 0;
      let copied = 0;
      const report = await runRebalance({
        config,
        desired: placement(2),
        credentials,
        onEvent: (e) => {
          // Stalls are measured from the first shard-map change (the migration's publication) on.
          if (e.kind === "info" && /^shard map epoch/.test(e.message) && !measureGaps) {
            measureGaps = true;
            lastAck = performance.now();
          }
          if (e.kind !== "copy") return;
          if (e.batchesDone === 0) {
            copyStarted = performance.now();
            phase = "copy";
            bar.start(e.batchesTotal, 0, { rows: 0 });
          } else bar.update(e.batchesDone, { rows: e.rowsCopied });
          if (e.batchesDone === e.batchesTotal) {
            copySeconds = (performance.now() - copyStarted) / 1000;
            copied = e.rowsCopied;
            phase = "other";
            bar.stop();
          }
        },
      });
      measureGaps = false;
      stop = true;
      await writer;
      if (copySeconds === 0 || copied === 0)
        throw new Error(`bench copy: the rebalance copied nothing (${JSON.stringify(report)})`);
      const copyRate = report.rowsCopied / (report.copyMs / 1000);
      const phaseRate = copied / copySeconds;
      const p99Before = percentile(lat.before, 99);
      const p99During = percentile(lat.copy, 99);
      const p99Raw = percentile(lat.raw, 99);
      console.log(
        `rebalance copy ${a.name} → ${b.name}: ${report.rowsCopied} rows, copies ${(report.copyMs / 1000).toFixed(2)} s (${Math.round(copyRate)} rows/s, ${(copyRate / raw.rowsPerSecond).toFixed(3)} × raw), ` +
          `verification ${(report.verifyMs / 1000).toFixed(2)} s; whole copy phase ${copySeconds.toFixed(2)} s (${Math.round(phaseRate)} rows/s, ${report.batches} batches, ${report.verifiedPairs} pairs verified)`,
      );
      if (writes)
        console.log(
          `writer (${o.writeRate}/s): ${lat.before.length} writes before (p99 ${p99Before.toFixed(2)} ms), ${lat.raw.length} during the raw pipes (p99 ${p99Raw.toFixed(2)} ms), ` +
            `${lat.copy.length} during the copy (p99 ${p99During.toFixed(2)} ms); longest stall ${maxGap.toFixed(1)} ms`,
        );
      return {
        copyRate,
        phaseRate,
        raw: raw.rowsPerSecond,
        rawSame: rawSame.rowsPerSecond,
        maxGap,
        p99Before,
        p99Raw,
        p99During,
        failedWrites,
      };
    } finally {
      stop = true;
      await writer.catch(() => undefined);
    }
  } finally {
    await client?.close().catch(() => undefined);
    config.close();
  }
}
