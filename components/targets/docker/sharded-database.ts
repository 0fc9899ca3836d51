/**
 * ShardedDatabase on Docker: a private bridge network (unless one is given) and per shard a
 * named volume and a postgres container. The app reaches shard i as `<database.name>-<stack>-<shard>:<port>`
 * on the network; the host reaches it on 127.0.0.1:(portBase + i) only.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { POSTGRES_PASSWORD_ENV, POSTGRES_VOLUME_PATH, SHARD_PROBE, pgIsReadyCommand, postgresEnv } from "../../../core/database";
import type { ShardBuildContext, ShardBuildResult, ShardedDatabaseDockerArgs } from "../../sharded-database";

/** The only host address shard ports are published on. */
export const HOST_IP = "127.0.0.1";

const labelList = (labels: Record<string, string>) => Object.entries(labels).map(([label, value]) => ({ label, value }));
const seconds = (s: number) => `${s}s`;

/** `hostPorts[i]` is shard i's port on 127.0.0.1 (derived and validated in core/database). */
export function createDockerShards(ctx: ShardBuildContext, args: ShardedDatabaseDockerArgs, hostPorts: readonly number[]): ShardBuildResult {
  const { name, db, scope, shards, parent, resources } = ctx;
  const commonLabels = { "app.kubernetes.io/part-of": "scaleplane", "scaleplane.io/database": db.name };

  const networkName =
    args.network !== undefined
      ? pulumi.output(args.network)
      : new docker.Network(`${name}-net`, { name: `${scope}-net`, driver: "bridge", labels: labelList(commonLabels) }, { parent }).name;

  const env = Object.entries(postgresEnv(db)).map(([k, v]) => `${k}=${v}`);
  // The password only travels inside this secret Output.
  const passwordEnv = pulumi.interpolate`${POSTGRES_PASSWORD_ENV}=${ctx.password}`;

  const containers = shards.map((shard, i) => {
    const volume = new docker.Volume(`${name}-${shard.name}-data`, { name: `${shard.hostname}-data`, labels: labelList(shard.labels) }, { parent });
    return new docker.Container(
      `${name}-${shard.name}`,
      {
        name: shard.hostname,
        image: db.image,
        restart: "unless-stopped",
        envs: [...env, passwordEnv],
        networksAdvanced: [{ name: networkName, aliases: [shard.hostname] }],
        ports: [{ internal: db.port, external: hostPorts[i], ip: HOST_IP, protocol: "tcp" }],
        volumes: [{ volumeName: volume.name, containerPath: POSTGRES_VOLUME_PATH }],
        healthcheck: {
          tests: ["CMD", ...pgIsReadyCommand(db)],
          interval: seconds(SHARD_PROBE.intervalSeconds),
          timeout: seconds(SHARD_PROBE.timeoutSeconds),
          retries: SHARD_PROBE.failureThreshold,
          startPeriod: seconds(SHARD_PROBE.startPeriodSeconds),
        },
        memory: resources.memoryMb,
        cpus: String(resources.cpu),
        labels: labelList(shard.labels),
        // `pulumi up` returns once every shard answers pg_isready.
        wait: true,
        waitTimeout: SHARD_PROBE.startPeriodSeconds + SHARD_PROBE.intervalSeconds * SHARD_PROBE.failureThreshold * 2,
      },
      { parent, additionalSecretOutputs: ["envs"] },
    );
  });

  return {
    endpoints: pulumi
      .all(containers.map((c) => c.name))
      .apply((names) => Object.fromEntries(shards.map((s, i) => [s.name, { host: names[i], port: db.port }]))),
    hostEndpoints: pulumi.output(Object.fromEntries(shards.map((s, i) => [s.name, `${HOST_IP}:${hostPorts[i]}`]))),
    networkName,
  };
}
