/**
 * In-memory fakes of what a reconcile pass, the scaling controller and the ManagedInstanceGroup
 * provider talk to: etcd (a key-value map with revisions, elections with fencing tokens, lease
 * checks), Docker and the HAProxy load balancer (runtime/scaler/group.ts GroupActions). They keep
 * the real rules that matter to the code under test: a fenced transaction commits only while the
 * election key still has the leader's create revision; a slot is up only when its address is a
 * running, healthy container; commands change slots the way HAProxy's runtime API does.
 */
import type { z } from "zod";
import pino from "pino";
import {
  ConfigClientError,
  FencingError,
  type ConfigClient,
  type ConfigKey,
  type Leadership,
  type TxnCompare,
  type TxnWrite,
} from "../../../runtime/config-client";
import { groupConfigKeys, type GroupActions } from "../../../runtime/scaler/group";
import { LB_BACKEND, slotName, type SlotState, type SlotStats } from "../../../core/app/haproxy";
import type { InstancesDoc, LaunchSpec, LaunchSpecInput } from "../../../core/scaling/reconcile";
import { parseScalingPolicy, type ScalingPolicyInput } from "../../../core/scaling/policy";

export const silent = pino({ level: "silent" });

interface Kv {
  value: string;
  mod: number;
  create: number;
}

/** etcd as a map: revisions, and hooks to inject faults after a write. */
export class FakeEtcd {
  readonly kv = new Map<string, Kv>();
  rev = 1;
  /** Called after every committed write (key, value). */
  afterPut?: (key: string, value: string) => void;

