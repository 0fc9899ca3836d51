/**
 * The sample app every AutoscalingGroup runs by default (image `scaleplane/sample-app:0.1.0`).
 * One esbuild bundle that runs on Debian's Node 18 (the /items routes bring the cache, shard and
 * config clients; everything else uses Node built-ins).
 *
 *   GET  /            small JSON: instance id (host name), whether config endpoints were given
 *   GET  /health      200 while serving, 503 while draining
 *   GET  /metrics     Prometheus text: requests by status, in-flight, CPU seconds, RSS, uptime
 *   GET  /work?ms=N&cpuMs=M   waits N ms and/or burns M ms of CPU time (bounded): load for scaling tests
 *   GET  /deps        reaches the config service and every database shard (./deps.ts): 200 when all answer, else 503
 *   GET/PUT/DELETE /items/<key>   an item read-through the cache, written to the database (./cache-routes.ts; stacks with a cache)
 *   POST /shutdown    starts a graceful drain (loopback callers only)
 *
 * SIGTERM/SIGINT or POST /shutdown → drain: /health turns 503 at once, requests keep being served
 * until `drainSeconds` have passed and no request is in flight (bounded by `drainMaxSeconds`),
 * then the server closes and the process exits 0.
 *
 * Secrets arrive as files: for every `<NAME>_FILE=<path>` in the environment (and no `<NAME>`),
 * the app reads the file into `<NAME>` at start (the platform never puts a secret value in a
 * container's environment, where `docker inspect` shows it).
 */
import { readFileSync } from "node:fs";
import * as http from "node:http";
import { hostname } from "node:os";
import type { AddressInfo } from "node:net";
import { checkDeps } from "./deps";
import type { itemRoutesFromEnv } from "./cache-routes";

export const SAMPLE_APP_VERSION = "0.1.0";
/** Longest wait (or CPU burn) one /work request may ask for. */
export const MAX_WORK_MS = 30_000;

export interface SampleAppOptions {
  /** Port to listen on (0: any free port). */
  port: number;
  /** @default "0.0.0.0" */
  host?: string;
  /** Seconds the app keeps serving after a drain starts (health 503 meanwhile). */
  drainSeconds: number;
  /** Upper bound of a drain, in-flight requests included. @default drainSeconds + 15 */
  drainMaxSeconds?: number;
  /** Environment the app reports on (config endpoints). @default process.env */
  env?: Record<string, string | undefined>;
  /** Log sink for one JSON object per line. @default stdout */
  log?: (line: string) => void;
}

export interface SampleApp {
  readonly server: http.Server;
  /** Starts listening; resolves with the bound port. */
  listen(): Promise<number>;
  /** Starts (or joins) the graceful drain; resolves when the server is closed. */
  drain(reason: string): Promise<void>;
  readonly draining: boolean;
  readonly inFlight: number;
}

/** True for loopback peers (127.0.0.0/8, ::1, IPv4-mapped loopback). */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === "::1" || /^(::ffff:)?127\./.test(address);
}

/** Prometheus text for the figures of one process. */
export function renderMetrics(m: {
  requests: ReadonlyMap<number, number>;
  inFlight: number;
  draining: boolean;
  cpu: NodeJS.CpuUsage;
  rssBytes: number;
  uptimeSeconds: number;
}): string {
  const lines = [
    "# HELP sample_app_requests_total Requests answered, by HTTP status code.",
    "# TYPE sample_app_requests_total counter",
    ...[...m.requests.entries()]
      .sort(([a], [b]) => a - b)
      .map(([code, n]) => `sample_app_requests_total{code="${code}"} ${n}`),
    "# HELP sample_app_in_flight_requests Requests being handled now.",
    "# TYPE sample_app_in_flight_requests gauge",
    `sample_app_in_flight_requests ${m.inFlight}`,
    "# HELP sample_app_draining 1 while the instance drains.",
    "# TYPE sample_app_draining gauge",
    `sample_app_draining ${m.draining ? 1 : 0}`,
    "# HELP process_cpu_seconds_total User and system CPU time spent, in seconds.",
    "# TYPE process_cpu_seconds_total counter",
    `process_cpu_seconds_total ${((m.cpu.user + m.cpu.system) / 1e6).toFixed(6)}`,
    "# HELP process_resident_memory_bytes Resident memory size, in bytes.",
    "# TYPE process_resident_memory_bytes gauge",
    `process_resident_memory_bytes ${m.rssBytes}`,
    "# HELP process_uptime_seconds Seconds since the process started.",
    "# TYPE process_uptime_seconds gauge",
    `process_uptime_seconds ${m.uptimeSeconds.toFixed(3)}`,
  ];
  return `${lines.join("\n")}\n`;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits `ms`, or less if the client goes away first (no timer outlives its request). */
const waitFor = (ms: number, res: http.ServerResponse) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    res.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });

