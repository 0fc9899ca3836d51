/**
 * `npm run bench -- events`: the event store on real PostgreSQL and etcd (local processes on
 * 127.0.0.1), each figure against a baseline run in the same process on the same shards:
 *
 * - `append_vs_raw_insert`: events/s of expected-version appends (16 clients, 20 events per
 *   append, the real store: sealing, the append function, stamps) ÷ events/s of plain INSERTs
 *   of the same rows (the same sealed payloads, produced in the timed loop too) into a table with
 *   a primary key only, on the same shards with the same clients. `append_vs_raw_insert_presealed`
 *   hands the INSERTs their payloads already sealed (the cost of encryption charged to appends
 *   only). Medians of `--rounds` (default 3) alternating rounds.
 * - `projection_lag_p50_ms` / `_p99_ms`: under 32 writers (10 events per append) for
 *   `--seconds` (default 15), the time from an append's acknowledgement to the commit of the
 *   projection batch that applied it (0 when the projection committed first).
 * - `rebuild_events_per_s`: a rebuild of that projection (which reads every payload: decryption
 *   included) into a shadow generation on every shard at once, events replayed ÷ wall seconds.
 * - `swap_read_downtime_ms`: the longest gap between two successful reads of the live table by
 *   a reader polling it every ~2 ms from its own thread (the rebuild's decryption on the main
 *   thread would otherwise count as downtime), its clock running before the rebuild began;
 *   `swap_lock_ms` is the longest the swap transaction held its locks.
 */
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { randomBytes } from "node:crypto";
import { Pool } from "pg";
import pino from "pino";
import { ConfigClient } from "../runtime/config-client";
import {
  EventStore,
  PayloadCipher,
  rebuildProjection,
  runProjections,
  type ProjectionDefinition,
  type RecordedEvent,
} from "../runtime/event-store";
import { startLocalEtcd } from "../test/support/etcd-cluster";
import { startPgCluster } from "../test/support/pg-cluster";