  put(key: string, value: string): number {
    this.rev++;
    const old = this.kv.get(key);
    this.kv.set(key, { value, mod: this.rev, create: old?.create ?? this.rev });
    this.afterPut?.(key, value);
    return this.rev;
  }
  del(key: string): boolean {
    return this.kv.delete(key);
  }
  /** Keys below a prefix (sorted). */
  keys(prefix = ""): string[] {
    return [...this.kv.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
  /** Every stored value as one text (to search for a secret). */
  dump(): string {
    return [...this.kv.entries()].map(([k, v]) => `${k}=${v.value}`).join("\n");
  }
}

/** A leadership over {@link FakeEtcd}: its election key's create revision is its fencing token. */
export class FakeLeadership {
  readonly key: string;
  readonly fencingToken: number;
  private lost = false;
  resigned = false;
  private readonly handlers: Array<(e: Error) => void> = [];

  constructor(
    private readonly client: FakeClient,
    readonly election: string,
    readonly candidateId: string,
  ) {
    this.key = `${client.prefix}elections/${election}/${candidateId}`;
    this.fencingToken = client.store.put(this.key, candidateId);
  }

  get believedCurrent(): boolean {
    return !this.lost && !this.resigned;
  }
  onLost(h: (e: Error) => void): void {
    this.handlers.push(h);
  }
  /** Whether etcd still holds this leader's election key. */
  held(): boolean {
    return this.client.store.kv.get(this.key)?.create === this.fencingToken;
  }
  /** The lease expires (the key goes) and, like etcd3's campaign, the holder is told. */
  loseLease(): void {
    this.client.store.del(this.key);
    this.markLost();
  }
  /** The lease expires but the holder has not noticed (a paused process): only etcd knows. */
  expireSilently(): void {
    this.client.store.del(this.key);
  }
  private markLost(): void {
    if (this.lost) return;
    this.lost = true;
    for (const h of this.handlers) h(new Error("lease lost"));
  }

  async fencedTxn(operation: string, compares: readonly TxnCompare[], writes: readonly TxnWrite[]): Promise<boolean> {
    await Promise.resolve();
    if (!this.held()) {
      this.markLost();
      throw new FencingError(this.election, this.fencingToken, operation);
    }
    for (const c of compares) {
      const kv = this.client.store.kv.get(c.key);
      const v = c.target === "Mod" ? (kv?.mod ?? 0) : c.target === "Create" ? (kv?.create ?? 0) : kv ? 1 : 0;
      if (v !== c.value) return false;
    }
    for (const w of writes) {
      if ("delete" in w) this.client.store.del(w.key);
      else this.client.store.put(w.key, w.value);
    }
    return true;
  }
  async fencedPut<S extends z.ZodType>(key: ConfigKey<S>, value: z.input<S>): Promise<void> {
    const full = this.client.fullKey(key.name);
    await this.fencedTxn(`fenced put ${full}`, [], [{ key: full, value: this.client.encode(key, value) }]);
  }
  async resign(): Promise<void> {
    if (this.resigned) return;
    this.resigned = true;
    if (this.held()) this.client.store.del(this.key);
  }
}

/** A ConfigClient over {@link FakeEtcd}; `campaign` is whatever the test makes it. */
export class FakeClient {
  readonly prefix = "/test/";
  closed = false;
  campaigns = 0;
  /** The campaign behaviour: by default elected at once. */
  campaignWith: (election: string, id: string) => Promise<FakeLeadership> = async (e, id) =>
    new FakeLeadership(this, e, id);

  constructor(readonly store = new FakeEtcd()) {}

  /** This fake typed as the client the code under test takes. */
  get asClient(): ConfigClient {
    return this as unknown as ConfigClient;
  }

  fullKey(name: string): string {
    return `${this.prefix}${name}`;
  }
  encode<S extends z.ZodType>(key: ConfigKey<S>, value: z.input<S>): string {
    return JSON.stringify(key.schema.parse(value));
  }
  async getVersioned<S extends z.ZodType>(key: ConfigKey<S>) {
    await Promise.resolve();
    const kv = this.store.kv.get(this.fullKey(key.name));
    if (!kv) return undefined;
    return {
      value: key.schema.parse(JSON.parse(kv.value)) as z.output<S>,
      modRevision: kv.mod,
      createRevision: kv.create,
    };
  }
  async get<S extends z.ZodType>(key: ConfigKey<S>): Promise<z.output<S> | undefined> {
    return (await this.getVersioned(key))?.value;
  }
  async put<S extends z.ZodType>(key: ConfigKey<S>, value: z.input<S>): Promise<number> {
    await Promise.resolve();
    return this.store.put(this.fullKey(key.name), this.encode(key, value));
  }
  async delete<S extends z.ZodType>(key: ConfigKey<S>): Promise<boolean> {
    await Promise.resolve();
    return this.store.del(this.fullKey(key.name));
  }
  async campaign(election: string, id: string): Promise<Leadership> {
    this.campaigns++;
    return (await this.campaignWith(election, id)) as unknown as Leadership;
  }
  close(): void {
    this.closed = true;
  }
  /** The raw etcd3 calls runtime/scaler/fence.ts and the provider's key removal make. */
  readonly etcd = {
    get: (key: string) => ({
      exec: async () => {
        const kv = this.store.kv.get(key);
        return { kvs: kv ? [{ create_revision: String(kv.create), lease: "1" }] : [] };
      },
    }),
    leaseClient: { leaseTimeToLive: async () => ({ TTL: "10" }) },
    delete: () => ({ key: async (key: string) => this.store.del(key) }),
  };
}

/** A lead that is typed as the real one. */
export const asLead = (l: FakeLeadership) => l as unknown as Leadership;

/** "not elected within": what a campaign says while another holder leads (after a short wait). */
export const notElected = (election: string) =>
  new Promise<never>((_, reject) =>
    setTimeout(() => reject(new ConfigClientError(`campaign ${election}: not elected within 20 ms`)), 20),
  );

export interface FakeContainer {
  name: string;
  ip: string;
  running: boolean;
  /** Its health endpoint answers (HAProxy's check passes). */
  healthy: boolean;
  /** Requests in flight at the load balancer. */
  sessions: number;
  specHash: string;
  fencingToken: number;
  secrets: Record<string, string>;
  /** Signals it received, in order. */
  signals: string[];
  /** Exits on its stop signal (false: it ignores SIGTERM). */
  exitsOnStop: boolean;
}

/** Docker and HAProxy in memory: containers, 64 LB slots, and a log of every action in order. */
export class FakeGroup implements GroupActions {
  readonly containers = new Map<string, FakeContainer>();
  readonly slots: SlotState[];
  /** Every action in order: "launch web-1", "lb app/slot1 state drain", "stop web-1", "kill ...", "remove ...". */
  readonly log: string[] = [];
  /** New containers pass their health check at once. */
  healthyOnLaunch = true;
  /** Launches of these names fail. */
  readonly failLaunch = new Set<string>();
  /** Called at the start of each launch (to look at the records at that moment). */
  onLaunch?: (name: string) => void;
  /** The load balancer container answers. */
  lbAlive = true;
  private ipSeq = 1;

  constructor(slots = 64) {
    this.slots = Array.from({ length: slots }, (_, i) => ({
      slot: i + 1,
      addr: "0.0.0.0",
      port: 0,
      admin: "maint" as const,
      up: false,
    }));
  }

  /** Actions that change something (every entry of the log). */
  get mutations(): string[] {
    return this.log;
  }
  /** A container already running (a seed for tests that start from a converged group). */
  add(name: string, specHash: string, over: Partial<FakeContainer> = {}): FakeContainer {
    const c: FakeContainer = {
      name,
      ip: `10.0.0.${this.ipSeq++}`,
      running: true,
      healthy: true,
      sessions: 0,
      specHash,
      fencingToken: 0,
      secrets: {},
      signals: [],
      exitsOnStop: true,
      ...over,
    };
    this.containers.set(name, c);
    return c;
  }
  private up(s: SlotState): boolean {
    const c = [...this.containers.values()].find((x) => x.ip === s.addr);
    return s.admin !== "maint" && !!c && c.running && c.healthy;
  }
  private lb(lb: string) {
    if (!this.lbAlive) throw new Error(`load balancer ${lb}: runtime API call failed (exit 1): no such container`);
  }

  async list(group: string) {
    return [...this.containers.values()]
      .filter((c) => c.name.startsWith(`${group}-`))
      .map((c) => ({ name: c.name, id: c.name, running: c.running, ip: c.ip }));
  }
  async inspect(name: string) {
    const c = this.containers.get(name);
    if (!c) throw Object.assign(new Error(`no such container: ${name}`), { statusCode: 404 });
    return { ip: c.ip, stopSignal: "SIGTERM", running: c.running, ...(c.running ? {} : { exitCode: 0 }) };
  }
  async stats(): Promise<never> {
    throw new Error("no stats in the fake");
  }
  async launch(spec: LaunchSpec, name: string, secrets: Readonly<Record<string, string>>, fencingToken: number) {
    this.onLaunch?.(name);
    this.log.push(`launch ${name}`);
    if (this.failLaunch.has(name)) throw new Error(`instance ${name}: image ${spec.image} not found`);
    this.add(name, spec.specHash, { healthy: this.healthyOnLaunch, fencingToken, secrets: { ...secrets } });
  }
  async stop(name: string) {
    this.log.push(`stop ${name}`);
    const c = this.containers.get(name);
    if (!c?.running) return;
    c.signals.push("SIGTERM");
    if (c.exitsOnStop) c.running = false;
  }
  async kill(name: string) {
    this.log.push(`kill ${name}`);
    const c = this.containers.get(name);
    if (!c) return;
    c.signals.push("SIGKILL");
    c.running = false;
  }
  async remove(name: string) {
    this.log.push(`remove ${name}`);
    this.containers.delete(name);
  }
  async shutdown(name: string) {
    this.log.push(`shutdown ${name}`);
  }
  async lbState(lb: string) {
    this.lb(lb);
    return this.slots.map((s) => ({ ...s, up: this.up(s) }));
  }
  async lbStats(lb: string): Promise<SlotStats[]> {
    this.lb(lb);
    return this.slots.map((s) => {
      const up = this.up(s);
      const c = [...this.containers.values()].find((x) => x.ip === s.addr);
      return {
        slot: s.slot,
        sessions: c?.sessions ?? 0,
        total: 0,
        errors5xx: 0,
        status: s.admin === "maint" ? "MAINT" : up ? "UP" : "DOWN",
        checkStatus: up ? "L7OK" : "L7STS",
        lastChangeSeconds: 0,
      };
    });
  }
  async lbRequestLog() {
    return "";
  }
  async lbApply(lb: string, _token: number, commands: readonly string[]) {
    this.lb(lb);
    for (const cmd of commands) {
      const m = /^set server (\S+)\/slot(\d+) (state (ready|drain|maint)|addr (\S+) port (\d+)|health (down))$/.exec(
        cmd,
      );
      if (!m || m[1] !== LB_BACKEND) return `unknown command ${cmd}`;
      const s = this.slots[Number(m[2]) - 1];
      // `health down` changes nothing here: the fake's checks are instant (a slot is up when the
      // container at its address is healthy)
      if (m[4]) s.admin = m[4] as SlotState["admin"];
      else if (m[5]) {
        s.addr = m[5];
        s.port = Number(m[6]);
      }
      this.log.push(`lb ${cmd.slice("set server ".length)}`);
    }
    return "";
  }
  async exec(): Promise<never> {
    throw new Error("no exec in the fake");
  }

  /** The admin state of the slot holding `name`'s address. */
  slotOf(name: string): SlotState | undefined {
    const c = this.containers.get(name);
    return c && this.slots.find((s) => s.addr === c.ip);
  }
  /** In-service instances HAProxy sends requests to (slot ready and up). */
  servingCount(): number {
    return this.slots.filter((s) => s.admin === "ready" && this.up(s)).length;
  }
}

/** The etcd keys of group "web". */
export const webKeys = groupConfigKeys("web");

/** The launch spec of group "web" as the provider's inputs carry it (no group, no hash). */
export const webLaunchSpec = {
  image: "scaleplane/plain-http:1.22-r2",
  port: 8080,
  healthPath: "/health",
  env: {},
  cpus: 0.5,
  memoryMb: 128,
  networks: ["web-net"],
  loadBalancer: "web-lb",
  drainSeconds: 5,
  drainMaxSeconds: 20,
  healthCheckGraceSeconds: 30,
  stopTimeoutSeconds: 25,
};

export const webSpec = (over: Partial<LaunchSpecInput> = {}): LaunchSpecInput => ({
  group: "web",
  ...webLaunchSpec,
  specHash: "h1",
  ...over,
});

/** Stores a launch spec and a policy (hold mode uses only its range). */
export async function storeGroup(
  client: FakeClient,
  spec: Partial<LaunchSpecInput>,
  policy: ScalingPolicyInput,
  generation = 1,
): Promise<void> {
  await client.put(webKeys.spec, webSpec(spec));
  await client.put(webKeys.policy, { generation, policy: parseScalingPolicy(policy, "policy") });
}

/**
 * Seeds instances already in service: containers running and healthy, their slots ready, their
 * records in etcd (launched one second apart, in the order given).
 */
export async function seedInService(
  client: FakeClient,
  group: FakeGroup,
  instances: ReadonlyArray<{ name: string; specHash: string }>,
  nowMs: number,
): Promise<void> {
  const doc: InstancesDoc = { nextSeq: instances.length + 1, instances: {} };
  instances.forEach(({ name, specHash }, i) => {
    const c = group.add(name, specHash);
    const slot = i + 1;
    Object.assign(group.slots[slot - 1], { addr: c.ip, port: 8080, admin: "ready" });
    doc.instances[name] = { phase: "in-service", slot, launchedAtMs: nowMs - 60_000 + i * 1000, specHash };
  });
  await client.put(webKeys.instances, doc);
}

/** The instance records in etcd. */
export async function records(client: FakeClient): Promise<InstancesDoc["instances"]> {
  return (await client.get(webKeys.instances))?.instances ?? {};
}

/** A slot's admin state by number. */
export const slotAdmin = (group: FakeGroup, slot: number) => group.slots[slot - 1].admin;
export { slotName };
