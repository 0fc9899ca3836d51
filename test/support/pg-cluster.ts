/**
 * PostgreSQL 15 instances for tests and benches, always on 127.0.0.1, started as local processes
 * from /usr/lib/postgresql/15/bin (the shard engine) as the `postgres` user.
 *
 * Why processes and not containers: N instances start in well under a second each, and a test can
 * stop, kill or pause one by its saved PID and start it again on the same port and data directory
 * (a replica outage). Fast start: the cluster runs `initdb` once into a template data directory
 * and copies it for every instance (a copy is ~10× faster than initdb).
 *
 * Every instance: password auth (scram-sha-256) on 127.0.0.1 only, no other listen address, its
 * Unix socket in its own tmp dir, fsync off (tests survive process kills, not host crashes: a
 * killed postmaster loses nothing committed either way). Ports come from 27000-27999, probed free
 * at runtime. Processes are stopped by saved PID only; `cleanup()` (and a process-exit hook, for a
 * test that dies first) removes everything the cluster created.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, Pool, type ClientConfig } from "pg";
import type { ShardMember } from "../../core/sharding/shard-map";
import { requirePostgresBinaries } from "./engines";
import { freePorts } from "./ports";

/** Port range of test PostgreSQL instances (etcd uses 24000-25999). */
export const PG_PORT_RANGE: readonly [number, number] = [27000, 27999];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Options of {@link startPgCluster}. */
export interface PgClusterOptions {
  /** Database created on every instance. @default "scaleplane" */
  database?: string;
  /** Login role (a superuser). @default "postgres" */
  user?: string;
  /** Password of `user`. @default 24 random hex characters */
  password?: string;
  /** Name prefix of the instances (`<prefix>-<i>`, also the shard names of {@link PgCluster.members}). @default "shard" */
  namePrefix?: string;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string | number>;
  /**
   * Time to wait for an instance to accept connections, in ms: a bound, not a wait (a start
   * returns as soon as it answers). A restart after a kill replays WAL first, which took over 20 s
   * on a loaded 2-core CI machine. @default 60000
   */
  startTimeoutMs?: number;
}

/** How {@link PgInstance.stop} ends the server. */
export type PgStopMode =
  /** SIGINT: fast shutdown (aborts sessions, checkpoints). */
  | "fast"
  /** SIGQUIT: immediate shutdown (no checkpoint; crash recovery on the next start). */
  | "immediate"
  /** SIGKILL of the postmaster (its backends exit on their own once they notice). */
  | "kill";

/** One PostgreSQL instance of a {@link PgCluster}. */
export interface PgInstance {
  /** `<namePrefix>-<index>`: the shard name. */
  readonly name: string;
  readonly index: number;
  readonly host: "127.0.0.1";
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** PID of the running postmaster, or undefined while stopped. */
  pid(): number | undefined;
  /** Whether the postmaster process is alive. */
  running(): boolean;
  /** `pg` connection settings for this instance (TCP on 127.0.0.1 with the password). */
  config(extra?: Partial<ClientConfig>): ClientConfig;
  /** A connected `pg` Client (the caller ends it). */
  connect(extra?: Partial<ClientConfig>): Promise<Client>;
  /** Runs one statement (or a parameterless multi-statement script) on the instance's small pool; resolves with its rows. */
  query<R extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  /** Stops the server (waits until the process is gone). A no-op when it is not running. */
  stop(mode?: PgStopMode): Promise<void>;
  /** Starts it again on the same port and data directory; resolves once it accepts connections. */
  start(): Promise<void>;
  /** SIGSTOP of the server's process group: it keeps its sockets but answers nothing, on new and open connections (a hung replica). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
}

/** N instances started by {@link startPgCluster}. */
export interface PgCluster {
  readonly instances: readonly PgInstance[];
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** Shard-map members for these instances (weight 1 unless given, no zone). */
  members(weights?: readonly number[]): ShardMember[];
  /** Adds `count` more instances (e.g. shards for a rebalance); resolves with the new ones. */
  add(count: number): Promise<PgInstance[]>;
  /** Stops every instance and removes every data directory. Idempotent. */
  cleanup(): Promise<void>;
}

interface PgUser {
  uid: number;
  gid: number;
}

/** uid/gid of the `postgres` system user (initdb and postgres refuse to run as root). */
function postgresUser(): PgUser {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith("postgres:"));
  if (!line)
    throw new Error(
      "pg-cluster: there is no `postgres` user (install Debian's postgresql-15: run `sudo scripts/setup-engines.sh`)",
    );
  const [, , uid, gid] = line.split(":");
  const me = process.getuid?.();
  if (me !== 0 && me !== Number(uid))
    throw new Error(
      `pg-cluster: must run as root or as the postgres user (uid ${uid}) to start PostgreSQL; running as uid ${me}`,
    );
  return { uid: Number(uid), gid: Number(gid) };
}

