/**
 * `npm run status -- --stack <name> [--json] [--watch]`: the live state of a deployed local
 * (Docker) stack.
 *
 * What to look at comes from the program itself: the stack is run offline (scripts/lib/stack.ts,
 * as `npm run plan` does) and the recorded resources name the etcd members (EtcdMembership:
 * cluster, hosts, 127.0.0.1 ports), the app containers and the database shard containers, so no
 * naming rule is written twice. What they are doing is then read live: Docker (dockerode) for
 * every container, etcd through the members' published 127.0.0.1 ports (health, leader, Raft term
 * and index, db size), each app's health URL, each shard's port and `pg_isready` inside its
 * container, the shard map's epoch and each group's last scaling events from etcd.
 *
 * A TLS cluster is read with etcdctl inside a member container (as the EtcdMembership provider's
 * refresh does): the client key is a stack secret this tool never sees.
 *
 * A stack that is not running (no container of it on this Docker host) ends with a clear message
 * and exit code 3; a stack on another target with exit code 2; never a stack trace.
 */
import { createConnection } from "node:net";
import { Command } from "commander";
import type Docker from "dockerode";
import type { Etcd3 } from "etcd3";
import { groupKeys, type ScalingEvent } from "../core/scaling/reconcile";
import { SHARD_MAP_KEY } from "../runtime/config-client/keys";
import { execIn, memberListViaExec } from "../providers/etcd-membership/docker-observe";
import type { Recording } from "./lib/offline";
import {
  metricsInstances,
  metricsInstanceStatus,
  renderMetricsStatus,
  type MetricsInstance,
  type MetricsInstanceStatus,
} from "./lib/metrics-status";
import { listStacks, runStackOffline } from "./lib/stack";
import { cacheNodesOf, collectCacheStatus, renderCacheStatus } from "./lib/cache-status";

// ---------------------------------------------------------------------------------------------
// What the stack consists of (pure: from the recorded resources)

/** The parts of a stack `status` looks at, as the program registers them. */
export interface StackTopology {
  stack: string;
  target: string;
  /** Prefix of the config keys (ConfigClient's default). */
  configPrefix: string;
  etcd?: {
    clusterName: string;
    tls: boolean;
    clientPort: number;
    members: { name: string; host: string; hostPort: number }[];
  };
  apps: { container: string; group: string; hostPort: number; healthPath: string }[];
  shards: { shard: string; container: string; hostPort: number; readyCommand?: string[] }[];
  /** Autoscaling groups (their scaling events live in etcd). */
  groups: string[];
  /** MetricsStore instances (scripts/lib/metrics-status.ts). */
  metrics?: MetricsInstance[];
}

type Labels = Record<string, string>;
const labelsOf = (v: unknown): Labels =>
  Array.isArray(v)
    ? Object.fromEntries((v as { label: string; value: string }[]).map((l) => [l.label, l.value]))
    : ((v ?? {}) as Labels);
const publishedPort = (v: unknown): number | undefined =>
  Array.isArray(v)
    ? (v as { ip?: string; external?: number }[]).find((p) => p.ip === "127.0.0.1")?.external
    : undefined;

