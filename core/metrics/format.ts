/**
 * The Prometheus HTTP API's JSON shapes of a query result (what Grafana parses): timestamps in
 * seconds as numbers, sample values as strings formatted like Go's `strconv.FormatFloat(v, 'f',
 * -1, 64)` (shortest exact digits, never an exponent; `NaN`, `+Inf`, `-Inf`). Pure.
 */
import type { QueryResult } from "./evaluate";

/** A float as Prometheus prints a sample value. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  const s = String(v);
  const e = s.indexOf("e");
  if (e < 0) return s;
  // expand the shortest digits JS chose into plain notation
  const neg = s.startsWith("-");
  const mantissa = s.slice(neg ? 1 : 0, e);
  const exp = Number(s.slice(e + 1));
  const [int, frac = ""] = mantissa.split(".");
  const digits = int + frac;
  const point = int.length + exp;
  let out: string;
  if (point <= 0) out = `0.${"0".repeat(-point)}${digits}`;
  else if (point >= digits.length) out = digits + "0".repeat(point - digits.length);
  else out = `${digits.slice(0, point)}.${digits.slice(point)}`;
  return neg ? `-${out}` : out;
}

/** Milliseconds as the API's seconds (a number with up to 3 decimals). */
export const seconds = (ms: number): number => ms / 1000;

/** The `data` member of a query / query_range answer. */
export function resultJson(r: QueryResult): { resultType: string; result: unknown } {
  switch (r.resultType) {
    case "scalar":
      return { resultType: "scalar", result: [seconds(r.value[0]), formatValue(r.value[1])] };
    case "vector":
      return {
        resultType: "vector",
        result: r.samples.map((s) => ({ metric: s.labels, value: [seconds(s.t), formatValue(s.value)] })),
      };
    case "matrix":
      return {
        resultType: "matrix",
        result: r.series.map((s) => ({
          metric: s.labels,
          values: s.points.map(([t, v]) => [seconds(t), formatValue(v)]),
        })),
      };
  }
}
