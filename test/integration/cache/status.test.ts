/**
 * `npm run status`'s cache section against a live node: the scaleplane/redis image (auth from a
 * password file, redis-server on a port that is not Redis's default), read through a CacheClient,
 * then probed with `docker exec` as scripts/status.ts does. The figures must be the node's own:
 * the hits and misses the lease scripts counted equal the ones the client saw, maxmemory is the
 * configured one, and the hot key the client reported comes first. Bounded: ~15-30 s; a free port,
 * pid-scoped container, cluster and etcd prefix, so it runs beside other files.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Docker from "dockerode";
import Redis from "ioredis";
import pino from "pino";
import { LOCAL_REDIS_IMAGE } from "../../../core/cache/spec";
import { initialTopology } from "../../../core/cache/topology";
import { CacheClient, initTopology } from "../../../runtime/cache-client";
import { ConfigClient } from "../../../runtime/config-client";
import { collectCacheStatus, renderCacheStatus } from "../../../scripts/lib/cache-status";
import { requireImage } from "../../support/engines";
import { startLocalEtcd, type LocalEtcd } from "../../support/etcd-cluster";
import { freePorts } from "../../support/ports";

jest.setTimeout(90_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PASSWORD = `status-test-${process.pid}-pw`;
const NAME = `sp-cache-status-${process.pid}`;

let docker: Docker;
let etcd: LocalEtcd;
let config: ConfigClient;
let container: Docker.Container | undefined;
let client: CacheClient | undefined;
let dir: string | undefined;

beforeAll(async () => {
  [docker, etcd] = await Promise.all([requireImage(LOCAL_REDIS_IMAGE), startLocalEtcd(`cache-status-${process.pid}`)]);
  config = ConfigClient.create({
    endpoints: [etcd.endpoint],
    prefix: `/sp-cache-status-${process.pid}/`,
    logger: pino({ level: "silent" }),
  });
}, 60_000);

afterAll(async () => {
  await client?.close();
  await container?.remove({ force: true }).catch(() => undefined);
  if (dir) rmSync(dir, { recursive: true, force: true });
  config?.close();
  await etcd?.stop();
}, 30_000);

it("shows the node's own hit ratio, memory, evictions and hot keys", async () => {
  const [port] = await freePorts(1, 26000, 28999);
  dir = mkdtempSync(join(tmpdir(), `cache-status-${process.pid}-`));
  writeFileSync(join(dir, "pw"), PASSWORD);
  chmodSync(dir, 0o755);
  chmodSync(join(dir, "pw"), 0o644);
  container = await docker.createContainer({
    Image: LOCAL_REDIS_IMAGE,
    name: NAME,
    Env: ["REDIS_PASSWORD_FILE=/run/secrets/redis-password"],
    Cmd: ["--port", String(port), "--bind", "127.0.0.1", "--maxmemory", "32mb", "--save", "", "--appendonly", "no"],
    HostConfig: { NetworkMode: "host", Binds: [`${join(dir, "pw")}:/run/secrets/redis-password:ro`] },
  });
  await container.start();
  const until = Date.now() + 20_000;
  for (;;) {
    const r = new Redis(port, "127.0.0.1", { password: PASSWORD, lazyConnect: true, maxRetriesPerRequest: 0 });
    r.on("error", () => undefined);
    const up = await r
      .connect()
      .then(() => r.ping())
      .then(
        () => true,
        () => false,
      );
    r.disconnect();
    if (up) break;
    if (Date.now() > until)
      throw new Error(`the node did not start: ${(await container.logs({ stdout: true, stderr: true })).toString()}`);
    await sleep(200);
  }

  const cluster = `status-${process.pid}`;
  await initTopology(config, cluster, initialTopology([{ name: "status-0", host: "127.0.0.1", port }]));
  client = await CacheClient.connect({
    config,
    cluster,
    password: PASSWORD,
    logger: pino({ level: "silent" }),
    // the near cache off: every get reaches the node, so its counters and the client's agree
    nearCache: { enabled: false },
  });
  const load = (k: string) => async () => ({ k });
  for (let i = 0; i < 20; i++) await client.get(`item-${i}`, load(`item-${i}`)); // 20 misses (loads)
  for (let i = 0; i < 60; i++) await client.get("item-7", load("item-7")); // 60 hits on one key
  for (let i = 0; i < 20; i++) await client.get(`item-${i}`, load(`item-${i}`)); // 20 hits
  expect(client.stats).toMatchObject({ hits: 80, misses: 20, loads: 20 });

  const [status, gone] = await collectCacheStatus(docker, [
    { node: "status-0", container: NAME, port },
    { node: "status-gone", container: `${NAME}-absent`, port },
  ]);
  expect(status).toMatchObject({ reachable: true, hits: 80, misses: 20, hitRatio: 0.8, evictedKeys: 0 });
  expect(status.maxMemoryBytes).toBe(32 * 2 ** 20);
  expect(status.usedMemoryBytes).toBeGreaterThan(0);
  expect(gone).toMatchObject({ node: "status-gone", reachable: false });

  // hot keys: what the clients report (every 5 s, or now), the node keeps the top ones
  const withNear = await CacheClient.connect({
    config,
    cluster,
    password: PASSWORD,
    logger: pino({ level: "silent" }),
    nearCache: { enabled: true, hotShare: 0.2, hotMinCount: 10 },
  });
  try {
    for (let i = 0; i < 50; i++) await withNear.get("item-3", load("item-3"));
    for (let i = 0; i < 10; i++) await withNear.get(`item-${i + 10}`, load(`item-${i + 10}`));
    await withNear.reportHotKeys();
  } finally {
    await withNear.close();
  }
  const [after] = await collectCacheStatus(docker, [{ node: "status-0", container: NAME, port }]);
  expect(after.hotKeys?.[0]).toMatchObject({ key: "item-3" });
  expect(after.hotKeys![0].count).toBeGreaterThanOrEqual(10);
  const text = renderCacheStatus([after, gone]);
  expect(text).toMatch(/status-0\s+\d+\.\d %\s+[\d.]+ \/ 32\.0 MiB\s+0\s+item-3 \(\d+\)/);
  expect(text).toMatch(/status-gone\s+unreachable/);
});
