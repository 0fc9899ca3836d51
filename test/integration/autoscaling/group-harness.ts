/**
 * A Docker autoscaling group for tests, with its scaling controllers as real host processes:
 * a single-member etcd on 127.0.0.1, the group's network, the HAProxy load balancer
 * (core/app/haproxy.ts config, image scaleplane/load-balancer) published on a free 127.0.0.1
 * port, the ManagedInstanceGroup provider driven through the SDK's dynamic-provider host over
 * gRPC, and controller processes (`node --import tsx runtime/scaler/main.ts`, the program the
 * scaler image bundles) that a test can SIGKILL, SIGSTOP and SIGCONT by PID.
 *
 * Evidence is recorded from the start: Docker's events of the group's containers (create, start,
 * kill with its signal, die with its exit code, destroy), every intent the leaders committed
 * (watched in etcd), and lb-fenced's audit log in the LB container.
 *
 * Every name carries the process id and a time stamp, ports come from test/support/ports.ts and
 * cleanup removes only what this harness created, so files using it run side by side.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Docker from "dockerode";
import pino from "pino";
import { haproxyConfig, lbSlots, LB_FRONTEND_PORT, type LbCheck, type SlotState } from "../../../core/app/haproxy";
import { LB_IMAGE } from "../../../core/scaling/docker";
import type { LaunchSpecInput } from "../../../core/scaling/reconcile";
import type { ScalingPolicyInput } from "../../../core/scaling/policy";
import { ManagedInstanceGroup, type InstanceGroupInputs } from "../../../providers/instance-group";
import { ConfigClient } from "../../../runtime/config-client";
import { groupConfigKeys, lbState } from "../../../runtime/scaler/group";
import { execIn, LABEL_GROUP, listGroup } from "../../../runtime/scaler/docker-ops";
import { requireImage } from "../../support/engines";
import { startLocalEtcd, TEST_LABELS, type LocalEtcd } from "../../support/etcd-cluster";
import { freePorts } from "../../support/ports";
import { ProviderHost, serializeDynamicProvider, type Props } from "../../support/provider-host";

export const TYPE = "pulumi-nodejs:dynamic/autoscaling:ManagedInstanceGroup";
/** The image that knows nothing of scaleplane (Debian's nginx). */
export const PLAIN_IMAGE = "scaleplane/plain-http:1.22-r2";
export const SAMPLE_IMAGE = "scaleplane/sample-app:0.1.0";
/** The plain image's launch spec: no drain endpoint, nginx's own STOPSIGNAL, a short stop grace. */
export const PLAIN_LAUNCH_SPEC: HarnessOptions["launchSpec"] = {
  port: 8080,
  healthPath: "/health",
  env: {},
  cpus: 0.25,
  memoryMb: 64,
  drainSeconds: 0,
  drainMaxSeconds: 30,
  healthCheckGraceSeconds: 30,
  stopTimeoutSeconds: 10,
};
const ROOT = join(__dirname, "..", "..", "..");
const CONTROLLER_MAIN = join(ROOT, "runtime", "scaler", "main.ts");

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The ManagedInstanceGroup provider, serialized as a Pulumi program would (for {@link ProviderHost}). */
export async function serializeGroupProvider(): Promise<string> {
  const { provider } = await serializeDynamicProvider(
    TYPE,
    () =>
      new ManagedInstanceGroup("p", {
        group: "g",
        configEndpoints: ["http://127.0.0.1:1"],
        launchSpec: {} as never,
        policy: {},
        lbSlots: 64,
      }),
  );
  return provider;
}

/**
 * A test policy on HAProxy's in-flight count per instance (any image has it, and it does not
 * depend on how busy the shared CPUs are): period 1 s, scale-up at once by up to 4, scale-down
 * after a short stabilization window.
 */
