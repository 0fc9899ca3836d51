/**
 * CacheCluster on Docker: a private bridge network (unless one is given) and a container per node
 * running the local image `scaleplane/redis:7.0.15` (images/redis: Debian's redis-server). The
 * app reaches node i as `<scope>-<node>:<port>` on the network; the host on 127.0.0.1:(portBase + i)
 * only. The password reaches each container as a file (uploaded before the first start), never
 * as an environment variable or argument.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { CacheSchema } from "../../core/config";
import {
  cacheNodeEndpoints,
  LOCAL_REDIS_IMAGE,
  REDIS_PASSWORD_FILE,
  REDIS_PROBE,
  cacheNodeMemoryMb,
  redisServerArgs,
} from "../../core/cache/spec";
import { SECRET_FILE_PERMISSIONS } from "../../core/secret-files";
import { HOST_IP, dockerLabels } from "../shared/docker";
import type { CacheBuildContext, CacheClusterDockerArgs, DockerCacheResult } from "./args";

const REGISTRY_DEFAULT_IMAGE = CacheSchema.parse({}).image;
const seconds = (s: number) => `${s}s`;

/** The image a Docker node runs: the local build in place of the registry default. */
export function dockerCacheImage(image: string): string {
  return image === REGISTRY_DEFAULT_IMAGE ? LOCAL_REDIS_IMAGE : image;
}

export function createDockerCache(
  ctx: CacheBuildContext,
  args: CacheClusterDockerArgs,
  hostPorts: readonly number[],
): DockerCacheResult {
  const { name, cache, scope, nodes, parent } = ctx;
  let network: docker.Network | undefined;
  let networkName: pulumi.Output<string>;
  if (args.network === undefined) {
    network = new docker.Network(
      `${name}-net`,
      {
        name: `${scope}-net`,
        driver: "bridge",
        labels: dockerLabels({ "app.kubernetes.io/part-of": "scaleplane", "scaleplane.io/cache": cache.name }),
      },
      { parent },
    );
    networkName = network.name;
  } else networkName = pulumi.output(args.network);

  const containers = nodes.map(
    (node, i) =>
      new docker.Container(
        `${name}-${node.name}`,
        {
          name: node.hostname,
          image: dockerCacheImage(cache.image),
          restart: "unless-stopped",
          command: redisServerArgs(cache),
          envs: [`REDIS_PASSWORD_FILE=${REDIS_PASSWORD_FILE}`],
          uploads: [
            {
              file: REDIS_PASSWORD_FILE,
              content: ctx.authToken,
              permissions: SECRET_FILE_PERMISSIONS,
              owner: "0",
              group: "0",
            },
          ],
          networksAdvanced: [{ name: networkName, aliases: [node.hostname] }],
          ports: [{ internal: cache.port, external: hostPorts[i], ip: HOST_IP, protocol: "tcp" }],
          healthcheck: {
            tests: [
              "CMD-SHELL",
              `REDISCLI_AUTH="$(cat /etc/redis/generated/cli-auth)" redis-cli -p ${cache.port} ping | grep -q PONG`,
            ],
            interval: seconds(REDIS_PROBE.intervalSeconds),
            timeout: seconds(REDIS_PROBE.timeoutSeconds),
            retries: REDIS_PROBE.failureThreshold,
            startPeriod: seconds(REDIS_PROBE.startPeriodSeconds),
          },
          memory: cacheNodeMemoryMb(cache),
          cpus: "0.5",
          labels: dockerLabels(node.labels),
          wait: true,
          waitTimeout: 60,
        },
        { parent, additionalSecretOutputs: ["uploads"] },
      ),
  );

  return {
    nodes: pulumi.all(containers.map((c) => c.name)).apply((names) => cacheNodeEndpoints(nodes, names, cache.port)),
    hostEndpoints: pulumi.output(Object.fromEntries(nodes.map((n, i) => [n.name, `${HOST_IP}:${hostPorts[i]}`]))),
    networkName,
    network,
    containers,
  };
}
