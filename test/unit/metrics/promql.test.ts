import fc from "fast-check";
import { evaluateInstant, evaluateRange, type SeriesData } from "../../../core/metrics/evaluate";
import { formatValue } from "../../../core/metrics/format";
import {
  parseQuery,
  pickResolution,
  QueryError,
  selectorsOf,
  UnsupportedQueryError,
} from "../../../core/metrics/promql";
import { rollup } from "../../../core/metrics/rollup";

const series = (labels: Record<string, string>, pts: [number, number][]): SeriesData => ({
  labels,
  raw: { t: Float64Array.from(pts.map((p) => p[0])), v: Float64Array.from(pts.map((p) => p[1])) },
});

describe("PromQL subset", () => {
  it("parses the dashboard shapes Grafana sends", () => {
    for (const q of [
      'sum by (job) (rate(http_requests_total{job=~"api|web", code!="500"}[5m]))',
      "avg without (cpu) (rate(node_cpu_seconds_total{mode!~'idle|iowait'}[1m] offset 1h))",
      "max_over_time(up[1h]) * 100",
      "sum(rate(a[5m])) / sum(rate(b[5m]))",
      "-up",
      "count(up) by (instance)",
      '{__name__=~"node_.*"}',
      "increase(x[1d])",
    ])
      expect(() => parseQuery(q)).not.toThrow();
  });

  it("refuses what is outside the subset with a 400-worthy message that lists the subset", () => {
    for (const [q, why] of [
      ["histogram_quantile(0.9, rate(x[5m]))", 'function "histogram_quantile" is not supported'],
      ["topk(3, x)", 'function "topk" is not supported'],
      ["a / on(job) b", '"on" is not supported'],
      ["a > 3", 'operator ">" is not supported'],
      ["rate(x[5m:1m])", "subqueries are not supported"],
      ["a and b", '"and" is not supported'],
    ]) {
      let err: unknown;
      try {
        parseQuery(q);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UnsupportedQueryError);
      expect((err as Error).message).toContain(why);
      expect((err as Error).message).toContain("supported: vector selectors");
    }
    expect(() => parseQuery('{job=""}')).toThrow(QueryError);
    expect(() => parseQuery("rate(x)")).toThrow(/expects a range vector/);
  });

  it("picks the coarsest exact resolution from the step", () => {
    const q = parseQuery("sum(rate(x[1h]))");
    expect(pickResolution(q, 0, 3_600_000)).toBe(3_600_000);
    expect(pickResolution(q, 0, 60_000)).toBe(60_000);
    expect(pickResolution(q, 0, 15_000)).toBe(0);
    expect(pickResolution(q, 30_000, 60_000)).toBe(0); // unaligned start
    expect(pickResolution(parseQuery("up"), 0, 3_600_000)).toBe(60_000); // 5m lookback
    expect(pickResolution(parseQuery("rate(x[90s])"), 0, 60_000)).toBe(0);
  });

  it("evaluates rate, aggregations and arithmetic like Prometheus", () => {
    const q = parseQuery('sum by (job) (rate(req_total{job="api"}[1m])) * 2');
    const [sel] = selectorsOf(q);
    const pts = (slope: number): [number, number][] =>
      Array.from({ length: 9 }, (_, i) => [i * 15_000, i * 15 * slope] as [number, number]);
    const data = new Map([
      [
        sel.id,
        [
          series({ __name__: "req_total", job: "api", instance: "a" }, pts(1)),
          series({ __name__: "req_total", job: "api", instance: "b" }, pts(3)),
        ],
      ],
    ]);
    const r = evaluateInstant(q, data, 120_000);
    expect(r.resultType).toBe("vector");
    if (r.resultType !== "vector") return;
    expect(r.samples).toHaveLength(1);
    expect(r.samples[0].labels).toEqual({ job: "api" });
    expect(r.samples[0].value).toBeCloseTo(8, 10); // (1 + 3) per second × 2
  });

  it("range queries from rollups equal range queries from raw samples", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(
          "rate(c[5m])",
          "sum(increase(c[10m]))",
          "avg_over_time(c[3m])",
          "max_over_time(c[2m]) - min_over_time(c[2m])",
          "c",
          "count_over_time(c[1m])",
        ),
        fc.integer({ min: 1, max: 100_000 }),
        (query, seed) => {
          let x = seed;
          const rnd = () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32;
          const q = parseQuery(query);
          const raw = new Map<number, SeriesData[]>();
          const rolled = new Map<number, SeriesData[]>();
          const all = [0, 1, 2].map((i) => {
            const pts: [number, number][] = [];
            let c = 0;
            for (let t = 10_000 + i * 1000; t < 3_600_000; t += 15_000)
              pts.push([t, (c = rnd() < 0.02 ? 0 : c + Math.floor(rnd() * 100))]);
            return series({ __name__: "c", i: String(i) }, pts);
          });
          for (const s of selectorsOf(q)) {
            raw.set(s.id, all);
            rolled.set(
              s.id,
              all.map((d) => ({ labels: d.labels, buckets: rollup(d.raw!.t, d.raw!.v, 60_000) })),
            );
          }
          expect(pickResolution(q, 600_000, 60_000)).toBe(60_000);
          const a = evaluateRange(q, raw, 600_000, 3_600_000, 60_000);
          const b = evaluateRange(q, rolled, 600_000, 3_600_000, 60_000);
          if (a.resultType !== "matrix" || b.resultType !== "matrix") throw new Error("not a matrix");
          expect(b.series.map((s) => s.labels)).toEqual(a.series.map((s) => s.labels));
          a.series.forEach((s, i) =>
            s.points.forEach(([t, v], j) => {
              const [t2, w] = b.series[i].points[j];
              expect(t2).toBe(t);
              expect(Math.abs(v - w)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(v)));
            }),
          );
        },
      ),
      { numRuns: 25 },
    );
  });

  it("formats values like Go's FormatFloat(v, 'f', -1, 64)", () => {
    expect(formatValue(1e21)).toBe("1000000000000000000000");
    expect(formatValue(1.5e-7)).toBe("0.00000015");
    expect(formatValue(-2.5e-9)).toBe("-0.0000000025");
    expect(formatValue(0.1)).toBe("0.1");
    expect(formatValue(NaN)).toBe("NaN");
    expect(formatValue(-Infinity)).toBe("-Inf");
    expect(formatValue(123456789012)).toBe("123456789012");
  });
});