/** The topology of a stack from one offline run of its program. */
export function topologyOf(stack: string, target: string, rec: Recording): StackTopology {
  const etcdRes = rec.ofType("pulumi-nodejs:dynamic/etcd:EtcdMembership")[0];
  const etcd = etcdRes
    ? (() => {
        const i = etcdRes.inputs as {
          clusterName: string;
          settings: { tls: boolean; clientPort: number };
          members: { name: string; host: string; hostPort: number }[];
        };
        return {
          clusterName: i.clusterName,
          tls: i.settings.tls,
          clientPort: i.settings.clientPort,
          members: i.members.map((m) => ({ name: m.name, host: m.host, hostPort: m.hostPort })),
        };
      })()
    : undefined;
  const apps: StackTopology["apps"] = [];
  const shards: StackTopology["shards"] = [];
  for (const c of rec.ofType("docker:index/container:Container")) {
    const labels = labelsOf(c.inputs.labels);
    const name = String(c.inputs.name);
    const hostPort = publishedPort(c.inputs.ports);
    if (hostPort === undefined) continue;
    const test = ((c.inputs.healthcheck as { tests?: string[] } | undefined)?.tests ?? []) as string[];
    if (labels["scaleplane.component"] === "autoscaling-group") {
      const url = test.find((t) => /^https?:\/\//.test(t));
      apps.push({
        container: name,
        group: labels["scaleplane.group"] ?? "",
        hostPort,
        healthPath: url ? new URL(url).pathname : "/health",
      });
    } else if (labels["scaleplane.io/shard"] !== undefined) {
      shards.push({
        shard: labels["scaleplane.io/shard"],
        container: name,
        hostPort,
        readyCommand: test[0] === "CMD" ? test.slice(1) : undefined,
      });
    }
  }
  return {
    stack,
    target,
    configPrefix: "/scaleplane/",
    etcd,
    apps,
    shards,
    groups: [...new Set(apps.map((a) => a.group).filter(Boolean))].sort(),
    metrics: metricsInstances(rec),
  };
}

// ---------------------------------------------------------------------------------------------
// What it is doing (I/O)

export interface EtcdMemberStatus {
  name: string;
  container: string;
  endpoint: string;
  /** Container state as Docker reports it ("missing" when there is none). */
  state: string;
  healthy: boolean;
  leader: boolean;
  learner: boolean;
  raftTerm?: number;
  raftIndex?: number;
  dbSizeBytes?: number;
  version?: string;
  error?: string;
}

export interface StackStatus {
  stack: string;
  atMs: number;
  etcd: { clusterName: string; tls: boolean; leader?: string; members: EtcdMemberStatus[] } | undefined;
  apps: { container: string; group: string; endpoint: string; state: string; healthy: boolean; detail: string }[];
  shards: { shard: string; container: string; endpoint: string; state: string; reachable: boolean; detail: string }[];
  shardMap: { epoch: number; shards: number; migration?: string } | { error: string } | undefined;
  scaling: { group: string; events: ScalingEvent[] }[];
  metrics?: MetricsInstanceStatus[];
}

/** Nothing of the stack runs on this Docker host. */
export class StackNotRunningError extends Error {}

const errMsg = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0];

async function containerState(docker: Docker, name: string): Promise<{ state: string; health?: string }> {
  try {
    const c = await docker.getContainer(name).inspect();
    return { state: c.State.Status, health: c.State.Health?.Status };
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return { state: "missing" };
    throw e;
  }
}

function tcpReachable(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
  });
}

/** Reads etcd: over the published ports, or (TLS) with etcdctl inside a member container. */
interface EtcdReader {
  status(m: { host: string; hostPort: number }): Promise<{
    memberId: string;
    leader: string;
    raftTerm: number;
    raftIndex: number;
    dbSize: number;
    version: string;
    isLearner: boolean;
  }>;
  members(): Promise<{ ID: string; name: string; isLearner: boolean }[]>;
  get(key: string): Promise<string | null>;
  close(): void;
}

function portReader(topo: NonNullable<StackTopology["etcd"]>): EtcdReader {
  const { Etcd3: Client } = require("etcd3") as typeof import("etcd3");
  const mk = (hosts: string[]): Etcd3 =>
    new Client({
      hosts,
      dialTimeout: 1000,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 1500 }),
    });
  const endpoints = topo.members.map((m) => `http://127.0.0.1:${m.hostPort}`);
  const all = mk(endpoints);
  return {
    async status(m) {
      const c = mk([`http://127.0.0.1:${m.hostPort}`]);
      try {
        const s = await c.maintenance.status();
        return {
          memberId: s.header.member_id,
          leader: s.leader,
          raftTerm: Number(s.raftTerm),
          raftIndex: Number(s.raftIndex),
          dbSize: Number(s.dbSize),
          version: s.version,
          isLearner: Boolean(s.isLearner),
        };
      } finally {
        c.close();
      }
    },
    members: async () =>
      (await all.cluster.memberList({})).members.map((m) => ({
        ID: m.ID,
        name: m.name,
        isLearner: Boolean(m.isLearner),
      })),
    get: (key) => all.get(key).string(),
    close: () => all.close(),
  };
}

