/**
 * The store's maintenance of one shard: raises the horizon (newest sample − out-of-order window),
 * seals every 2-hour block at or below it (head rows → one compressed chunk and the 1m/1h rollups
 * per series, head rows deleted, in one transaction per slice of series), creates time partitions
 * ahead and drops those past retention (core/metrics/retention.ts).
 *
 * pg_partman was tried for the partitions (Debian's postgresql-15-partman 4.7 installs and its
 * `create_parent` works on PostgreSQL 15) and not used: the kubernetes target runs the official
 * `postgres:15` image, which does not ship it, and its maintenance still needs a caller. The plan
 * is a pure function here; this loop applies it.
 *
 * One maintainer per shard: every store instance campaigns for `metrics-maintenance.<shard>` in
 * etcd; the holder's fencing token is written into `metrics_state.maint_token` and checked by every
 * maintenance transaction, so a deposed holder (paused, partitioned) cannot seal or drop.
 */
import type { PoolClient } from "pg";
import type { Logger } from "pino";
import { blockRows } from "../../core/metrics/block";
import { decodeChunk } from "../../core/metrics/codec";
import {
  BLOCK_MS,
  PARTITIONED_TABLES,
  partitionFor,
  planPartitions,
  type PartitionedTable,
  type Retention,
} from "../../core/metrics/retention";
import type { Leadership } from "../config-client";
import type { MetricsRouter } from "./router";

/** Maintenance settings. */
export interface MaintenanceSettings {
  outOfOrderWindowMs: number;
  retention: Retention;
  /** Samples further ahead of the wall clock than this do not move the horizon. @default 10 min */
  maxFutureMs?: number;
  /** Series id slices sealed per transaction. @default 16 */
  slices?: number;
}

/** Thrown when another maintainer holds a newer fencing token. */
export class MaintenanceFencedError extends Error {
  constructor(shard: string, token: number, held: number) {
    super(`maintenance of shard ${shard}: fencing token ${token} is older than the current holder's ${held}`);
    this.name = "MaintenanceFencedError";
  }
}

/** What one pass did. */
export interface PassReport {
  horizon: number;
  sealedBlocks: number;
  sealedSeries: number;
  createdPartitions: number;
  droppedPartitions: number;
}

async function fence(
  c: PoolClient,
  shard: string,
  token: number,
): Promise<{ horizon: number; sealedTo: number | null }> {
  const r = await c.query<{ horizon: string; sealed_to: string | null; maint_token: string }>(
    "SELECT horizon::text, sealed_to::text, maint_token::text FROM metrics_state WHERE id = 1 FOR UPDATE",
  );
  const row = r.rows[0];
  if (Number(row.maint_token) > token) throw new MaintenanceFencedError(shard, token, Number(row.maint_token));
  if (Number(row.maint_token) < token) await c.query("UPDATE metrics_state SET maint_token = $1 WHERE id = 1", [token]);
  return { horizon: Number(row.horizon), sealedTo: row.sealed_to === null ? null : Number(row.sealed_to) };
}

async function tx<T>(c: PoolClient, fn: () => Promise<T>): Promise<T> {
  await c.query("BEGIN");
  try {
    const out = await fn();
    await c.query("COMMIT");
    return out;
  } catch (e) {
    await c.query("ROLLBACK").catch(() => undefined);
    throw e;
  }
}

async function ensurePartition(c: PoolClient, table: PartitionedTable, blockEnd: number): Promise<void> {
  const p = partitionFor(table, blockEnd);
  await c.query(`CREATE TABLE IF NOT EXISTS ${p.name} PARTITION OF ${table} FOR VALUES FROM (${p.from}) TO (${p.to})`);
}

/**
 * One maintenance pass over `shard` under the fencing `token`: horizon, partitions, sealing.
 * `sealAll` seals every block up to the newest sample (the bench's "after sealing"; ignores the
 * out-of-order window).
 */
