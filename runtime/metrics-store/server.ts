/**
 * The store's HTTP API (node:http, no framework):
 *
 * - `POST /api/v1/write`: Prometheus remote-write 1.0 (snappy-compressed protobuf WriteRequest).
 *   204 when every sample is stored at the shard map's consistency; 400 naming what is wrong when
 *   the payload is bad (nothing written); 400 too when some samples were older than the
 *   out-of-order window (the others are stored; the old ones are refused, counted and named; a
 *   sender must not retry them); 503 when a replica set is unavailable (the sender retries: writes
 *   are idempotent).
 * - `POST /api/v1/batch`: the platform's own writers (runtime/metrics-store/client.ts): JSON
 *   `{"series":[{"labels":{...},"samples":[[ms, value], ...]}]}`, values numbers or the strings
 *   `NaN`, `+Inf`, `-Inf`, `stale`; answers `{"accepted":n,"tooOld":k}` (200, or 400 when k > 0).
 * - The Prometheus query API subset Grafana uses: `/api/v1/query`, `/api/v1/query_range`,
 *   `/api/v1/series`, `/api/v1/labels`, `/api/v1/label/<name>/values` (GET or form POST; `start`
 *   and `end` keep the series with data in that span, block-granular as in Prometheus),
 *   `/api/v1/status/buildinfo`, `/api/v1/metadata`; answers shaped like Prometheus' own.
 * - `POST|PUT /api/v1/admin/tsdb/delete_series` (`match[]`, optional `start`/`end`): 204 when the
 *   data is gone from every shard (runtime/metrics-store/admin.ts); only with `adminApi`.
 *   Outside the PromQL subset: 400 `bad_data` saying what is supported.
 * - `/health` (the process), `/ready` (the shard map is followed), `/metrics` (its own counters).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { uncompress } from "snappyjs";
import type { Logger } from "pino";
import { MAX_TIMESTAMP } from "../../core/metrics/codec";
import { resultJson } from "../../core/metrics/format";
import { LabelError, seriesOfRecord } from "../../core/metrics/labels";
import { parseDuration, parseQuery, QueryError, selectorsOf, UnsupportedQueryError } from "../../core/metrics/promql";
import { decodeWriteRequest, PayloadError, SeriesCache, type SeriesBatch } from "../../core/metrics/remote-write";
import { staleMarker } from "../../core/metrics/rollup";
import { QuorumUnavailableError, StaleEpochError } from "../shard-client/errors";
import { deleteSeries } from "./admin";
import type { MetricsQuerier, TimeSpan } from "./query";
import type { MetricsRouter, WriteOutcome } from "./router";

/** Largest request body accepted (compressed or JSON), bytes. */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** The counters the store exposes on /metrics. */
export class StoreCounters {
  samplesAccepted = 0;
  samplesTooOld = 0;
  requestsRefused = 0;
  writeRequests = 0;
  queries = 0;
  queryErrors = 0;