function execReader(docker: Docker, topo: NonNullable<StackTopology["etcd"]>): EtcdReader {
  const base = [
    "etcdctl",
    `--endpoints=https://127.0.0.1:${topo.clientPort}`,
    "--command-timeout=2s",
    "--cacert=/etc/etcd/tls/ca.crt",
    "--cert=/etc/etcd/tls/server.crt",
    "--key=/etc/etcd/tls/server.key",
  ];
  const anyHost = async <T>(fn: (host: string) => Promise<T>): Promise<T> => {
    let last: unknown;
    for (const m of topo.members) {
      try {
        return await fn(m.host);
      } catch (e) {
        last = e;
      }
    }
    throw last;
  };
  return {
    async status(m) {
      const out = await execIn(docker, m.host, [...base, "endpoint", "status", "-w", "fields"], 5000);
      const f = (k: string) => new RegExp(`"${k}" : (.*)`).exec(out)?.[1]?.trim().replace(/^"|"$/g, "") ?? "";
      return {
        memberId: f("MemberID"),
        leader: f("Leader"),
        raftTerm: Number(f("RaftTerm")),
        raftIndex: Number(f("RaftIndex")),
        dbSize: Number(f("DBSize")),
        version: f("Version"),
        isLearner: f("IsLearner") === "true",
      };
    },
    members: () =>
      memberListViaExec(
        docker,
        topo.members.map((m) => m.host),
        { clientPort: topo.clientPort, tls: true },
      ),
    get: (key) =>
      anyHost(async (h) => {
        const out = await execIn(docker, h, [...base, "get", key, "--print-value-only"], 5000);
        return out.trim() === "" ? null : out.trim();
      }),
    close: () => undefined,
  };
}

/** One snapshot of the stack's live state. Throws {@link StackNotRunningError} when none of it runs. */
export async function collectStatus(docker: Docker, topo: StackTopology): Promise<StackStatus> {
  const containers = [
    ...(topo.etcd?.members.map((m) => m.host) ?? []),
    ...topo.apps.map((a) => a.container),
    ...topo.shards.map((s) => s.container),
  ];
  const states = new Map(await Promise.all(containers.map(async (n) => [n, await containerState(docker, n)] as const)));
  if (![...states.values()].some((s) => s.state !== "missing"))
    throw new StackNotRunningError(
      `stack ${topo.stack} is not running on this Docker host: none of its ${containers.length} containers exists (${containers.slice(0, 4).join(", ")}${containers.length > 4 ? ", ..." : ""}). Deploy it with \`pulumi up --stack ${topo.stack}\`.`,
    );

  let etcd: StackStatus["etcd"];
  let shardMap: StackStatus["shardMap"];
  const scaling: StackStatus["scaling"] = [];
  if (topo.etcd) {
    const t = topo.etcd;
    const reader = t.tls ? execReader(docker, t) : portReader(t);
    try {
      const names = await reader.members().catch(() => [] as { ID: string; name: string; isLearner: boolean }[]);
      const members: EtcdMemberStatus[] = await Promise.all(
        t.members.map(async (m) => {
          const st = states.get(m.host)!;
          const base = {
            name: m.name,
            container: m.host,
            endpoint: `${t.tls ? "https" : "http"}://127.0.0.1:${m.hostPort}`,
            state: st.state,
            healthy: false,
            leader: false,
            learner: false,
          };
          if (st.state !== "running") return base;
          try {
            const s = await reader.status(m);
            return {
              ...base,
              healthy: s.leader !== "0" && s.leader !== "",
              leader: s.leader === s.memberId,
              learner: s.isLearner,
              raftTerm: s.raftTerm,
              raftIndex: s.raftIndex,
              dbSizeBytes: s.dbSize,
              version: s.version,
            };
          } catch (e) {
            return { ...base, error: errMsg(e) };
          }
        }),
      );
      const leaderName = members.find((m) => m.leader)?.name;
      // Members etcd knows that the program does not name (e.g. a stray learner): shown too.
      for (const x of names)
        if (!members.some((m) => m.name === x.name))
          members.push({
            name: x.name || `(unstarted ${x.ID})`,
            container: "",
            endpoint: "",
            state: "not in stack",
            healthy: false,
            leader: false,
            learner: x.isLearner,
          });
      etcd = { clusterName: t.clusterName, tls: t.tls, leader: leaderName, members };
      if (members.some((m) => m.healthy)) {
        try {
          const raw = await reader.get(`${topo.configPrefix}${SHARD_MAP_KEY.name}`);
          if (raw !== null) {
            const map = SHARD_MAP_KEY.schema.parse(JSON.parse(raw));
            shardMap = {
              epoch: map.epoch,
              shards: map.shards.length,
              ...(map.migration ? { migration: `${map.migration.id} (${map.migration.phase})` } : {}),
            };
          }
        } catch (e) {
          shardMap = { error: errMsg(e) };
        }
        for (const group of topo.groups) {
          const raw = await reader.get(`${topo.configPrefix}${groupKeys(group).events}`).catch(() => null);
          const events = raw ? (JSON.parse(raw) as ScalingEvent[]) : [];
          scaling.push({ group, events: events.slice(-5) });
        }
      }
    } finally {
      reader.close();
    }
  }

  const apps = await Promise.all(
    topo.apps.map(async (a) => {
      const st = states.get(a.container)!;
      const endpoint = `http://127.0.0.1:${a.hostPort}${a.healthPath}`;
      let healthy = false;
      let detail = st.health ? `docker health ${st.health}` : "";
      if (st.state === "running") {
        try {
          const res = await fetch(endpoint, { signal: AbortSignal.timeout(1500) });
          healthy = res.ok;
          detail = `${detail ? `${detail}; ` : ""}GET ${a.healthPath} ${res.status}`;
        } catch (e) {
          detail = `${detail ? `${detail}; ` : ""}GET ${a.healthPath}: ${errMsg(e)}`;
        }
      }
      return { container: a.container, group: a.group, endpoint, state: st.state, healthy, detail };
    }),
  );

  const shards = await Promise.all(
    topo.shards.map(async (s) => {
      const st = states.get(s.container)!;
      const endpoint = `127.0.0.1:${s.hostPort}`;
      if (st.state !== "running")
        return { shard: s.shard, container: s.container, endpoint, state: st.state, reachable: false, detail: "" };
      const port = await tcpReachable(s.hostPort);
      let ready = "";
      let readyOk = true;
      if (s.readyCommand) {
        try {
          ready = (await execIn(docker, s.container, s.readyCommand, 5000)).trim();
        } catch (e) {
          readyOk = false;
          ready = errMsg(e);
        }
      }
      return {
        shard: s.shard,
        container: s.container,
        endpoint,
        state: st.state,
        reachable: port && readyOk,
        detail: [port ? "port open" : "port closed", ready].filter(Boolean).join("; "),
      };
    }),
  );
  const metrics = await Promise.all((topo.metrics ?? []).map(metricsInstanceStatus));
  return { stack: topo.stack, atMs: Date.now(), etcd, apps, shards, shardMap, scaling, metrics };
}

