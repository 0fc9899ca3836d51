/**
 * The rebalance part of the shards bench (`npm run bench -- shards`): the online rebalance's data
 * path and cutover measured on real PostgreSQL and etcd (local processes on 127.0.0.1), against a
 * raw pipe between the same two instances in the same process.
 *
 * Figures (ratios and a stall; nothing asserts a time):
 * - `copy_vs_raw`: rows/s of the rebalance's copies (COPY out of the source's ranges, written on
 *   the target in chunks: rows of keys it lacks COPYed into the table, the others staged and
 *   merged by "apply if newer", commit; the engine's own timing of its copies)
 *   moving shard A's rows to a new shard B (1 → 2 shards, replicationFactor 1), ÷ rows/s of a raw
 *   `COPY ... TO STDOUT` → `COPY ... FROM STDIN` pipe (pg-copy-streams) of all of A's rows into a
 *   table of the same shape (primary key and hash index) on B. `copy_phase_vs_raw` is the same
 *   over the whole copy phase (with each batch's count+checksum verification and its progress
 *   record in etcd). `copy_vs_raw_same_rows` divides by a raw pipe of only the rows the rebalance
 *   moves instead (its ranges, with its own SELECT, in one COPY): the source scans its whole
 *   table for either, so this one isolates the rebalance's overhead on the same rows, while
 *   `copy_vs_raw` also charges it the ranges' selectivity (half of the table in 1 → 2).
 * - `cutover_pause_ms`: the longest time a writer (the real shard client, one write at a time)
 *   waited between two acknowledged writes while the rebalance changed the shard map (dual-write,
 *   cutover, completion: three epoch CAS + fences), by the writer's own clock.
 * - `p99_write_during_vs_before`: that writer's p99 write latency while the copy runs ÷ its p99
 *   in the seconds before the rebalance.
 */
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import { Presets, SingleBar } from "cli-progress";
import pino from "pino";
import { from as copyFrom, to as copyTo } from "pg-copy-streams";
import { hashKey } from "../../core/ring";
import { ConfigClient } from "../../runtime/config-client";
import { planRebalance, runRebalance } from "../../runtime/rebalance";
import { planMigration } from "../../runtime/rebalance/plan";
import { copyOutSql, type HashRange } from "../../runtime/rebalance/sql";
import { ShardClient } from "../../runtime/shard-client";
import { ENSURE_SCHEMA_SQL, KV_COLUMNS } from "../../runtime/shard-client/sql";
import { startLocalEtcd } from "../../test/support/etcd-cluster";
import { startPgCluster, type PgInstance } from "../../test/support/pg-cluster";

const quiet = () => pino({ level: "warn" }, pino.destination(2));

