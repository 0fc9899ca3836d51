/**
 * A bounded loopback load generator for the autoscaling tests: `concurrency` workers each send one
 * request at a time to a 127.0.0.1 URL (keep-alive), and count answers. The concurrency can be
 * changed while it runs; stop() waits for the requests in flight. Every failure is recorded (a
 * status other than 200, a connection error or a timeout): the tests require zero.
 */
import * as http from "node:http";

export interface LoadCounts {
  ok: number;
  failed: number;
  /** The first few failures, for the assertion message. */
  failures: string[];
}

export class LoadGenerator {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  private target = 0;
  private running = 0;
  private stopped = false;
  readonly counts: LoadCounts = { ok: 0, failed: 0, failures: [] };
  private readonly idle: Array<() => void> = [];

  constructor(
    private readonly url: string,
    private readonly timeoutMs = 20_000,
    /** Upper bound on workers whatever setConcurrency asks. */
    private readonly maxConcurrency = 64,
  ) {
    if (!/^http:\/\/127\.0\.0\.1:\d+\//.test(url)) throw new Error(`load generator: loopback URLs only; got ${url}`);
  }

  /** Sets the number of concurrent workers (extra workers end after their current request). */
  setConcurrency(n: number): void {
    if (this.stopped) return;
    this.target = Math.min(n, this.maxConcurrency);
    while (this.running < this.target) {
      this.running++;
      void this.worker();
    }
  }

  private request(): Promise<void> {
    return new Promise((resolve) => {
      const fail = (why: string) => {
        this.counts.failed++;
        if (this.counts.failures.length < 10) this.counts.failures.push(`${new Date().toISOString()} ${why}`);
        resolve();
      };
      const req = http.get(this.url, { agent: this.agent, timeout: this.timeoutMs }, (res) => {
        res.resume();
        res.on("end", () => {
          if (res.statusCode === 200) {
            this.counts.ok++;
            resolve();
          } else fail(`status ${res.statusCode}`);
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
    this.stopped = true;
    this.target = 0;
    if (this.running > 0) await new Promise<void>((r) => this.idle.push(r));
    this.agent.destroy();
    return this.counts;
  }
}