// ---------------------------------------------------------------------------------------------
// How it is shown (pure)

const mb = (b?: number) => (b === undefined ? "-" : `${(b / 1024 / 1024).toFixed(1)} MB`);
const yes = (b: boolean) => (b ? "yes" : "no");

function table(head: string[], rows: string[][]): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (c ?? "").padEnd(w[i]))
      .join("  ")
      .trimEnd();
  return [line(head), ...rows.map(line)];
}

/** The human-readable view of a snapshot. */
export function renderStatus(s: StackStatus): string {
  const out: string[] = [`stack ${s.stack} at ${new Date(s.atMs).toISOString()}`, ""];
  if (s.etcd) {
    out.push(
      `config service: etcd cluster ${s.etcd.clusterName}${s.etcd.tls ? " (TLS)" : ""}, leader ${s.etcd.leader ?? "NONE"}`,
    );
    out.push(
      ...table(
        ["member", "endpoint", "container", "healthy", "role", "raft term", "raft index", "db size", "note"],
        s.etcd.members.map((m) => [
          m.name,
          m.endpoint,
          m.state,
          yes(m.healthy),
          m.leader ? "leader" : m.learner ? "learner" : m.healthy ? "follower" : "-",
          m.raftTerm?.toString() ?? "-",
          m.raftIndex?.toString() ?? "-",
          mb(m.dbSizeBytes),
          m.error ?? "",
        ]),
      ).map((l) => `  ${l}`),
    );
  } else out.push("config service: none in this stack");
  out.push("", "app instances");
  out.push(
    ...table(
      ["container", "group", "health url", "container", "healthy", "detail"],
      s.apps.map((a) => [a.container, a.group, a.endpoint, a.state, yes(a.healthy), a.detail]),
    ).map((l) => `  ${l}`),
  );
  out.push("", "database shards");
  out.push(
    ...table(
      ["shard", "container", "endpoint", "container", "reachable", "detail"],
      s.shards.map((d) => [d.shard, d.container, d.endpoint, d.state, yes(d.reachable), d.detail]),
    ).map((l) => `  ${l}`),
  );
  out.push("");
  if (s.shardMap === undefined) out.push("shard map: not published yet");
  else if ("error" in s.shardMap) out.push(`shard map: unreadable (${s.shardMap.error})`);
  else
    out.push(
      `shard map: epoch ${s.shardMap.epoch}, ${s.shardMap.shards} shards${s.shardMap.migration ? `, migration ${s.shardMap.migration}` : ""}`,
    );
  out.push("", "last scaling events");
  const events = s.scaling.flatMap((g) =>
    g.events.map((e) => [g.group, new Date(e.atMs).toISOString(), `${e.from} → ${e.to}`, e.engine, e.reason]),
  );
  if (events.length === 0) out.push("  none recorded");
  else out.push(...table(["group", "at", "desired", "engine", "reason"], events).map((l) => `  ${l}`));
  if (s.metrics) out.push("", ...renderMetricsStatus(s.metrics));
  return out.join("\n");
}

