/**
 * A bounded loopback load generator for the autoscaling tests: `concurrency` workers each send one
 * request at a time to a 127.0.0.1 URL (keep-alive), and count answers. The concurrency can be
 * changed while it runs; stop() waits for the requests in flight. Every failure is recorded (a
 * status other than 200, a connection error or a timeout): the tests require zero.
 *
 * Keep-alive like a well-behaved client: an idle pooled connection is closed by the client after
 * `idleMs`, below HAProxy's `timeout http-keep-alive` (10 s), so a request is never written onto a
 * connection the load balancer is closing at that instant (the race every HTTP client avoids the
 * same way; a request on a fresh or busy connection is what the tests judge).
 */
import * as http from "node:http";

export interface LoadCounts {
  ok: number;
  failed: number;
  /** The first few failures, for the assertion message. */
  failures: string[];
}

export interface LoadOptions {
  /** Per-request timeout. @default 20000 */
  timeoutMs?: number;
  /** Upper bound on workers whatever setConcurrency asks. @default 64 */
  maxConcurrency?: number;
  /** Idle pooled connections are closed after this long. @default 4000 */
  idleMs?: number;
}

export class LoadGenerator {
  private readonly agent: http.Agent;
  private target = 0;
  private running = 0;
  private stopped = false;
  private readonly timeoutMs: number;
  private readonly maxConcurrency: number;
  readonly counts: LoadCounts = { ok: 0, failed: 0, failures: [] };
  private readonly idle: Array<() => void> = [];
  /** When the target concurrency was last set, and to what (for {@link heldAtLeast}). */
  private readonly steps: { atMs: number; concurrency: number }[] = [];

  constructor(
    private readonly url: string,
    o: LoadOptions | number = {},
  ) {
    const opts = typeof o === "number" ? { timeoutMs: o } : o;
    this.timeoutMs = opts.timeoutMs ?? 20_000;
    this.maxConcurrency = opts.maxConcurrency ?? 64;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 512, timeout: opts.idleMs ?? 4000 });
    if (!/^http:\/\/127\.0\.0\.1:\d+\//.test(url)) throw new Error(`load generator: loopback URLs only; got ${url}`);
  }

  /** Sets the number of concurrent workers (extra workers end after their current request). */
  setConcurrency(n: number): void {
    if (this.stopped) return;
    this.target = Math.min(n, this.maxConcurrency);
    this.steps.push({ atMs: Date.now(), concurrency: this.target });
    while (this.running < this.target) {
      this.running++;
      void this.worker();
    }
  }

  /**
   * Milliseconds the target concurrency has been at least `n` without a break, up to now (or up
   * to stop()): the span a test's "≥ n concurrent requests for ≥ T s" is judged on.
   */
  heldAtLeast(n: number): number {
    const end = this.stoppedAtMs ?? Date.now();
    let since: number | undefined;
    for (const s of this.steps) {
      if (s.concurrency >= n) since ??= s.atMs;
      else since = undefined;
    }
    return since === undefined ? 0 : end - since;
  }
  private stoppedAtMs?: number;

  private request(): Promise<void> {
    return new Promise((resolve) => {
      const startedAt = new Date().toISOString();
      const fail = (why: string) => {
        this.counts.failed++;
        // when the request started and ended, and why: a 5xx names its source (HAProxy's pages
        // say "No server is available", "The server didn't respond in time"; nginx's say nginx)
        if (this.counts.failures.length < 10)
          this.counts.failures.push(`${startedAt} → ${new Date().toISOString()} ${why}`);
        resolve();
      };
      const req = http.get(this.url, { agent: this.agent, timeout: this.timeoutMs }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          if (res.statusCode !== 200 && body.length < 400) body += chunk;
        });
        res.on("end", () => {
          if (res.statusCode === 200) {
            this.counts.ok++;
            resolve();
          } else
            fail(
              `status ${res.statusCode}: ${body
                .replace(/<[^>]*>/g, " ")
                .replace(/\s+/g, " ")
                .trim()
                .slice(0, 120)}`,
            );
        });
        res.on("error", (e) => fail(`response error ${e.message}`));
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (e) => fail(`request error ${e.message}`));
    });
  }

  private async worker(): Promise<void> {
    try {
      while (!this.stopped && this.running <= this.target) await this.request();
    } finally {
      this.running--;
      if (this.running === 0) this.idle.splice(0).forEach((f) => f());
    }
  }

  /** Stops the workers and waits for the requests in flight. */
  async stop(): Promise<LoadCounts> {
    if (!this.stopped) this.stoppedAtMs = Date.now();
    this.stopped = true;
    this.target = 0;
    if (this.running > 0) await new Promise<void>((r) => this.idle.push(r));
    this.agent.destroy();
    return this.counts;
  }
}
