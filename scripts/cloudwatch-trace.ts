/**
 * `npm run cloudwatch-trace -- --region <r> --namespace AWS/EC2 --metric CPUUtilization
 *   --dimension AutoScalingGroupName=<asg> --days 14 --out traces/my-asg.csv [--stat Average]
 *   [--period 300] [--endpoint <url>]`: fetches a metric's history from CloudWatch (GetMetricData,
 * runtime/scaler/cloudwatch.ts; credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
 * AWS_SESSION_TOKEN) and writes it as a simulator trace (`timestamp,demand`), so the engines can be
 * replayed on a real group's load with `npm run simulate -- --trace <out>`.
 */
import { writeFileSync } from "node:fs";
import { Command, InvalidArgumentError } from "commander";
import { traceCsv } from "../core/scaling/traces";
import { CloudWatchClient, metricTrace } from "../runtime/scaler/cloudwatch";

const positiveInt =
  (flag: string) =>
  (raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n <= 0)
      throw new InvalidArgumentError(`${flag} must be a whole number > 0; got ${JSON.stringify(raw)}`);
    return n;
  };
const dimension = (raw: string, acc: Record<string, string> = {}): Record<string, string> => {
  const i = raw.indexOf("=");
  if (i <= 0) throw new InvalidArgumentError(`--dimension must read Name=Value; got ${JSON.stringify(raw)}`);
  return { ...acc, [raw.slice(0, i)]: raw.slice(i + 1) };
};

async function main(argv: string[]): Promise<void> {
  const o = new Command()
    .name("npm run cloudwatch-trace --")
    .requiredOption("--region <region>", "AWS region")
    .requiredOption("--out <csv>", "trace file to write")
    .option("--namespace <ns>", "metric namespace", "AWS/EC2")
    .option("--metric <name>", "metric name", "CPUUtilization")
    .option("--dimension <Name=Value>", "metric dimension (repeatable)", dimension)
    .option("--stat <stat>", "statistic", "Average")
    .option("--period <seconds>", "period, seconds", positiveInt("--period"), 300)
    .option("--days <n>", "history to fetch, days up to now", positiveInt("--days"), 14)
    .option("--endpoint <url>", "CloudWatch endpoint (LocalStack)")
    .parse(argv)
    .opts<{
      region: string;
      out: string;
      namespace: string;
      metric: string;
      dimension?: Record<string, string>;
      stat: string;
      period: number;
      days: number;
      endpoint?: string;
    }>();
  const end = new Date(Math.floor(Date.now() / (o.period * 1000)) * o.period * 1000);
  const start = new Date(end.getTime() - o.days * 86_400_000);
  const cw = new CloudWatchClient({ region: o.region, ...(o.endpoint ? { endpoint: o.endpoint } : {}) });
  const [series] = await cw.getMetricData({
    queries: [
      {
        id: "m",
        namespace: o.namespace,
        metricName: o.metric,
        dimensions: o.dimension ?? {},
        periodSeconds: o.period,
        stat: o.stat,
      },
    ],
    start,
    end,
  });
  const points = series ? metricTrace(series) : [];
  if (points.length < 2)
    throw new Error(
      `${o.namespace} ${o.metric} ${JSON.stringify(o.dimension ?? {})}: ${points.length} datapoint(s) from ${start.toISOString()} to ${end.toISOString()}; a trace needs at least 2`,
    );
  writeFileSync(o.out, traceCsv(points));
  console.log(
    `wrote ${o.out}: ${points.length} points of ${o.namespace} ${o.metric} (${o.stat}, ${o.period} s) from ${new Date(points[0].t).toISOString()} to ${new Date(points[points.length - 1].t).toISOString()}`,
  );
}

main(process.argv).catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
