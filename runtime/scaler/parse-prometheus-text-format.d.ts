/** Types of the npm package `parse-prometheus-text-format` (it ships none). */
declare module "parse-prometheus-text-format" {
  interface ParsedMetric {
    value?: string;
    labels?: Record<string, string>;
    buckets?: Record<string, string>;
    quantiles?: Record<string, string>;
    count?: string;
    sum?: string;
  }
  interface ParsedFamily {
    name: string;
    help: string;
    type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED";
    metrics: ParsedMetric[];
  }
  /** Parses Prometheus text exposition format into metric families. */
  export default function parse(text: string): ParsedFamily[];
}
