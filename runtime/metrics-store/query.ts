/**
 * The read side of the store: series lookup by matchers, sample and rollup fetches from the
 * owners of the matched series, and evaluation of the PromQL subset (core/metrics). The resolution
 * (raw, 1m or 1h rollups) is picked from the step (core/metrics/promql.ts pickResolution); the
 * unsealed head is bucketed on the fly with the same function that writes rollups, so an answer
 * never depends on how far sealing has got.
 */
import { decodeChunk } from "../../core/metrics/codec";
import {
  evaluateInstant,
  evaluateRange,
  type Fetched,
  type QueryResult,
  type SeriesData,
} from "../../core/metrics/evaluate";
import { bigintToId } from "../../core/metrics/labels";
import {
  compileRegex,
  matcherAccepts,
  parseQuery,
  pickResolution,
  selectorsOf,
  selectorSpan,
  type Matcher,
} from "../../core/metrics/promql";
import { decodeBuckets, rollup, type Bucket } from "../../core/metrics/rollup";
import type { MetricsRouter } from "./router";
import { DATA_SQL, SERIES_SQL } from "./schema";

/** Inclusive time span, ms. */
export interface TimeSpan {
  mint: number;
  maxt: number;
}

/** A series found by the index. */
export interface FoundSeries {
  id: string;
  h: number;
  labels: Record<string, string>;
}

interface DataRow {
  id: string;
  chunks: Buffer[] | null;
  head: Buffer | null;
}

/** Head rows (packed t, v bits, w; 24 bytes each) → arrays. */
function unpackHead(buf: Buffer | null): { t: number[]; bits: Buffer[]; w: number[] } {
  const out = { t: [] as number[], bits: [] as Buffer[], w: [] as number[] };
  if (!buf) return out;
  for (let at = 0; at + 24 <= buf.length; at += 24) {
    out.t.push(Number(buf.readBigInt64BE(at)));
    out.bits.push(buf.subarray(at + 8, at + 16));
    out.w.push(Number(buf.readBigInt64BE(at + 16)));
  }
  return out;
}

/** Raw samples of one series from several replicas' rows: union by timestamp, newest write stamp wins. */
export function mergeRaw(rows: readonly DataRow[], mint: number, maxt: number): { t: Float64Array; v: Float64Array } {
  const best = new Map<number, { w: number; hi: number; lo: number }>();
  const put = (t: number, w: number, hi: number, lo: number) => {
    if (t < mint || t > maxt) return;
    const cur = best.get(t);
    if (!cur || w > cur.w) best.set(t, { w, hi, lo });
  };
  for (const row of rows) {
    for (const c of row.chunks ?? []) {
      const d = decodeChunk(new Uint8Array(c.buffer, c.byteOffset, c.byteLength));
      const du = new Uint32Array(d.v.buffer);
      for (let i = 0; i < d.t.length; i++) put(d.t[i], 0, du[2 * i + 1], du[2 * i]);
    }
    const head = unpackHead(row.head);
    for (let i = 0; i < head.t.length; i++)
      put(head.t[i], head.w[i], head.bits[i].readUInt32BE(0), head.bits[i].readUInt32BE(4));
  }
  const ts = [...best.keys()].sort((a, b) => a - b);
  const t = Float64Array.from(ts);
  const v = new Float64Array(ts.length);
  const vu = new Uint32Array(v.buffer);
  ts.forEach((x, i) => {
    const s = best.get(x)!;
    vu[2 * i + 1] = s.hi;
    vu[2 * i] = s.lo;
  });
  return { t, v };
}

/** Buckets of one series at resolution `r` from replicas' rows (rollup chunks + bucketed head). */
function mergeBuckets(rows: readonly DataRow[], r: number): Bucket[] {
  const byEnd = new Map<number, Bucket>();
  for (const row of rows) {
    const fromRow: Bucket[] = [];
    for (const c of row.chunks ?? [])
      fromRow.push(...decodeBuckets(new Uint8Array(c.buffer, c.byteOffset, c.byteLength), decodeChunk));
    const raw = mergeRaw([{ id: row.id, chunks: null, head: row.head }], -Infinity, Infinity);
    fromRow.push(...rollup(raw.t, raw.v, r));
    for (const b of fromRow) {
      const cur = byEnd.get(b.end);
      // replicas agree unless one missed writes: keep the fuller bucket
      if (!cur || b.count > cur.count) byEnd.set(b.end, b);
    }
  }
  return [...byEnd.values()].sort((a, b) => a.end - b.end);
}

/**
 * How SERIES_SQL finds the series of `matchers`: its first two parameters (the metric name or
 * null, the equality matchers as jsonb) and the test of the other matchers, applied to the rows.
 */
export function seriesLookup(matchers: readonly Matcher[]): {
  params: [string | null, string];
  accepts: (labels: Record<string, string>) => boolean;
} {
  const metric = matchers.find((m) => m.name === "__name__" && m.op === "=")?.value ?? null;
  const contains = Object.fromEntries(
    matchers.filter((m) => m.op === "=" && m.value !== "").map((m) => [m.name, m.value]),
  );
  const rest = matchers
    .filter((m) => !(m.op === "=" && m.value !== ""))
    .map((m) => ({ ...m, ...(m.op === "=~" || m.op === "!~" ? { re: compileRegex(m.value) } : {}) }));
  return {
    params: [metric, JSON.stringify(contains)],
    accepts: (labels) => rest.every((m) => matcherAccepts(m, labels[m.name] ?? "")),
  };
}

