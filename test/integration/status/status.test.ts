/**
 * `npm run status` against a real local stack. The stack (a copy of `local` with ports found free
 * here and the local PostgreSQL image) is run offline (`npm run plan -- --json`), and what it
 * registers is started for real: the EtcdMembership through its provider, and every Docker
 * container with exactly its recorded name, image, env, 127.0.0.1 ports, networks and healthcheck
 * (plus the label scaleplane.test=1). Then the status command, as a user runs it:
 * - `--json`: 3 healthy etcd members with one leader, Raft term/index and db size; both app
 *   instances healthy; 3 shards reachable; the shard map's epoch and the group's last scaling
 *   events once they are in etcd;
 * - the text view; `--watch` refreshing in place until SIGINT;
 * - after teardown: a clear "not running" message, exit 3, no stack trace.
 */
import { tarArchive } from "../../../core/secret-files";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import Docker from "dockerode";
import { Etcd3 } from "etcd3";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { requireDocker, requireImage } from "../../support/engines";
import { consecutiveFreePorts } from "../../support/ports";
import type { StackStatus } from "../../../scripts/status";

jest.setTimeout(600_000);

const ROOT = join(__dirname, "..", "..", "..");
/** Unique per run: container and network names derive from the stack name. */
const STACK = `st${process.pid}`;
const TEST_LABELS = { "scaleplane.test": "1" };
const run = promisify(execFile);
/** `node --import tsx`: one process, so a signal reaches the command itself (npx would not pass SIGINT on). */
const TSX = ["--import", "tsx"];
/** Cursor home + clear screen: how --watch refreshes in place. */
const CLEAR = "\x1b[H\x1b[2J";
const SECRET = "4dabf18193072939515e22adb298388d";
const unsecret = <T>(v: T | { [SECRET]: string; value: T }): T =>
  v && typeof v === "object" && SECRET in (v as object) ? (v as { value: T }).value : (v as T);

interface Recorded {
  type: string;
  name: string;
  inputs: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

let docker: Docker;
let dir: string;
let stackFile: string;
let resources: Recorded[] = [];
const created = { containers: [] as string[], volumes: [] as string[], networks: [] as string[], etcdCluster: "" };

/** Runs the status command as `npm run status` does; resolves with exit code, stdout and stderr. */
async function status(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      [...TSX, "scripts/status.ts", "--stack", STACK, "--stack-file", stackFile, ...args],
      { cwd: ROOT, timeout: 180_000, maxBuffer: 16 << 20 },
    );
    return { code: 0, stdout, stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  docker = await requireDocker();
  for (const image of ["scaleplane/etcd:3.4.23", "scaleplane/sample-app:0.1.0", "scaleplane/postgres:15"])
    await requireImage(image);
  dir = mkdtempSync(join(tmpdir(), "sp-status-"));
  const local = parseYaml(readFileSync(join(ROOT, "stacks", "Pulumi.local.yaml"), "utf8")) as {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    config: Record<string, any>;
  };
  // consecutive free ranges: the config takes a base port per kind
  const base = (from: number, n: number) => consecutiveFreePorts(n, from, from + 999);
  local.config["scaleplane:docker"] = {
    appPortBase: await base(29000, 2),
    etcdPortBase: await base(30000, 3),
    databasePortBase: await base(31000, 3),
  };
  local.config["scaleplane:database"] = { ...local.config["scaleplane:database"], image: "scaleplane/postgres:15" };
  stackFile = join(dir, `Pulumi.${STACK}.yaml`);
  writeFileSync(stackFile, toYaml(local));
  const { stdout } = await run(
    process.execPath,
    [...TSX, "scripts/plan.ts", "--stack", STACK, "--stack-file", stackFile, "--json"],
    { cwd: ROOT, timeout: 180_000, maxBuffer: 64 << 20 },
  );
  resources = JSON.parse(stdout) as Recorded[];
});