export function inFlightPolicy(o: {
  minSize: number;
  maxSize: number;
  target: number;
  scaleDownWindowSeconds: number;
}): ScalingPolicyInput {
  return {
    engine: "hpa",
    minSize: o.minSize,
    maxSize: o.maxSize,
    periodSeconds: 1,
    metrics: ["inFlight"],
    targets: { inFlight: o.target },
    hpa: {
      behavior: {
        scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: "Pods", value: 4, periodSeconds: 1 }] },
        scaleDown: {
          stabilizationWindowSeconds: o.scaleDownWindowSeconds,
          policies: [{ type: "Percent", value: 100, periodSeconds: 1 }],
        },
      },
    },
  };
}

/** One Docker event of a group container. */
export interface ContainerEvent {
  atMs: number;
  action: string;
  name: string;
  /** kill: the signal number or name Docker reports. */
  signal?: string;
  /** die: the exit code. */
  exitCode?: number;
  /** The fencing token of the leader that created the container (its label). */
  fencingToken?: number;
}

/** A committed intent, as watched. */
export interface SeenIntent {
  fencingToken: number;
  holder: string;
  action: string;
  target: string;
  atMs: number;
}

/** A scaling controller running as a host process. */
export class ControllerProcess {
  private exited = false;
  constructor(
    readonly id: string,
    private readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    child.once("exit", () => (this.exited = true));
  }
  get pid(): number {
    return this.child.pid!;
  }
  get alive(): boolean {
    return !this.exited;
  }
  /** Sends `signal` to this process only (by its PID). */
  signal(signal: NodeJS.Signals): void {
    if (this.alive) process.kill(this.pid, signal);
  }
  /** The process state letter from /proc (R, S, T for stopped, ...). */
  procState(): string | undefined {
    try {
      const stat = readFileSync(`/proc/${this.pid}/stat`, "utf8");
      return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    } catch {
      return undefined;
    }
  }
  /** Its JSON log lines (pino). */
  logLines(): Record<string, unknown>[] {
    return readFileSync(this.logFile, "utf8")
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          return {};
        }
      });
  }
  /** SIGKILL and wait for the exit. */
  async kill(): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.kill("SIGCONT");
    this.child.kill("SIGKILL");
    await exited;
  }
  /** SIGTERM (resigns its leadership), bounded; SIGKILL after it. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.kill("SIGCONT");
    this.child.kill("SIGTERM");
    if (await Promise.race([exited.then(() => true), sleep(timeoutMs).then(() => false)])) return;
    await this.kill();
  }
}

export interface HarnessOptions {
  /** Short name part (group `<prefix>-<pid>-<time>`). */
  prefix: string;
  image: string;
  launchSpec: Omit<LaunchSpecInput, "group" | "secretFiles" | "networks" | "loadBalancer" | "labels" | "image">;
  policy: ScalingPolicyInput;
  secretEnv?: Record<string, string>;
  /** HAProxy's readiness check. */
  check: LbCheck;
  /** Controllers' lease TTL. */
  ttlSeconds: number;
  /** Seconds the provider may wait for the group. @default 120 */
  readyTimeoutSeconds?: number;
}

export class GroupHarness {
  readonly group: string;
  readonly network: string;
  readonly lbName: string;
  lbPort = 0;
  docker!: Docker;
  etcd!: LocalEtcd;
  client!: ConfigClient;
  host!: ProviderHost;
  serialized = "";
  inputs!: InstanceGroupInputs;
  state: Props = {};
  readonly keys;
  readonly events: ContainerEvent[] = [];
  readonly intents: SeenIntent[] = [];
  readonly controllers: ControllerProcess[] = [];
  private readonly dir: string;
  private readonly secretsDir: string;
  private readonly cleanups: Array<() => Promise<unknown>> = [];
  /** Image tags this harness created (retags for a rollout), removed at the end. */
  private readonly tags: string[] = [];

