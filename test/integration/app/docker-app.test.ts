/**
 * The app group on Docker for real: the container specs the AutoscalingGroup component produces
 * (from an offline run) are started on the local engine as the Docker provider would start them;
 * the instances become healthy through their own healthcheck, answer on 127.0.0.1, and drain on
 * stop without dropping an in-flight request.
 */
import type Docker from "dockerode";
import { installMocks, settle, type RecordedResource } from "../../../scripts/lib/offline";
import { requireImage } from "../../support/engines";
import { consecutiveFreePorts } from "../../support/ports";
import { AutoscalingGroup } from "../../../components/autoscaling-group";

const rec = installMocks({ stack: "it-app" });

const IMAGE = "scaleplane/sample-app:0.1.0";
let PORT_BASE: number;
const DRAIN_SECONDS = 3;
const run = `it-app-${process.pid}`;

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const SIG = "4dabf18193072939515e22adb298388d";
const plain = (v: unknown): any => (v && typeof v === "object" && SIG in (v as Obj) ? (v as Obj).value : v); // eslint-disable-line @typescript-eslint/no-explicit-any
/** Docker duration strings of the provider ("10s", "500ms") in nanoseconds. */
const nanos = (d: string) => {
  const m = /^(\d+)(ms|s|m)$/.exec(d);
  if (!m) throw new Error(`unexpected duration ${d}`);
  return Number(m[1]) * { ms: 1e6, s: 1e9, m: 60e9 }[m[2] as "ms" | "s" | "m"];
};

/** Creates a container from the recorded docker:index/container:Container inputs. */
async function createFromSpec(docker: Docker, r: RecordedResource): Promise<Docker.Container> {
  const i = r.inputs as Obj;
  const ports = (i.ports as Obj[]) ?? [];
  const hc = i.healthcheck as Obj;
  const nets = (i.networksAdvanced as Obj[]) ?? [];
  const container = await docker.createContainer({
    name: i.name,
    Hostname: i.hostname,
    Image: i.image,
    Env: plain(i.envs) as string[],
    Labels: {
      ...Object.fromEntries(((i.labels as Obj[]) ?? []).map((l) => [l.label, l.value])),
      "scaleplane.test": "1",
    },
    StopSignal: i.stopSignal,
    StopTimeout: i.stopTimeout,
    ExposedPorts: Object.fromEntries(ports.map((p) => [`${p.internal}/${p.protocol}`, {}])),
    Healthcheck: {
      Test: hc.tests,
      Interval: nanos(hc.interval),
      Timeout: nanos(hc.timeout),
      Retries: hc.retries,
      StartPeriod: nanos(hc.startPeriod),
    },
    HostConfig: {
      Memory: i.memory * 1024 * 1024,
      MemorySwap: i.memorySwap * 1024 * 1024,
      NanoCpus: Math.round(Number(i.cpus) * 1e9),
      RestartPolicy: { Name: i.restart },
      PortBindings: Object.fromEntries(
        ports.map((p) => [`${p.internal}/${p.protocol}`, [{ HostIp: p.ip, HostPort: String(p.external) }]]),
      ),
      NetworkMode: nets[0].name,
    },
    NetworkingConfig: { EndpointsConfig: { [nets[0].name]: { Aliases: nets[0].aliases } } },
  });
  return container;
}

const health = async (c: Docker.Container) => ((await c.inspect()).State.Health?.Status ?? "none") as string;

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

let docker: Docker;
const containers: Docker.Container[] = [];
let networkName = "";

beforeAll(async () => {
  PORT_BASE = await consecutiveFreePorts(4, 26000, 26999);
  new AutoscalingGroup(run, {
    target: "docker",
    // Container and network names are <app.name>-<stack>-…: unique per run through the app name.
    app: {
      name: `web${process.pid}`,
      image: IMAGE,
      minSize: 2,
      maxSize: 4,
      memoryMb: 128,
      cpu: 0.25,
      scaling: { healthCheckGraceSeconds: 5, drainSeconds: DRAIN_SECONDS },
    },
    env: { GREETING: "hello" },
    docker: { portBase: PORT_BASE },
  });
  docker = await requireImage(IMAGE);
  await settle();
  const net = rec.ofType("docker:index/network:Network")[0];
  networkName = net.inputs.name as string;
  await docker.createNetwork({ Name: networkName, Driver: "bridge", Labels: { "scaleplane.test": "1" } });
  for (const r of rec.ofType("docker:index/container:Container")) {
    const c = await createFromSpec(docker, r);
    containers.push(c);
    await c.start();
  }
});

afterAll(async () => {
  for (const c of containers) await c.remove({ force: true }).catch(() => undefined);
  if (networkName)
    await docker
      .getNetwork(networkName)
      .remove()
      .catch(() => undefined);
});

describe("AutoscalingGroup containers on the Docker engine", () => {
  it("become healthy through their own healthcheck and answer on their 127.0.0.1 ports", async () => {
    expect(containers).toHaveLength(2);
    for (const c of containers)
      await waitFor("a healthy instance", 60_000, async () => ((await health(c)) === "healthy" ? true : undefined));
    const instances = new Set<string>();
    for (let i = 0; i < containers.length; i++) {
      const res = await fetch(`http://127.0.0.1:${PORT_BASE + i}/`);
      expect(res.status).toBe(200);
      instances.add(((await res.json()) as Obj).instance);
    }
    expect(instances.size).toBe(2);
    const metrics = await (await fetch(`http://127.0.0.1:${PORT_BASE}/metrics`)).text();
    expect(metrics).toMatch(/process_resident_memory_bytes \d+/);
  });

  it("enforces the memory and CPU limits from the spec", async () => {
    const info = await containers[0].inspect();
    expect(info.HostConfig.Memory).toBe(128 * 1024 * 1024);
    expect(info.HostConfig.NanoCpus).toBe(0.25e9);
    expect(info.NetworkSettings.Ports["8080/tcp"]).toEqual([{ HostIp: "127.0.0.1", HostPort: String(PORT_BASE) }]);
  });

  it("drains on stop: health turns 503, the in-flight request is answered, the process exits 0", async () => {
    const port = PORT_BASE + 1;
    const slow = fetch(`http://127.0.0.1:${port}/work?ms=2000`).then(async (r) => ({
      status: r.status,
      body: (await r.json()) as Obj,
    }));
    await new Promise((r) => setTimeout(r, 300));
    const stopping = containers[1].stop();
    const during = await waitFor("health to report draining", 5_000, async () => {
      const r = await fetch(`http://127.0.0.1:${port}/health`);
      return r.status === 503 ? r.status : undefined;
    });
    expect(during).toBe(503);
    const answered = await slow;
    expect(answered.status).toBe(200);
    expect(answered.body.waitMs).toBe(2000);
    await stopping;
    const state = (await containers[1].inspect()).State;
    expect(state.Running).toBe(false);
    expect(state.ExitCode).toBe(0);
  });
});
