/**
 * The store's image (`scaleplane/metrics-store`, `npm run images`) runs the bundled service: a
 * container on the host network (listening on 127.0.0.1 only) against this test's etcd and
 * PostgreSQL, remote-write in and a query out, the password as a mounted file. Wall time: ~15 s.
 */
import { mkdtempSync, writeFileSync, chmodSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Docker from "dockerode";
import { encodeWriteRequest } from "../../../core/metrics/remote-write";
import { requireImage } from "../../support/engines";
import { freePorts } from "../../support/ports";
import { remoteWrite } from "../../support/prometheus";
import { startMetricsEnv, type MetricsEnv } from "./support";

const IMAGE = "scaleplane/metrics-store:0.1.0";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let env: MetricsEnv;
let docker: Docker;
let container: Docker.Container | undefined;
let dir: string;

beforeAll(async () => {
  docker = await requireImage(IMAGE);
  env = await startMetricsEnv(2);
}, 60_000);
afterAll(async () => {
  await container?.remove({ force: true }).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
  await env?.stop();
}, 30_000);

it("serves remote-write and queries from the image", async () => {
  const [port] = await freePorts(1, 28000, 28999);
  dir = mkdtempSync(join(tmpdir(), `metrics-image-${process.pid}-`));
  writeFileSync(join(dir, "pw"), env.pg.password);
  chmodSync(dir, 0o755);
  chmodSync(join(dir, "pw"), 0o644);
  container = await docker.createContainer({
    Image: IMAGE,
    name: `metrics-image-test-${process.pid}`,
    Env: [
      `METRICS_CONFIG_ENDPOINTS=${env.etcd.endpoint}`,
      `METRICS_CONFIG_PREFIX=${env.config.prefix}`,
      `METRICS_DATABASE_USER=${env.pg.user}`,
      "METRICS_DATABASE_PASSWORD_FILE=/run/secrets/pw",
      `METRICS_PORT=${port}`,
      "METRICS_HOST=127.0.0.1",
    ],
    HostConfig: { NetworkMode: "host", Binds: [`${join(dir, "pw")}:/run/secrets/pw:ro`] },
  });
  await container.start();
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 20_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/ready`)).ok) break;
    } catch {
      // starting
    }
    if (Date.now() > until)
      throw new Error(
        `the store container did not become ready: ${(await container.logs({ stdout: true, stderr: true })).toString()}`,
      );
    await sleep(200);
  }
  const t = Math.floor(Date.now() / 1000) * 1000 - 60_000;
  const body = encodeWriteRequest([
    { labels: { __name__: "image_test", job: "x" }, t: [t, t + 15_000], v: new Float64Array([1.5, 2.5]) },
  ]);
  expect(await remoteWrite(`${url}/api/v1/write`, body)).toEqual({ status: 204, text: "" });
  const q = await (
    await fetch(
      `${url}/api/v1/query?${new URLSearchParams({ query: "image_test", time: String((t + 15_000) / 1000) })}`,
    )
  ).json();
  expect(q).toMatchObject({
    status: "success",
    data: { result: [{ metric: { __name__: "image_test", job: "x" }, value: [(t + 15_000) / 1000, "2.5"] }] },
  });
}, 60_000);
