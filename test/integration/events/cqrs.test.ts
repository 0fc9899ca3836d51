/**
 * The sample app's CQRS part on real engines: commands through HTTP append events under the
 * aggregate's invariants, the read model (run by the app's own leader-elected projection runner)
 * follows, snapshots are taken every N events and used to load the aggregate, and a deleted
 * account is gone from the events and the read model. Bounded: ~20-40 s.
 */
import { execFile } from "node:child_process";
import * as http from "node:http";
import { join } from "node:path";
import { createSampleApp, type SampleApp } from "../../../runtime/sample-app/main";
import { EVENTS_MASTER_KEY_ENV, EVENTS_SETTINGS_ENV } from "../../../core/events/settings";
import { MASTER_KEY, startEventsEnv, type EventsEnv } from "./support";

let env: EventsEnv;
let app: SampleApp;
let port: number;
let prefix: string;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
const call = (method: string, path: string, body?: unknown): Promise<{ status: number; json: Json }> =>
  new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, method, path, agent: false, headers: { "content-type": "application/json" } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });

const eventually = async (f: () => Promise<boolean>, ms = 30_000) => {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 200));
  }
};

beforeAll(async () => {
  env = await startEventsEnv(2);
  const config = await env.config();
  prefix = config.prefix;
  app = createSampleApp({
    port: 0,
    host: "127.0.0.1",
    drainSeconds: 0,
    log: () => undefined,
    env: {
      SCALEPLANE_CONFIG_ENDPOINTS: env.etcd.endpoint,
      SCALEPLANE_CONFIG_PREFIX: config.prefix,
      SCALEPLANE_LOG_LEVEL: "warn",
      SCALEPLANE_DATABASE_USER: env.pg.user,
      SCALEPLANE_DATABASE_PASSWORD: env.pg.password,
      [EVENTS_SETTINGS_ENV]: JSON.stringify({
        name: "events",
        snapshotEvery: 3,
        projectionBatchSize: 100,
        leaseTtlSeconds: 3,
      }),
      [EVENTS_MASTER_KEY_ENV]: MASTER_KEY,
    },
  });
  port = await app.listen();
});
afterAll(async () => {
  await app?.drain("test end");
  await env?.stop();
});

it("commands keep the invariants, the read model and snapshots follow, deletion purges", async () => {
  expect((await call("POST", "/accounts/a1", { type: "deposit", amount: 5 })).status).toBe(409);
  expect((await call("POST", "/accounts/a1", { type: "open", owner: "ada" })).json).toEqual({ version: 1 });
  expect((await call("POST", "/accounts/a1", { type: "open", owner: "ada" })).json.refused).toMatch(/already open/);
  for (const amount of [100, 50, 25])
    expect((await call("POST", "/accounts/a1", { type: "deposit", amount })).status).toBe(200);
  const refused = await call("POST", "/accounts/a1", { type: "withdraw", amount: 1000 });
  expect(refused.status).toBe(409);
  expect(refused.json.refused).toMatch(/insufficient funds/);
  expect((await call("POST", "/accounts/a1", { type: "withdraw", amount: 75 })).json).toEqual({ version: 5 });
  // the query side catches up
  await eventually(async () => (await call("GET", "/accounts/a1")).json?.version === 5);
  expect((await call("GET", "/accounts/a1")).json).toMatchObject({
    owner: "ada",
    balance: 100,
    status: "open",
    version: 5,
  });
  // the snapshot at version 3 is used to load the aggregate
  await eventually(async () => (await call("GET", "/accounts/a1/state")).json?.fromSnapshot === 3);
  expect((await call("GET", "/accounts/a1/state")).json).toMatchObject({
    state: { balance: 100, status: "open" },
    version: 5,
  });
  // deletion for privacy
  expect((await call("DELETE", "/accounts/a1")).status).toBe(200);
  expect((await call("GET", "/accounts/a1")).status).toBe(404);
  expect((await call("GET", "/accounts/a1/state")).status).toBe(410);
  expect((await call("POST", "/accounts/a1", { type: "deposit", amount: 1 })).status).toBe(410);
});

it("npm run events: status, replay (dry run, no differences) and rebuild (swapped) of the read model", async () => {
  for (let i = 0; i < 5; i++) {
    expect((await call("POST", `/accounts/b${i}`, { type: "open", owner: `o${i}` })).status).toBe(200);
    expect((await call("POST", `/accounts/b${i}`, { type: "deposit", amount: 10 + i })).status).toBe(200);
  }
  await eventually(async () => (await call("GET", "/accounts/b4")).json?.version === 2);
  const cli = (...args: string[]) =>
    new Promise<{ code: number; out: string; err: string }>((resolve) => {
      execFile(
        process.execPath,
        [
          "--import",
          "tsx",
          join(process.cwd(), "scripts/events.ts"),
          "--etcd",
          env.etcd.endpoint,
          "--prefix",
          prefix,
          "--user",
          env.pg.user,
          "--snapshot-every",
          "3",
          ...args,
        ],
        {
          env: { ...process.env, SCALEPLANE_DATABASE_PASSWORD: env.pg.password, [EVENTS_MASTER_KEY_ENV]: MASTER_KEY },
          timeout: 120_000,
        },
        (e, out, err) => resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, out, err }),
      );
    });
  const status = await cli("--json", "status", "sample_accounts");
  expect(status.err).toBe("");
  const s = JSON.parse(status.out.trim().split("\n").pop()!);
  expect(s.projections.sample_accounts.shards).toHaveLength(2);
  const replay = await cli("--json", "replay", "sample_accounts");
  if (replay.code !== 0) console.log(replay.out, replay.err);
  expect(replay.code).toBe(0);
  expect(
    JSON.parse(replay.out.trim().split("\n").pop()!).results.every((r: { differences: number }) => r.differences === 0),
  ).toBe(true);
  const rebuild = await cli("--verify", "rebuild", "sample_accounts");
  if (rebuild.code !== 0) console.log(rebuild.out, rebuild.err);
  expect(rebuild.code).toBe(0);
  expect(rebuild.out).toMatch(/swapped/);
  expect((await call("GET", "/accounts/b3")).json).toMatchObject({ owner: "o3", balance: 13, version: 2 });
});