function chownTree(path: string, u: PgUser): void {
  if (process.getuid?.() !== 0) return;
  const r = spawnSync("chown", ["-R", `${u.uid}:${u.gid}`, path]);
  if (r.status !== 0) throw new Error(`pg-cluster: chown -R ${path} failed: ${r.stderr.toString()}`);
}

/** Processes started in this Node process, killed on exit if a test did not clean up. */
const live = new Map<number, string>();
/** Cluster directories not cleaned up yet, removed on exit. */
const liveRoots = new Set<string>();
let exitHook = false;
function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.on("exit", () => {
    for (const [p, dir] of live) if (isOurPostgres(p, dir)) signal(p, "SIGKILL");
    for (const root of liveRoots) rmSync(root, { recursive: true, force: true });
  });
  // A run stopped by a signal (Ctrl-C, `timeout`, CI cancelling) exits through the hook above too
  // instead of leaving detached postmasters behind; the exit status stays the signal's.
  for (const [sig, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
    ["SIGHUP", 129],
  ] as const)
    process.once(sig, () => process.exit(code));
}
function track(pid: number, dataDir: string): void {
  live.set(pid, dataDir);
  installExitHook();
}

/** Whether `pid` is still the postmaster of `dataDir` (guards against PID reuse). */
function isOurPostgres(pid: number, dataDir: string): boolean {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // a zombie (state Z) has exited: it only waits for its parent to reap it
    return cmd.includes(dataDir) && !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/** PIDs of the direct children of `pid` (a postmaster's backends and workers). */
function childrenOf(pid: number): number[] {
  const out = spawnSync("pgrep", ["-P", String(pid)], { encoding: "utf8" }).stdout ?? "";
  return out.split("\n").filter(Boolean).map(Number);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // exited meanwhile
  }
}

const tail = (file: string, n = 25) =>
  existsSync(file) ? readFileSync(file, "utf8").split("\n").slice(-n).join("\n") : "(no log)";

/** One template data directory per (user, password) per process: initdb runs once. */
const templates = new Map<string, Promise<string>>();

