/**
 * etcd for tests and benches, always on 127.0.0.1:
 * - `startLocalEtcd()`: one member as a local process (/usr/bin/etcd), data dir in a tmp dir,
 *   ports 24000-24999, stopped by its saved PID. Fast (~0.5 s): for client integration tests.
 * - `startDockerEtcd()`: an n-member cluster in containers (image scaleplane/etcd:3.4.23) on a
 *   private network, client ports published on 127.0.0.1 in 25000-25999, via
 *   providers/etcd-membership/docker-members.ts. For chaos tests and the failover bench.
 * Member flags always come from core/etcd/spec.ts.
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Docker from "dockerode";
import { Etcd3 } from "etcd3";
import pino from "pino";
import { z } from "zod";
import { HistoryRecorder, type HistoryOp, type RegisterValue } from "./history";
import type { LogEntry } from "./linearizability";
import { ConfigClient, configKey } from "../../runtime/config-client";
import { etcdClusterSpec, type EtcdClusterSettings, type EtcdClusterSpec } from "../../core/etcd/spec";
import {
  createMember,
  ensureNetwork,
  killMember,
  publishedEndpoint,
  removeCluster,
  removeNetwork,
  startMember,
} from "../../providers/etcd-membership/docker-members";
import { requireEtcdBinary, requireImage } from "./engines";
import { freePorts } from "./ports";

export const ETCD_IMAGE = "scaleplane/etcd:3.4.23";
export const TEST_LABELS = { "scaleplane.test": "1" };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Status of one endpoint: its member id and the leader it sees (undefined when unreachable). */
export async function endpointStatus(
  endpoint: string,
  deadlineMs = 500,
): Promise<{ memberId: string; leader: string } | undefined> {
  const c = new Etcd3({
    hosts: endpoint,
    dialTimeout: deadlineMs,
    defaultCallOptions: () => ({ deadline: Date.now() + deadlineMs }),
  });
  try {
    const s = await c.maintenance.status();
    return { memberId: String(s.header.member_id), leader: String(s.leader) };
  } catch {
    return undefined;
  } finally {
    c.close();
  }
}

/** Waits until a member reports itself leader and a majority agrees; returns its index. */
export async function waitForLeader(
  endpoints: readonly string[],
  timeoutMs: number,
  exclude?: number,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = await Promise.all(endpoints.map((e, i) => (i === exclude ? undefined : endpointStatus(e))));
    // the leader is the member that says so itself and that a majority of all members agree on
    const majority = Math.floor(endpoints.length / 2) + 1;
    for (let i = 0; i < st.length; i++) {
      const s = st[i];
      if (!s || s.leader === "0" || s.leader !== s.memberId) continue;
      if (st.filter((o) => o?.leader === s.memberId).length >= majority) return i;
    }
    if (Date.now() > deadline) throw new Error(`no etcd leader among ${endpoints.join(", ")} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------
// local process

export interface LocalEtcd {
  endpoint: string;
  pid: number;
  dataDir: string;
  logFile: string;
  /** SIGSTOP: the member keeps its sockets but answers nothing (a hung member). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** Stops the process (by saved PID) and removes the tmp dir. */
  stop(): Promise<void>;
}

const isOurEtcd = (pid: number, dataDir: string): boolean => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(dataDir);
  } catch {
    return false;
  }
};

async function stopPid(pid: number, dataDir: string): Promise<void> {
  if (!isOurEtcd(pid, dataDir)) return;
  process.kill(pid, "SIGCONT");
  process.kill(pid, "SIGTERM");
  for (let i = 0; i < 100 && isOurEtcd(pid, dataDir); i++) await sleep(50);
  if (isOurEtcd(pid, dataDir)) process.kill(pid, "SIGKILL");
  for (let i = 0; i < 100 && isOurEtcd(pid, dataDir); i++) await sleep(20);
}

/** Starts a single-member etcd on 127.0.0.1 (ports 24000-24999) and waits until it serves. */
export async function startLocalEtcd(name = "sp-test"): Promise<LocalEtcd> {
  const bin = requireEtcdBinary();
  const dir = mkdtempSync(join(tmpdir(), "scaleplane-etcd-"));
  const [clientPort, peerPort] = await freePorts(2, 24000, 24999);
  const settings: EtcdClusterSettings = {
    clusterName: name,
    clientPort,
    peerPort,
    heartbeatIntervalMs: 100,
    electionTimeoutMs: 1000,
    tls: false,
    dataDir: join(dir, "data"),
    listenHost: "127.0.0.1",
  };
  const spec = etcdClusterSpec(settings, ["127.0.0.1"]);
  const logFile = join(dir, "etcd.log");
  const out = openSync(logFile, "a");
  const child = spawn(bin, spec.members[0].args, { detached: true, stdio: ["ignore", out, out] });
  closeSync(out);
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${bin}`);
  writeFileSync(join(dir, "etcd.pid"), String(pid));
  const endpoint = spec.clientEndpoints[0];
  const stop = async () => {
    await stopPid(pid, settings.dataDir!);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForLeader([endpoint], 20_000);
  } catch (e) {
    const log = existsSync(logFile) ? readFileSync(logFile, "utf8").split("\n").slice(-20).join("\n") : "";
    await stop();
    throw new Error(`${(e as Error).message}\n${log}`);
  }
  return {
    endpoint,
    pid,
    dataDir: settings.dataDir!,
    logFile,
    pause: () => process.kill(pid, "SIGSTOP"),
    resume: () => process.kill(pid, "SIGCONT"),
    stop,
  };
}

