/**
 * A CloudWatch `GetMetricData` client: the metric history the AWS target's forecasts are made from
 * (the ASG's CPUUtilization is what AWS predictive scaling learns on), fetched so it can be replayed
 * through the simulator (`metricTrace` → core/scaling/traces.ts traceCsv) and compared with the
 * engines here. The query protocol (form-encoded POST, XML response) signed with SigV4 by
 * @smithy/signature-v4 — the signer the AWS SDK itself uses — keeps the wire format explicit and
 * testable against a local server; the endpoint is overridable (LocalStack, tests).
 */
import { Sha256 } from "@aws-crypto/sha256-js";
import { SignatureV4 } from "@smithy/signature-v4";
import { XMLParser } from "fast-xml-parser";
import type { TracePoint } from "../../core/scaling/simulate";
import { HttpCallError, httpCallOk } from "./http-call";

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface CloudWatchOptions {
  region: string;
  /** @default https://monitoring.<region>.amazonaws.com */
  endpoint?: string;
  /** @default AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN from the environment */
  credentials?: AwsCredentials;
  /** Deadline per HTTP call, ms. @default 15000 */
  timeoutMs?: number;
  /** Signing clock (tests). @default now */
  now?: () => Date;
}

/** One metric series to fetch (a `MetricStat` query). */
export interface MetricQuery {
  /** Query id: lower-case letter first, then letters, digits, underscores. */
  id: string;
  namespace: string;
  metricName: string;
  dimensions?: Record<string, string>;
  /** Seconds, a multiple of 60 (or 1/5/10/30 for high resolution). */
  periodSeconds: number;
  /** Average, Sum, Maximum, p95, ... */
  stat: string;
  unit?: string;
}

export interface MetricSeries {
  id: string;
  label: string;
  statusCode: string;
  /** Ascending by time. */
  points: { t: number; value: number }[];
}

export interface GetMetricDataInput {
  queries: MetricQuery[];
  start: Date;
  end: Date;
  /** Stop after this many pages (each up to 100,800 points). @default 50 */
  maxPages?: number;
}

const ID_RE = /^[a-z][a-zA-Z0-9_]*$/;
const asArray = <T>(x: T | T[] | undefined | ""): T[] =>
  x === undefined || x === "" ? [] : Array.isArray(x) ? x : [x];

/** The form parameters of one GetMetricData page (the query protocol's flattened member lists). Exported for tests. */
export function getMetricDataParams(input: GetMetricDataInput, nextToken?: string): URLSearchParams {
  if (input.queries.length === 0 || input.queries.length > 500)
    throw new Error(`GetMetricData: queries must hold 1..500 entries; got ${input.queries.length}`);
  if (!(input.start < input.end))
    throw new Error(
      `GetMetricData: start (${input.start.toISOString()}) must be before end (${input.end.toISOString()})`,
    );
  const p = new URLSearchParams();
  p.set("Action", "GetMetricData");
  p.set("Version", "2010-08-01");
  input.queries.forEach((q, i) => {
    const m = `MetricDataQueries.member.${i + 1}`;
    if (!ID_RE.test(q.id))
      throw new Error(
        `GetMetricData: queries[${i}].id ${JSON.stringify(q.id)} must start with a lower-case letter and hold only letters, digits and _`,
      );
    if (!Number.isInteger(q.periodSeconds) || q.periodSeconds <= 0)
      throw new Error(`GetMetricData: queries[${i}].periodSeconds must be a positive integer; got ${q.periodSeconds}`);
    p.set(`${m}.Id`, q.id);
    p.set(`${m}.MetricStat.Metric.Namespace`, q.namespace);
    p.set(`${m}.MetricStat.Metric.MetricName`, q.metricName);
    Object.entries(q.dimensions ?? {}).forEach(([name, value], j) => {
      p.set(`${m}.MetricStat.Metric.Dimensions.member.${j + 1}.Name`, name);
      p.set(`${m}.MetricStat.Metric.Dimensions.member.${j + 1}.Value`, value);
    });
    p.set(`${m}.MetricStat.Period`, String(q.periodSeconds));
    p.set(`${m}.MetricStat.Stat`, q.stat);
    if (q.unit) p.set(`${m}.MetricStat.Unit`, q.unit);
    p.set(`${m}.ReturnData`, "true");
  });
  p.set("StartTime", input.start.toISOString());
  p.set("EndTime", input.end.toISOString());
  p.set("ScanBy", "TimestampAscending");
  if (nextToken) p.set("NextToken", nextToken);
  return p;
}

const xml = new XMLParser({ ignoreAttributes: true, parseTagValue: false, trimValues: true });

interface XmlResult {
  Id?: string;
  Label?: string;
  StatusCode?: string;
  Timestamps?: { member?: string | string[] } | "";
  Values?: { member?: string | string[] } | "";
}

