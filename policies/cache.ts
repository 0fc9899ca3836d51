/**
 * Cache policies: ElastiCache nodes encrypted at rest and in transit with an auth token, Redis
 * never open to the internet, and every Redis workload the platform runs requiring a password.
 */
import { T, arr, obj, podContainers, resourcePolicy, str } from "./lib";
import { noWorldIngress } from "./network";

export const cacheEncrypted = resourcePolicy(
  {
    name: "cache-encrypted",
    description: "ElastiCache replication groups encrypt data at rest and in transit.",
    enforcementLevel: "mandatory",
  },
  [T.awsElastiCacheGroup],
  (props, args, report) => {
    const missing = [
      ...(props.atRestEncryptionEnabled === true ? [] : ["atRestEncryptionEnabled"]),
      ...(props.transitEncryptionEnabled === true ? [] : ["transitEncryptionEnabled"]),
    ];
    if (missing.length > 0)
      report(
        `ElastiCache replication group ${args.name} is not encrypted (${missing.join(", ")} off); set both true (at-rest encryption cannot be turned on later without a new group).`,
      );
  },
);

/** Whether a container runs redis-server with a password (an argument, or the scaleplane image's password file). */
function redisHasAuth(c: Record<string, unknown>): boolean {
  const argv = [...arr(c.command), ...arr(c.args)].map((a) => String(a));
  const env = arr(c.env)
    .map((e) => str(obj(e)?.name) ?? "")
    .concat(arr(c.envs).map((e) => String(e).split("=")[0]));
  return argv.includes("--requirepass") || env.includes("REDIS_PASSWORD_FILE");
}

export const cacheAuthRequired = resourcePolicy(
  {
    name: "cache-auth-required",
    description:
      "Redis needs a password: ElastiCache groups set an auth token (or user groups); Redis containers and pods of the cache run with --requirepass or a password file.",
    enforcementLevel: "mandatory",
  },
  [T.awsElastiCacheGroup, T.k8sStatefulSet, T.dockerContainer],
  (props, args, report) => {
    if (args.type === T.awsElastiCacheGroup) {
      if (props.authToken === undefined && arr(props.userGroupIds).length === 0)
        report(
          `ElastiCache replication group ${args.name} accepts clients without credentials; set authToken (a secret; the CacheCluster generates one) and transitEncryptionEnabled.`,
        );
      return;
    }
    const labels =
      args.type === T.dockerContainer
        ? Object.fromEntries(arr(props.labels).map((l) => [str(obj(l)?.label) ?? "", str(obj(l)?.value) ?? ""]))
        : (obj(obj(props.metadata)?.labels) ?? {});
    if (labels["scaleplane.io/cache"] === undefined) return;
    const containers = args.type === T.dockerContainer ? [props] : podContainers(props);
    if (!containers.some((c) => redisHasAuth(c)))
      report(
        `Cache node ${args.name} runs Redis without a password; pass --requirepass from a secret (Kubernetes) or REDIS_PASSWORD_FILE (the scaleplane/redis image).`,
      );
  },
);

export const noPublicCacheIngress = noWorldIngress("no-public-cache-ingress", "Redis", [6379], "scaleplane:cache.port");

export const cachePolicies = [cacheEncrypted, cacheAuthRequired, noPublicCacheIngress];