export async function maintainShard(
  router: MetricsRouter,
  shard: string,
  token: number,
  s: MaintenanceSettings,
  log: Logger,
  now = Date.now(),
  sealAll = false,
): Promise<PassReport> {
  return router.run(shard, async (c) => {
    const report: PassReport = {
      horizon: 0,
      sealedBlocks: 0,
      sealedSeries: 0,
      createdPartitions: 0,
      droppedPartitions: 0,
    };
    // 1. the horizon: newest sample of any writer (bounded by the clock) minus the window
    const { horizon, sealedTo } = await tx(c, async () => {
      const st = await fence(c, shard, token);
      const w = await c.query<{ max_t: string | null }>("SELECT max(max_t)::text AS max_t FROM metrics_writers");
      const newest = w.rows[0].max_t === null ? undefined : Number(w.rows[0].max_t);
      let next = st.horizon;
      if (newest !== undefined) {
        const bounded = Math.min(newest, now + (s.maxFutureMs ?? 600_000));
        next = Math.max(st.horizon, sealAll ? bounded : bounded - s.outOfOrderWindowMs);
      }
      if (next > st.horizon) await c.query("UPDATE metrics_state SET horizon = $1 WHERE id = 1", [next]);
      return { horizon: next, sealedTo: st.sealedTo };
    });
    report.horizon = horizon;

    // 2. partitions: ahead of now, and dropped past retention
    const existing = await c.query<{ name: string; parent: string; upper: string }>(`
      SELECT c.relname AS name, p.relname AS parent,
        substring(pg_get_expr(c.relpartbound, c.oid) from 'TO \\(''?(-?[0-9]+)''?\\)') AS upper
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
      WHERE p.relname IN (${Object.keys(PARTITIONED_TABLES)
        .map((t) => `'${t}'`)
        .join(", ")})`);
    const plan = planPartitions(
      now,
      // a bound that does not parse is never dropped
      existing.rows.map((r) => ({
        table: r.parent as PartitionedTable,
        name: r.name,
        to: r.upper === null ? Infinity : Number(r.upper),
      })),
      s.retention,
    );
    await tx(c, async () => {
      await fence(c, shard, token);
      for (const p of plan.create)
        await c.query(
          `CREATE TABLE IF NOT EXISTS ${p.name} PARTITION OF ${p.table} FOR VALUES FROM (${p.from}) TO (${p.to})`,
        );
      for (const p of plan.drop) await c.query(`DROP TABLE IF EXISTS ${p.name}`);
    });
    report.createdPartitions = plan.create.length;
    report.droppedPartitions = plan.drop.length;

    // 3. seal every block whose end is at or below the horizon
    // sealAll also seals the newest, incomplete block (samples after it merge into its chunk later)
    const lastBlock = (sealAll ? Math.ceil(horizon / BLOCK_MS) : Math.floor(horizon / BLOCK_MS)) * BLOCK_MS;
    let from = sealedTo;
    if (from === null) {
      const m = await c.query<{ min_t: string | null }>("SELECT min(t)::text AS min_t FROM metrics_head");
      if (m.rows[0].min_t === null) return report;
      from = Math.ceil(Number(m.rows[0].min_t) / BLOCK_MS) * BLOCK_MS - BLOCK_MS;
    }
    for (let end = from + BLOCK_MS; end <= lastBlock; end += BLOCK_MS) {
      const next = await c.query<{ min_t: string | null }>(
        "SELECT min(t)::text AS min_t FROM metrics_head WHERE t > $1",
        [end - BLOCK_MS],
      );
      if (next.rows[0].min_t === null) {
        end = lastBlock;
      } else {
        const first = Math.ceil(Number(next.rows[0].min_t) / BLOCK_MS) * BLOCK_MS;
        if (first > lastBlock) end = lastBlock;
        else {
          end = first;
          const n = await sealBlock(c, shard, token, end, s.slices ?? 16, log);
          report.sealedBlocks++;
          report.sealedSeries += n;
        }
      }
      await tx(c, async () => {
        await fence(c, shard, token);
        await c.query("UPDATE metrics_state SET sealed_to = greatest(coalesce(sealed_to, $1), $1) WHERE id = 1", [end]);
      });
    }
    return report;
  });
}