afterAll(async () => {
  await teardown();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function teardown() {
  if (!docker) return;
  for (const c of created.containers)
    await docker
      .getContainer(c)
      .remove({ force: true })
      .catch(() => undefined);
  if (created.etcdCluster) {
    const { removeCluster } = await import("../../../providers/etcd-membership/docker-members");
    await removeCluster(docker, created.etcdCluster);
  }
  for (const v of created.volumes)
    await docker
      .getVolume(v)
      .remove()
      .catch(() => undefined);
  for (const n of created.networks)
    await docker
      .getNetwork(n)
      .remove()
      .catch(() => undefined);
  created.containers = [];
  created.volumes = [];
  created.networks = [];
}

/** Starts what the program registered: networks, volumes, the etcd members, the containers. */
async function deploy() {
  for (const r of resources.filter((x) => x.type === "docker:index/network:Network")) {
    await docker.createNetwork({ Name: r.inputs.name, Driver: "bridge", Labels: TEST_LABELS });
    created.networks.push(r.inputs.name);
  }
  for (const r of resources.filter((x) => x.type === "docker:index/volume:Volume")) {
    await docker.createVolume({ Name: r.inputs.name, Labels: TEST_LABELS });
    created.volumes.push(r.inputs.name);
  }
  const etcd = resources.find((x) => x.type === "pulumi-nodejs:dynamic/etcd:EtcdMembership")!;
  const { etcdMembershipProvider } = await import("../../../providers/etcd-membership");
  created.etcdCluster = etcd.inputs.clusterName;
  const { __provider: _p, ...inputs } = etcd.inputs;
  await etcdMembershipProvider.create!({
    ...inputs,
    labels: { ...inputs.labels, ...TEST_LABELS },
    readyTimeoutSeconds: 90,
  });
  for (const r of resources.filter((x) => x.type === "docker:index/container:Container")) {
    const i = r.inputs;
    const [first, ...more] = (i.networksAdvanced ?? []) as { name: string; aliases?: string[] }[];
    const ports = (i.ports ?? []) as { internal: number; external: number; ip: string }[];
    const hc = i.healthcheck as
      { tests: string[]; interval: string; timeout: string; retries: number; startPeriod: string } | undefined;
    const ns = (d: string) => Number(/^(\d+)s$/.exec(d)?.[1] ?? 0) * 1e9;
    const c = await docker.createContainer({
      name: i.name,
      Hostname: i.hostname ?? i.name,
      Image: i.image,
      Env: unsecret(i.envs ?? []) as string[],
      Labels: {
        ...Object.fromEntries(((i.labels ?? []) as { label: string; value: string }[]).map((l) => [l.label, l.value])),
        ...TEST_LABELS,
      },
      ExposedPorts: Object.fromEntries(ports.map((p) => [`${p.internal}/tcp`, {}])),
      Healthcheck: hc
        ? {
            Test: hc.tests,
            Interval: ns(hc.interval),
            Timeout: ns(hc.timeout),
            Retries: hc.retries,
            StartPeriod: ns(hc.startPeriod),
          }
        : undefined,
      HostConfig: {
        PortBindings: Object.fromEntries(
          ports.map((p) => [`${p.internal}/tcp`, [{ HostIp: p.ip, HostPort: String(p.external) }]]),
        ),
        Binds: ((i.volumes ?? []) as { volumeName: string; containerPath: string }[]).map(
          (v) => `${v.volumeName}:${v.containerPath}`,
        ),
        NetworkMode: first?.name,
      },
      NetworkingConfig: first ? { EndpointsConfig: { [first.name]: { Aliases: first.aliases } } } : undefined,
    });
    created.containers.push(i.name);
    // Secret files (e.g. the shard password) as the Docker provider uploads them, before start.
    const uploads = unsecret(i.uploads ?? []) as {
      file: string;
      content: string;
      owner?: string;
      group?: string;
      permissions?: string;
    }[];
    if (uploads.length > 0)
      await c.putArchive(
        tarArchive(
          uploads.map((u) => ({
            path: u.file,
            // The offline run cannot know a RandomPassword's result; status never needs the value.
            content: unsecret(u.content as unknown as string) ?? "status-test-password",
            mode: parseInt(u.permissions ?? "0644", 8),
            uid: Number(u.owner ?? 0),
            gid: Number(u.group ?? 0),
          })),
        ),
        { path: "/" },
      );
    for (const n of more)
      await docker.getNetwork(n.name).connect({ Container: c.id, EndpointConfig: { Aliases: n.aliases } });
    await c.start();
  }
}

it("reports a stack that is not running clearly: exit 3, no stack trace", async () => {
  const r = await status();
  expect(r.code).toBe(3);
  expect(r.stderr).toMatch(
    new RegExp(
      `stack ${STACK} is not running on this Docker host: none of its \\d+ containers exists .*pulumi up --stack ${STACK}`,
    ),
  );
  expect(r.stderr).not.toMatch(/\n\s+at /);
});

it("shows etcd members, app instances, shards, the shard map epoch and scaling events of a running stack", async () => {
  await deploy();
  const etcd = resources.find((x) => x.type === "pulumi-nodejs:dynamic/etcd:EtcdMembership")!;
  const group = (
    resources.find(
      (x) =>
        x.type === "docker:index/container:Container" && JSON.stringify(x.inputs.labels).includes("autoscaling-group"),
    )!.inputs.labels as { label: string; value: string }[]
  ).find((l) => l.label === "scaleplane.group")!.value;

  // Apps and shards need a few seconds to start: poll the command itself.
  let s: StackStatus | undefined;
  for (let i = 0; i < 20; i++) {
    const r = await status("--json");
    expect(r.code).toBe(0);
    s = JSON.parse(r.stdout) as StackStatus;
    if (s.apps.every((a) => a.state === "running") && s.shards.every((d) => d.reachable)) break;
    await sleep(2000);
  }
  expect(s!.etcd!.members).toHaveLength(3);
  expect(s!.etcd!.members.every((m) => m.healthy && m.state === "running")).toBe(true);
  expect(s!.etcd!.members.filter((m) => m.leader)).toHaveLength(1);
  for (const m of s!.etcd!.members) {
    expect(m.raftTerm).toBeGreaterThanOrEqual(1);
    expect(m.raftIndex).toBeGreaterThan(0);
    expect(m.dbSizeBytes).toBeGreaterThan(0);
  }
  // The group's published entry point is its load balancer; its instances are created by the
  // scaling controllers at run time (not recorded by the program, and not started here).
  expect(s!.apps.map((a) => [a.container, a.state])).toEqual([[expect.stringMatching(/-lb$/), "running"]]);
  expect(s!.apps[0].endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/health$/);
  expect(s!.shards.map((d) => [d.shard, d.reachable])).toEqual([
    ["shard-0", true],
    ["shard-1", true],
    ["shard-2", true],
  ]);
  expect(s!.shardMap).toBeUndefined();
  expect(s!.scaling).toEqual([{ group, events: [] }]);

  // Once the shard map and scaling events are in etcd, status shows them.
  // A shard map of the stack's three shards, as the ShardedDatabase publishes it.
  const map = {
    epoch: 0,
    vnodesPerWeight: 150,
    replicationFactor: 3,
    consistency: "quorum",
    shards: [0, 1, 2].map((n) => ({ name: `shard-${n}`, weight: 1, host: `shard-${n}`, port: 5432, database: "app" })),
  };
  const events = [1, 2, 3].map((k) => ({
    atMs: 1_760_000_000_000 + k * 1000,
    from: k,
    to: k + 1,
    engine: "target-tracking",
    reason: `cpu above target (${k})`,
    fencingToken: 7,
  }));
  const c = new Etcd3({
    hosts: etcd.inputs.members.map((m: { hostPort: number }) => `http://127.0.0.1:${m.hostPort}`),
    defaultCallOptions: () => ({ deadline: Date.now() + 3000 }),
  });
  try {
    await c.put("/scaleplane/shard-map").value(JSON.stringify({ ...map, epoch: 7 }));
    await c.put(`/scaleplane/autoscaling/${group}/events`).value(JSON.stringify(events));
  } finally {
    c.close();
  }
  const withData = JSON.parse((await status("--json")).stdout) as StackStatus;
  expect(withData.shardMap).toEqual({ epoch: 7, shards: 3 });
  expect(withData.scaling).toEqual([{ group, events }]);

  const text = await status();
  expect(text.code).toBe(0);
  expect(text.stdout).toMatch(new RegExp(`config service: etcd cluster config-${STACK}, leader config-${STACK}-\\d`));
  expect(text.stdout).toMatch(/shard map: epoch 7, 3 shards/);
  expect(text.stdout).toMatch(/cpu above target \(3\)/);

  // --watch refreshes in place (cursor home + clear) until interrupted.
  const w = spawn(
    process.execPath,
    [...TSX, "scripts/status.ts", "--stack", STACK, "--stack-file", stackFile, "--watch", "--interval", "0.5"],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  w.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => w.once("exit", (code) => r(code)));
  for (let i = 0; i < 240 && out.split(CLEAR).length - 1 < 2; i++) await sleep(500);
  w.kill("SIGINT");
  expect(await exited).toBe(0);
  expect(out.split(CLEAR).length - 1).toBeGreaterThanOrEqual(2);
  expect(out).toMatch(/refreshing every 0.5 s/);

  await teardown();
  const gone = await status("--json");
  expect(gone.code).toBe(3);
  expect(gone.stderr).toMatch(/is not running on this Docker host/);
});
