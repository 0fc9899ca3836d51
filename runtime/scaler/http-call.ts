/**
 * One HTTP(S) call with a deadline, shared by the Kubernetes API client and the CloudWatch client.
 * node:http(s) rather than fetch: the in-cluster API server is reached with the service account's
 * CA bundle, which fetch cannot take per request. Every failure is an HttpCallError naming the call
 * (`kubernetes listPodMetrics`, `cloudwatch GetMetricData`), so a log line says what failed.
 */
import * as http from "node:http";
import * as https from "node:https";

export interface HttpCallRequest {
  /** Names the call in errors. */
  call: string;
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string;
  /** CA bundle (PEM) for https. */
  ca?: string | Buffer;
  /** Deadline of the whole call, ms. */
  timeoutMs: number;
}

export interface HttpCallResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Why a call failed: a non-2xx status, its deadline, or the network. */
export type HttpCallFailure = "status" | "timeout" | "network";

export class HttpCallError extends Error {
  constructor(
    /** The call, e.g. `kubernetes patchHpa`. */
    readonly call: string,
    readonly failure: HttpCallFailure,
    message: string,
    /** The HTTP status for `failure: "status"`. */
    readonly status?: number,
    /** The response body for `failure: "status"` (servers put their reason there). */
    readonly body?: string,
  ) {
    super(`${call}: ${message}`);
    this.name = "HttpCallError";
  }
}

/** Sends `req`; resolves with any complete response (the caller judges the status). */
export function httpCall(req: HttpCallRequest): Promise<HttpCallResponse> {
  const mod = req.url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (e: HttpCallError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      r.destroy();
      reject(e);
    };
    const r = mod.request(
      req.url,
      {
        method: req.method,
        headers: {
          ...req.headers,
          ...(req.body !== undefined ? { "content-length": String(Buffer.byteLength(req.body)) } : {}),
        },
        ...(req.ca !== undefined && req.url.protocol === "https:" ? { ca: req.ca } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (e) => fail(new HttpCallError(req.call, "network", e.message)));
        res.on("end", () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") });
        });
      },
    );
    const timer = setTimeout(
      () =>
        fail(
          new HttpCallError(
            req.call,
            "timeout",
            `no complete response within ${req.timeoutMs} ms (${req.method} ${req.url.pathname})`,
          ),
        ),
      req.timeoutMs,
    );
    r.on("error", (e) =>
      fail(new HttpCallError(req.call, "network", `${req.method} ${req.url.host}${req.url.pathname}: ${e.message}`)),
    );
    if (req.body !== undefined) r.write(req.body);
    r.end();
  });
}

/** The response when 2xx, else an HttpCallError with the status and the body's first 500 characters. */
export async function httpCallOk(
  req: HttpCallRequest,
  describe: (body: string) => string = (b) => b.slice(0, 500),
): Promise<HttpCallResponse> {
  const res = await httpCall(req);
  if (res.status < 200 || res.status >= 300)
    throw new HttpCallError(
      req.call,
      "status",
      `HTTP ${res.status} for ${req.method} ${req.url.pathname}: ${describe(res.body)}`,
      res.status,
      res.body,
    );
  return res;
}