/** Seals block `(end - 2h, end]` of one shard, slice by slice of the series id space. Returns the series sealed. */
async function sealBlock(
  c: PoolClient,
  shard: string,
  token: number,
  end: number,
  slices: number,
  log: Logger,
): Promise<number> {
  for (const table of Object.keys(PARTITIONED_TABLES) as PartitionedTable[]) await ensurePartition(c, table, end);
  let sealed = 0;
  const span = 2n ** 64n / BigInt(slices);
  for (let i = 0; i < slices; i++) {
    const lo = (-(2n ** 63n) + span * BigInt(i)).toString();
    const hi = i === slices - 1 ? (2n ** 63n - 1n).toString() : (-(2n ** 63n) + span * BigInt(i + 1) - 1n).toString();
    sealed += await tx(c, async () => {
      await fence(c, shard, token);
      const rows = await c.query<{ id: string; h: string; d: Buffer; old: Buffer | null }>(
        `SELECT hd.series_id::text AS id, min(hd.h)::text AS h,
           string_agg(int8send(hd.t) || int8send(hd.v) || int8send(hd.w), ''::bytea ORDER BY hd.t, hd.w) AS d,
           (SELECT c.data FROM metrics_chunks c WHERE c.h = min(hd.h) AND c.series_id = hd.series_id AND c.block_end = $3) AS old
         FROM metrics_head hd WHERE hd.series_id BETWEEN $1 AND $2 AND hd.t > $3::bigint - ${BLOCK_MS} AND hd.t <= $3
         GROUP BY hd.series_id`,
        [lo, hi, end],
      );
      if (rows.rows.length === 0) return 0;
      const ids: string[] = [];
      const hs: string[] = [];
      const chunks: Buffer[] = [];
      const r1m: Buffer[] = [];
      const r1h: Buffer[] = [];
      for (const row of rows.rows) {
        // newest write stamp per timestamp (rows are ordered by t, then w)
        const byT = new Map<number, [number, number]>();
        if (row.old) {
          const o = decodeChunk(new Uint8Array(row.old.buffer, row.old.byteOffset, row.old.byteLength));
          const ou = new Uint32Array(o.v.buffer);
          for (let k = 0; k < o.t.length; k++) byT.set(o.t[k], [ou[2 * k], ou[2 * k + 1]]);
        }
        for (let at = 0; at + 24 <= row.d.length; at += 24)
          byT.set(Number(row.d.readBigInt64BE(at)), [row.d.readUInt32BE(at + 12), row.d.readUInt32BE(at + 8)]);
        const t = [...byT.keys()].sort((a, b) => a - b);
        const v = new Float64Array(t.length);
        const vu = new Uint32Array(v.buffer);
        t.forEach((x, k) => {
          const [l, h] = byT.get(x)!;
          vu[2 * k] = l;
          vu[2 * k + 1] = h;
        });
        const block = blockRows(t, v);
        ids.push(row.id);
        hs.push(row.h);
        chunks.push(Buffer.from(block.chunk));
        r1m.push(Buffer.from(block.r1m));
        r1h.push(Buffer.from(block.r1h));
      }
      for (const [table, data] of [
        ["metrics_chunks", chunks],
        ["metrics_rollup_1m", r1m],
        ["metrics_rollup_1h", r1h],
      ] as const)
        await c.query(
          `INSERT INTO ${table} (h, series_id, block_end, data)
           SELECT u.h, u.id, $3, u.d FROM unnest($1::bigint[], $2::bigint[], $4::bytea[]) AS u(h, id, d)
           ON CONFLICT (h, series_id, block_end) DO UPDATE SET data = excluded.data`,
          [hs, ids, end, data],
        );
      await c.query(
        `DELETE FROM metrics_head WHERE series_id BETWEEN $1 AND $2 AND t > $3::bigint - ${BLOCK_MS} AND t <= $3`,
        [lo, hi, end],
      );
      return rows.rows.length;
    });
  }
  log.info({ shard, blockEnd: new Date(end).toISOString(), series: sealed }, "block sealed");
  return sealed;
}

/**
 * Runs the maintenance of every shard of the map while this process holds each shard's lease:
 * campaigns for `metrics-maintenance.<shard>` and, while elected, passes every `periodMs`.
 */
export class MaintenanceLoop {
  private stopped = false;
  private readonly leads = new Map<string, Leadership>();
  private timer?: NodeJS.Timeout;
  /** The last pass of each shard this process ran. */
  readonly reports = new Map<string, PassReport & { at: number }>();

  constructor(
    private readonly router: MetricsRouter,
    private readonly settings: MaintenanceSettings,
    private readonly log: Logger,
    private readonly o: { periodMs?: number; ttlSeconds?: number; candidateId: string },
  ) {}

  start(): void {
    const tick = async () => {
      if (this.stopped) return;
      await this.pass().catch((e: unknown) => this.log.error({ err: String(e) }, "maintenance pass failed"));
      if (!this.stopped) this.timer = setTimeout(() => void tick(), this.o.periodMs ?? 15_000);
    };
    void tick();
  }

  /** One pass: campaign (without waiting) for each shard not led yet; maintain the led ones. */
  async pass(): Promise<void> {
    const config = this.router.config;
    for (const shard of this.router.map.shards.map((s) => s.name)) {
      let lead = this.leads.get(shard);
      if (lead && !lead.believedCurrent) {
        this.leads.delete(shard);
        lead = undefined;
      }
      if (!lead) {
        lead = await config
          .campaign(`metrics-maintenance.${shard}`, this.o.candidateId, {
            ttlSeconds: this.o.ttlSeconds ?? 15,
            timeoutMs: 200,
          })
          .catch(() => undefined);
        if (!lead) continue;
        this.leads.set(shard, lead);
      }
      try {
        const r = await maintainShard(this.router, shard, lead.fencingToken, this.settings, this.log);
        this.reports.set(shard, { ...r, at: Date.now() });
      } catch (e) {
        if (e instanceof MaintenanceFencedError) {
          this.leads.delete(shard);
          await lead.resign().catch(() => undefined);
        }
        this.log.warn({ shard, err: String(e) }, "maintenance of a shard failed");
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await Promise.all([...this.leads.values()].map((l) => l.resign().catch(() => undefined)));
    this.leads.clear();
  }
}