  constructor(private readonly o: HarnessOptions) {
    this.group = `${o.prefix}-${process.pid}-${Date.now().toString(36)}`.slice(0, 40);
    this.network = `${this.group}-net`;
    this.lbName = `${this.group}-lb`;
    this.keys = groupConfigKeys(this.group);
    this.dir = mkdtempSync(join(tmpdir(), `scaleplane-${o.prefix}-`));
    this.secretsDir = join(this.dir, "secrets");
    mkdirSync(this.secretsDir, { mode: 0o700 });
  }

  /** etcd, network, LB, event and intent recorders, provider host. */
  async start(): Promise<void> {
    for (const image of [this.o.image, LB_IMAGE]) this.docker = await requireImage(image);
    this.serialized = await serializeGroupProvider();
    await this.recordDockerEvents();
    this.etcd = await startLocalEtcd(this.o.prefix);
    this.cleanups.push(() => this.etcd.stop());
    this.client = ConfigClient.create({ endpoints: [this.etcd.endpoint], logger: pino({ level: "warn" }) });
    await this.docker.createNetwork({ Name: this.network, Driver: "bridge", Labels: TEST_LABELS });
    [this.lbPort] = await freePorts(1, 26000, 26999);
    const maxSize = this.o.policy.maxSize ?? 10;
    const lb = await this.docker.createContainer({
      name: this.lbName,
      Image: LB_IMAGE,
      Env: [
        `HAPROXY_CONFIG=${haproxyConfig({
          slots: lbSlots(maxSize),
          backendPort: this.o.launchSpec.port,
          healthPath: this.o.launchSpec.healthPath,
          check: this.o.check,
        })}`,
      ],
      Labels: TEST_LABELS,
      ExposedPorts: { [`${LB_FRONTEND_PORT}/tcp`]: {} },
      HostConfig: {
        NetworkMode: this.network,
        PortBindings: { [`${LB_FRONTEND_PORT}/tcp`]: [{ HostIp: "127.0.0.1", HostPort: String(this.lbPort) }] },
      },
    });
    await lb.start();
    const watcher = await this.client.watch(this.keys.intent, (v) => {
      if (v)
        this.intents.push({
          fencingToken: v.fencingToken,
          holder: v.holder,
          action: v.action,
          target: v.target,
          atMs: v.atMs,
        });
    });
    this.cleanups.push(() => watcher.close());
    this.writeSecrets(this.o.secretEnv ?? {});
    this.inputs = {
      group: this.group,
      configEndpoints: [this.etcd.endpoint],
      launchSpec: {
        ...this.o.launchSpec,
        image: this.o.image,
        networks: [this.network],
        labels: TEST_LABELS,
        loadBalancer: this.lbName,
      } as InstanceGroupInputs["launchSpec"],
      secretEnv: this.o.secretEnv ?? {},
      policy: this.o.policy,
      lbSlots: lbSlots(maxSize),
      readyTimeoutSeconds: this.o.readyTimeoutSeconds ?? 120,
    };
    this.host = await ProviderHost.start();
  }