/** Parses one GetMetricData XML page. Exported for tests. */
export function parseGetMetricDataResponse(body: string): { results: MetricSeries[]; nextToken?: string } {
  const doc = xml.parse(body) as {
    GetMetricDataResponse?: {
      GetMetricDataResult?: { MetricDataResults?: { member?: XmlResult | XmlResult[] } | ""; NextToken?: string };
    };
  };
  const result = doc.GetMetricDataResponse?.GetMetricDataResult;
  if (!result) throw new Error(`GetMetricData: unexpected response: ${body.slice(0, 200)}`);
  const results = asArray(result.MetricDataResults === "" ? undefined : result.MetricDataResults?.member).map((r) => {
    const ts = asArray(r.Timestamps === "" ? undefined : r.Timestamps?.member);
    const vs = asArray(r.Values === "" ? undefined : r.Values?.member);
    if (ts.length !== vs.length)
      throw new Error(`GetMetricData: result ${r.Id} has ${ts.length} timestamps but ${vs.length} values`);
    const points = ts.map((t, i) => {
      const time = Date.parse(t);
      const value = Number(vs[i]);
      if (!Number.isFinite(time) || !Number.isFinite(value))
        throw new Error(`GetMetricData: result ${r.Id} point ${i} (${t}, ${vs[i]}) is not a timestamp and a number`);
      return { t: time, value };
    });
    return { id: r.Id ?? "", label: r.Label ?? "", statusCode: r.StatusCode ?? "", points };
  });
  return { results, ...(result.NextToken ? { nextToken: result.NextToken } : {}) };
}

/** `Code: Message` of a query-protocol ErrorResponse, or the body's start. */
function describeError(body: string): string {
  try {
    const e = (xml.parse(body) as { ErrorResponse?: { Error?: { Code?: string; Message?: string } } }).ErrorResponse
      ?.Error;
    if (e?.Code) return `${e.Code}${e.Message ? `: ${e.Message}` : ""}`;
  } catch {
    /* not XML */
  }
  return body.slice(0, 300);
}

export class CloudWatchClient {
  private readonly endpoint: URL;
  private readonly signer: SignatureV4;
  private readonly timeoutMs: number;
  private readonly now: () => Date;

  constructor(o: CloudWatchOptions) {
    this.endpoint = new URL(o.endpoint ?? `https://monitoring.${o.region}.amazonaws.com`);
    const credentials = o.credentials ?? CloudWatchClient.envCredentials();
    this.signer = new SignatureV4({
      credentials,
      region: o.region,
      service: "monitoring",
      sha256: Sha256,
      applyChecksum: true,
    });
    this.timeoutMs = o.timeoutMs ?? 15_000;
    this.now = o.now ?? (() => new Date());
  }

  private static envCredentials(env: NodeJS.ProcessEnv = process.env): AwsCredentials {
    const {
      AWS_ACCESS_KEY_ID: accessKeyId,
      AWS_SECRET_ACCESS_KEY: secretAccessKey,
      AWS_SESSION_TOKEN: sessionToken,
    } = env;
    if (!accessKeyId || !secretAccessKey)
      throw new Error(
        "CloudWatchClient: no credentials given and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not set",
      );
    return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
  }

  /** Every series of `input`, following NextToken pages and concatenating each query's points. */
  async getMetricData(input: GetMetricDataInput): Promise<MetricSeries[]> {
    const byId = new Map<string, MetricSeries>();
    let token: string | undefined;
    const maxPages = input.maxPages ?? 50;
    for (let page = 0; page < maxPages; page++) {
      const res = parseGetMetricDataResponse(await this.post(getMetricDataParams(input, token)));
      for (const r of res.results) {
        const prev = byId.get(r.id);
        if (prev) {
          prev.points.push(...r.points);
          prev.statusCode = r.statusCode;
        } else byId.set(r.id, r);
      }
      token = res.nextToken;
      if (!token) return [...byId.values()];
    }
    throw new Error(`GetMetricData: more than ${maxPages} pages; narrow the time range or raise maxPages`);
  }

  private async post(params: URLSearchParams): Promise<string> {
    const body = params.toString();
    const url = this.endpoint;
    const signed = await this.signer.sign(
      {
        method: "POST",
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        path: url.pathname || "/",
        query: {},
        headers: { host: url.host, "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
        body,
      },
      { signingDate: this.now() },
    );
    const res = await httpCallOk(
      {
        call: "cloudwatch GetMetricData",
        method: "POST",
        url,
        headers: signed.headers,
        body,
        timeoutMs: this.timeoutMs,
      },
      describeError,
    );
    return res.body;
  }
}

/** One series as simulator trace points (demand = the metric's value). */
export function metricTrace(series: MetricSeries): TracePoint[] {
  return series.points.map((p) => ({ t: p.t, demand: p.value }));
}

export { HttpCallError };
