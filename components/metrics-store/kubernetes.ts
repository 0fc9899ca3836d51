/**
 * MetricsStore on Kubernetes: a Secret with the database password, a Deployment of
 * `metrics.replicas` pods (non-root, HTTP probes, resources, the password from a secretKeyRef)
 * and a ClusterIP Service.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { METRICS_PROBE, metricsLabels } from "../../core/metrics/spec";
import type { MetricsBuildContext, MetricsBuildResult, MetricsStoreKubernetesArgs } from "./args";

export function createKubernetesMetricsStore(
  ctx: MetricsBuildContext,
  args: MetricsStoreKubernetesArgs,
): MetricsBuildResult {
  const { name, metrics: m, parent } = ctx;
  const labels = metricsLabels(m);
  const selector = { "app.kubernetes.io/name": "metrics-store", "scaleplane.io/metrics": m.name };
  const secret = new k8s.core.v1.Secret(
    `${name}-db`,
    {
      metadata: { name: `${m.name}-db`, namespace: args.namespace, labels },
      type: "Opaque",
      stringData: { password: ctx.password },
    },
    { parent },
  );
  const probe = (path: string, failureThreshold: number) => ({
    httpGet: { path, port: "http" },
    periodSeconds: METRICS_PROBE.intervalSeconds,
    timeoutSeconds: METRICS_PROBE.timeoutSeconds,
    failureThreshold,
  });
  const deployment = new k8s.apps.v1.Deployment(
    name,
    {
      metadata: { name: m.name, namespace: args.namespace, labels },
      spec: {
        replicas: m.replicas,
        selector: { matchLabels: selector },
        template: {
          metadata: { labels: { ...labels, ...selector } },
          spec: {
            securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001 },
            containers: [
              {
                name: "metrics-store",
                image: m.image,
                ports: [{ name: "http", containerPort: m.port, protocol: "TCP" }],
                env: ctx.env.apply((env) => [
                  ...Object.entries(env).map(([k, value]) => ({ name: k, value })),
                  {
                    name: "METRICS_DATABASE_PASSWORD",
                    valueFrom: { secretKeyRef: { name: secret.metadata.name, key: "password" } },
                  },
                ]),
                readinessProbe: probe("/ready", METRICS_PROBE.failureThreshold),
                livenessProbe: probe("/health", METRICS_PROBE.failureThreshold * 2),
                resources: {
                  requests: { cpu: String(m.cpu), memory: `${m.memoryMb}Mi` },
                  limits: { cpu: String(m.cpu), memory: `${m.memoryMb}Mi` },
                },
                securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
              },
            ],
          },
        },
      },
    },
    { parent },
  );
  const service = new k8s.core.v1.Service(
    name,
    {
      metadata: { name: m.name, namespace: args.namespace, labels },
      spec: {
        type: "ClusterIP",
        selector,
        ports: [{ name: "http", port: m.port, targetPort: "http", protocol: "TCP" }],
      },
    },
    { parent },
  );
  const url = pulumi.interpolate`http://${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local:${m.port}`;
  return { endpoints: url.apply((u) => [u]), hostEndpoints: url.apply((u) => [u]), deployment, service };
}
