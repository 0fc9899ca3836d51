/**
 * ShardedDatabase on Docker: a private bridge network (unless one is given) and per shard a
 * named volume and a postgres container. The app reaches shard i as `<database.name>-<stack>-<shard>:<port>`
 * on the network; the host reaches it on 127.0.0.1:(portBase + slot) only (`shard-<n>`: slot n).
 *
 * Image: there is no registry on the Docker target, so the config's default image (the official
 * `postgres:15`, what Kubernetes pulls) becomes the local build `scaleplane/postgres:15`
 * (images/postgres, `npm run images`); any other `database.image` is used as given. Both read the
 * same environment. The password reaches the container as a file (POSTGRES_PASSWORD_FILE,
 * uploaded before the first start), never as an environment variable, which `docker inspect`
 * would show.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { DatabaseSchema } from "../../core/config";
import { POSTGRES_VOLUME_PATH, SHARD_PROBE, pgIsReadyCommand, postgresEnv } from "../../core/sharding/database";
import { SECRET_FILE_PERMISSIONS } from "../../core/secret-files";
import { HOST_IP, dockerLabels } from "../shared/docker";
import type { DockerShardsResult, ShardBuildContext, ShardedDatabaseDockerArgs } from "./args";
const seconds = (s: number) => `${s}s`;

/** The local shard image (images/postgres/Dockerfile, built by `npm run images`). */
export const LOCAL_POSTGRES_IMAGE = "scaleplane/postgres:15";
/** `database.image` when the stack does not set it: a registry image the Docker target cannot pull. */
const REGISTRY_DEFAULT_IMAGE = DatabaseSchema.parse({}).image;
/** Where the password file is uploaded in a shard container. */
export const POSTGRES_PASSWORD_FILE = "/run/secrets/postgres-password";

/** The image a Docker shard runs: the local build in place of the registry default. */
export function dockerShardImage(image: string): string {
  return image === REGISTRY_DEFAULT_IMAGE ? LOCAL_POSTGRES_IMAGE : image;
}

/** `hostPorts[i]` is shard i's port on 127.0.0.1 (derived and validated in core/sharding/database). */
export function createDockerShards(
  ctx: ShardBuildContext,
  args: ShardedDatabaseDockerArgs,
  hostPorts: readonly number[],
): DockerShardsResult {
  const { name, db, scope, shards, parent, resources } = ctx;
  const commonLabels = { "app.kubernetes.io/part-of": "scaleplane", "scaleplane.io/database": db.name };

  let network: docker.Network | undefined;
  let networkName: pulumi.Output<string>;
  if (args.network === undefined) {
    network = new docker.Network(
      `${name}-net`,
      { name: `${scope}-net`, driver: "bridge", labels: dockerLabels(commonLabels) },
      { parent },
    );
    networkName = network.name;
  } else networkName = pulumi.output(args.network);

  const env = [
    ...Object.entries(postgresEnv(db)).map(([k, v]) => `${k}=${v}`),
    `POSTGRES_PASSWORD_FILE=${POSTGRES_PASSWORD_FILE}`,
  ];

  const containers = shards.map((shard, i) => {
    const volume = new docker.Volume(
      `${name}-${shard.name}-data`,
      { name: `${shard.hostname}-data`, labels: dockerLabels(shard.labels) },
      { parent },
    );
    return new docker.Container(
      `${name}-${shard.name}`,
      {
        name: shard.hostname,
        image: dockerShardImage(db.image),
        restart: "unless-stopped",
        envs: env,
        // The password only travels inside this secret Output (uploaded before the first start).
        // Root-only (0400): the entrypoint reads it as root before it drops to the postgres user.
        uploads: [
          {
            file: POSTGRES_PASSWORD_FILE,
            content: ctx.password,
            permissions: SECRET_FILE_PERMISSIONS,
            owner: "0",
            group: "0",
          },
        ],
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
        labels: dockerLabels(shard.labels),
        // `pulumi up` returns once every shard answers pg_isready.
        wait: true,
        waitTimeout: SHARD_PROBE.startPeriodSeconds + SHARD_PROBE.intervalSeconds * SHARD_PROBE.failureThreshold * 2,
      },
      { parent, additionalSecretOutputs: ["uploads"] },
    );
  });

  return {
    endpoints: pulumi
      .all(containers.map((c) => c.name))
      .apply((names) => Object.fromEntries(shards.map((s, i) => [s.name, { host: names[i], port: db.port }]))),
    hostEndpoints: pulumi.output(Object.fromEntries(shards.map((s, i) => [s.name, `${HOST_IP}:${hostPorts[i]}`]))),
    networkName,
    network,
    containers,
  };
}
