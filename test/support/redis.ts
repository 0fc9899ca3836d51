/**
 * Redis nodes for cache tests: redis-server processes on free 127.0.0.1 ports, each in its own
 * tmp dir, stopped by saved PID only. A node can be killed (SIGKILL), paused (SIGSTOP: a hung
 * node that keeps its sockets), resumed and restarted on the same port, with or without the data
 * it saved (`save()` writes an RDB that the restart loads: "a node that restarts with old data").
 */
import { spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { EngineMissingError } from "./engines";
import { freePorts } from "./ports";

export const REDIS_SERVER_BIN = "/usr/bin/redis-server";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Asserts redis-server is installed (Debian's redis-server, by scripts/setup-engines.sh). */
export function requireRedisServer(): string {
  try {
    accessSync(REDIS_SERVER_BIN, constants.X_OK);
  } catch {
    throw new EngineMissingError("redis-server", `${REDIS_SERVER_BIN} not found`);
  }
  return REDIS_SERVER_BIN;
}

export interface RedisNode {
  name: string;
  port: number;
  pid: number;
  dir: string;
  /** A client connection (for assertions). */
  client(): Redis;
  kill(): Promise<void>;
  pause(): void;
  resume(): void;
  /** SAVE: the next restart loads what the node holds now. */
  save(): Promise<void>;
  /** Starts again on the same port; `keepData` loads the last save (else starts empty). */
  restart(keepData: boolean): Promise<void>;
  stop(): Promise<void>;
}

/** Whether `pid` is still our redis-server on `port` (Redis rewrites its title to `redis-server <bind>:<port>`). */
const alive = (pid: number, port: number) => {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmd.includes("redis-server") && cmd.includes(`:${port}`);
  } catch {
    return false;
  }
};

async function waitPing(port: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const r = new Redis(port, "127.0.0.1", { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on("error", () => undefined); // not up yet: retried below
    try {
      await r.connect();
      await r.ping();
      r.disconnect();
      return;
    } catch {
      r.disconnect();
      if (Date.now() > until) throw new Error(`redis-server on 127.0.0.1:${port} did not answer within ${ms} ms`);
      await sleep(50);
    }
  }
}

/** Starts `count` nodes named `<prefix>-0..` (maxmemory 64 MiB, volatile-lfu, no automatic saves). */
export async function startRedisNodes(count: number, prefix = "cache", extraArgs: string[] = []): Promise<RedisNode[]> {
  const bin = requireRedisServer();
  const ports = await freePorts(count, 26000, 28999);
  return Promise.all(ports.map((port, i) => startNode(bin, `${prefix}-${i}`, port, extraArgs)));
}

/** One more node (for resizes). */
export async function startRedisNode(name: string, extraArgs: string[] = []): Promise<RedisNode> {
  const [port] = await freePorts(1, 26000, 28999);
  return startNode(requireRedisServer(), name, port, extraArgs);
}

async function startNode(bin: string, name: string, port: number, extraArgs: string[]): Promise<RedisNode> {
  const dir = mkdtempSync(join(tmpdir(), `scaleplane-redis-${process.pid}-`));
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--dir",
    dir,
    "--save",
    "",
    "--appendonly",
    "no",
    "--maxmemory",
    "64mb",
    "--maxmemory-policy",
    "volatile-lfu",
    "--daemonize",
    "no",
    "--logfile",
    join(dir, "redis.log"),
    ...extraArgs,
  ];
  let pid = 0;
  const launch = async (keepData: boolean) => {
    if (!keepData) rmSync(join(dir, "dump.rdb"), { force: true });
    const child = spawn(bin, args, { detached: true, stdio: "ignore" });
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start ${bin}`);
    pid = child.pid;
    await waitPing(port, 10_000);
  };
  const kill = async () => {
    if (!alive(pid, port)) return;
    process.kill(pid, "SIGCONT");
    process.kill(pid, "SIGKILL");
    for (let i = 0; i < 200 && alive(pid, port); i++) await sleep(10);
  };
  await launch(false);
  const node: RedisNode = {
    name,
    port,
    get pid() {
      return pid;
    },
    dir,
    client: () => new Redis(port, "127.0.0.1", { maxRetriesPerRequest: 1 }),
    kill,
    pause: () => {
      if (alive(pid, port)) process.kill(pid, "SIGSTOP");
    },
    resume: () => {
      if (alive(pid, port)) process.kill(pid, "SIGCONT");
    },
    save: async () => {
      const c = node.client();
      try {
        await c.save();
      } finally {
        c.disconnect();
      }
    },
    restart: async (keepData) => {
      await kill();
      await launch(keepData);
    },
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return node;
}