  text(): string {
    return [
      "# TYPE scaleplane_metrics_samples_accepted_total counter",
      `scaleplane_metrics_samples_accepted_total ${this.samplesAccepted}`,
      "# HELP scaleplane_metrics_samples_refused_total Samples refused: too_old = older than the out-of-order window.",
      "# TYPE scaleplane_metrics_samples_refused_total counter",
      `scaleplane_metrics_samples_refused_total{reason="too_old"} ${this.samplesTooOld}`,
      "# TYPE scaleplane_metrics_write_requests_total counter",
      `scaleplane_metrics_write_requests_total ${this.writeRequests}`,
      "# TYPE scaleplane_metrics_write_requests_refused_total counter",
      `scaleplane_metrics_write_requests_refused_total ${this.requestsRefused}`,
      "# TYPE scaleplane_metrics_queries_total counter",
      `scaleplane_metrics_queries_total ${this.queries}`,
      `scaleplane_metrics_query_errors_total ${this.queryErrors}`,
      "",
    ].join("\n");
  }
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly errorType: string,
    message: string,
  ) {
    super(message);
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on("data", (b: Buffer) => {
      size += b.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, "bad_data", `request body larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
      } else parts.push(b);
    });
    req.on("end", () => resolve(Buffer.concat(parts)));
    req.on("error", reject);
  });
}

/** A time parameter: RFC 3339 or Unix seconds (float). */
export function parseTime(raw: string | undefined, name: string, fallback?: number): number {
  if (raw === undefined || raw === "") {
    if (fallback !== undefined) return fallback;
    throw new HttpError(400, "bad_data", `missing parameter "${name}"`);
  }
  const n = Number(raw);
  if (Number.isFinite(n)) return Math.round(n * 1000);
  const d = Date.parse(raw);
  if (Number.isFinite(d)) return d;
  throw new HttpError(
    400,
    "bad_data",
    `invalid parameter "${name}": cannot parse ${JSON.stringify(raw)} to a valid timestamp`,
  );
}

function parseStep(raw: string | undefined): number {
  if (raw === undefined || raw === "") throw new HttpError(400, "bad_data", 'missing parameter "step"');
  const n = Number(raw);
  const ms = Number.isFinite(n)
    ? Math.round(n * 1000)
    : (() => {
        try {
          return parseDuration(raw);
        } catch {
          return NaN;
        }
      })();
  if (!(ms > 0))
    throw new HttpError(
      400,
      "bad_data",
      `invalid parameter "step": zero or negative query resolution step widths are not accepted`,
    );
  return ms;
}

const VALUE_WORDS: Record<string, number> = { NaN: NaN, "+Inf": Infinity, Inf: Infinity, "-Inf": -Infinity };

/** Decodes the JSON batch body into series batches (everything validated first). */
export function decodeBatch(body: unknown): SeriesBatch[] {
  const list = (body as { series?: unknown })?.series;
  if (!Array.isArray(list))
    throw new PayloadError("series", 'must be an array of {"labels": {...}, "samples": [[ms, value], ...]}');
  return list.map((entry: unknown, i) => {
    const e = entry as { labels?: unknown; samples?: unknown };
    let series;
    try {
      series = seriesOfRecord(e?.labels as Record<string, string>, `series[${i}].labels`);
    } catch (err) {
      if (err instanceof LabelError) throw new PayloadError(err.path, err.message.slice(err.path.length + 1));
      throw err;
    }
    if (!Array.isArray(e.samples) || e.samples.length === 0)
      throw new PayloadError(`series[${i}].samples`, "must be a non-empty array of [ms, value]");
    const t: number[] = [];
    const v = new Float64Array(e.samples.length);
    const stale = staleMarker();
    e.samples.forEach((s: unknown, k: number) => {
      const where = `series[${i}].samples[${k}]`;
      if (!Array.isArray(s) || s.length !== 2) throw new PayloadError(where, "must be [ms, value]");
      const [ts, val] = s as [unknown, unknown];
      if (typeof ts !== "number" || !Number.isInteger(ts) || Math.abs(ts) >= 2 ** 50)
        throw new PayloadError(where, `timestamp must be integer milliseconds; got ${JSON.stringify(ts)}`);
      t.push(ts);
      if (val === "stale") v.set(stale, k);
      else if (typeof val === "number") v[k] = val;
      else if (typeof val === "string" && val in VALUE_WORDS) v[k] = VALUE_WORDS[val];
      else
        throw new PayloadError(
          where,
          `value must be a number or "NaN", "+Inf", "-Inf", "stale"; got ${JSON.stringify(val)}`,
        );
    });
    return { series, t, v };
  });
}

/** The message of a partial refusal. */
function tooOldMessage(o: WriteOutcome): string {
  const f = o.firstTooOld!;
  return `${o.tooOld} sample(s) refused as too old (at or below the shard's horizon: older than the out-of-order window behind its newest sample); first: series ${f.series} at ${new Date(f.t).toISOString()} (horizon ${new Date(f.horizon).toISOString()}); ${o.accepted} stored`;
}

export interface ServerOptions {
  router: MetricsRouter;
  querier: MetricsQuerier;
  log: Logger;
  counters?: StoreCounters;
  /**
   * Serve the admin API (`/api/v1/admin/tsdb/delete_series`); off, it answers 503 "admin APIs
   * disabled", as Prometheus without `--web.enable-admin-api`. @default false
   */
  adminApi?: boolean;
  /** Extra routes (e.g. the maintenance status). */
  extra?: (req: IncomingMessage, url: URL) => Promise<unknown> | undefined;
}

/** Creates the HTTP server (not listening yet). */
export function createStoreServer(o: ServerOptions): { server: Server; counters: StoreCounters } {
  const counters = o.counters ?? new StoreCounters();
  // validated series by their label bytes: a sender repeats the same series in every request
  const seriesCache = new SeriesCache();
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  const params = async (req: IncomingMessage, url: URL): Promise<URLSearchParams> => {
    const p = new URLSearchParams(url.search);
    if (req.method === "POST" && (req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded"))
      for (const [k, v] of new URLSearchParams((await readBody(req)).toString("utf8"))) p.append(k, v);
    return p;
  };
  const matchersOf = (p: URLSearchParams) =>
    p.getAll("match[]").map((m) => {
      const e = parseQuery(m);
      if (e.kind !== "selector" || e.range !== undefined)
        throw new QueryError(`match[] must be a series selector; got ${m}`);
      return selectorsOf(e)[0].matchers;
    });

  /** `start`/`end` of the metadata endpoints: a span when either is given (the other open), else none. */
  const spanOf = (p: URLSearchParams): TimeSpan | undefined => {
    const start = p.get("start") ?? "";
    const end = p.get("end") ?? "";
    if (start === "" && end === "") return undefined;
    const span = {
      mint: parseTime(start, "start", -MAX_TIMESTAMP),
      maxt: parseTime(end, "end", MAX_TIMESTAMP),
    };
    if (span.maxt < span.mint)
      throw new HttpError(400, "bad_data", 'invalid parameter "end": end timestamp must not be before start time');
    return span;
  };

  const write = async (batches: SeriesBatch[]): Promise<WriteOutcome> => {
    counters.writeRequests++;
    const out = await o.router.write(batches);
    counters.samplesAccepted += out.accepted;
    counters.samplesTooOld += out.tooOld;
    return out;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://store");
    const path = url.pathname;
    if (path === "/health") return json(res, 200, { status: "ok" });
    if (path === "/ready") return json(res, 200, { status: "ready", epoch: o.router.map.epoch });
    if (path === "/metrics") {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      res.end(counters.text());
      return;
    }
    if (path === "/api/v1/write") {
      if (req.method !== "POST") throw new HttpError(405, "bad_data", "remote write needs POST");
      const enc = req.headers["content-encoding"];
      if (enc !== undefined && enc !== "snappy")
        throw new HttpError(415, "bad_data", `Content-Encoding must be snappy (remote-write 1.0); got ${enc}`);
      const body = await readBody(req);
      let raw: Uint8Array;
      try {
        raw = uncompress(new Uint8Array(body.buffer, body.byteOffset, body.byteLength), MAX_BODY_BYTES * 4);
      } catch (e) {
        counters.requestsRefused++;
        throw new HttpError(400, "bad_data", `body is not snappy block-compressed: ${(e as Error).message}`);
      }
      let decoded;
      try {
        decoded = decodeWriteRequest(raw, seriesCache);
      } catch (e) {
        counters.requestsRefused++;
        throw e;
      }
      const out = await write(decoded.batches);
      if (out.tooOld > 0) throw new HttpError(400, "bad_data", tooOldMessage(out));
      res.writeHead(204);
      res.end();
      return;
    }
    if (path === "/api/v1/batch") {
      if (req.method !== "POST") throw new HttpError(405, "bad_data", "the batch API needs POST");
      let body: unknown;
      try {
        body = JSON.parse((await readBody(req)).toString("utf8"));
      } catch (e) {
        counters.requestsRefused++;
        throw new HttpError(400, "bad_data", `body is not JSON: ${(e as Error).message}`);
      }
      let batches;
      try {
        batches = decodeBatch(body);
      } catch (e) {
        counters.requestsRefused++;
        throw e;
      }
      const out = await write(batches);
      return json(res, out.tooOld > 0 ? 400 : 200, {
        accepted: out.accepted,
        tooOld: out.tooOld,
        ...(out.tooOld > 0 ? { error: tooOldMessage(out) } : {}),
      });
    }
    if (path === "/api/v1/query" || path === "/api/v1/query_range") {
      const p = await params(req, url);
      const query = p.get("query");
      if (!query) throw new HttpError(400, "bad_data", 'missing parameter "query"');
      counters.queries++;
      const r =
        path === "/api/v1/query"
          ? await o.querier.instant(query, parseTime(p.get("time") ?? undefined, "time", Date.now()))
          : await (async () => {
              const start = parseTime(p.get("start") ?? undefined, "start");
              const end = parseTime(p.get("end") ?? undefined, "end");
              const step = parseStep(p.get("step") ?? undefined);
              if (end < start)
                throw new HttpError(
                  400,
                  "bad_data",
                  'invalid parameter "end": end timestamp must not be before start time',
                );
              if ((end - start) / step > 11_000)
                throw new HttpError(
                  400,
                  "bad_data",
                  "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
                );
              return o.querier.range(query, start, end, step);
            })();
      return json(res, 200, { status: "success", data: resultJson(r), stats: { resolutionMs: r.resolution } });
    }
    if (path === "/api/v1/series") {
      const p = await params(req, url);
      const m = matchersOf(p);
      if (m.length === 0) throw new HttpError(400, "bad_data", "no match[] parameter provided");
      return json(res, 200, { status: "success", data: (await o.querier.seriesOf(m, spanOf(p))).map((s) => s.labels) });
    }
    if (path === "/api/v1/admin/tsdb/delete_series") {
      if (req.method !== "POST" && req.method !== "PUT")
        throw new HttpError(405, "bad_data", "delete_series needs POST or PUT");
      if (!o.adminApi) throw new HttpError(503, "unavailable", "admin APIs disabled");
      const p = await params(req, url);
      const m = matchersOf(p);
      if (m.length === 0) throw new HttpError(400, "bad_data", "no match[] parameter provided");
      const span = spanOf(p) ?? { mint: -MAX_TIMESTAMP, maxt: MAX_TIMESTAMP };
      const done = await deleteSeries(o.router, m, span);
      o.log.info({ match: p.getAll("match[]"), ...span, ...done }, "deleted series data");
      res.writeHead(204);
      return void res.end();
    }
    if (path === "/api/v1/labels") {
      const p = await params(req, url);
      return json(res, 200, { status: "success", data: await o.querier.labelNames(matchersOf(p), spanOf(p)) });
    }
    const lv = /^\/api\/v1\/label\/([^/]+)\/values$/.exec(path);
    if (lv) {
      const p = await params(req, url);
      return json(res, 200, {
        status: "success",
        data: await o.querier.labelValues(decodeURIComponent(lv[1]), matchersOf(p), spanOf(p)),
      });
    }
    if (path === "/api/v1/status/buildinfo")
      return json(res, 200, {
        status: "success",
        data: {
          version: "2.42.0",
          revision: "scaleplane-metrics-store",
          branch: "",
          buildUser: "",
          buildDate: "",
          goVersion: "",
        },
      });
    if (path === "/api/v1/metadata") return json(res, 200, { status: "success", data: {} });
    const extra = o.extra?.(req, url);
    if (extra) return json(res, 200, await extra);
    throw new HttpError(404, "not_found", `no route ${req.method} ${path}`);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      let status = 500;
      let errorType = "internal";
      if (e instanceof HttpError) ({ status, errorType } = e);
      else if (e instanceof PayloadError || e instanceof UnsupportedQueryError || e instanceof QueryError) {
        status = 400;
        errorType = "bad_data";
      } else if (e instanceof QuorumUnavailableError || e instanceof StaleEpochError) {
        status = 503;
        errorType = "unavailable";
      }
      if (req.url?.includes("/query")) counters.queryErrors++;
      if (status >= 500)
        o.log.warn({ err: e instanceof Error ? e.message : String(e), url: req.url }, "request failed");
      if (res.headersSent) return void res.end();
      json(res, status, { status: "error", errorType, error: e instanceof Error ? e.message : String(e) });
    });
  });
  return { server, counters };
}
