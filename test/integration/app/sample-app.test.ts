/** The sample app, started in-process on 127.0.0.1 with a free port. */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import * as http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildSync } from "esbuild";
import { createSampleApp, isLoopback, renderMetrics, type SampleApp } from "../../../runtime/sample-app/main";

interface Reply {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** One request on a fresh connection (no keep-alive pool hiding connection handling). */
function request(port: number, method: string, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** The value of one sample in Prometheus text (first match). */
function metric(text: string, sample: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${sample} `));
  if (!line) throw new Error(`no sample ${sample} in:\n${text}`);
  return Number(line.slice(sample.length + 1));
}

const started: SampleApp[] = [];
async function start(
  drainSeconds: number,
  drainMaxSeconds?: number,
  env: Record<string, string> = {},
): Promise<{ app: SampleApp; port: number; logs: string[] }> {
  const logs: string[] = [];
  const app = createSampleApp({
    port: 0,
    host: "127.0.0.1",
    drainSeconds,
    drainMaxSeconds,
    env,
    log: (l) => logs.push(l),
  });
  started.push(app);
  const port = await app.listen();
  return { app, port, logs };
}

afterEach(async () => {
  for (const app of started.splice(0))
    if (app.server.listening) await new Promise<void>((r) => app.server.close(() => r()));
});

describe("sample app", () => {
  it("answers health, identifies the instance and reports config endpoints", async () => {
    const { port } = await start(1, undefined, { SCALEPLANE_CONFIG_ENDPOINTS: "http://a:2379,http://b:2379" });
    const health = await request(port, "GET", "/health");
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toEqual({ status: "ok" });
    const root = JSON.parse((await request(port, "GET", "/")).body);
    expect(root).toMatchObject({ app: "scaleplane-sample-app", configEndpoints: 2, draining: false });
    expect(typeof root.instance).toBe("string");
    expect(root.instance.length).toBeGreaterThan(0);
    expect((await request(port, "GET", "/nope")).status).toBe(404);
  });

  it("serves real, moving metrics", async () => {
    const { port } = await start(1);
    const first = (await request(port, "GET", "/metrics")).body;
    await request(port, "GET", "/health");
    await request(port, "GET", "/health");
    await request(port, "GET", "/missing");
    await request(port, "GET", "/work?cpuMs=200");
    const second = await request(port, "GET", "/metrics");
    expect(second.headers["content-type"]).toContain("text/plain");
    const text = second.body;
    // The first /metrics and 2 health + 1 work = 4 answered with 200 before this scrape; 1 404.
    expect(metric(text, 'sample_app_requests_total{code="200"}')).toBe(4);
    expect(metric(text, 'sample_app_requests_total{code="404"}')).toBe(1);
    expect(metric(text, "sample_app_in_flight_requests")).toBe(1); // this scrape
    expect(metric(text, "sample_app_draining")).toBe(0);
    // 200 ms of CPU time were burnt between the scrapes (CPU time, not wall time: so even on a loaded machine).
    expect(
      metric(text, "process_cpu_seconds_total") - metric(first, "process_cpu_seconds_total"),
    ).toBeGreaterThanOrEqual(0.1);
    expect(metric(text, "process_resident_memory_bytes")).toBeGreaterThan(1024 * 1024);
    expect(metric(text, "process_uptime_seconds")).toBeGreaterThan(metric(first, "process_uptime_seconds"));
  });

  it("drains on POST /shutdown: health 503, in-flight request answered, then the server closes", async () => {
    const { app, port, logs } = await start(1, 5);
    const t0 = Date.now();
    const slow = request(port, "GET", "/work?ms=1800");
    await new Promise((r) => setTimeout(r, 100));
    expect(app.inFlight).toBe(1);

    const shutdown = await request(port, "POST", "/shutdown");
    expect(shutdown.status).toBe(202);
    expect(app.draining).toBe(true);

    // Draining: health says 503, ordinary requests are still served (the LB is deregistering us).
    const health = await request(port, "GET", "/health");
    expect(health.status).toBe(503);
    expect(health.headers.connection).toBe("close");
    expect((await request(port, "GET", "/")).status).toBe(200);

    // drainSeconds (1 s) passes while the slow request is in flight: the server stays up for it.
    const closed = new Promise<number>((r) => app.server.once("close", () => r(Date.now() - t0)));
    const answer = await slow;
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ waitMs: 1800 });
    const closedAfter = await closed;
    expect(closedAfter).toBeGreaterThanOrEqual(1800);
    expect(closedAfter).toBeLessThan(5000);
    await expect(request(port, "GET", "/health")).rejects.toThrow(/ECONNREFUSED/);
    expect(logs.map((l) => JSON.parse(l).msg)).toEqual(["listening", "draining", "drained"]);
  });

  it("waits at least drainSeconds even when nothing is in flight", async () => {
    const { app } = await start(1);
    const t0 = Date.now();
    await app.drain("test");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(app.server.listening).toBe(false);
  });

  it("bounds the drain: a request longer than drainMaxSeconds is cut", async () => {
    const { app, port } = await start(0, 1);
    const slow = request(port, "GET", "/work?ms=10000");
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await app.drain("test");
    expect(Date.now() - t0).toBeLessThan(2000);
    await expect(slow).rejects.toThrow(/socket hang up|ECONNRESET/);
  });

  it("accepts shutdown only from loopback peers", () => {
    expect(isLoopback("127.0.0.1")).toBe(true);
    expect(isLoopback("::ffff:127.0.0.1")).toBe(true);
    expect(isLoopback("::1")).toBe(true);
    expect(isLoopback("172.17.0.1")).toBe(false);
    expect(isLoopback("10.127.0.1")).toBe(false);
    expect(isLoopback(undefined)).toBe(false);
  });

  it("renders Prometheus text with counters per status", () => {
    const text = renderMetrics({
      requests: new Map([
        [503, 2],
        [200, 7],
      ]),
      inFlight: 3,
      draining: true,
      cpu: { user: 1_500_000, system: 500_000 },
      rssBytes: 42,
      uptimeSeconds: 1.5,
    });
    expect(text).toContain('sample_app_requests_total{code="200"} 7\nsample_app_requests_total{code="503"} 2\n');
    expect(metric(text, "process_cpu_seconds_total")).toBe(2);
    expect(metric(text, "sample_app_in_flight_requests")).toBe(3);
    expect(metric(text, "sample_app_draining")).toBe(1);
    expect(text).toContain("# TYPE process_cpu_seconds_total counter");
  });
});

describe("sample app bundle (as the image runs it)", () => {
  const dir = mkdtempSync(join(tmpdir(), "sample-app-"));
  const bundle = join(dir, "app.js");
  let child: ChildProcess | undefined;

  beforeAll(() => {
    // The image builder bundles main.ts the same way: one CommonJS file for Debian's Node 18.
    buildSync({
      entryPoints: [join(__dirname, "../../../runtime/sample-app/main.ts")],
      bundle: true,
      platform: "node",
      target: "node18",
      format: "cjs",
      outfile: bundle,
      logLevel: "silent",
    });
  });
  afterAll(() => {
    if (child && child.exitCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("drains on SIGTERM: answers the in-flight request, then exits 0", async () => {
    child = spawn(process.execPath, [bundle], {
      env: { PATH: process.env.PATH, PORT: "0", DRAIN_SECONDS: "1", DRAIN_MAX_SECONDS: "5" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const proc = child;
    const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
    const lines: string[] = [];
    const port = await new Promise<number>((resolve, reject) => {
      let buf = "";
      proc.stdout!.setEncoding("utf8");
      proc.stdout!.on("data", (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          lines.push(line);
          const rec = JSON.parse(line);
          if (rec.msg === "listening") resolve(rec.port);
        }
      });
      proc.once("exit", (code) => reject(new Error(`app exited early with ${code}`)));
    });
    const slow = request(port, "GET", "/work?ms=1500");
    await new Promise((r) => setTimeout(r, 200));
    proc.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 200));
    expect((await request(port, "GET", "/health")).status).toBe(503);
    const answer = await slow;
    expect(answer.status).toBe(200);
    expect(await exited).toBe(0);
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(["listening", "draining", "drained"]);
    expect(JSON.parse(lines[1]).reason).toBe("SIGTERM");
  });
});
