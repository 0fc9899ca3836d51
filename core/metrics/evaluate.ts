/**
 * Evaluates a parsed query of the PromQL subset (core/metrics/promql.ts) over fetched series, at
 * one instant or at every step of a range, with Prometheus 2.42's semantics: closed windows
 * `[T - range, T]`, a 5-minute lookback for instant selectors, stale markers ending a series,
 * extrapolated `rate`/`increase`, the metric name dropped by functions, aggregations and
 * arithmetic. Pure: the runtime fetches the series (raw samples, or rollup buckets when
 * `pickResolution` chose a resolution) and this module computes.
 */
import { labelKey } from "./labels";
import {
  applyRangeFunction,
  incrementalMean,
  isStaleAt,
  latestFromBuckets,
  summarizeBuckets,
  summarizeRaw,
  type Bucket,
} from "./rollup";
import { LOOKBACK_MS, QueryError, type Expr, type SelectorExpr } from "./promql";

/** One fetched series of a selector: raw samples (sorted, one per timestamp) or rollup buckets. */
export interface SeriesData {
  labels: Record<string, string>;
  raw?: { t: Float64Array; v: Float64Array };
  buckets?: Bucket[];
}

/** The series each selector (by `SelectorExpr.id`) matched. */
export type Fetched = ReadonlyMap<number, readonly SeriesData[]>;

interface Sample {
  labels: Record<string, string>;
  value: number;
  /** `labelKey(labels)`, memoised (the same labels object comes back at every step). */
  key?: string;
}
type Value = { kind: "scalar"; value: number } | { kind: "vector"; samples: Sample[] };

/** One output series of a range query. */
export interface MatrixSeries {
  labels: Record<string, string>;
  /** [ms, value] pairs in time order. */
  points: [number, number][];
}

/** The result of an evaluation, as the HTTP API returns it. */
export type QueryResult =
  | { resultType: "scalar"; value: [number, number] }
  | { resultType: "vector"; samples: { labels: Record<string, string>; t: number; value: number }[] }
  | { resultType: "matrix"; series: MatrixSeries[] };

/*
 * A range query evaluates the expression at every step, over the same series: the labels of a
 * series (and of its name-less form, and of its aggregation group) are the same objects at every
 * step, so their canonical keys are computed once per object (WeakMaps), not once per step and
 * sample. (Computing them per step was the cost of a 2,800-series rate: seconds.)
 */
const keys = new WeakMap<object, string>();
/** The canonical key of a labels object, memoised per object (label objects are never mutated). */
function keyOf(l: Record<string, string>): string {
  let k = keys.get(l);
  if (k === undefined) keys.set(l, (k = labelKey(l)));
  return k;
}
const nameless = new WeakMap<object, Record<string, string>>();
/** The labels without `__name__`, the same object for the same input object. */
const withoutName = (l: Record<string, string>): Record<string, string> => {
  let out = nameless.get(l);
  if (out === undefined) {
    if (l.__name__ === undefined) out = l;
    else {
      const { __name__: _drop, ...rest } = l;
      void _drop;
      out = rest;
    }
    nameless.set(l, out);
  }
  return out;
};