export class MetricsQuerier {
  constructor(private readonly router: MetricsRouter) {}

  /**
   * Series matching every matcher, from the index of every shard (leftovers of former owners
   * ignored); with `span`, only those with data in it (block-granular: schema.ts SERIES_SQL).
   */
  async findSeries(
    matchers: readonly Matcher[],
    span?: TimeSpan,
  ): Promise<{ series: FoundSeries[]; alive: Set<string> }> {
    const { params, accepts } = seriesLookup(matchers);
    const { results, st } = await this.router.readAll((c) =>
      c
        .query<{ id: string; h: string; labels: string }>(SERIES_SQL, [
          ...params,
          span?.mint ?? null,
          span?.maxt ?? null,
        ])
        .then((r) => r.rows),
    );
    const found = new Map<string, FoundSeries>();
    for (const [shard, rows] of results)
      for (const row of rows) {
        const id = bigintToId(row.id);
        if (found.has(id)) continue;
        const h = Number(row.h);
        if (!this.router.readReplicas(h, st).includes(shard)) continue;
        const labels = JSON.parse(row.labels) as Record<string, string>;
        if (accepts(labels)) found.set(id, { id, h, labels });
      }
    return { series: [...found.values()], alive: new Set(results.keys()) };
  }

  /** Samples or buckets of the series in `[mint, maxt]` at resolution `r` (0 = raw). */
  async fetch(
    found: readonly FoundSeries[],
    alive: Set<string>,
    mint: number,
    maxt: number,
    r: number,
  ): Promise<SeriesData[]> {
    if (found.length === 0) return [];
    const table = r === 0 ? "metrics_chunks" : r === 3_600_000 ? "metrics_rollup_1h" : "metrics_rollup_1m";
    const sql = DATA_SQL.replace(/%TABLE%/g, table);
    // buckets ending at mint may hold the sample exactly at mint
    const lo = r === 0 ? mint : mint - r;
    const byShard = await this.router.readSeries(found, alive, async (c, ids, hs) => {
      await c.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      try {
        const res = await c.query<DataRow>(sql, [ids, lo, maxt, hs]);
        return res.rows;
      } finally {
        await c.query("COMMIT");
      }
    });
    const rowsOf = new Map<string, DataRow[]>();
    for (const rows of byShard.values())
      for (const row of rows) {
        const id = bigintToId(row.id);
        let list = rowsOf.get(id);
        if (!list) rowsOf.set(id, (list = []));
        list.push(row);
      }
    return found.map((s) => {
      const rows = rowsOf.get(s.id) ?? [];
      return r === 0
        ? { labels: s.labels, raw: mergeRaw(rows, mint, maxt) }
        : { labels: s.labels, buckets: mergeBuckets(rows, r) };
    });
  }

  private async fetchAll(query: string, start: number, end: number, step: number, force?: number) {
    const expr = parseQuery(query);
    const r = force ?? pickResolution(expr, start, step);
    const fetched = new Map<number, SeriesData[]>();
    for (const sel of selectorsOf(expr)) {
      const { series, alive } = await this.findSeries(sel.matchers);
      const span = selectorSpan(sel, start, end);
      fetched.set(sel.id, await this.fetch(series, alive, span.mint, span.maxt, r));
    }
    return { expr, fetched: fetched as Fetched, resolution: r };
  }

  /** An instant query at `time` (ms). */
  async instant(query: string, time: number): Promise<QueryResult & { resolution: number }> {
    const { expr, fetched, resolution } = await this.fetchAll(query, time, time, 0);
    return { ...evaluateInstant(expr, fetched, time), resolution };
  }

  /**
   * A range query (ms). `forceResolution` (0 = raw) overrides the picked resolution: the bench
   * compares rollup answers with raw ones; forcing a rollup the query does not align with is wrong.
   */
  async range(
    query: string,
    start: number,
    end: number,
    step: number,
    forceResolution?: number,
  ): Promise<QueryResult & { resolution: number }> {
    const { expr, fetched, resolution } = await this.fetchAll(query, start, end, step, forceResolution);
    return { ...evaluateRange(expr, fetched, start, end, step), resolution };
  }

  /** Label names of every series (or of those matching any of `selectors`), with data in `span` when given. */
  async labelNames(selectors: readonly Matcher[][] = [], span?: TimeSpan): Promise<string[]> {
    const names = new Set<string>();
    for (const s of await this.seriesOf(selectors, span)) for (const k of Object.keys(s.labels)) names.add(k);
    return [...names].sort();
  }

  /** Values of one label over every series (or those matching any of `selectors`), with data in `span` when given. */
  async labelValues(name: string, selectors: readonly Matcher[][] = [], span?: TimeSpan): Promise<string[]> {
    const values = new Set<string>();
    for (const s of await this.seriesOf(selectors, span)) if (s.labels[name] !== undefined) values.add(s.labels[name]);
    return [...values].sort();
  }

  /** Series matching any of the selectors (all series when none), with data in `span` when given. */
  async seriesOf(selectors: readonly Matcher[][], span?: TimeSpan): Promise<FoundSeries[]> {
    const lists = selectors.length === 0 ? [[{ name: "__name__", op: "=~", value: ".+" } as Matcher]] : selectors;
    const out = new Map<string, FoundSeries>();
    for (const m of lists) for (const s of (await this.findSeries(m, span)).series) out.set(s.id, s);
    return [...out.values()];
  }
}
