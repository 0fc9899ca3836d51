/**
 * The metrics store service (image `scaleplane/metrics-store`): follows the shard map in etcd,
 * serves the HTTP API (./server.ts) and runs the per-shard maintenance under etcd leases
 * (./maintenance.ts). Stateless: every acknowledged sample is on the shards before the answer.
 *
 *   METRICS_CONFIG_ENDPOINTS   etcd client URLs, comma-separated                    required
 *   METRICS_DATABASE_USER      database role of the shards                          required
 *   METRICS_DATABASE_PASSWORD_FILE  file holding its password  @default /run/secrets/metrics-db-password when it exists
 *                              (else METRICS_DATABASE_PASSWORD, e.g. from a Kubernetes secretKeyRef)
 *   METRICS_CONFIG_PREFIX      config key prefix                                    @default /scaleplane/
 *   METRICS_PORT               HTTP port                                            @default 9201
 *   METRICS_HOST               listen address                                       @default 0.0.0.0
 *   METRICS_OUT_OF_ORDER_WINDOW_SECONDS                                             @default 3600
 *   METRICS_RETENTION          raw,1m,1h days, e.g. "15,90,730"                     @default 15,90,730
 *   METRICS_MAINTENANCE_PERIOD_SECONDS                                              @default 15
 *   METRICS_ADMIN_API          "true" serves /api/v1/admin/tsdb/delete_series      @default false
 *   SCALEPLANE_LOG_LEVEL       pino level                                           @default info
 */
import { existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import pino, { type Logger } from "pino";
import { ConfigClient } from "../config-client";
import { METRICS_PASSWORD_FILE } from "../../core/metrics/spec";
import { MaintenanceLoop, type MaintenanceSettings } from "./maintenance";
import { MetricsQuerier } from "./query";
import { MetricsRouter, type RouterOptions } from "./router";
import { createStoreServer, type StoreCounters } from "./server";

/** Options of {@link startStore}. */
export interface StoreOptions extends Omit<RouterOptions, "logger"> {
  /** Port to listen on (0 = any free port). */
  port: number;
  /** Address to listen on. @default "0.0.0.0" */
  host?: string;
  maintenance: MaintenanceSettings & { periodMs?: number; enabled?: boolean };
  /** Serve `/api/v1/admin/tsdb/delete_series` (Prometheus' `--web.enable-admin-api`). @default false */
  adminApi?: boolean;
  logger?: Logger;
}

/** A running store. */
export interface RunningStore {
  url: string;
  port: number;
  router: MetricsRouter;
  querier: MetricsQuerier;
  maintenance: MaintenanceLoop;
  counters: StoreCounters;
  server: Server;
  close(): Promise<void>;
}

/** Starts the store in this process. */
export async function startStore(o: StoreOptions): Promise<RunningStore> {
  const log = o.logger ?? pino({ name: "metrics-store", level: process.env.SCALEPLANE_LOG_LEVEL ?? "info" });
  const router = await MetricsRouter.connect({ ...o, logger: log });
  const querier = new MetricsQuerier(router);
  const maintenance = new MaintenanceLoop(router, o.maintenance, log, {
    periodMs: o.maintenance.periodMs,
    candidateId: router.writerId,
  });
  const { server, counters } = createStoreServer({
    router,
    querier,
    log,
    adminApi: o.adminApi ?? false,
    extra: (_req, url) =>
      url.pathname === "/api/v1/status/maintenance"
        ? Promise.resolve({ status: "success", data: Object.fromEntries(maintenance.reports) })
        : undefined,
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host ?? "0.0.0.0", () => resolve());
  });
  if (o.maintenance.enabled !== false) maintenance.start();
  const port = (server.address() as AddressInfo).port;
  const host = o.host && o.host !== "0.0.0.0" ? o.host : "127.0.0.1";
  return {
    url: `http://${host}:${port}`,
    port,
    router,
    querier,
    maintenance,
    counters,
    server,
    async close() {
      await maintenance.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await router.close();
    },
  };
}

/** Settings from the environment; errors name the variable. */
export function settingsFromEnv(env: NodeJS.ProcessEnv): {
  endpoints: string[];
  user: string;
  password: () => string;
  prefix?: string;
  port: number;
  host: string;
  maintenance: MaintenanceSettings & { periodMs: number };
} {
  const need = (k: string) => {
    const v = env[k]?.trim();
    if (!v) throw new Error(`${k} is required`);
    return v;
  };
  const int = (k: string, dflt: number, min: number, max: number) => {
    const raw = env[k] ?? String(dflt);
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`${k} must be a whole number from ${min} to ${max}; got ${JSON.stringify(raw)}`);
    return n;
  };
  const retention = (env.METRICS_RETENTION ?? "15,90,730").split(",").map(Number);
  if (retention.length !== 3 || !retention.every((d) => Number.isInteger(d) && d >= 1))
    throw new Error(
      `METRICS_RETENTION must be three whole numbers of days "raw,1m,1h"; got ${JSON.stringify(env.METRICS_RETENTION)}`,
    );
  const passwordFile =
    env.METRICS_DATABASE_PASSWORD_FILE ?? (existsSync(METRICS_PASSWORD_FILE) ? METRICS_PASSWORD_FILE : undefined);
  if (!passwordFile && !env.METRICS_DATABASE_PASSWORD) throw new Error("METRICS_DATABASE_PASSWORD_FILE is required");
  return {
    endpoints: need("METRICS_CONFIG_ENDPOINTS")
      .split(",")
      .map((e) => e.trim())
      .filter(Boolean),
    user: need("METRICS_DATABASE_USER"),
    password: () => (passwordFile ? readFileSync(passwordFile, "utf8").trim() : (env.METRICS_DATABASE_PASSWORD ?? "")),
    ...(env.METRICS_CONFIG_PREFIX ? { prefix: env.METRICS_CONFIG_PREFIX } : {}),
    port: int("METRICS_PORT", 9201, 1, 65535),
    host: env.METRICS_HOST?.trim() || "0.0.0.0",
    maintenance: {
      outOfOrderWindowMs: int("METRICS_OUT_OF_ORDER_WINDOW_SECONDS", 3600, 0, 86_400) * 1000,
      retention: { rawDays: retention[0], oneMinuteDays: retention[1], oneHourDays: retention[2] },
      periodMs: int("METRICS_MAINTENANCE_PERIOD_SECONDS", 15, 1, 3600) * 1000,
    },
  };
}

export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const s = settingsFromEnv(env);
  const admin = env.METRICS_ADMIN_API ?? "false";
  if (admin !== "true" && admin !== "false")
    throw new Error(`METRICS_ADMIN_API must be "true" or "false"; got ${JSON.stringify(admin)}`);
  const log = pino({ name: "metrics-store", level: env.SCALEPLANE_LOG_LEVEL ?? "info" }).child({ host: hostname() });
  const config = ConfigClient.create({
    endpoints: s.endpoints,
    logger: log,
    ...(s.prefix ? { prefix: s.prefix } : {}),
  });
  const store = await startStore({
    config,
    user: s.user,
    password: s.password,
    port: s.port,
    maintenance: s.maintenance,
    adminApi: admin === "true",
    logger: log,
  });
  log.info({ port: store.port }, "metrics store listening");
  for (const sig of ["SIGTERM", "SIGINT"] as const)
    process.once(sig, () => {
      log.info({ signal: sig }, "stopping");
      void store.close().finally(() => {
        config.close();
        process.exit(0);
      });
    });
}

if (require.main === module)
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