/** Last index with t ≤ x, or -1. */
function lastAtOrBefore(t: Float64Array, x: number): number {
  let lo = 0;
  let hi = t.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (t[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

function selectInstant(s: SelectorExpr, series: readonly SeriesData[], T: number): Sample[] {
  const hi = T - s.offset;
  const lo = hi - LOOKBACK_MS;
  const out: Sample[] = [];
  for (const d of series) {
    let value: number | undefined;
    if (d.buckets) value = latestFromBuckets(d.buckets, lo, hi);
    else if (d.raw) {
      const i = lastAtOrBefore(d.raw.t, hi);
      if (i >= 0 && d.raw.t[i] >= lo && !isStaleAt(d.raw.v, i)) value = d.raw.v[i];
    }
    if (value !== undefined) out.push({ labels: d.labels, value, key: keyOf(d.labels) });
  }
  return out;
}

/** Per-series window cursors of one selector's series, advanced as a range query's T grows. */
interface Cursors {
  /** The call they were made for (its range and label form); another call starts afresh. */
  fn: object;
  hi: number;
  a: Int32Array;
  b: Int32Array;
  /** The output labels and their keys, per series. */
  labels: Record<string, string>[];
  keys: string[];
}
const cursorsOf = new WeakMap<object, Cursors>();

/** First index with t > x from `from` on (a linear walk: windows move by one step). */
function advance(t: Float64Array, from: number, x: number): number {
  let i = from;
  while (i < t.length && t[i] <= x) i++;
  return i;
}

function selectRange(fn: Extract<Expr, { kind: "call" }>, series: readonly SeriesData[], T: number): Sample[] {
  const s = fn.arg;
  const hi = T - s.offset;
  const lo = hi - s.range!;
  let cur = cursorsOf.get(series);
  if (!cur || cur.fn !== fn) {
    const labels = series.map((d) => (fn.fn === "last_over_time" ? d.labels : withoutName(d.labels)));
    cur = {
      fn,
      hi: Infinity,
      a: new Int32Array(series.length),
      b: new Int32Array(series.length),
      labels,
      keys: labels.map(keyOf),
    };
    cursorsOf.set(series, cur);
  }
  // the cursors are valid for a window ending later than the last one; otherwise search again
  const forward = hi >= cur.hi;
  cur.hi = hi;
  const out: Sample[] = [];
  for (let i = 0; i < series.length; i++) {
    const d = series[i];
    let summary;
    if (d.buckets) summary = summarizeBuckets(d.buckets, lo, hi);
    else if (d.raw) {
      const t = d.raw.t;
      const a = forward ? advance(t, cur.a[i], lo - 1) : lastAtOrBefore(t, lo - 1) + 1;
      const b = forward ? advance(t, Math.max(cur.b[i], a), hi) : lastAtOrBefore(t, hi) + 1;
      cur.a[i] = a;
      cur.b[i] = b;
      summary = summarizeRaw(t, d.raw.v, a, b);
    } else continue;
    const value = applyRangeFunction(fn.fn, summary, lo, hi);
    // last_over_time keeps the metric name (Prometheus does); the other functions drop it
    if (value !== undefined) out.push({ labels: cur.labels[i], value, key: cur.keys[i] });
  }
  return fn.fn === "last_over_time" || !mayCollide(series) ? out : checkUnique(out, fn.fn);
}

/** Whether two series of a list have the same labels once the name is dropped (computed once per list). */
const collisions = new WeakMap<object, boolean>();
function mayCollide(series: readonly SeriesData[]): boolean {
  let c = collisions.get(series);
  if (c === undefined) {
    const seen = new Set<string>();
    c = false;
    for (const d of series) {
      const k = keyOf(withoutName(d.labels));
      if (seen.has(k)) c = true;
      seen.add(k);
    }
    collisions.set(series, c);
  }
  return c;
}

function checkUnique(samples: Sample[], where: string): Sample[] {
  const seen = new Set<string>();
  for (const s of samples) {
    const k = s.key ?? keyOf(s.labels);
    if (seen.has(k)) throw new QueryError(`${where}: vector cannot contain metrics with the same labelset`);
    seen.add(k);
  }
  return samples;
}

function arith(op: string, a: number, b: number): number {
  switch (op) {
    case "+":
      return a + b;
    case "-":
      return a - b;
    case "*":
      return a * b;
    default:
      return a / b;
  }
}

/** The group of a sample's labels under an aggregation, memoised per (aggregation, labels object). */
const groupsOf = new WeakMap<object, WeakMap<object, { labels: Record<string, string>; key: string }>>();
const NO_GROUP = { labels: {}, key: labelKey({}) };
function groupOf(e: Extract<Expr, { kind: "agg" }>, l: Record<string, string>) {
  if (!e.grouping) return NO_GROUP;
  let memo = groupsOf.get(e);
  if (!memo) groupsOf.set(e, (memo = new WeakMap()));
  let g = memo.get(l);
  if (!g) {
    let labels: Record<string, string>;
    if (e.grouping.mode === "by")
      labels = Object.fromEntries(e.grouping.labels.filter((n) => l[n] !== undefined).map((n) => [n, l[n]]));
    else {
      labels = { ...withoutName(l) };
      for (const n of e.grouping.labels) delete labels[n];
    }
    memo.set(l, (g = { labels, key: labelKey(labels) }));
  }
  return g;
}

function aggregate(e: Extract<Expr, { kind: "agg" }>, input: Sample[]): Sample[] {
  const groups = new Map<string, { labels: Record<string, string>; value: number; count: number; key: string }>();
  for (const s of input) {
    const { labels, key: k } = groupOf(e, s.labels);
    const g = groups.get(k);
    if (!g) {
      groups.set(k, { labels, value: e.op === "count" ? 1 : s.value, count: 1, key: k });
      continue;
    }
    g.count++;
    switch (e.op) {
      case "sum":
        g.value += s.value;
        break;
      case "avg":
        g.value = incrementalMean(g.value, s.value, g.count);
        break;
      case "count":
        g.value = g.count;
        break;
      case "min":
        if (g.value > s.value || g.value !== g.value) g.value = s.value;
        break;
      case "max":
        if (g.value < s.value || g.value !== g.value) g.value = s.value;
        break;
    }
  }
  return [...groups.values()].map((g) => ({ labels: g.labels, value: g.value, key: g.key }));
}

function evalAt(e: Expr, data: Fetched, T: number): Value {
  switch (e.kind) {
    case "number":
      return { kind: "scalar", value: e.value };
    case "selector":
      if (e.range !== undefined)
        throw new QueryError("a range vector cannot be evaluated at each step of a range query");
      return { kind: "vector", samples: selectInstant(e, data.get(e.id) ?? [], T) };
    case "call":
      return { kind: "vector", samples: selectRange(e, data.get(e.arg.id) ?? [], T) };
    case "agg": {
      const v = evalAt(e.arg, data, T);
      if (v.kind !== "vector") throw new QueryError(`${e.op} expects an instant vector`);
      return { kind: "vector", samples: aggregate(e, v.samples) };
    }
    case "binary": {
      const l = evalAt(e.left, data, T);
      const r = evalAt(e.right, data, T);
      if (l.kind === "scalar" && r.kind === "scalar") return { kind: "scalar", value: arith(e.op, l.value, r.value) };
      if (l.kind === "vector" && r.kind === "scalar")
        return {
          kind: "vector",
          samples: l.samples.map((s) => ({ labels: withoutName(s.labels), value: arith(e.op, s.value, r.value) })),
        };
      if (l.kind === "scalar" && r.kind === "vector")
        return {
          kind: "vector",
          samples: r.samples.map((s) => ({ labels: withoutName(s.labels), value: arith(e.op, l.value, s.value) })),
        };
      const lv = (l as { samples: Sample[] }).samples;
      const rv = (r as { samples: Sample[] }).samples;
      const right = new Map<string, Sample>();
      for (const s of rv) {
        const k = keyOf(withoutName(s.labels));
        if (right.has(k))
          throw new QueryError("found duplicate series for the match group on the right hand-side of the operation");
        right.set(k, s);
      }
      const seen = new Set<string>();
      const out: Sample[] = [];
      for (const s of lv) {
        const labels = withoutName(s.labels);
        const k = keyOf(labels);
        const m = right.get(k);
        if (!m) continue;
        if (seen.has(k))
          throw new QueryError("found duplicate series for the match group on the left hand-side of the operation");
        seen.add(k);
        out.push({ labels, value: arith(e.op, s.value, m.value) });
      }
      return { kind: "vector", samples: out };
    }
  }
}

/** Evaluates at one instant `T` (ms): a scalar, a vector, or (a bare range selector) a matrix. */
export function evaluateInstant(e: Expr, data: Fetched, T: number): QueryResult {
  if (e.kind === "selector" && e.range !== undefined) {
    const hi = T - e.offset;
    const lo = hi - e.range;
    const series: MatrixSeries[] = [];
    for (const d of data.get(e.id) ?? []) {
      if (!d.raw) continue;
      const points: [number, number][] = [];
      for (let i = 0; i < d.raw.t.length; i++)
        if (d.raw.t[i] >= lo && d.raw.t[i] <= hi && !isStaleAt(d.raw.v, i)) points.push([d.raw.t[i], d.raw.v[i]]);
      if (points.length > 0) series.push({ labels: d.labels, points });
    }
    return { resultType: "matrix", series: sortSeries(series) };
  }
  const v = evalAt(e, data, T);
  if (v.kind === "scalar") return { resultType: "scalar", value: [T, v.value] };
  return { resultType: "vector", samples: v.samples.map((s) => ({ labels: s.labels, t: T, value: s.value })) };
}

/** Evaluates at `start, start + step, …, ≤ end` (ms): a matrix (a scalar expression gives one unlabelled series). */
export function evaluateRange(e: Expr, data: Fetched, start: number, end: number, step: number): QueryResult {
  if (!(step > 0)) throw new QueryError("step must be positive");
  const byKey = new Map<string, MatrixSeries>();
  for (let T = start; T <= end; T += step) {
    const v = evalAt(e, data, T);
    const samples = v.kind === "scalar" ? [{ labels: {}, value: v.value }] : v.samples;
    for (const s of samples) {
      const k = s.key ?? keyOf(s.labels);
      let m = byKey.get(k);
      if (!m) byKey.set(k, (m = { labels: s.labels, points: [] }));
      m.points.push([T, s.value]);
    }
  }
  return { resultType: "matrix", series: sortSeries([...byKey.values()]) };
}

function sortSeries(series: MatrixSeries[]): MatrixSeries[] {
  return series
    .map((s) => ({ s, k: labelKey(s.labels) }))
    .sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0))
    .map((x) => x.s);
}
