/**
 * The platform reads the store: `npm run simulate -- --from-store` replays the store's history
 * through the scaling engines, and `npm run status`'s metrics part reads a store instance
 * (health, epoch, counters, the shards it maintains). Wall time: ~25 s.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { MetricsClient } from "../../../runtime/metrics-store/client";
import { metricsInstanceStatus, renderMetricsStatus } from "../../../scripts/lib/metrics-status";
import { startMetricsEnv, type MetricsEnv } from "./support";
import type { RunningStore } from "../../../runtime/metrics-store/main";

const ROOT = join(__dirname, "../../..");
let env: MetricsEnv;
let store: RunningStore;
beforeAll(async () => {
  env = await startMetricsEnv(2);
  store = await env.store({
    maintenance: {
      outOfOrderWindowMs: 3_600_000,
      retention: { rawDays: 15, oneMinuteDays: 90, oneHourDays: 730 },
      periodMs: 500,
    },
  });
}, 60_000);
afterAll(async () => env?.stop(), 30_000);

it("simulate --from-store replays the store's request rate through the engines", async () => {
  const step = 15_000;
  const end = Math.floor(Date.now() / step) * step;
  const client = new MetricsClient({ url: store.url });
  for (const instance of ["a", "b"]) {
    let c = 0;
    const samples: [number, number][] = [];
    for (let t = end - 3 * 3_600_000; t <= end; t += step)
      samples.push([t, (c += 15 * (20 + 10 * Math.sin(t / 600_000)))]);
    await client.write([{ labels: { __name__: "sample_app_requests_total", instance, code: "200" }, samples }]);
  }
  const { stdout } = await promisify(execFile)(
    join(ROOT, "node_modules/.bin/tsx"),
    [
      join(ROOT, "scripts/simulate.ts"),
      "--from-store",
      store.url,
      "--hours",
      "2",
      "--engines",
      "hpa,threshold",
      "--out",
      join(env.pg.instances[0].dataDir, "..", "sim.svg"),
    ],
    { cwd: ROOT, timeout: 120_000 },
  );
  const last = JSON.parse(stdout.trim().split("\n").pop()!) as { trace: string; engines: Record<string, unknown> };
  expect(last.trace).toMatch(/from-store\.csv$/);
  expect(Object.keys(last.engines).sort()).toEqual(["hpa", "threshold"]);
}, 150_000);

it("status reads a store instance: health, epoch, counters and the shards it maintains", async () => {
  await new Promise((r) => setTimeout(r, 1500)); // a maintenance pass or two
  const s = await metricsInstanceStatus({ container: "metrics-0", hostPort: store.port });
  expect(s).toMatchObject({ healthy: true, epoch: 0 });
  expect(s.samplesAccepted).toBeGreaterThan(0);
  expect(s.maintains.map((m) => m.shard).sort()).toEqual(env.pg.instances.map((i) => i.name).sort());
  expect(renderMetricsStatus([s]).join("\n")).toContain("metrics-0");
  const down = await metricsInstanceStatus({ container: "gone", hostPort: 1 });
  expect(down.healthy).toBe(false);
});