// ---------------------------------------------------------------------------------------------
// containers

export interface DockerEtcdOptions {
  members: number;
  electionTimeoutMs: number;
  heartbeatIntervalMs: number;
  /** Prefix of the cluster/container names. @default "sp-chaos" */
  namePrefix?: string;
}

export interface DockerEtcd {
  clusterName: string;
  network: string;
  spec: EtcdClusterSpec;
  /** Client endpoint (127.0.0.1:<published port>) of member i. */
  endpoints: string[];
  /** Container (= host) name of member i. */
  hosts: string[];
  /** Index of the current leader (waits for one). */
  leader(timeoutMs?: number): Promise<number>;
  /** SIGKILL of member i's container. */
  kill(i: number): Promise<void>;
  /** Starts member i's container again (same volume: the member rejoins with its data). */
  start(i: number): Promise<void>;
  /** Removes containers, volumes and the network. */
  remove(): Promise<void>;
}

/** Starts an n-member etcd cluster in containers and waits for a leader. */
export async function startDockerEtcd(docker: Docker, o: DockerEtcdOptions): Promise<DockerEtcd> {
  await requireImage(ETCD_IMAGE);
  const clusterName = `${o.namePrefix ?? "sp-chaos"}-${process.pid}-${Date.now().toString(36)}`;
  const network = `${clusterName}-net`;
  const hosts = Array.from({ length: o.members }, (_, i) => `${clusterName}-${i}`);
  const settings: EtcdClusterSettings = {
    clusterName,
    clientPort: 2379,
    peerPort: 2380,
    heartbeatIntervalMs: o.heartbeatIntervalMs,
    electionTimeoutMs: o.electionTimeoutMs,
    tls: false,
  };
  const spec = etcdClusterSpec(settings, hosts);
  const ports = await freePorts(o.members, 25000, 25999);
  const remove = async () => {
    await removeCluster(docker, clusterName);
    await removeNetwork(docker, network);
  };
  try {
    await ensureNetwork(docker, network, TEST_LABELS);
    await Promise.all(
      spec.members.map((m, i) =>
        createMember(docker, {
          clusterName,
          name: m.name,
          host: m.host,
          args: m.args,
          image: ETCD_IMAGE,
          etcdBinary: "/usr/bin/etcd",
          network,
          clientPort: settings.clientPort,
          hostPort: ports[i],
          labels: TEST_LABELS,
        }),
      ),
    );
    const endpoints = ports.map((p) => publishedEndpoint(p, false));
    await waitForLeader(endpoints, 30_000);
    return {
      clusterName,
      network,
      spec,
      endpoints,
      hosts,
      leader: (timeoutMs = 15_000) => waitForLeader(endpoints, timeoutMs),
      kill: (i) => killMember(docker, hosts[i]),
      start: (i) => startMember(docker, hosts[i]),
      remove,
    };
  } catch (e) {
    await remove().catch(() => undefined);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// leader-kill workload (chaos test and bench/config.bench.ts)

export interface KillWorkloadOptions {
  kills: number;
  writers: number;
  readers: number;
  /** Per-call deadline of the workload's clients. */
  deadlineMs: number;
  /** Quiet time before each kill (steady-state latency is measured here). */
  steadyMs: number;
  /** Upper bound on the whole workload. */
  maxDurationMs: number;
  /** Called after each kill with its failover time and the kill call's own duration. */
  onKill?: (k: number, failoverMs: number, killed: number, killCallMs: number) => void;
}

export interface AckedWrite {
  value: string;
  revision: number;
  call: number;
  ret: number;
}

export interface KillWorkloadResult {
  history: HistoryOp[];
  /** The register's log as etcd kept it (every value with its revision), for `resolveWithLog`. */
  log: LogEntry[];
  acked: AckedWrite[];
  /**
   * Per kill: ms from the START of the kill call to the acknowledgement of the first write that
   * was issued after the kill call RETURNED (one the dead leader cannot have served; writes in
   * flight across the kill do not count): a writer's or the failover probe's, whichever is first.
   */
  failoverMs: number[];
  /** Per kill: ms the kill call itself took (same clock: from its start). */
  killCallMs: number[];
  /** Per kill: ms from the start of the kill call until a member reports a new leader (every member's status polled every ~50 ms over open connections). */
  electionMs: number[];
  /** Raft term rises (elections) observed while the workload ran; see {@link TermWatch}. */
  elections: ElectionEvent[];
  /** Elections that no kill caused: term rises outside every kill's window. */
  unprovokedElections: ElectionEvent[];
  /** Latencies (ms) of acknowledged writes entirely outside kill → recovery windows. */
  steadyPutMs: number[];
  /** Acknowledged writes whose value is not in etcd at their acknowledged revision. */
  lost: AckedWrite[];
  errors: number;
}

/** A rise of the cluster's Raft term: one election (or a run of split-vote rounds) began. */
export interface ElectionEvent {
  /** performance.now() when the poll saw the new term. */
  at: number;
  /** Highest term any member reported before / after. */
  fromTerm: number;
  toTerm: number;
  /** Endpoint of the member that reported the new term first. */
  endpoint: string;
}

/**
 * Watches the Raft term of every member (maintenance Status, every ~50 ms, 300 ms deadline) and
 * records each rise of the highest term reported: every election bumps the term, so a rise is an
 * election, whoever started it. The highest term (not each member's) is tracked so that a
 * restarted member catching up on the current term is not counted.
 */
export class TermWatch {
  readonly elections: ElectionEvent[] = [];
  /** Every change of the leader some member reports (leader member ID, never "0"), with when it was seen. */
  readonly leaders: { at: number; leader: string }[] = [];
  /** Member ID of each endpoint, as its status reported it. */
  readonly memberIds = new Map<string, string>();
  private maxTerm = 0;
  private running = true;
  private loop: Promise<void> = Promise.resolve();
  private constructor(private readonly clients: { endpoint: string; c: Etcd3 }[]) {}

  static async start(endpoints: readonly string[], intervalMs = 50): Promise<TermWatch> {
    // No client-side circuit breaker (etcd3's default opens for 5 s after 3 failures, which under
    // load would blind the watch to a live member); each member has its own loop, so a deadline
    // on a dead member never delays the others.
    const pass = {
      execute: (fn: (ctx: { signal: AbortSignal }) => unknown, signal?: AbortSignal) =>
        Promise.resolve(fn({ signal: signal ?? new AbortController().signal })),
    } as never;
    const w = new TermWatch(
      endpoints.map((endpoint) => ({
        endpoint,
        c: new Etcd3({
          hosts: endpoint,
          dialTimeout: 1000,
          defaultCallOptions: () => ({ deadline: Date.now() + 1000 }),
          faultHandling: { global: pass, host: () => pass },
        }),
      })),
    );
    // the terms before the workload are the baseline, not elections
    for (const s of await Promise.all(w.clients.map((x) => w.poll(x)))) if (s) w.observe(s, false);
    // one loop per member: a dead member's deadline must not slow the polls of the live ones
    w.loop = Promise.all(
      w.clients.map(async (x) => {
        while (w.running) {
          const s = await w.poll(x);
          if (s) w.observe(s, true);
          await sleep(intervalMs);
        }
      }),
    ).then(() => undefined);
    return w;
  }

  private async poll({ endpoint, c }: { endpoint: string; c: Etcd3 }) {
    try {
      const st = await c.maintenance.status();
      return { endpoint, term: Number(st.raftTerm), leader: String(st.leader), memberId: String(st.header.member_id) };
    } catch {
      return undefined; // a killed member: no term
    }
  }

  private observe(s: { endpoint: string; term: number; leader: string; memberId: string }, record: boolean): void {
    const at = performance.now();
    this.memberIds.set(s.endpoint, s.memberId);
    if (s.leader !== "0" && this.leaders[this.leaders.length - 1]?.leader !== s.leader)
      this.leaders.push({ at, leader: s.leader });
    if (s.term <= this.maxTerm) return;
    if (record) this.elections.push({ at, fromTerm: this.maxTerm, toTerm: s.term, endpoint: s.endpoint });
    this.maxTerm = s.term;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    for (const { c } of this.clients) c.close();
  }
}

/** The register key of the workload. */
export const REGISTER_KEY = configKey("chaos/register", z.string().nullable());
/** The failover probe's key (not part of the register history). */
export const PROBE_KEY = configKey("chaos/failover-probe", z.string());
/** The probe issues a write this often after a kill, until one is acknowledged. */
const PROBE_EVERY_MS = 20;
/** Bound on the probe's writes in flight (the load stays bounded while the cluster has no leader). */
const PROBE_MAX_IN_FLIGHT = 25;

/**
 * Runs `writers` writers and `readers` readers on one register against `cluster` while killing
 * the leader (SIGKILL) `kills` times, restarting each killed member before the next kill.
 * Records a history for the linearizability checker; then reads every acknowledged write back
 * at its revision. Bounded by maxDurationMs.
 */
export async function runKillLeaderWorkload(cluster: DockerEtcd, o: KillWorkloadOptions): Promise<KillWorkloadResult> {
  const t0 = Date.now();
  const silent = pino({ level: "silent" });
  const mk = () =>
    ConfigClient.create({
      endpoints: cluster.endpoints,
      deadlineMs: o.deadlineMs,
      dialTimeoutMs: o.deadlineMs,
      prefix: `/${cluster.clusterName}/`,
      logger: silent,
    });
  const rec = new HistoryRecorder();
  const acked: AckedWrite[] = [];
  const clients: ConfigClient[] = [];
  let stop = false;
  let errors = 0;
  // short, capped backoff: during an election every member refuses proposals at once, and a
  // long backoff would hide the cluster's recovery behind the client's sleep
  const backoff = async (attempt: number) => sleep(Math.min(50, 10 * 2 ** attempt) * (0.5 + Math.random() / 2));

  /** One client looping `run` until stopped: short pause after success, capped backoff after an error. */
  const worker = async (run: (c: ConfigClient) => Promise<void>) => {
    const c = mk();
    clients.push(c);
    let failures = 0;
    while (!stop) {
      try {
        await run(c);
        failures = 0;
        await sleep(5);
      } catch {
        errors++;
        await backoff(failures++);
      }
    }
  };
  /** Records the op; any error leaves it "unknown" (it may have taken effect) and is rethrown. */
  const recorded = async <T>(op: ReturnType<HistoryRecorder["begin"]>, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      op.unknown();
      throw e;
    }
  };
  const writer = (id: number) => {
    let seq = 0;
    return worker(async (c) => {
      const value = `w${id}-${seq++}`;
      const op = rec.begin(`w${id}`, { op: "write", value });
      const call = performance.now();
      const revision = await recorded(op, () => c.put(REGISTER_KEY, value));
      op.ok();
      acked.push({ value, revision, call, ret: performance.now() });
    });
  };
  const reader = (id: number) =>
    worker(async (c) => {
      const op = rec.begin(`r${id}`, { op: "read" });
      const v = await recorded(op, () => c.get(REGISTER_KEY));
      op.ok(v ?? null);
    });

  const probe = mk();
  clients.push(probe);
  const probes: AckedWrite[] = [];
  const workers = [
    ...Array.from({ length: o.writers }, (_, i) => writer(i)),
    ...Array.from({ length: o.readers }, (_, i) => reader(i)),
  ];
  const failoverMs: number[] = [];
  const killCallMs: number[] = [];
  const electionMs: number[] = [];
  const windows: Array<[number, number]> = [];
  const electionWindows: Array<[number, number]> = [];
  const terms = await TermWatch.start(cluster.endpoints);
  try {
    for (let k = 0; k < o.kills; k++) {
      await sleep(o.steadyMs);
      if (Date.now() - t0 > o.maxDurationMs)
        throw new Error(`workload exceeded ${o.maxDurationMs} ms after ${k} kills`);
      const leader = await cluster.leader();
      // One clock for all three figures, started BEFORE the kill is issued: the leader may die
      // at any point of the call, so nothing may be measured from its return.
      const killStart = performance.now();
      await cluster.kill(leader);
      const killReturned = performance.now();
      const killedId = terms.memberIds.get(cluster.endpoints[leader]);
      const elected = (async () => {
        for (const until = Date.now() + 30_000; Date.now() < until; await sleep(10)) {
          const seen = terms.leaders.find((l) => l.at > killStart && l.leader !== killedId);
          if (seen) return seen.at - killStart;
        }
        throw new Error(`no new leader reported within 30 s of kill ${k + 1}`);
      })();
      elected.catch(() => undefined);
      // Only a write issued after the kill returned proves a new leader serves: a write in flight
      // across the kill may have been committed by the old leader a millisecond before it died.
      // A writer blocked in a call to the dead leader only learns of the new one at its deadline;
      // so that the figure measures the cluster, not that wait, a probe also issues a write every
      // PROBE_EVERY_MS (each with the same deadline, at most PROBE_MAX_IN_FLIGHT at once) until one
      // is acknowledged. Probe writes go to their own key; each acknowledged one is checked below.
      let first: number | undefined;
      let probeAck: number | undefined;
      const probing = (async () => {
        let inFlight = 0;
        for (let n = 0; probeAck === undefined && first === undefined && Date.now() - t0 < o.maxDurationMs; n++) {
          if (inFlight < PROBE_MAX_IN_FLIGHT) {
            inFlight++;
            const value = `k${k}-${n}`;
            const call = performance.now();
            void probe
              .put(PROBE_KEY, value)
              .then((revision) => {
                const ret = performance.now();
                probes.push({ value, revision, call, ret });
                probeAck ??= ret;
              })
              .catch(() => undefined)
              .finally(() => inFlight--);
          }
          await sleep(PROBE_EVERY_MS);
        }
      })();
      const until = Date.now() + 30_000;
      while (first === undefined && Date.now() < until) {
        const writerAck = acked.find((a) => a.call > killReturned)?.ret;
        if (writerAck !== undefined || probeAck !== undefined)
          first = Math.min(writerAck ?? Infinity, probeAck ?? Infinity);
        else await sleep(5);
      }
      await probing;
      if (first === undefined)
        throw new Error(`no write issued after the kill was acknowledged within 30 s (kill ${k + 1})`);
      failoverMs.push(first - killStart);
      killCallMs.push(killReturned - killStart);
      electionMs.push(await elected);
      // The elections this kill provokes (including split votes) fall between the kill and a
      // margin of two election timeouts after the workload saw a write go through again.
      windows.push([killStart, first + 300]);
      electionWindows.push([killStart, first + 2 * cluster.spec.settings.electionTimeoutMs]);
      o.onKill?.(k + 1, first - killStart, leader, killReturned - killStart);
      await cluster.start(leader);
      // the restarted member must be back before the next kill keeps a quorum
      const back = Date.now() + 30_000;
      while (!(await endpointStatus(cluster.endpoints[leader], 500))) {
        if (Date.now() > back) throw new Error(`member ${leader} did not come back within 30 s`);
        await sleep(100);
      }
    }
    await sleep(Math.min(o.steadyMs, 1000));
    // a restarted member rejoining with pre-vote off would force an election here, after its window
    await sleep(2 * cluster.spec.settings.electionTimeoutMs);
  } finally {
    stop = true;
    await Promise.all(workers);
    await terms.stop();
  }
  const elections = terms.elections;
  const unprovokedElections = elections.filter((e) => !electionWindows.some(([s, end]) => e.at >= s && e.at <= end));

  // the register's whole log, as etcd kept it; every acknowledged write must be in it at the
  // revision it was acknowledged with
  const checker = mk();
  clients.push(checker);
  let log: LogEntry[];
  let probeLogEntries: LogEntry[];
  try {
    log = await readKeyLog(checker, checker.fullKey(REGISTER_KEY.name));
    probeLogEntries = await readKeyLog(checker, checker.fullKey(PROBE_KEY.name));
  } finally {
    for (const c of clients) c.close();
  }
  const logged = new Map(log.map((e) => [e.value, e.revision]));
  const lost = acked.filter((a) => logged.get(a.value) !== a.revision);
  // every acknowledged probe write is in the probe key's log at its revision too
  const probeLog = new Map(probeLogEntries.map((e) => [e.value, e.revision]));
  lost.push(...probes.filter((a) => probeLog.get(a.value) !== a.revision));
  const steadyPutMs = acked
    .filter((a) => !windows.some(([s, e]) => a.ret >= s && a.call <= e))
    .map((a) => a.ret - a.call);
  return {
    history: rec.ops,
    log,
    acked,
    failoverMs,
    killCallMs,
    electionMs,
    elections,
    unprovokedElections,
    steadyPutMs,
    lost,
    errors,
  };
}

/**
 * Every value `key` ever had, in log order, replayed by a watch from revision 1 (the test
 * clusters never compact) up to the key's current revision.
 */
async function readKeyLog(c: ConfigClient, key: string): Promise<LogEntry[]> {
  const head = await c.etcd
    .get(key)
    .options(c.callOptions({ deadlineMs: 5000 }))
    .exec();
  const last = head.kvs[0] ? Number(head.kvs[0].mod_revision) : 0;
  if (last === 0) return [];
  const entries: LogEntry[] = [];
  const watcher = await c.etcd.watch().key(key).startRevision("1").create();
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`replaying the log of ${key} took over 30 s`)), 30_000);
      watcher.on("put", (kv) => {
        entries.push({ value: JSON.parse(kv.value.toString()) as RegisterValue, revision: Number(kv.mod_revision) });
        if (Number(kv.mod_revision) >= last) {
          clearTimeout(timer);
          resolve();
        }
      });
      watcher.on("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  } finally {
    await watcher.cancel();
  }
  return entries;
}
