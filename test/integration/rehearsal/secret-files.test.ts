/**
 * Focused check of issue 9 item 2 on a real Docker engine: a fixed-size Docker AutoscalingGroup
 * with a secret, its containers created with exactly the inputs the component registers (the
 * rehearsal's Docker mapping, test/support/rehearsal/resources.ts). `docker inspect` shows no
 * secret value; the secret is a 0400 file owned by the app user (uid 10001), the env only names
 * it (`<NAME>_FILE`), and the sample app starts and serves reading it.
 * (The whole local stack, with the scaling controller's instances, etcd and the shards, is
 * checked by local-stack.test.ts.)
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as http from "node:http";
import { createServer } from "node:net";
import { promisify } from "node:util";
import * as pulumi from "@pulumi/pulumi";
import type Docker from "dockerode";
import { AutoscalingGroup } from "../../../components/autoscaling-group";
import { installMocks, settle } from "../../../scripts/lib/offline";
import { requireImage } from "../../support/engines";
import type { Registration } from "../../support/rehearsal/monitor";
import { ResourceDriver, type Created } from "../../support/rehearsal/resources";

const run = promisify(execFile);
const rec = installMocks({ stack: "secretfiles" });
const SECRET = `sf-${randomBytes(16).toString("hex")}`;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const get = (url: string) =>
  new Promise<number>((resolve) => {
    const req = http.get(url, { timeout: 3000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", () => resolve(0));
    req.on("timeout", () => req.destroy());
  });

describe("secrets reach Docker containers as files, never as env", () => {
  let docker: Docker;
  let driver: ResourceDriver;
  const created: Created[] = [];
  let port: number;

  beforeAll(async () => {
    docker = await requireImage("scaleplane/sample-app:0.1.0");
    driver = new ResourceDriver(docker, undefined);
    port = await freePort();
    new AutoscalingGroup("sf", {
      target: "docker",
      app: { name: "sf", minSize: 1, maxSize: 1, cpu: 0.25, memoryMb: 128 },
      env: { SCALEPLANE_CONFIG_ENDPOINTS: "" },
      secretEnv: { SCALEPLANE_DATABASE_PASSWORD: pulumi.output(SECRET) },
      docker: { portBase: port },
    });
    await settle();
    let seq = 0;
    for (const r of rec.resources.filter((x) => x.custom)) {
      const reg: Registration = {
        seq: seq++,
        urn: r.urn,
        type: r.type,
        name: r.name,
        custom: true,
        inputs: r.inputs,
        dependencies: [],
        additionalSecretOutputs: [],
      };
      const c = await driver.create(reg);
      created.push({ reg, ...c });
    }
  }, 120_000);

  afterAll(async () => {
    for (const c of [...created].reverse()) await driver.delete(c).catch(() => undefined);
  }, 60_000);

  it("registers the secret only inside `uploads` (0400, owner 10001) and names it in the env", () => {
    const container = rec.resources.find((r) => r.type === "docker:index/container:Container")!;
    const { uploads, ...rest } = container.inputs;
    expect(JSON.stringify(rest)).not.toContain(SECRET);
    expect(JSON.stringify(uploads)).toContain(SECRET);
    expect(rest.envs).toContain(
      "SCALEPLANE_DATABASE_PASSWORD_FILE=/run/secrets/scaleplane/SCALEPLANE_DATABASE_PASSWORD",
    );
  });

  it("starts a container whose `docker inspect` holds no secret, with the file 0400 owned by the app user, and the app serves", async () => {
    const name = (created.find((c) => c.reg.type === "docker:index/container:Container")!.outputs.name as string) ?? "";
    const inspect = await docker.getContainer(name).inspect();
    expect(JSON.stringify(inspect)).not.toContain(SECRET);
    const sh = (cmd: string[]) => run("docker", ["exec", name, ...cmd]).then((r) => r.stdout.trim());
    expect(await sh(["stat", "-c", "%a %u %g", "/run/secrets/scaleplane/SCALEPLANE_DATABASE_PASSWORD"])).toBe(
      "400 10001 10001",
    );
    expect(await sh(["cat", "/run/secrets/scaleplane/SCALEPLANE_DATABASE_PASSWORD"])).toBe(SECRET);
    // another user in the container cannot read it
    await expect(
      run("docker", ["exec", "-u", "65534", name, "cat", "/run/secrets/scaleplane/SCALEPLANE_DATABASE_PASSWORD"]),
    ).rejects.toThrow(/Permission denied/);
    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) {
      status = await get(`http://127.0.0.1:${port}/health`);
      if (status !== 200) await new Promise((r) => setTimeout(r, 500));
    }
    expect(status).toBe(200);
  });
});