// ---------------------------------------------------------------------------------------------
// CLI

async function main(): Promise<number> {
  const opts = new Command("status")
    .description("The live state of a deployed local (Docker) stack")
    .requiredOption("-s, --stack <name>", `stack name (${listStacks().join(", ")})`)
    .option("--stack-file <path>", "use this stack file instead of stacks/Pulumi.<stack>.yaml")
    .option("--json", "print one JSON document")
    .option("--watch", "refresh in place until interrupted")
    .option("--interval <seconds>", "refresh period with --watch", "2")
    .parse()
    .opts<{ stack: string; stackFile?: string; json?: boolean; watch?: boolean; interval: string }>();
  const interval = Number(opts.interval);
  if (!Number.isFinite(interval) || interval < 0.2)
    throw new UsageError(`--interval must be a number of seconds ≥ 0.2; got ${opts.interval}`);
  // The program's own logs (warnings) go to stderr; stdout carries only the status.
  const run = await runStackOffline(opts.stack, { stackFile: opts.stackFile });
  const target = run.config["scaleplane:target"] ?? "docker";
  if (target !== "docker") {
    console.error(
      `status reads a local Docker stack; stack ${opts.stack} has target ${target} (use the ${target === "aws" ? "AWS console/CLI" : "kubectl"} view of its resources)`,
    );
    return 2;
  }
  const topo = topologyOf(opts.stack, target, run.recording);
  const DockerCtor = require("dockerode") as typeof import("dockerode");
  const docker = new DockerCtor();
  try {
    await docker.ping();
  } catch (e) {
    console.error(`status needs the local Docker engine: ${errMsg(e)}`);
    return 3;
  }
  const cacheNodes = cacheNodesOf(run.recording);
  const showStack = (s: StackStatus) => (opts.json ? JSON.stringify(s, null, opts.watch ? 0 : 2) : renderStatus(s));
  // the cache section (scripts/lib/cache-status.ts) follows when the stack has a CacheCluster
  const collect = async () => {
    const s = await collectStatus(docker, topo);
    if (cacheNodes.length === 0) return showStack(s);
    const cache = await collectCacheStatus(docker, cacheNodes);
    return opts.json ? showStack({ ...s, cache } as StackStatus) : `${renderStatus(s)}\n\n${renderCacheStatus(cache)}`;
  };
  if (!opts.watch) {
    console.log(await collect());
    return 0;
  }
  let stop = false;
  process.once("SIGINT", () => (stop = true));
  process.once("SIGTERM", () => (stop = true));
  while (!stop) {
    let text: string;
    try {
      text = await collect();
    } catch (e) {
      if (!(e instanceof StackNotRunningError)) throw e;
      text = opts.json
        ? JSON.stringify({ stack: topo.stack, atMs: Date.now(), running: false, message: e.message })
        : e.message;
    }
    // Refresh in place: home the cursor and clear the screen (a JSON stream gets one line per refresh).
    process.stdout.write(
      opts.json ? `${text}\n` : `\x1b[H\x1b[2J${text}\n\n(refreshing every ${interval} s; Ctrl-C to stop)\n`,
    );
    for (let waited = 0; waited < interval * 1000 && !stop; waited += 100) await new Promise((r) => setTimeout(r, 100));
  }
  return 0;
}

class UsageError extends Error {}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      // Known failures are one line; anything else too, with its message (never a stack trace).
      console.error(e instanceof StackNotRunningError || e instanceof UsageError ? e.message : `status: ${errMsg(e)}`);
      process.exit(e instanceof StackNotRunningError ? 3 : 1);
    },
  );
}
