/**
 * A real Prometheus (Debian's 2.42, /usr/bin/prometheus) for tests and the bench: started on a
 * free 127.0.0.1 port with its own data directory, the remote-write receiver on, optionally
 * scraping itself and remote-writing to a URL; stopped by its saved PID.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compress } from "snappyjs";
import { EngineMissingError } from "./engines";
import { freePorts } from "./ports";

export const PROMETHEUS_BIN = "/usr/bin/prometheus";

export interface LocalPrometheus {
  url: string;
  port: number;
  dataDir: string;
  pid: number;
  stop(): Promise<void>;
}

/** Fails (never skips) when Prometheus is not installed. */
export function requirePrometheus(): string {
  try {
    accessSync(PROMETHEUS_BIN, constants.X_OK);
  } catch {
    throw new EngineMissingError("Prometheus 2.42", `${PROMETHEUS_BIN} not found (Debian package prometheus)`);
  }
  return PROMETHEUS_BIN;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts Prometheus; `remoteWrite` adds a remote_write to that URL, `scrapeSelf` a 1 s self scrape. */
export async function startPrometheus(
  o: { remoteWrite?: string; scrapeSelf?: boolean; extraFlags?: string[] } = {},
): Promise<LocalPrometheus> {
  const bin = requirePrometheus();
  const dir = mkdtempSync(join(tmpdir(), `scaleplane-prom-${process.pid}-`));
  const [port] = await freePorts(1, 26000, 26999);
  const config = [
    "global:",
    "  scrape_interval: 1s",
    "  evaluation_interval: 1s",
    ...(o.scrapeSelf
      ? ["scrape_configs:", "  - job_name: prometheus", "    static_configs:", `      - targets: ["127.0.0.1:${port}"]`]
      : []),
    ...(o.remoteWrite
      ? [
          "remote_write:",
          `  - url: ${o.remoteWrite}`,
          "    queue_config:",
          "      batch_send_deadline: 1s",
          "      max_shards: 2",
          "      min_backoff: 100ms",
          "      max_backoff: 1s",
        ]
      : []),
    "",
  ].join("\n");
  writeFileSync(join(dir, "prometheus.yml"), config);
  const log = openSync(join(dir, "prometheus.log"), "a");
  const child: ChildProcess = spawn(
    bin,
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--web.enable-remote-write-receiver",
      "--web.enable-admin-api",
      "--storage.tsdb.retention.time=30d",
      ...(o.extraFlags ?? []),
    ],
    { stdio: ["ignore", log, log], detached: true },
  );
  const pid = child.pid!;
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 20_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || Date.now() > until) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
      throw new Error(`prometheus did not become ready (see ${join(dir, "prometheus.log")})`);
    }
    await sleep(100);
  }
  const onExit = () => {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  };
  process.on("exit", onExit);
  return {
    url,
    port,
    dataDir: join(dir, "data"),
    pid,
    async stop() {
      process.off("exit", onExit);
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        const deadline = Date.now() + 10_000;
        while (child.exitCode === null && Date.now() < deadline) await sleep(50);
        if (child.exitCode === null) child.kill("SIGKILL");
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** POSTs a remote-write body (uncompressed protobuf) snappy-compressed; resolves with the status and text. */
export async function remoteWrite(url: string, protobuf: Uint8Array): Promise<{ status: number; text: string }> {
  const r = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/x-protobuf",
      "content-encoding": "snappy",
      "x-prometheus-remote-write-version": "0.1.0",
    },
    body: compress(protobuf),
  });
  return { status: r.status, text: await r.text() };
}