/**
 * Burns `ms` of this process's CPU time (user + system, not wall time: on a busy machine a
 * wall-time loop gets only part of a CPU and the request would cost less CPU than it says),
 * bounded by 10× `ms` of wall time.
 */
function burnCpu(ms: number): void {
  const start = process.cpuUsage();
  const wallEnd = process.hrtime.bigint() + BigInt(Math.round(ms * 10 * 1e6));
  let x = 0;
  for (;;) {
    for (let i = 0; i < 20_000; i++) x = (x * 31 + 7) % 1_000_003;
    const used = process.cpuUsage(start);
    if (used.user + used.system >= ms * 1000 || process.hrtime.bigint() >= wallEnd) break;
  }
  if (x < 0) throw new Error("unreachable");
}

function boundedMs(raw: string | null): number {
  const n = raw === null ? 0 : Number(raw);
  return Number.isFinite(n) && n > 0 ? Math.min(n, MAX_WORK_MS) : 0;
}

/** The CQRS part of the app (undefined when SCALEPLANE_EVENTS is not set). */
const loadCqrs = async (env: Record<string, string | undefined>) => (await import("./cqrs/routes")).createCqrs(env);

export function createSampleApp(opts: SampleAppOptions): SampleApp {
  const env = opts.env ?? process.env;
  const drainMaxSeconds = Math.max(opts.drainMaxSeconds ?? opts.drainSeconds + 15, opts.drainSeconds);
  const log = opts.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const emit = (msg: string, fields: Record<string, unknown> = {}) =>
    log(JSON.stringify({ time: new Date().toISOString(), msg, ...fields }));
  const instance = hostname();
  // GET/PUT/DELETE /items/<key>: read-through the cache when the stack has one (./cache-routes.ts).
  // Loaded only then: its clients (etcd3 reads its .proto files when loaded) stay out of other runs.
  const items = env.SCALEPLANE_CACHE_CLUSTER
    ? (require("./cache-routes") as { itemRoutesFromEnv: typeof itemRoutesFromEnv }).itemRoutesFromEnv(env)
    : undefined;
  const requests = new Map<number, number>();
  let inFlight = 0;
  let draining = false;
  let drained: Promise<void> | undefined;
  let cqrs: ReturnType<typeof loadCqrs> | undefined;

  const send = (res: http.ServerResponse, status: number, body: string, type = "application/json") => {
    res.statusCode = status;
    res.setHeader("content-type", type);
    // While draining, ask keep-alive clients to reconnect (to another instance).
    if (draining) res.setHeader("connection", "close");
    res.end(body);
  };
  const json = (res: http.ServerResponse, status: number, value: unknown) =>
    send(res, status, `${JSON.stringify(value)}\n`);

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case "GET /":
      case "HEAD /": {
        const endpoints = env.SCALEPLANE_CONFIG_ENDPOINTS ?? env.CONFIG_ENDPOINTS;
        return json(res, 200, {
          app: "scaleplane-sample-app",
          version: SAMPLE_APP_VERSION,
          instance,
          configEndpoints: endpoints ? endpoints.split(",").filter((e) => e.length > 0).length : 0,
          draining,
        });
      }
      case "GET /health":
      case "HEAD /health":
        return draining ? json(res, 503, { status: "draining" }) : json(res, 200, { status: "ok" });
      case "GET /metrics":
        return send(
          res,
          200,
          renderMetrics({
            requests,
            inFlight,
            draining,
            cpu: process.cpuUsage(),
            rssBytes: process.memoryUsage().rss,
            uptimeSeconds: process.uptime(),
          }),
          "text/plain; version=0.0.4",
        );
      case "GET /work": {
        const waitMs = boundedMs(url.searchParams.get("ms"));
        const cpuMs = boundedMs(url.searchParams.get("cpuMs"));
        if (cpuMs > 0) burnCpu(cpuMs);
        if (waitMs > 0) await waitFor(waitMs, res);
        if (res.destroyed) return;
        return json(res, 200, { instance, waitMs, cpuMs });
      }
      case "GET /deps": {
        const deps = await checkDeps(env);
        return json(res, deps.ok ? 200 : 503, { instance, ...deps });
      }
      case "POST /shutdown":
        if (!isLoopback(req.socket.remoteAddress))
          return json(res, 403, { error: "shutdown is accepted from loopback only" });
        void drain("POST /shutdown");
        return json(res, 202, { status: "draining", drainSeconds: opts.drainSeconds });
      default:
        if (items && (await items(req, res))) return;
        // CQRS routes (./cqrs/routes.ts), loaded lazily and only when the platform deployed the event store
        if (url.pathname.startsWith("/accounts/") && (await (cqrs ??= loadCqrs(env)))?.handle(req, res, url)) return;
        return json(res, 404, { error: `no route ${route}` });
    }
  }

  const server = http.createServer((req, res) => {
    inFlight++;
    let counted = false;
    const done = () => {
      if (counted) return;
      counted = true;
      inFlight--;
      // 499 (client closed request): the client went away before the answer was complete.
      const code = res.writableFinished ? res.statusCode : 499;
      requests.set(code, (requests.get(code) ?? 0) + 1);
    };
    res.on("finish", done);
    res.on("close", done);
    handle(req, res).catch((err: unknown) => {
      emit("request failed", { error: String(err) });
      if (!res.headersSent) json(res, 500, { error: "internal error" });
      else res.destroy();
    });
  });

  function drain(reason: string): Promise<void> {
    if (drained) return drained;
    draining = true;
    const started = Date.now();
    emit("draining", { reason, drainSeconds: opts.drainSeconds, drainMaxSeconds, inFlight });
    drained = (async () => {
      for (;;) {
        const elapsed = (Date.now() - started) / 1000;
        if ((elapsed >= opts.drainSeconds && inFlight === 0) || elapsed >= drainMaxSeconds) break;
        await sleep(50);
      }
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // Past the bound: connections still open are cut (the runtime would kill us anyway).
        if (inFlight > 0) server.closeAllConnections();
      });
      await cqrs?.then((c) => c?.close()).catch(() => undefined);
      emit("drained", { seconds: (Date.now() - started) / 1000, inFlight });
    })();
    return drained;
  }

  return {
    server,
    listen: () =>
      new Promise<number>((resolve, reject) => {
        server.once("error", reject);
        server.listen(opts.port, opts.host ?? "0.0.0.0", () => {
          server.off("error", reject);
          const port = (server.address() as AddressInfo).port;
          emit("listening", { port, instance });
          resolve(port);
        });
      }),
    drain,
    get draining() {
      return draining;
    },
    get inFlight() {
      return inFlight;
    },
  };
}