function template(bin: string, u: PgUser, user: string, password: string): Promise<string> {
  const key = `${user}\0${password}`;
  let t = templates.get(key);
  if (!t) {
    t = (async () => {
      const root = mkdtempSync(join(tmpdir(), "scaleplane-pg-template-"));
      chmodSync(root, 0o755);
      const data = join(root, "data");
      const pwfile = join(root, "pw");
      writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
      chownTree(root, u);
      const r = spawnSync(
        join(bin, "initdb"),
        [
          "-D",
          data,
          "-U",
          user,
          `--pwfile=${pwfile}`,
          "--auth-local=trust",
          "--auth-host=scram-sha-256",
          "-E",
          "UTF8",
          "--locale=C.UTF-8",
          "--no-sync",
        ],
        { uid: u.uid, gid: u.gid, encoding: "utf8" },
      );
      rmSync(pwfile, { force: true });
      if (r.status !== 0) throw new Error(`pg-cluster: initdb failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
      // password auth over TCP on loopback only; the local socket (in the instance's own dir) trusts
      writeFileSync(
        join(data, "pg_hba.conf"),
        ["local all all trust", "host all all 127.0.0.1/32 scram-sha-256", ""].join("\n"),
      );
      chownTree(data, u);
      process.on("exit", () => rmSync(root, { recursive: true, force: true }));
      return data;
    })();
    templates.set(key, t);
    t.catch(() => templates.delete(key));
  }
  return t;
}

/**
 * Starts `n` PostgreSQL 15 instances on free 127.0.0.1 ports, each with `database` created and
 * password auth for `user`. Fails at once (never skips) when PostgreSQL is not installed.
 */
export async function startPgCluster(n: number, options: PgClusterOptions = {}): Promise<PgCluster> {
  if (!Number.isInteger(n) || n < 0 || n > 32)
    throw new Error(`startPgCluster: n must be a whole number from 0 to 32; got ${n}`);
  const bin = requirePostgresBinaries();
  const u = postgresUser();
  const user = options.user ?? "postgres";
  const password = options.password ?? randomBytes(12).toString("hex");
  const database = options.database ?? "scaleplane";
  const prefix = options.namePrefix ?? "shard";
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const root = mkdtempSync(join(tmpdir(), "scaleplane-pg-"));
  chmodSync(root, 0o755);
  liveRoots.add(root);
  installExitHook();
  const instances: PgInstance[] = [];
  let cleaned = false;

  const makeInstance = async (index: number, port: number): Promise<PgInstance> => {
    const name = `${prefix}-${index}`;
    const dir = join(root, name);
    const dataDir = join(dir, "data");
    const socketDir = join(dir, "sock");
    const logFile = join(dir, "postgres.log");
    mkdirSync(socketDir, { recursive: true });
    const tpl = await template(bin, u, user, password);
    const cp = spawnSync("cp", ["-a", tpl, dataDir]);
    if (cp.status !== 0)
      throw new Error(`pg-cluster: copying the template data directory failed: ${cp.stderr.toString()}`);
    chownTree(dir, u);
    let child: ChildProcess | undefined;
    let pid: number | undefined;
    const settings: Record<string, string | number> = {
      listen_addresses: "127.0.0.1",
      port,
      unix_socket_directories: socketDir,
      fsync: "off",
      full_page_writes: "off",
      shared_buffers: "32MB",
      max_connections: 100,
      logging_collector: "off",
      ...options.settings,
    };
    const cfg = (extra?: Partial<ClientConfig>): ClientConfig => ({
      host: "127.0.0.1",
      port,
      user,
      password,
      database,
      connectionTimeoutMillis: 5000,
      ...extra,
    });
    const running = () => pid !== undefined && isOurPostgres(pid, dataDir);

    const waitReady = async () => {
      const until = Date.now() + startTimeoutMs;
      for (;;) {
        if (!running())
          throw new Error(`pg-cluster: ${name} (port ${port}) exited during start; log:\n${tail(logFile)}`);
        const c = new Client(cfg({ database: "postgres", connectionTimeoutMillis: 1000 }));
        c.on("error", () => undefined);
        try {
          await c.connect();
          await c.end();
          return;
        } catch {
          await c.end().catch(() => undefined);
        }
        if (Date.now() > until)
          throw new Error(
            `pg-cluster: ${name} (port ${port}) did not accept connections within ${startTimeoutMs} ms; log:\n${tail(logFile)}`,
          );
        await sleep(30);
      }
    };

    const start = async () => {
      if (running()) return;
      const out = openSync(logFile, "a");
      child = spawn(
        join(bin, "postgres"),
        ["-D", dataDir, ...Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`])],
        {
          uid: u.uid,
          gid: u.gid,
          detached: true,
          stdio: ["ignore", out, out],
        },
      );
      closeSync(out);
      child.unref();
      child.on("error", () => undefined);
      if (child.pid === undefined) throw new Error(`pg-cluster: could not start ${join(bin, "postgres")}`);
      pid = child.pid;
      track(pid, dataDir);
      await waitReady();
    };

    let qpool: Pool | undefined;
    const dropPool = async () => {
      const q = qpool;
      qpool = undefined;
      await q?.end().catch(() => undefined);
    };

    const stop = async (mode: PgStopMode = "fast") => {
      await dropPool();
      const p = pid;
      if (p === undefined || !isOurPostgres(p, dataDir)) {
        pid = undefined;
        return;
      }
      try {
        for (const c of [...childrenOf(p), p]) signal(c, "SIGCONT");
        process.kill(p, mode === "fast" ? "SIGINT" : mode === "immediate" ? "SIGQUIT" : "SIGKILL");
      } catch {
        // already gone
      }
      for (let i = 0; i < 400 && isOurPostgres(p, dataDir); i++) await sleep(25);
      if (isOurPostgres(p, dataDir)) process.kill(p, "SIGKILL");
      for (let i = 0; i < 200 && isOurPostgres(p, dataDir); i++) await sleep(25);
      // a killed postmaster leaves backends behind that hold the port and shared memory
      // until they notice: wait for the port to be free before anyone starts it again
      const pidFile = join(dataDir, "postmaster.pid");
      for (let i = 0; i < 400 && mode === "kill" && existsSync(pidFile); i++) {
        const lock = readFileSync(pidFile, "utf8").split("\n")[0];
        if (lock !== String(p)) break;
        const backends = spawnSync("pgrep", ["-P", String(p)])
          .stdout?.toString()
          .trim();
        if (!backends && !isOurPostgres(p, dataDir)) break;
        await sleep(25);
      }
      live.delete(p);
      pid = undefined;
    };

    const inst: PgInstance = {
      name,
      index,
      host: "127.0.0.1",
      port,
      database,
      user,
      password,
      dataDir,
      logFile,
      pid: () => (running() ? pid : undefined),
      running,
      config: cfg,
      connect: async (extra) => {
        const c = new Client(cfg(extra));
        c.on("error", () => undefined);
        await c.connect();
        return c;
      },
      query: async <R extends Record<string, unknown>>(sql: string, params?: unknown[]) => {
        // a small pool (connections with scram auth are not free); a connection that died with a
        // restart is dropped and the statement retried once on a fresh pool
        for (let attempt = 0; ; attempt++) {
          if (!qpool) {
            qpool = new Pool({ ...cfg(), max: 2, idleTimeoutMillis: 5000 });
            qpool.on("error", () => undefined);
          }
          try {
            return (await qpool.query(sql, params)).rows as R[];
          } catch (e) {
            if (attempt > 0 || (e as { severity?: unknown }).severity !== undefined) throw e;
            await dropPool();
          }
        }
      },
      stop,
      start,
      // the postmaster and every child (each backend is its own process group): open connections hang too
      pause: () => {
        if (pid !== undefined && running()) for (const p of [pid, ...childrenOf(pid)]) signal(p, "SIGSTOP");
      },
      resume: () => {
        if (pid !== undefined && running()) for (const p of [...childrenOf(pid), pid]) signal(p, "SIGCONT");
      },
    };
    try {
      await start();
      // create the database once (the template only has postgres/template0/template1)
      if (database !== "postgres") {
        const c = await inst.connect({ database: "postgres" });
        try {
          await c.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
        } finally {
          await c.end().catch(() => undefined);
        }
      }
    } catch (e) {
      await stop("immediate").catch(() => undefined);
      throw e;
    }
    return inst;
  };

  /** Starts instances `from .. from+count-1`, retrying a port lost to a racing process. */
  const add = async (count: number): Promise<PgInstance[]> => {
    const from = instances.length;
    const made = await Promise.all(
      Array.from({ length: count }, async (_, k) => {
        for (let attempt = 0; ; attempt++) {
          const [port] = await freePorts(1, PG_PORT_RANGE[0], PG_PORT_RANGE[1]);
          try {
            return await makeInstance(from + k, port);
          } catch (e) {
            const dir = join(root, `${prefix}-${from + k}`);
            const inUse =
              existsSync(join(dir, "postgres.log")) &&
              /could not bind|Address already in use/.test(readFileSync(join(dir, "postgres.log"), "utf8"));
            if (!inUse || attempt >= 3) throw e;
            rmSync(dir, { recursive: true, force: true });
          }
        }
      }),
    );
    instances.push(...made);
    return made;
  };

  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    await Promise.all(instances.map((i) => i.stop("immediate").catch(() => undefined)));
    rmSync(root, { recursive: true, force: true });
    liveRoots.delete(root);
  };

  try {
    await add(n);
  } catch (e) {
    await cleanup();
    throw e;
  }
  return {
    instances,
    user,
    password,
    database,
    members: (weights) =>
      instances.map((i, k) => ({ name: i.name, weight: weights?.[k] ?? 1, host: i.host, port: i.port, database })),
    add,
    cleanup,
  };
}
