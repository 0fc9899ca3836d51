/**
 * Durability of the store: (1) a kill -9 of the store process and a kill of a shard's postmaster,
 * each in the middle of a bounded ingest, lose no acknowledged sample (rf 3, quorum); (2) the
 * predictive engine's history written through the typed client before a controller restart (and a
 * store restart) is read back by the restarted controller and rebuilds the same forecast.
 * Wall time: ~40 s.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { forecastAt, initForecast, observe, type ForecastState } from "../../../core/scaling/forecast";
import { MetricsClient } from "../../../runtime/metrics-store/client";
import { freePorts } from "../../support/ports";
import { startMetricsEnv, type MetricsEnv } from "./support";

const ROOT = join(__dirname, "../../..");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let env: MetricsEnv;
let port: number;
let child: ChildProcess | undefined;

/** Starts the store as its own process (the image's entry point) on `port`. */
async function startStoreProcess(): Promise<void> {
  // node itself runs the store (`--import tsx`): the PID killed is the store's own, not a tsx
  // wrapper whose orphaned child would keep the port and answer for the "restarted" store
  child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "runtime/metrics-store/main.ts")], {
    cwd: ROOT,
    stdio: "ignore",
    env: {
      ...process.env,
      METRICS_CONFIG_ENDPOINTS: env.etcd.endpoint,
      METRICS_CONFIG_PREFIX: env.config.prefix,
      METRICS_DATABASE_USER: env.pg.user,
      METRICS_DATABASE_PASSWORD: env.pg.password,
      METRICS_PORT: String(port),
      METRICS_HOST: "127.0.0.1",
      METRICS_MAINTENANCE_PERIOD_SECONDS: "2",
      SCALEPLANE_LOG_LEVEL: "silent",
    },
  });
  const until = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/ready`)).ok) return;
    } catch {
      // starting
    }
    if (Date.now() > until) throw new Error("the store process did not become ready");
    await sleep(100);
  }
}

/** SIGKILLs the store process and waits until it is gone (its port is free again). */
async function killStore(): Promise<void> {
  const c = child;
  child = undefined;
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise<void>((r) => c.once("exit", () => r()));
  c.kill("SIGKILL");
  await exited;
}

beforeAll(async () => {
  env = await startMetricsEnv(3, { replicationFactor: 3, consistency: "quorum" });
  [port] = await freePorts(1, 28000, 28999);
  await startStoreProcess();
}, 90_000);
afterAll(async () => {
  await killStore();
  await env?.stop();
}, 30_000);

describe("metrics store durability", () => {
  it("loses no acknowledged sample when the store or a shard is killed mid-ingest", async () => {
    const client = new MetricsClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 2000 });
    const acked = new Map<string, number[]>();
    const t0 = Date.now() - 10 * 60_000;
    let k = 0;
    let stop = false;
    let errors = 0;
    const writer = (async () => {
      while (!stop && k < 2000) {
        const t = t0 + k * 100;
        const series = Array.from({ length: 20 }, (_, i) => ({
          labels: { __name__: "kill_total", instance: `i-${i}` },
          samples: [[t, k] as [number, number]],
        }));
        try {
          const r = await client.write(series);
          if (r.accepted === 20)
            for (const s of series) acked.set(s.labels.instance, [...(acked.get(s.labels.instance) ?? []), t]);
        } catch {
          errors++;
        }
        k++;
      }
    })();
    await sleep(1500);
    await killStore(); // mid-ingest: in-flight requests fail, acknowledged ones are on the shards
    await sleep(300);
    await startStoreProcess();
    await sleep(1500);
    const victim = env.pg.instances[1];
    await victim.stop("kill"); // a shard dies: quorum (2 of 3) still acknowledges
    await sleep(1500);
    await victim.start();
    await sleep(1000);
    stop = true;
    await writer;
    // the writer kept going across both kills (the client retries a failed write within its deadline)
    expect(k).toBeGreaterThan(30);
    expect(acked.size).toBe(20);
    void errors;
    const end = t0 + k * 100;
    const result = await fetch(
      `http://127.0.0.1:${port}/api/v1/query?${new URLSearchParams({ query: "kill_total[10m]", time: String(end / 1000) })}`,
    ).then(
      (r) => r.json() as Promise<{ data: { result: { metric: { instance: string }; values: [number, string][] }[] } }>,
    );
    const stored = new Map(
      result.data.result.map((s) => [s.metric.instance, new Set(s.values.map(([t]) => Math.round(t * 1000)))]),
    );
    let lost = 0;
    for (const [instance, ts] of acked) for (const t of ts) if (!stored.get(instance)?.has(t)) lost++;
    expect(lost).toBe(0);
  }, 90_000);

  it("the predictive engine's history survives a controller restart", async () => {
    // 45 minutes of 10 s observations with a 5-minute season (inside the out-of-order window of
    // the shards, which the previous test's newest samples set)
    const step = 10_000;
    const now = Math.floor(Date.now() / step) * step;
    const from = now - 45 * 60_000;
    const load = (t: number) => Math.round((100 + 60 * Math.sin((2 * Math.PI * t) / 300_000)) * 10) / 10;
    // the controller observes and records its history, then is restarted (its memory is gone)
    let before: ForecastState = initForecast(10, [30], 0.3, 0.2);
    const recorded = [];
    for (let t = from; t <= now; t += step) {
      before = observe(before, t, load(t));
      recorded.push([t, load(t)] as [number, number]);
    }
    const writer = new MetricsClient({ url: `http://127.0.0.1:${port}` });
    for (let i = 0; i < recorded.length; i += 200)
      await writer.write([
        { labels: { __name__: "scaler_observed_load", group: "app" }, samples: recorded.slice(i, i + 200) },
      ]);
    // the store restarts too: it keeps nothing itself
    await killStore();
    await startStoreProcess();
    const reader = new MetricsClient({ url: `http://127.0.0.1:${port}` });
    const [history] = await reader.queryRange('scaler_observed_load{group="app"}', {
      start: from,
      end: now,
      stepMs: step,
    });
    expect(history.points).toEqual(recorded);
    let after: ForecastState = initForecast(10, [30], 0.3, 0.2);
    for (const [t, v] of history.points) after = observe(after, t, v);
    expect(after).toEqual(before);
    expect(forecastAt(after, now + 60_000)).toBe(forecastAt(before, now + 60_000));
    expect(forecastAt(after, now + 60_000)).toBeDefined();
  }, 60_000);
});
