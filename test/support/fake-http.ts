/**
 * A local HTTP(S) server on 127.0.0.1 for request-level tests of API clients: it records every
 * request (method, path, query, headers, body) and answers each with the next queued reply
 * (`"hang"` never answers, for deadline tests), or by a `route` function.
 */
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";

export interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: string;
}
export type Reply = { status: number; body: string; contentType?: string } | "hang";

/** A server that records each request and answers with the next queued reply. */
export class FakeHttpServer {
  seen: Seen[] = [];
  replies: Reply[] = [];
  /** Answers by request when set (concurrent calls arrive in any order); the queue otherwise. */
  route: ((r: Seen) => Reply | undefined) | undefined;
  private hung: http.ServerResponse[] = [];
  constructor(readonly server: http.Server | https.Server) {
    server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const u = new URL(req.url ?? "/", "http://x");
        this.seen.push({
          method: req.method ?? "",
          path: u.pathname,
          query: u.searchParams,
          headers: req.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        });
        const r = this.route?.(this.seen[this.seen.length - 1]) ??
          this.replies.shift() ?? { status: 500, body: "no reply queued" };
        if (r === "hang") {
          this.hung.push(res);
          return;
        }
        res.writeHead(r.status, { "content-type": r.contentType ?? "application/json" }).end(r.body);
      });
    });
  }
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    const port = (this.server.address() as AddressInfo).port;
    return `${this.server instanceof https.Server ? "https" : "http"}://127.0.0.1:${port}`;
  }
  async close(): Promise<void> {
    for (const r of this.hung) r.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A JSON reply. */
export const json = (v: unknown, status = 200): Reply => ({ status, body: JSON.stringify(v) });