function envSeconds(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0)
    throw new Error(`${name} must be a number of seconds ≥ 0; got ${JSON.stringify(raw)}`);
  return n;
}

/**
 * The environment with every `<NAME>_FILE` read into `<NAME>` (one trailing newline dropped),
 * unless `<NAME>` is set itself. An unreadable file fails, naming the variable.
 */
export function resolveFileEnv(
  env: NodeJS.ProcessEnv,
  read: (path: string) => string = (p) => readFileSync(p, "utf8"),
): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  for (const [key, path] of Object.entries(env)) {
    const name = /^(.+)_FILE$/.exec(key)?.[1];
    if (!name || path === undefined || path === "" || env[name] !== undefined) continue;
    try {
      out[name] = read(path).replace(/\r?\n$/, "");
    } catch (e) {
      throw new Error(`${key}=${path}: cannot read the file (${(e as Error).message})`);
    }
  }
  return out;
}

/** Runs the app from its environment (PORT, DRAIN_SECONDS, DRAIN_MAX_SECONDS) until drained. */
export async function main(rawEnv: NodeJS.ProcessEnv = process.env): Promise<void> {
  const env = resolveFileEnv(rawEnv);
  const port = envSeconds(env, "PORT", 8080);
  if (!Number.isInteger(port) || port > 65535)
    throw new Error(`PORT must be a port number; got ${JSON.stringify(env.PORT)}`);
  const drainSeconds = envSeconds(env, "DRAIN_SECONDS", 30);
  const app = createSampleApp({
    port,
    drainSeconds,
    drainMaxSeconds: envSeconds(env, "DRAIN_MAX_SECONDS", drainSeconds + 15),
    env,
  });
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => void app.drain(signal));
  // Every drain (signal or POST /shutdown) ends with the server closed: exit once it has finished.
  app.server.once("close", () => void app.drain("server closed").then(() => process.exit(0)));
  await app.listen();
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
