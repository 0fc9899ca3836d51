/**
 * CacheCluster on Kubernetes: a StatefulSet of Redis pods behind a headless Service (stable DNS
 * names `<sts>-<i>.<svc>`; node i of the list is pod ordinal i, so growing or shrinking the list
 * at its end maps onto the StatefulSet's own scaling), the password in a Secret read through
 * `secretKeyRef`, probes, resource limits, and pods spread over zones.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { REDIS_PROBE, cacheNodeEndpoints, cacheNodeMemoryMb, redisServerArgs } from "../../core/cache/spec";
import type { CacheBuildContext, CacheClusterKubernetesArgs, KubernetesCacheResult } from "./args";

export function createKubernetesCache(ctx: CacheBuildContext, args: CacheClusterKubernetesArgs): KubernetesCacheResult {
  const { name, cache, scope, nodes, parent } = ctx;
  const labels = {
    "app.kubernetes.io/name": "redis",
    "app.kubernetes.io/part-of": "scaleplane",
    "scaleplane.io/cache": cache.name,
  };
  const secret = new k8s.core.v1.Secret(
    `${name}-auth`,
    { metadata: { name: `${scope}-auth`, namespace: args.namespace, labels }, stringData: { password: ctx.authToken } },
    { parent },
  );
  const service = new k8s.core.v1.Service(
    `${name}-svc`,
    {
      metadata: { name: scope, namespace: args.namespace, labels },
      spec: {
        clusterIP: "None",
        selector: labels,
        ports: [{ name: "redis", port: cache.port, targetPort: cache.port }],
      },
    },
    { parent },
  );
  const probe = {
    exec: { command: ["sh", "-c", `REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -p ${cache.port} ping | grep -q PONG`] },
    periodSeconds: REDIS_PROBE.intervalSeconds,
    timeoutSeconds: REDIS_PROBE.timeoutSeconds,
    failureThreshold: REDIS_PROBE.failureThreshold,
  };
  const statefulSet = new k8s.apps.v1.StatefulSet(
    `${name}-sts`,
    {
      metadata: { name: scope, namespace: args.namespace, labels },
      spec: {
        serviceName: service.metadata.name,
        replicas: nodes.length,
        podManagementPolicy: "Parallel",
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            securityContext: { runAsNonRoot: true, runAsUser: 999, fsGroup: 999 },
            topologySpreadConstraints: [
              {
                maxSkew: 1,
                topologyKey: "topology.kubernetes.io/zone",
                whenUnsatisfiable: "ScheduleAnyway",
                labelSelector: { matchLabels: labels },
              },
            ],
            containers: [
              {
                name: "redis",
                image: cache.image,
                command: ["redis-server"],
                args: ["--requirepass", "$(REDIS_PASSWORD)", ...redisServerArgs(cache)],
                env: [
                  {
                    name: "REDIS_PASSWORD",
                    valueFrom: { secretKeyRef: { name: secret.metadata.name, key: "password" } },
                  },
                ],
                ports: [{ name: "redis", containerPort: cache.port }],
                readinessProbe: probe,
                livenessProbe: { ...probe, initialDelaySeconds: REDIS_PROBE.startPeriodSeconds },
                resources: {
                  requests: { cpu: "100m", memory: `${cacheNodeMemoryMb(cache)}Mi` },
                  limits: { cpu: "1", memory: `${cacheNodeMemoryMb(cache)}Mi` },
                },
                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: false },
              },
            ],
          },
        },
      },
    },
    { parent },
  );
  return {
    nodes: pulumi
      .all([statefulSet.metadata.name, service.metadata.name, pulumi.output(args.namespace)])
      .apply(([sts, svc, ns]) =>
        cacheNodeEndpoints(
          nodes,
          nodes.map((_, i) => `${sts}-${i}.${svc}.${ns}.svc`),
          cache.port,
        ),
      ),
    secret,
    service,
    statefulSet,
  };
}
