/**
 * Entry point of the scaling controller image (`scaleplane/scaler`): reads its environment,
 * connects to the config service and the Docker socket, and runs one ScalingController.
 *
 *   SCALER_GROUP              the group (etcd keys autoscaling/<group>/..., container label)   required
 *   SCALER_CONFIG_ENDPOINTS   etcd client URLs, comma-separated (http://config-0:2379,...)     required
 *   SCALER_ID                 candidate id                                 @default the host name
 *   SCALER_LEASE_TTL_SECONDS  leadership lease TTL                         @default 10
 *   SCALER_CONFIG_PREFIX      config key prefix                            @default /scaleplane/
 *   SCALER_SECRETS_DIR        directory of the group's secret files (name = variable)   @default none
 *   SCALER_HEARTBEAT_FILE     the heartbeat file the container healthcheck reads   @default /tmp/scaler-heartbeat
 *   SCALER_FAULT_PAUSE_BEFORE fault injection (tests): SIGSTOP itself before that action   @default none
 *   SCALEPLANE_LOG_LEVEL      pino level                                   @default info
 *
 * Logs are JSON lines (pino). SIGTERM resigns the leadership and exits 0. A heartbeat file
 * (core/scaling/docker.ts SCALER_HEARTBEAT_FILE) backs the container's healthcheck.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Docker from "dockerode";
import pino from "pino";
import { ConfigClient } from "../config-client";
import { ScalingController } from "./controller";
import { main as kubernetesMinReplicas } from "./kubernetes-min-replicas";
import { settingsFromEnv } from "./settings";
import { SCALER_HEARTBEAT_FILE, SCALER_HEARTBEAT_SECONDS } from "../../core/scaling/docker";

/** The group's secrets: every file of `dir` (file name = variable name, content as is); {} without a dir. */
export function readSecrets(dir: string | undefined): Record<string, string> {
  if (!dir || !existsSync(dir)) return {};
  return Object.fromEntries(
    readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => [e.name, readFileSync(join(dir, e.name), "utf8")]),
  );
}

export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const s = settingsFromEnv(env);
  const secrets = readSecrets(env.SCALER_SECRETS_DIR);
  const log = pino({ name: "scaler", level: env.SCALEPLANE_LOG_LEVEL ?? "info" }).child({
    group: s.group,
    holder: s.id,
  });
  const client = ConfigClient.create({
    endpoints: s.endpoints,
    logger: log,
    ...(s.prefix ? { prefix: s.prefix } : {}),
  });
  const controller = new ScalingController({
    docker: new Docker(),
    client,
    group: s.group,
    id: s.id,
    ttlSeconds: s.ttlSeconds,
    log,
    secrets,
  });
  for (const sig of ["SIGTERM", "SIGINT"] as const)
    process.once(sig, () => {
      log.info({ signal: sig }, "stopping: resigning leadership");
      void controller.stop().then(() => {
        client.close();
        process.exit(0);
      });
    });
  // The container healthcheck reads this file's age: it stays fresh while the event loop turns.
  const heartbeatFile = env.SCALER_HEARTBEAT_FILE || SCALER_HEARTBEAT_FILE;
  const beat = () => writeFileSync(heartbeatFile, `${new Date().toISOString()}\n`);
  beat();
  setInterval(beat, SCALER_HEARTBEAT_SECONDS * 1000).unref();
  await controller.run();
}

if (require.main === module) {
  // argv[2] selects the program of the image's one bundle: the Kubernetes min-replicas scaler
  // (engine predictive on target kubernetes), or this Docker controller.
  const run = process.argv[2] === "kubernetes-min-replicas" ? kubernetesMinReplicas : main;
  run().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