const quiet = pino({ level: "silent" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

/**
 * The swap-downtime reader, run in a worker thread: polls the live ledger table every ~2 ms and
 * reports the longest gap between two successful reads since the last "reset".
 */
const READER_THREAD = `
const { parentPort, workerData } = require("node:worker_threads");
const { Pool } = require(workerData.pg);
const pool = new Pool({ ...workerData.config, max: 1 });
pool.on("error", () => undefined);
let reading = true, maxGap = 0, reads = 0, lastOk = Date.now();
parentPort.on("message", (m) => {
  if (m === "reset") { maxGap = 0; reads = 0; }
  if (m === "stop") reading = false;
});
(async () => {
  parentPort.postMessage({ type: "ready" });
  while (reading) {
    try {
      await pool.query("SELECT sum(balance) FROM bench_ledger");
      const now = Date.now();
      maxGap = Math.max(maxGap, now - lastOk);
      lastOk = now;
      reads++;
    } catch {
      // a failed read counts as downtime until the next success
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  await pool.end();
  parentPort.postMessage({ type: "stopped", maxGap, reads });
})();
`;

/** A ledger projection reading every payload: balance and count per stream. */
function ledger(pendingByShard: Map<string, string[]>): ProjectionDefinition {
  return {
    name: "bench_ledger",
    tables: [
      {
        name: "bench_ledger",
        ddl: (t) =>
          `CREATE TABLE "${t}" (stream text COLLATE "C" PRIMARY KEY, n integer NOT NULL, balance bigint NOT NULL)`,
      },
    ],
    async apply(ctx, events: readonly RecordedEvent[]) {
      const per = new Map<string, { n: number; sum: number }>();
      for (const e of events) {
        const p = per.get(e.stream) ?? { n: 0, sum: 0 };
        p.n++;
        p.sum += (e.data as { amount: number }).amount;
        per.set(e.stream, p);
      }
      await ctx.client.query(
        `INSERT INTO ${ctx.table("bench_ledger")} AS l (stream, n, balance)
         SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[])
         ON CONFLICT (stream) DO UPDATE SET n = l.n + excluded.n, balance = l.balance + excluded.balance`,
        [[...per.keys()], [...per.values()].map((p) => p.n), [...per.values()].map((p) => p.sum)],
      );
      if (!ctx.rebuilding) {
        const list = pendingByShard.get(ctx.shard) ?? [];
        for (const e of events) list.push(e.id);
        pendingByShard.set(ctx.shard, list);
      }
    },
    async purge(ctx, streams) {
      await ctx.client.query(`DELETE FROM ${ctx.table("bench_ledger")} WHERE stream = ANY($1)`, [streams]);
    },
  };
}

export default async function eventsBench(argv: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({
    args: argv.filter((a) => a !== "events"),
    options: { rounds: { type: "string", default: "3" }, seconds: { type: "string", default: "15" } },
    strict: false,
  });
  const rounds = Number(values.rounds);
  const seconds = Number(values.seconds);
  const [etcd, pg] = await Promise.all([
    startLocalEtcd("bench-events"),
    startPgCluster(2, { settings: { max_connections: 200, synchronous_commit: "off", shared_buffers: "128MB" } }),
  ]);
  const config = ConfigClient.create({
    endpoints: [etcd.endpoint],
    prefix: `/bench-events-${process.pid}/`,
    logger: quiet,
  });
  const masterKey = randomBytes(32);
  const pending = new Map<string, string[]>();
  const def = ledger(pending);
  try {
    await config.initShardMap({
      epoch: 0,
      vnodesPerWeight: 150,
      replicationFactor: 1,
      consistency: "one",
      shards: pg.members(),
    });
    const store = await EventStore.connect({
      config,
      user: pg.user,
      password: pg.password,
      masterKey,
      logger: quiet,
      poolSize: 16,
      statementTimeoutMs: 60_000,
    });
    const cipher = new PayloadCipher(masterKey);
    const pools = new Map(
      pg.instances.map((i) => {
        const p = new Pool({ ...i.config(), max: 16, connectionTimeoutMillis: 60_000 });
        p.on("error", () => undefined);
        return [i.name, p] as const;
      }),
    );
    await Promise.all(
      [...pools.values()].map((p) =>
        p.query("CREATE TABLE bench_raw (id bigserial PRIMARY KEY, stream text, version integer, data bytea)"),
      ),
    );

    // ---- append vs raw insert ----------------------------------------------------------------
    const CLIENTS = 16;
    const BATCH = 20;
    const APPENDS = 60;
    const events = (n: number) =>
      Array.from({ length: BATCH }, (_, k) => ({ type: "Deposited", data: { amount: k + 1, n } }));
    const runAppends = async (round: number) => {
      const t = Date.now();
      await Promise.all(
        Array.from({ length: CLIENTS }, async (_, c) => {
          const versions = [0, 0, 0, 0];
          for (let i = 0; i < APPENDS; i++) {
            const k = i % 4;
            await store.append(`acct-${round}-${c}-${k}`, events(i), { expectedVersion: versions[k] });
            versions[k] += BATCH;
          }
        }),
      );
      return (CLIENTS * APPENDS * BATCH) / ((Date.now() - t) / 1000);
    };
    const key = cipher.newKey();
    const presealed = events(0).map((e) => cipher.seal(key, "x", { d: e.data, m: {} }));
    const runRaw = async (round: number, seal: boolean) => {
      const t = Date.now();
      await Promise.all(
        Array.from({ length: CLIENTS }, async (_, c) => {
          for (let i = 0; i < APPENDS; i++) {
            const stream = `raw-${round}-${c}-${i % 4}`;
            const aad = Buffer.from(stream);
            const rows = seal ? events(i).map((e) => cipher.seal(key, aad, { d: e.data, m: {} })) : presealed;
            await pools
              .get(store.shardOf(stream))!
              .query(
                "INSERT INTO bench_raw (stream, version, data) SELECT $1, v, d FROM unnest($2::bytea[]) WITH ORDINALITY AS u(d, v)",
                [stream, rows],
              );
          }
        }),
      );
      return (CLIENTS * APPENDS * BATCH) / ((Date.now() - t) / 1000);
    };
    const appendRates: number[] = [];
    const rawRates: number[] = [];
    const rawPreRates: number[] = [];
    await runAppends(-1); // warm-up: pools, schema, plans
    for (let r = 0; r < rounds; r++) {
      rawRates.push(await runRaw(r, true));
      appendRates.push(await runAppends(r));
      rawPreRates.push(await runRaw(r + 1000, false));
      console.log(
        `round ${r + 1}: append ${appendRates[r].toFixed(0)} ev/s, raw INSERT ${rawRates[r].toFixed(0)} ev/s, raw presealed ${rawPreRates[r].toFixed(0)} ev/s`,
      );
    }
    const ratios = appendRates.map((a, i) => a / rawRates[i]);
    const ratiosPre = appendRates.map((a, i) => a / rawPreRates[i]);

    // ---- projection lag under 32 writers ------------------------------------------------------
    const ack = new Map<string, number>();
    const lags: number[] = [];
    const runnerConfig = ConfigClient.create({ endpoints: [etcd.endpoint], prefix: config.prefix, logger: quiet });
    const runners = runProjections(store, [def], {
      config: runnerConfig,
      candidateId: "bench",
      batchSize: 1000,
      idleMs: 100,
      onBatch: ({ shard }) => {
        const now = Date.now();
        for (const id of pending.get(shard) ?? []) {
          const a = ack.get(id);
          if (a !== undefined) {
            lags.push(Math.max(0, now - a));
            ack.delete(id);
          }
        }
        pending.set(shard, []);
      },
    });
    let writing = true;
    let written = 0;
    const writers = Array.from({ length: 32 }, async (_, w) => {
      for (let i = 0; writing; i++) {
        const batch = Array.from({ length: 10 }, (_, k) => ({
          id: undefined as string | undefined,
          type: "Deposited",
          data: { amount: k },
        }));
        const ids = batch.map(() => crypto.randomUUID());
        batch.forEach((b, k) => (b.id = ids[k]));
        await store.append(`lag-${w}-${i % 8}`, batch as never);
        const now = Date.now();
        for (const id of ids) ack.set(id, now);
        written += 10;
      }
    });
    await sleep(seconds * 1000);
    writing = false;
    await Promise.all(writers);
    // let the projection finish what was written
    for (let i = 0; i < 600 && ack.size > 0; i++) await sleep(100);
    console.log(
      `projection under 32 writers: ${written} events in ${seconds} s, lag p50 ${pct(lags, 50)} ms, p99 ${pct(lags, 99)} ms`,
    );

    // ---- rebuild and swap ----------------------------------------------------------------------
    const shards = store.shards;
    const readerShard = shards[0];
    // the reader polls from its own thread: the rebuild's CPU work (decrypting every payload) on
    // this thread's event loop must not count as read downtime
    const reader = new Worker(READER_THREAD, {
      eval: true,
      workerData: { pg: require.resolve("pg"), config: pg.instances.find((i) => i.name === readerShard)!.config() },
    });
    const fromReader = (type: string) =>
      new Promise<{ maxGap: number; reads: number }>((res) =>
        reader.on("message", (m: { type: string; maxGap: number; reads: number }) => m.type === type && res(m)),
      );
    const ready = fromReader("ready");
    await ready;
    await sleep(200);
    reader.postMessage("reset");
    const t0 = Date.now();
    const results = await Promise.all(shards.map((s) => rebuildProjection(store, def, s, { chunk: 5000 })));
    const rebuildSeconds = (Date.now() - t0) / 1000;
    await sleep(200);
    const stopped = fromReader("stopped");
    reader.postMessage("stop");
    const { maxGap } = await stopped;
    await reader.terminate();
    await runners.stop();
    runnerConfig.close();
    const replayed = results.reduce((a, r) => a + r.events, 0);
    const rebuildRate = replayed / rebuildSeconds;
    console.log(
      `rebuild: ${replayed} events on ${shards.length} shards in ${rebuildSeconds.toFixed(1)} s (${rebuildRate.toFixed(0)} ev/s); swap lock ${results.map((r) => r.swapLockMs).join("/")} ms, reader's longest gap ${maxGap} ms`,
    );
    await Promise.all([...pools.values()].map((p) => p.end()));
    await store.close();
    return {
      append_vs_raw_insert: Number(median(ratios).toFixed(3)),
      append_vs_raw_insert_presealed: Number(median(ratiosPre).toFixed(3)),
      append_events_per_s: Math.round(median(appendRates)),
      raw_insert_events_per_s: Math.round(median(rawRates)),
      projection_lag_p50_ms: pct(lags, 50),
      projection_lag_p99_ms: pct(lags, 99),
      projection_lag_samples: lags.length,
      rebuild_events_per_s: Math.round(rebuildRate),
      rebuild_events: replayed,
      swap_read_downtime_ms: maxGap,
      swap_lock_ms: Math.max(...results.map((r) => r.swapLockMs)),
    };
  } finally {
    config.close();
    await Promise.all([pg.cleanup(), etcd.stop()]);
  }
}
