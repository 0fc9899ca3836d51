/**
 * The typed client of the metrics store, for the platform's own writers and readers (the scaling
 * controller's measurements and the predictive engine's history, `npm run status`, `npm run
 * simulate -- --from-store`). It speaks the store's HTTP API: the batch write (JSON) and the
 * Prometheus query API. Writes are idempotent (a sample is its series and timestamp), so a write
 * that failed with 503 or a network error is retried, within a deadline.
 *
 * @example
 * const metrics = new MetricsClient({ url: "http://metrics:9201" });
 * await metrics.write([{ labels: { __name__: "scaler_desired_instances", group: "app" }, samples: [[Date.now(), 4]] }]);
 * const history = await metrics.queryRange('avg_over_time(scaler_load[5m])', { start, end, stepMs: 60_000 });
 */

/** One series to write: labels (with `__name__`) and `[ms, value]` samples. */
export interface WriteSeriesInput {
  labels: Record<string, string>;
  samples: [number, number | "stale"][];
}

/** One series of a range answer. */
export interface RangeSeries {
  labels: Record<string, string>;
  points: [number, number][];
}

/** The store refused a request (`status` 4xx: do not retry) or stayed unavailable. */
export class MetricsClientError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "MetricsClientError";
  }
}

export interface MetricsClientOptions {
  /** Base URL of the store, e.g. `http://127.0.0.1:19201`. */
  url: string;
  /** Deadline of one call including retries, ms. @default 10000 */
  timeoutMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const parseValue = (s: string): number => (s === "+Inf" ? Infinity : s === "-Inf" ? -Infinity : Number(s));
const encodeValue = (v: number | "stale"): number | string =>
  v === "stale" ? "stale" : Number.isNaN(v) ? "NaN" : v === Infinity ? "+Inf" : v === -Infinity ? "-Inf" : v;

export class MetricsClient {
  readonly url: string;
  private readonly timeoutMs: number;

  constructor(o: MetricsClientOptions) {
    if (!/^https?:\/\/[^/\s]+/.test(o.url))
      throw new MetricsClientError(0, `url must be http(s)://host:port; got ${o.url}`);
    this.url = o.url.replace(/\/+$/, "");
    this.timeoutMs = o.timeoutMs ?? 10_000;
  }

  private async call(path: string, init: RequestInit): Promise<unknown> {
    const until = Date.now() + this.timeoutMs;
    let delay = 100;
    for (;;) {
      let status = 0;
      let message: string;
      try {
        const r = await fetch(`${this.url}${path}`, {
          ...init,
          signal: AbortSignal.timeout(Math.max(100, until - Date.now())),
        });
        status = r.status;
        const text = await r.text();
        const body = text ? (JSON.parse(text) as { error?: string }) : undefined;
        if (r.ok) return body;
        message = body?.error ?? text;
        if (status < 500) throw new MetricsClientError(status, `${path}: ${status} ${message}`);
      } catch (e) {
        if (e instanceof MetricsClientError) throw e;
        message = e instanceof Error ? e.message : String(e);
      }
      if (Date.now() + delay > until) throw new MetricsClientError(status, `${path}: unavailable: ${message}`);
      await sleep(delay);
      delay = Math.min(delay * 2, 1000);
    }
  }

  /**
   * Writes samples (all validated by the store before any is written).
   * @throws MetricsClientError: 400 naming a bad label or value, or samples older than the
   *   out-of-order window (the others are stored); 503 after retries
   */
  async write(series: readonly WriteSeriesInput[]): Promise<{ accepted: number; tooOld: number }> {
    const body = JSON.stringify({
      series: series.map((s) => ({ labels: s.labels, samples: s.samples.map(([t, v]) => [t, encodeValue(v)]) })),
    });
    return (await this.call("/api/v1/batch", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    })) as { accepted: number; tooOld: number };
  }

  private async form(path: string, params: Record<string, string>): Promise<{ resultType: string; result: unknown }> {
    const r = (await this.call(path, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(params).toString(),
    })) as { data: { resultType: string; result: unknown } };
    return r.data;
  }

  /** A range query (ms): every output series with its points. */
  async queryRange(query: string, range: { start: number; end: number; stepMs: number }): Promise<RangeSeries[]> {
    const d = await this.form("/api/v1/query_range", {
      query,
      start: String(range.start / 1000),
      end: String(range.end / 1000),
      step: String(range.stepMs / 1000),
    });
    return (d.result as { metric: Record<string, string>; values: [number, string][] }[]).map((s) => ({
      labels: s.metric,
      points: s.values.map(([t, v]) => [Math.round(t * 1000), parseValue(v)]),
    }));
  }

  /** An instant query at `time` (ms, @default now): the vector's samples. */
  async query(query: string, time = Date.now()): Promise<{ labels: Record<string, string>; value: number }[]> {
    const d = await this.form("/api/v1/query", { query, time: String(time / 1000) });
    if (d.resultType === "scalar") return [{ labels: {}, value: parseValue((d.result as [number, string])[1]) }];
    return (d.result as { metric: Record<string, string>; value: [number, string] }[]).map((s) => ({
      labels: s.metric,
      value: parseValue(s.value[1]),
    }));
  }

  /** Label sets of the series matching a selector. */
  async series(match: string): Promise<Record<string, string>[]> {
    return (
      (await this.call(`/api/v1/series?${new URLSearchParams({ "match[]": match })}`, { method: "GET" })) as {
        data: Record<string, string>[];
      }
    ).data;
  }
}