const percentile = (xs: readonly number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

/** Seeds `rows` rows (the contract's table, `h` the ring hash of the key) on an instance. */
async function seed(inst: PgInstance, rows: number): Promise<void> {
  await inst.query(ENSURE_SCHEMA_SQL);
  const c = await inst.connect();
  try {
    for (let from = 1; from <= rows; from += 10_000) {
      const keys = Array.from({ length: Math.min(10_000, rows - from + 1) }, (_, i) => `bench-${from + i}`);
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
 * Rows/s of a raw COPY pipe of every row of `from`'s table (or only of `ranges`, with the
 * rebalance's own SELECT) into a same-shaped table on `to`.
 */
async function rawPipe(
  from: PgInstance,
  to: PgInstance,
  ranges?: readonly HashRange[],
): Promise<{ rows: number; rowsPerSecond: number }> {
  await to.query("DROP TABLE IF EXISTS bench_raw_copy");
  await to.query("CREATE TABLE bench_raw_copy (LIKE scaleplane_kv INCLUDING ALL)");
  const src = await from.connect();
  const dst = await to.connect();
  try {
    const started = process.hrtime.bigint();
    const out = src.query(
      copyTo(ranges ? copyOutSql(ranges) : `COPY (SELECT ${KV_COLUMNS} FROM scaleplane_kv) TO STDOUT`),
    );
    const into = dst.query(copyFrom(`COPY bench_raw_copy (${KV_COLUMNS}) FROM STDIN`));
    await pipeline(out, into);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const rows = Number(into.rowCount);
    return { rows, rowsPerSecond: rows / seconds };
  } finally {
    await Promise.all([src.end(), dst.end()]);
    await to.query("DROP TABLE IF EXISTS bench_raw_copy");
  }
}

/**
 * Measures the figures; `--copy-rows <n>` sets the rows seeded on the source (@default 200000).
 */
export async function copyFigures(argv: string[]): Promise<Record<string, number>> {
  const { values } = parseArgs({
    args: argv,
    options: { "copy-rows": { type: "string" } },
    strict: false,
    allowPositionals: true,
  });
  const rows = Number(values["copy-rows"] ?? 200_000);
  if (!Number.isInteger(rows) || rows < 1000)
    throw new Error(`--copy-rows must be a whole number ≥ 1000; got ${JSON.stringify(values["copy-rows"])}`);

  const [etcd, cluster] = await Promise.all([startLocalEtcd("bench-copy"), startPgCluster(2, { namePrefix: "bench" })]);
  const config = ConfigClient.create({ endpoints: [etcd.endpoint], prefix: "/bench-copy/", logger: quiet() });
  const [a, b] = cluster.instances;
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
    console.log(`shards bench (copy): seeding ${rows} rows on ${a.name}`);
    await seed(a, rows);
    await b.query(ENSURE_SCHEMA_SQL);
    await a.query("VACUUM ANALYZE scaleplane_kv");

    const raw = await rawPipe(a, b);
    console.log(`raw COPY pipe ${a.name} → ${b.name}: ${raw.rows} rows, ${Math.round(raw.rowsPerSecond)} rows/s`);
    // The same pipe of only the rows the rebalance moves (its ranges, its SELECT): the source
    // scans the whole table either way, so this isolates the rebalance's own overhead.
    const moved = planMigration(placement(1), placement(2)).plan.moves.map(({ start, end }) => ({ start, end }));
    const rawSame = await rawPipe(a, b, moved);
    console.log(
      `raw COPY pipe of the moved ranges only: ${rawSame.rows} rows, ${Math.round(rawSame.rowsPerSecond)} rows/s`,
    );

    await runRebalance({ config, desired: placement(1), credentials });
    // The dry run: the plan with rows/bytes estimated on the source (it also computes the plan
    // before the writer starts: planning is CPU work in this process, not a stall of the system).
    const dry = await planRebalance({ config, desired: placement(2), credentials });
    console.log(
      `plan ${a.name} → ${b.name}: ${dry.batches} batches, ${dry.rows} rows, ${(dry.bytes / 1048576).toFixed(1)} MiB estimated`,
    );
    client = await ShardClient.connect({
      config,
      user: cluster.user,
      password: cluster.password,
      statementTimeoutMs: 10_000,
      logger: quiet(),
    });
    const c = client;

    // One writer, one write at a time, keys of its own; latencies by phase, gaps between acks.
    let phase: "before" | "copy" | "other" = "before";
    let stop = false;
    const lat: Record<string, number[]> = { before: [], copy: [], other: [] };
    let lastAck = performance.now();
    let maxGap = 0;
    let measureGaps = false;
    let failedWrites = 0;
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
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
    await new Promise((r) => setTimeout(r, 3000));

    const bar = new SingleBar(
      { format: "rebalance copy [{bar}] {value}/{total} batches | {rows} rows", hideCursor: true },
      Presets.shades_classic,
    );
    let copyStarted = 0;
    let copySeconds = 0;
    let copied = 0;
    phase = "other";
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
    console.log(
      `rebalance copy ${a.name} → ${b.name}: ${report.rowsCopied} rows, copies ${(report.copyMs / 1000).toFixed(2)} s (${Math.round(copyRate)} rows/s), ` +
        `verification ${(report.verifyMs / 1000).toFixed(2)} s; whole copy phase ${copySeconds.toFixed(2)} s (${Math.round(phaseRate)} rows/s, ${report.batches} batches, ${report.verifiedPairs} pairs verified)`,
    );
    console.log(
      `writer: ${lat.before.length} writes before (p99 ${p99Before.toFixed(2)} ms), ${lat.copy.length} during the copy (p99 ${p99During.toFixed(2)} ms); longest stall ${maxGap.toFixed(1)} ms`,
    );
    return {
      copy_vs_raw: Number((copyRate / raw.rowsPerSecond).toFixed(3)),
      cutover_pause_ms: Number(maxGap.toFixed(1)),
      p99_write_during_vs_before: Number((p99During / p99Before).toFixed(3)),
      copy_phase_vs_raw: Number((phaseRate / raw.rowsPerSecond).toFixed(3)),
      copy_vs_raw_same_rows: Number((copyRate / rawSame.rowsPerSecond).toFixed(3)),
      copy_rows_per_s: Math.round(copyRate),
      raw_copy_rows_per_s: Math.round(raw.rowsPerSecond),
      raw_same_rows_per_s: Math.round(rawSame.rowsPerSecond),
      writes_unacknowledged: failedWrites,
    };
  } finally {
    await client?.close().catch(() => undefined);
    config.close();
    await Promise.all([cluster.cleanup(), etcd.stop()]);
  }
}
