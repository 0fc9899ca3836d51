/**
 * Whole-stack rehearsal of `pulumi up --stack local` (issue 9 item 8), since the Pulumi CLI cannot
 * run here.
 *
 * 1. The program starts the way the CLI's nodejs language host starts it: the SDK's program runner
 *    (`node node_modules/@pulumi/pulumi/cmd/run`, TypeScript through its ts-node, Pulumi.yaml's
 *    `main` and runtime options, the stack config in PULUMI_CONFIG) against a recording
 *    ResourceMonitor + Engine served over gRPC by this test (test/support/rehearsal/monitor.ts).
 *    Its registrations (type, name, parent, inputs modulo secrets and unknowns) must equal the
 *    mock run's (scripts/lib/offline.ts, the route of `npm run plan`).
 * 2. The engine creates each registered resource for real when the program registers it — the
 *    program only registers a resource once the outputs it reads exist, so this is dependency
 *    order: Docker resources with exactly the registered inputs (dockerode), dynamic providers
 *    through the SDK's dynamic-provider host over gRPC, outputs fed back to the program.
 * 3. A request through the app's published endpoint (`/deps`, via the load balancer and an
 *    instance the scaling controller created) reaches the config service and every database
 *    shard from inside the stack's networks.
 * 4. No secret value appears in `docker inspect` of any container of the stack (nor in etcd);
 *    secret files are 0400 and owned by the container's user.
 * 5. Teardown in reverse creation order leaves no container, network or volume of the stack.
 *
 * Stack `rehearsal` (its physical names are stack-scoped: `config-rehearsal-0`, `db-rehearsal-…`,
 * `app-rehearsal-…`) with the `local` stack's config and free 127.0.0.1 port bases. The Docker
 * objects this test creates itself carry `scaleplane.test=1` besides the program's labels; those
 * created by providers (etcd members, app instances) are found by their stack-scoped names.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import type Docker from "dockerode";
import { Etcd3 } from "etcd3";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { installMocks, settle, type Recording } from "../../../scripts/lib/offline";
import { loadStackConfig } from "../../../scripts/lib/stack";
import { requireDocker, requireImage } from "../../support/engines";
import { ProviderHost } from "../../support/provider-host";
import { consecutiveFreePorts } from "../../support/ports";
import { compareRegistrations } from "../../support/rehearsal/compare";
import { RecordingEngine, secretValues, type Registration } from "../../support/rehearsal/monitor";
import { runProgram, type ProgramRun } from "../../support/rehearsal/program";
import { ResourceDriver, type Created } from "../../support/rehearsal/resources";

const ROOT = resolve(__dirname, "..", "..", "..");
const STACK = "rehearsal";
/** Physical names of the stack: `<component>-rehearsal[-…]`. */
const OF_STACK = new RegExp(`(^|-)${STACK}(-|$)`);
const run = promisify(execFile);
const log = (line: string) => process.stderr.write(`[rehearsal ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

async function stackObjects(docker: Docker): Promise<{ containers: string[]; networks: string[]; volumes: string[] }> {
  const containers = (await docker.listContainers({ all: true }))
    .map((c) => (c.Names[0] ?? "").replace(/^\//, ""))
    .filter((n) => OF_STACK.test(n));
  const networks = (await docker.listNetworks()).map((n) => n.Name).filter((n) => OF_STACK.test(n));
  const volumes = ((await docker.listVolumes()).Volumes ?? []).map((v) => v.Name).filter((n) => OF_STACK.test(n));
  return { containers, networks, volumes };
}

/** Removes whatever a crashed earlier run of this test left (only the `rehearsal` stack's names). */
async function removeStackObjects(docker: Docker): Promise<void> {
  const o = await stackObjects(docker);
  for (const c of o.containers)
    await docker
      .getContainer(c)
      .remove({ force: true, v: true })
      .catch(() => undefined);
  for (const n of o.networks)
    await docker
      .getNetwork(n)
      .remove()
      .catch(() => undefined);
  for (const v of o.volumes)
    await docker
      .getVolume(v)
      .remove()
      .catch(() => undefined);
}

function httpGet(url: string, timeoutMs = 10000): Promise<{ status: number; body: string }> {
  return new Promise((resolveGet, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolveGet({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
  });
}

describe("rehearsal of `pulumi up --stack local`", () => {
  let docker: Docker;
  let engine: RecordingEngine;
  let host: ProviderHost;
  let driver: ResourceDriver;
  let program: ProgramRun;
  let tmp: string;
  let stackFile: string;
  let ports: { app: number; etcd: number; db: number };
  const created: Created[] = [];
  let tornDown = false;
  let mockRun: Promise<Recording>;

  beforeAll(async () => {
    docker = await requireDocker();
    const local = parseYaml(readFileSync(join(ROOT, "stacks", "Pulumi.local.yaml"), "utf8")) as {
      config: Record<string, Record<string, unknown> & { image?: string }>;
    };
    for (const section of ["scaleplane:app", "scaleplane:configService", "scaleplane:database"]) {
      const image = local.config[section]?.image;
      if (typeof image === "string") await requireImage(image);
    }
    await removeStackObjects(docker);
    // The `local` stack's config as the CLI would pass it, with port bases free on this host.
    // one free block, a slice of it per published range (app ≤ 16 instances, etcd ≤ 8 members,
    // shards ≤ 8, metrics store instances ≤ 8): config validation refuses overlapping ranges
    const base = await consecutiveFreePorts(40, 29000, 31999);
    ports = { app: base, etcd: base + 16, db: base + 24 };
    local.config["scaleplane:docker"] = {
      ...local.config["scaleplane:docker"],
      appPortBase: ports.app,
      etcdPortBase: ports.etcd,
      databasePortBase: ports.db,
    };
    local.config["scaleplane:metrics"] = { ...local.config["scaleplane:metrics"], hostPort: base + 32 };
    tmp = mkdtempSync(join(tmpdir(), "sp-rehearsal-"));
    stackFile = join(tmp, `Pulumi.${STACK}.yaml`);
    writeFileSync(stackFile, stringifyYaml(local));

    engine = new RecordingEngine({
      project: "scaleplane",
      stack: STACK,
      create: async (reg: Registration) => {
        const r = await driver.create(reg);
        created.push({ reg, id: r.id, outputs: r.outputs });
        return r;
      },
      onLog: (e) => e.severity >= 2 && log(`program ${e.severity === 2 ? "warning" : "error"}: ${e.message}`),
    });
    await engine.start();
    host = await ProviderHost.start({ engineAddress: engine.engineAddress });
    driver = new ResourceDriver(docker, host, log);
    log(`pulumi up --stack ${STACK} (ports app ${ports.app}, etcd ${ports.etcd}, db ${ports.db})`);
    // The mock run (a preview: what needs another resource's outputs stays unknown) meanwhile, in this process.
    mockRun = (async () => {
      const recording = installMocks({
        project: "scaleplane",
        stack: STACK,
        config: loadStackConfig(STACK, { stackFile }),
        preview: true,
      });
      require(join(ROOT, "index"));
      await settle();
      return recording;
    })();
    mockRun.catch(() => undefined); // awaited (and failing) in its own test
    program = await runProgram({
      root: ROOT,
      stack: STACK,
      config: loadStackConfig(STACK, { stackFile }),
      monitorAddress: engine.monitorAddress,
      engineAddress: engine.engineAddress,
      dryRun: false,
      // ts-node's type check of the whole program graph is `npm run typecheck`'s job (users set
      // this in their shell for the same reason); the program is compiled by ts-node either way.
      env: { PULUMI_NODEJS_TRANSPILE_ONLY: "true" },
      timeoutMs: 420_000,
    });
    log(`program exited ${program.code} after ${program.ms} ms; ${created.length} resources created`);
  }, 480_000);

  afterAll(async () => {
    // Safety net: a failed step above must not leave the stack behind.
    if (!tornDown)
      for (const c of [...created].reverse())
        await driver.delete(c).catch((e) => log(`cleanup: ${(e as Error).message}`));
    if (docker) await removeStackObjects(docker);
    await host?.stop();
    await engine?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }, 300_000);

  it("runs the program through the SDK's program runner to completion, every resource created", () => {
    if (program.code !== 0)
      throw new Error(
        `program exited ${program.code}:\n${program.stderr.slice(-4000)}\nengine failures: ${JSON.stringify(engine.failures)}`,
      );
    expect(engine.failures).toEqual([]);
    expect(engine.rootUrn).toBe(`urn:pulumi:${STACK}::scaleplane::pulumi:pulumi:Stack::scaleplane-${STACK}`);
    const custom = engine.registrations.filter((r) => r.custom);
    expect(created.map((c) => c.reg.urn).sort()).toEqual(custom.map((r) => r.urn).sort());
    // Dependency order: each resource was created after every resource it depends on.
    const at = new Map(created.map((c, i) => [c.reg.urn, i]));
    for (const c of created)
      for (const d of c.reg.dependencies) if (at.has(d)) expect(at.get(d)!).toBeLessThan(at.get(c.reg.urn)!);
  });

  it("registers exactly what the mock run registers (modulo secrets and unknowns)", async () => {
    const mock = await mockRun;
    expect(compareRegistrations(mock.resources, engine.registrations)).toEqual([]);
    expect(mock.resources.length).toBe(engine.registrations.filter((r) => r.type !== "pulumi:pulumi:Stack").length);
  });

  it("serves a request through the app's endpoint that reaches the config service and every shard", async () => {
    const stack = engine.registrations.find((r) => r.type === "pulumi:pulumi:Stack")!;
    const endpoints = stack.componentOutputs?.appEndpoints as string[];
    expect(endpoints).toEqual([`http://127.0.0.1:${ports.app}`]);
    let last: { status: number; body: string } = { status: 0, body: "" };
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      last = await httpGet(`${endpoints[0]}/deps`).catch((e: Error) => ({ status: 0, body: e.message }));
      if (last.status === 200) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    if (last.status !== 200) throw new Error(`GET /deps through the load balancer: ${last.status} ${last.body}`);
    const deps = JSON.parse(last.body) as {
      ok: boolean;
      instance: string;
      configService: { ok: boolean }[];
      database: { ok: boolean; target: string }[];
    };
    expect(deps.ok).toBe(true);
    expect(deps.instance).toMatch(OF_STACK);
    expect(deps.configService.length).toBeGreaterThanOrEqual(3);
    expect(deps.database.map((d) => d.target.split(":")[0]).sort()).toEqual([
      "db-rehearsal-shard-0",
      "db-rehearsal-shard-1",
      "db-rehearsal-shard-2",
    ]);
  });

  it("shows no secret value in `docker inspect` of any container of the stack, nor in etcd", async () => {
    const secrets = new Set<string>();
    for (const r of engine.registrations) {
      for (const s of secretValues(r.inputs)) secrets.add(s);
      for (const k of r.additionalSecretOutputs)
        if (typeof r.outputs?.[k] === "string") secrets.add(r.outputs[k] as string);
    }
    const values = [...secrets].filter((s) => s.length >= 8);
    expect(values.length).toBeGreaterThan(0); // the database password at least
    const { containers } = await stackObjects(docker);
    // the program's containers, the etcd members and the app instances the controllers created
    expect(containers.filter((n) => /^app-rehearsal-\d+$/.test(n)).length).toBeGreaterThanOrEqual(2);
    expect(containers.filter((n) => /^config-rehearsal-\d+$/.test(n)).length).toBe(3);
    const leaks: string[] = [];
    for (const name of containers) {
      const inspect = JSON.stringify(await docker.getContainer(name).inspect());
      if (values.some((v) => inspect.includes(v))) leaks.push(name);
    }
    expect(leaks).toEqual([]);
    const etcd = new Etcd3({
      hosts: [`http://127.0.0.1:${ports.etcd}`],
      defaultCallOptions: () => ({ deadline: Date.now() + 5000 }),
    });
    try {
      const all = await etcd.getAll().strings();
      expect(Object.keys(all).length).toBeGreaterThan(0);
      expect(
        Object.entries(all)
          .filter(([, v]) => values.some((s) => v.includes(s)))
          .map(([k]) => k),
      ).toEqual([]);
    } finally {
      etcd.close();
    }
    // the files: read-only, owned by the user the container runs as
    const stat = async (container: string, path: string) =>
      (await run("docker", ["exec", container, "stat", "-c", "%a %u", path])).stdout.trim();
    expect(await stat("db-rehearsal-shard-0", "/run/secrets/postgres-password")).toBe("400 0");
    const instance = containers.find((n) => /^app-rehearsal-\d+$/.test(n))!;
    expect(await stat(instance, "/run/secrets/scaleplane/SCALEPLANE_DATABASE_PASSWORD")).toBe("400 10001");
    expect(await stat("app-rehearsal-scaler-0", "/run/secrets/scaler/SCALEPLANE_DATABASE_PASSWORD")).toBe("400 0");
  });

  it("tears down in reverse order and leaves no container, network or volume of the stack", async () => {
    tornDown = true;
    for (const c of [...created].reverse()) await driver.delete(c);
    expect(await stackObjects(docker)).toEqual({ containers: [], networks: [], volumes: [] });
    const labelled = await docker.listContainers({ all: true, filters: { label: ["scaleplane.test=1"] } });
    expect(labelled.map((c) => c.Names[0]).filter((n) => OF_STACK.test(n.replace(/^\//, "")))).toEqual([]);
  });
});
