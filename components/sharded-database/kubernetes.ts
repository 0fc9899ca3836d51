/**
 * ShardedDatabase on Kubernetes: one Secret with the credentials, and per shard a single-replica
 * StatefulSet (its own PersistentVolumeClaim, non-root postgres, pg_isready probes) and a
 * ClusterIP Service the app reaches it at (`<database.name>-<shard>.<namespace>.svc.cluster.local`).
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
  POSTGRES_PASSWORD_ENV,
  POSTGRES_UID,
  POSTGRES_VOLUME_PATH,
  SHARD_PROBE,
  kubernetesQuantities,
  kubernetesServiceHost,
  pgIsReadyCommand,
  postgresEnv,
  shardSelector,
} from "../../core/sharding/database";
import type { KubernetesShardsResult, ShardBuildContext, ShardedDatabaseKubernetesArgs } from "./args";

/** Key of the password in the credentials Secret. */
export const PASSWORD_SECRET_KEY = "password";
/** Name of the volume claim template (PVCs are `data-<statefulset>-0`). */
const DATA_VOLUME = "data";

/** Creates the shards' Kubernetes objects under `ctx.parent` (the cluster: the parent's `kubernetes` provider). */
export function createKubernetesShards(
  ctx: ShardBuildContext,
  args: ShardedDatabaseKubernetesArgs,
): KubernetesShardsResult {
  const { name, db, shards, parent } = ctx;
  const opts: pulumi.CustomResourceOptions = { parent };
  const namespace = args.namespace;
  const quantities = kubernetesQuantities(ctx.resources);
  const probe = pgIsReadyCommand(db);
  const commonLabels = { "app.kubernetes.io/part-of": "scaleplane", "scaleplane.io/database": db.name };

  const secret = new k8s.core.v1.Secret(
    `${name}-credentials`,
    {
      metadata: { name: `${db.name}-credentials`, namespace, labels: commonLabels },
      type: "Opaque",
      stringData: { [PASSWORD_SECRET_KEY]: ctx.password, username: db.username },
    },
    opts,
  );

  const statefulSets: k8s.apps.v1.StatefulSet[] = [];
  const services = shards.map((shard) => {
    const selector = shardSelector(db, shard.name);
    const service = new k8s.core.v1.Service(
      `${name}-${shard.name}`,
      {
        metadata: { name: shard.hostname, namespace, labels: shard.labels },
        spec: {
          type: "ClusterIP",
          selector,
          ports: [{ name: "postgres", port: db.port, targetPort: "postgres", protocol: "TCP" }],
        },
      },
      opts,
    );

    const statefulSet = new k8s.apps.v1.StatefulSet(
      `${name}-${shard.name}`,
      {
        metadata: { name: shard.hostname, namespace, labels: shard.labels },
        spec: {
          replicas: 1,
          serviceName: service.metadata.name,
          selector: { matchLabels: selector },
          template: {
            metadata: { labels: shard.labels },
            spec: {
              securityContext: {
                runAsNonRoot: true,
                runAsUser: POSTGRES_UID,
                runAsGroup: POSTGRES_UID,
                fsGroup: POSTGRES_UID,
              },
              terminationGracePeriodSeconds: 60,
              containers: [
                {
                  name: "postgres",
                  image: db.image,
                  ports: [{ name: "postgres", containerPort: db.port, protocol: "TCP" }],
                  env: [
                    ...Object.entries(postgresEnv(db)).map(([envName, value]) => ({ name: envName, value })),
                    {
                      name: POSTGRES_PASSWORD_ENV,
                      valueFrom: { secretKeyRef: { name: secret.metadata.name, key: PASSWORD_SECRET_KEY } },
                    },
                  ],
                  volumeMounts: [{ name: DATA_VOLUME, mountPath: POSTGRES_VOLUME_PATH }],
                  startupProbe: {
                    exec: { command: probe },
                    periodSeconds: SHARD_PROBE.intervalSeconds,
                    timeoutSeconds: SHARD_PROBE.timeoutSeconds,
                    // initdb on a new volume: up to startPeriod plus the usual threshold.
                    failureThreshold:
                      Math.ceil(SHARD_PROBE.startPeriodSeconds / SHARD_PROBE.intervalSeconds) +
                      SHARD_PROBE.failureThreshold,
                  },
                  readinessProbe: {
                    exec: { command: probe },
                    periodSeconds: SHARD_PROBE.intervalSeconds,
                    timeoutSeconds: SHARD_PROBE.timeoutSeconds,
                    failureThreshold: SHARD_PROBE.failureThreshold,
                  },
                  livenessProbe: {
                    exec: { command: probe },
                    periodSeconds: SHARD_PROBE.intervalSeconds * 2,
                    timeoutSeconds: SHARD_PROBE.timeoutSeconds,
                    failureThreshold: SHARD_PROBE.failureThreshold,
                  },
                  resources: { requests: quantities, limits: { memory: quantities.memory } },
                  securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
                },
              ],
            },
          },
          volumeClaimTemplates: [
            {
              metadata: { name: DATA_VOLUME, labels: shard.labels },
              spec: {
                accessModes: ["ReadWriteOnce"],
                ...(args.storageClass ? { storageClassName: args.storageClass } : {}),
                resources: { requests: { storage: `${db.storageGb}Gi` } },
              },
            },
          ],
        },
      },
      opts,
    );
    statefulSets.push(statefulSet);
    return service;
  });

  return {
    endpoints: pulumi
      .all([pulumi.output(namespace), ...services.map((s) => s.metadata.name)])
      .apply(([ns, ...names]) =>
        Object.fromEntries(
          shards.map((s, i) => [s.name, { host: kubernetesServiceHost(names[i], ns), port: db.port }]),
        ),
      ),
    secret,
    statefulSets,
    services,
  };
}