  /** Docker's events of this group's containers, from now on. */
  private async recordDockerEvents(): Promise<void> {
    const stream = (await this.docker.getEvents({
      filters: { type: ["container"], label: [`${LABEL_GROUP}=${this.group}`] },
    })) as NodeJS.ReadableStream & { destroy(): void };
    let buf = "";
    stream.on("data", (chunk: Buffer) => {
      buf += chunk.toString("utf8");
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const e = JSON.parse(line) as {
          Action: string;
          timeNano: number;
          Actor: { Attributes: Record<string, string> };
        };
        const a = e.Actor.Attributes;
        this.events.push({
          atMs: Math.floor(e.timeNano / 1e6),
          action: e.Action,
          name: a.name,
          ...(a.signal !== undefined ? { signal: a.signal } : {}),
          ...(a.exitCode !== undefined ? { exitCode: Number(a.exitCode) } : {}),
          ...(a["scaleplane.fencing-token"] ? { fencingToken: Number(a["scaleplane.fencing-token"]) } : {}),
        });
      }
    });
    stream.on("error", () => undefined);
    this.cleanups.push(async () => stream.destroy());
  }

  /** The controllers' secret files (SCALER_SECRETS_DIR): what the component uploads into their containers. */
  writeSecrets(secrets: Record<string, string>): void {
    rmSync(this.secretsDir, { recursive: true, force: true });
    mkdirSync(this.secretsDir, { mode: 0o700 });
    for (const [k, v] of Object.entries(secrets)) writeFileSync(join(this.secretsDir, k), v, { mode: 0o400 });
  }

  /** Starts a controller replica as a host process. */
  startController(id: string, extraEnv: Record<string, string> = {}): ControllerProcess {
    const logFile = join(this.dir, `${id}.log`);
    const out = openSync(logFile, "a");
    const child = spawn(process.execPath, ["--import", "tsx", CONTROLLER_MAIN], {
      cwd: ROOT,
      stdio: ["ignore", out, out],
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: process.env.HOME ?? "/root",
        SCALER_GROUP: this.group,
        SCALER_CONFIG_ENDPOINTS: this.etcd.endpoint,
        SCALER_ID: `${this.group}-${id}`,
        SCALER_LEASE_TTL_SECONDS: String(this.o.ttlSeconds),
        SCALER_SECRETS_DIR: this.secretsDir,
        SCALER_HEARTBEAT_FILE: join(this.dir, `${id}.heartbeat`),
        SCALEPLANE_LOG_LEVEL: "info",
        ...extraEnv,
      },
    });
    closeSync(out);
    const c = new ControllerProcess(`${this.group}-${id}`, child, logFile);
    this.controllers.push(c);
    return c;
  }

  async check(news: Partial<InstanceGroupInputs> = {}) {
    return this.host.check(TYPE, this.state, { __provider: this.serialized, ...this.inputs, ...news });
  }

  /** Provider create (returns once minSize instances are healthy behind the LB). */
  async create(): Promise<Props> {
    const checked = await this.check();
    if (checked.failures.length > 0) throw new Error(`check failed: ${JSON.stringify(checked.failures)}`);
    const { outputs } = await this.host.create(TYPE, checked.inputs);
    this.state = outputs;
    return outputs;
  }

  /** Provider update to `news` (returns once the group converged: a rollout finished). */
  async update(news: Partial<InstanceGroupInputs>): Promise<Props> {
    const next = { ...this.inputs, ...news };
    const checked = await this.host.check(TYPE, this.state, { __provider: this.serialized, ...next });
    if (checked.failures.length > 0) throw new Error(`check failed: ${JSON.stringify(checked.failures)}`);
    const diff = await this.host.diff(TYPE, `${this.group}-instance-group`, this.state, checked.inputs);
    if (diff.changes !== "some")
      throw new Error(`update: the provider's diff sees no change (${JSON.stringify(diff)})`);
    const outs = await this.host.update(TYPE, `${this.group}-instance-group`, this.state, checked.inputs);
    this.inputs = next;
    this.state = outs;
    return outs;
  }

  async delete(): Promise<void> {
    await this.host.delete(TYPE, `${this.group}-instance-group`, this.state);
  }

  /** A copy of `image` under a tag of this run (a changed image with the same content), removed at the end. */
  async retag(image: string, suffix: string): Promise<string> {
    const [repo] = image.split(":");
    const tag = `${image.split(":")[1]}-${suffix}-${process.pid}-${Date.now().toString(36)}`;
    await this.docker.getImage(image).tag({ repo, tag });
    this.tags.push(`${repo}:${tag}`);
    return `${repo}:${tag}`;
  }

  status() {
    return this.client.get(this.keys.status);
  }

  /** Waits (bounded) until `pred` holds for the group's status; returns it. */
  async waitStatus(
    what: string,
    pred: (s: NonNullable<Awaited<ReturnType<GroupHarness["status"]>>>) => boolean,
    timeoutMs: number,
  ) {
    const deadline = Date.now() + timeoutMs;
    let last: Awaited<ReturnType<GroupHarness["status"]>>;
    for (;;) {
      last = await this.status().catch(() => undefined);
      if (last && pred(last)) return last;
      if (Date.now() > deadline)
        throw new Error(`${what}: not reached within ${timeoutMs} ms; last status ${JSON.stringify(last)}`);
      await sleep(250);
    }
  }

  /** HAProxy's slots. */
  lbSlots(): Promise<SlotState[]> {
    return lbState(this.docker, this.lbName);
  }

  /** Ready and up slots as HAProxy itself reports them. */
  async healthyBehindLb(): Promise<number> {
    return (await this.lbSlots()).filter((s) => s.admin === "ready" && s.up).length;
  }

  /** lb-fenced's audit log: `<ms> accepted|refused <token>...` lines. */
  async lbAudit(): Promise<{ atMs: number; accepted: boolean; token: number; line: string }[]> {
    const r = await execIn(this.docker, this.lbName, ["sh", "-c", "cat /run/haproxy/fence.log 2>/dev/null || true"]);
    return r.output
      .split("\n")
      .map(
        (line) =>
          /^(\d+) (accepted|refused) (\d+)/.exec(line) && { line, m: /^(\d+) (accepted|refused) (\d+)/.exec(line)! },
      )
      .filter((x): x is { line: string; m: RegExpExecArray } => !!x)
      .map(({ line, m }) => ({ atMs: Number(m[1]), accepted: m[2] === "accepted", token: Number(m[3]), line }));
  }

  /** The spec-hash label of each running instance. */
  async instanceHashes(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const c of await listGroup(this.docker, this.group)) {
      const info = await this.docker.getContainer(c.name).inspect();
      out[c.name] = info.Config.Labels["scaleplane.spec-hash"];
    }
    return out;
  }

  /** Waits (bounded) for a Docker event of one container; returns it. */
  async waitEvent(name: string, action: string, timeoutMs: number): Promise<ContainerEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const e = this.events.find((x) => x.name === name && x.action === action);
      if (e) return e;
      if (Date.now() > deadline) throw new Error(`no ${action} event of ${name} within ${timeoutMs} ms`);
      await sleep(200);
    }
  }

  /** SIGKILLs seen by Docker (kill events with signal 9) and non-zero exits. */
  forcedExits(): ContainerEvent[] {
    return this.events.filter(
      (e) =>
        (e.action === "kill" && (e.signal === "9" || e.signal === "SIGKILL")) ||
        (e.action === "die" && e.exitCode !== 0),
    );
  }

  /** Stops the controllers, removes containers, network, image tags, etcd and the temp dir. */
  async cleanup(): Promise<void> {
    for (const c of this.controllers) await c.kill().catch(() => undefined);
    await this.host?.stop().catch(() => undefined);
    this.client?.close();
    if (this.docker) {
      for (const c of await listGroup(this.docker, this.group).catch(() => []))
        await this.docker
          .getContainer(c.name)
          .remove({ force: true })
          .catch(() => undefined);
      await this.docker
        .getContainer(this.lbName)
        .remove({ force: true })
        .catch(() => undefined);
      await this.docker
        .getNetwork(this.network)
        .remove()
        .catch(() => undefined);
      for (const t of this.tags)
        await this.docker
          .getImage(t)
          .remove({ noprune: true })
          .catch(() => undefined);
    }
    for (const f of this.cleanups.reverse()) await f().catch(() => undefined);
    // SCALEPLANE_KEEP_TEST_LOGS=1 keeps the controllers' logs and the recorded evidence for a post-mortem.
    if (process.env.SCALEPLANE_KEEP_TEST_LOGS) {
      writeFileSync(
        join(this.dir, "evidence.json"),
        JSON.stringify({ events: this.events, intents: this.intents }, null, 1),
      );
      console.log(`logs and evidence kept in ${this.dir}`);
    } else rmSync(this.dir, { recursive: true, force: true });
  }
}
