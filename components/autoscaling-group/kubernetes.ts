/**
 * Kubernetes target of the AutoscalingGroup: a Deployment (probes, preStop drain, requests =
 * limits, non-root), a ClusterIP Service, an autoscaling/v2 HPA on CPU and memory with the
 * behaviour from core/app/kubernetes.ts, a PodDisruptionBudget, and a Secret for the secret env.
 *
 * The Deployment never sets `spec.replicas`: the HPA owns it. (With `replicas` plus ignoreChanges,
 * server-side apply would still re-assert the old value on every update and fight the HPA.)
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
  APP_UID,
  FRONTEND_PORT,
  drainTiming,
  hpaBehavior,
  hpaMetrics,
  hpaReplicas,
  kubernetesResources,
  probes,
  type ProbeSpec,
} from "../../core/app";
import {
  KUBERNETES_SCALER_UID,
  kubernetesPredictiveScaler,
  kubernetesScalerContainer,
  kubernetesScalerOwnsMinReplicas,
  kubernetesScalerRules,
} from "../../core/app/kubernetes-scaler";
import type { AutoscalingGroupKubernetesArgs, GroupBuildContext, KubernetesGroupResult } from "./args";

const httpProbe = (p: ProbeSpec) => ({
  httpGet: { path: p.path, port: "http" },
  periodSeconds: p.periodSeconds,
  timeoutSeconds: p.timeoutSeconds,
  failureThreshold: p.failureThreshold,
  initialDelaySeconds: p.initialDelaySeconds,
});

/** Creates the group's Kubernetes objects under `ctx.parent` (the cluster: the parent's `kubernetes` provider). */
export function createKubernetesGroup(
  ctx: GroupBuildContext,
  args: AutoscalingGroupKubernetesArgs,
): KubernetesGroupResult {
  const { name, app, parent } = ctx;
  const opts = { parent };
  const namespace = args.namespace;
  const selector = { "app.kubernetes.io/name": app.name, "app.kubernetes.io/instance": name };
  const labels = { ...selector, "app.kubernetes.io/part-of": "scaleplane", "app.kubernetes.io/managed-by": "pulumi" };
  const metadata = { name: app.name, namespace, labels };
  const secretNames = Object.keys(ctx.secretEnv);

  const secret =
    secretNames.length > 0
      ? new k8s.core.v1.Secret(
          `${name}-secret`,
          { metadata: { ...metadata, name: `${app.name}-env` }, type: "Opaque", stringData: ctx.secretEnv },
          opts,
        )
      : undefined;

  const t = drainTiming(app.scaling);
  const p = probes(app);
  const env = ctx.env.apply((e) => Object.entries(e).map(([k, value]) => ({ name: k, value })));
  const secretRefs = secret
    ? secretNames.map((k) => ({ name: k, valueFrom: { secretKeyRef: { name: secret.metadata.name, key: k } } }))
    : [];

  const deployment = new k8s.apps.v1.Deployment(
    `${name}-deployment`,
    {
      metadata,
      spec: {
        selector: { matchLabels: selector },
        strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: "25%" } },
        template: {
          metadata: { labels },
          spec: {
            terminationGracePeriodSeconds: t.stopGraceSeconds,
            automountServiceAccountToken: false,
            securityContext: {
              runAsNonRoot: true,
              runAsUser: APP_UID,
              runAsGroup: APP_UID,
              fsGroup: APP_UID,
              seccompProfile: { type: "RuntimeDefault" },
            },
            topologySpreadConstraints: [
              {
                maxSkew: 1,
                topologyKey: "topology.kubernetes.io/zone",
                whenUnsatisfiable: "ScheduleAnyway",
                labelSelector: { matchLabels: selector },
              },
              {
                maxSkew: 1,
                topologyKey: "kubernetes.io/hostname",
                whenUnsatisfiable: "ScheduleAnyway",
                labelSelector: { matchLabels: selector },
              },
            ],
            containers: [
              {
                name: "app",
                image: app.image,
                ports: [{ name: "http", containerPort: app.port, protocol: "TCP" }],
                env: pulumi.all([env, secretRefs]).apply(([plain, refs]) => [...plain, ...refs]),
                resources: kubernetesResources(app),
                readinessProbe: httpProbe(p.readiness),
                livenessProbe: httpProbe(p.liveness),
                // The app drains on SIGTERM too; POST /shutdown turns /health 503 before the signal.
                lifecycle: {
                  preStop: {
                    exec: { command: ["curl", "-fsS", "-X", "POST", `http://127.0.0.1:${app.port}/shutdown`] },
                  },
                },
                securityContext: {
                  privileged: false,
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  runAsNonRoot: true,
                  capabilities: { drop: ["ALL"] },
                },
              },
            ],
          },
        },
      },
    },
    opts,
  );

  const service = new k8s.core.v1.Service(
    `${name}-svc`,
    {
      metadata,
      spec: {
        type: "ClusterIP",
        selector,
        ports: [{ name: "http", port: FRONTEND_PORT, targetPort: "http", protocol: "TCP" }],
      },
    },
    opts,
  );

  const hpa = new k8s.autoscaling.v2.HorizontalPodAutoscaler(
    `${name}-hpa`,
    {
      metadata,
      spec: {
        scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: deployment.metadata.name },
        ...hpaReplicas(app),
        metrics: hpaMetrics(app.scaling),
        behavior: hpaBehavior(app.scaling),
      },
    },
    // The predictive scaler patches minReplicas; an `up` must not put the configured floor back.
    kubernetesScalerOwnsMinReplicas(app) ? { ...opts, ignoreChanges: ["spec.minReplicas"] } : opts,
  );

  // The HPA is named `metadata.name` (app.name), known at plan time: the scaler's spec has no unknowns.
  if (kubernetesPredictiveScaler(app))
    createPredictiveScaler(ctx, namespace, labels, selector, metadata.name, args.predictiveHistoryUrl);

  const podDisruptionBudget = new k8s.policy.v1.PodDisruptionBudget(
    `${name}-pdb`,
    { metadata, spec: { maxUnavailable: 1, selector: { matchLabels: selector } } },
    opts,
  );

  return {
    endpoints: pulumi
      .all([service.metadata.name, service.metadata.namespace])
      .apply(([svc, ns]) => [`http://${svc}.${ns}.svc.cluster.local`]),
    groupName: deployment.metadata.name,
    deployment,
    service,
    hpa,
    podDisruptionBudget,
  };
}

/**
 * `app.scaling.engine: predictive`: the in-cluster scaler (core/app/kubernetes-scaler.ts) that
 * raises the HPA's minReplicas ahead of forecast load, with a ServiceAccount bound to a Role that
 * may only get/patch this HPA and read the group's pods and pod metrics.
 */
function createPredictiveScaler(
  ctx: GroupBuildContext,
  namespace: pulumi.Input<string>,
  groupLabels: Record<string, string>,
  podSelector: Record<string, string>,
  hpaName: string,
  historyUrl: pulumi.Input<string> | undefined,
): void {
  const { name, app, parent } = ctx;
  const opts = { parent };
  const scalerName = `${app.name}-scaler`;
  const selector = { "app.kubernetes.io/name": scalerName, "app.kubernetes.io/instance": name };
  const labels = { ...groupLabels, ...selector, "app.kubernetes.io/component": "predictive-scaler" };
  const metadata = { name: scalerName, namespace, labels };
  const account = new k8s.core.v1.ServiceAccount(`${name}-scaler-sa`, { metadata }, opts);
  const role = new k8s.rbac.v1.Role(`${name}-scaler-role`, { metadata, rules: kubernetesScalerRules(hpaName) }, opts);
  new k8s.rbac.v1.RoleBinding(
    `${name}-scaler-binding`,
    {
      metadata,
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
      subjects: [{ kind: "ServiceAccount", name: account.metadata.name, namespace: account.metadata.namespace }],
    },
    opts,
  );
  new k8s.apps.v1.Deployment(
    `${name}-scaler`,
    {
      metadata,
      spec: {
        // One replica: a restarted scaler reads its history back (predictiveHistoryUrl) or relearns; until it
        // forecasts, minReplicas stays at the configured minimum.
        replicas: 1,
        selector: { matchLabels: selector },
        strategy: { type: "Recreate" },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: account.metadata.name,
            automountServiceAccountToken: true,
            securityContext: {
              runAsNonRoot: true,
              runAsUser: KUBERNETES_SCALER_UID,
              runAsGroup: KUBERNETES_SCALER_UID,
              seccompProfile: { type: "RuntimeDefault" },
            },
            containers: [withHistoryUrl(kubernetesScalerContainer(app, { hpaName, podSelector }), historyUrl)],
          },
        },
      },
    },
    opts,
  );
}

/** The scaler's container with `SCALER_METRICS_URL` (its durable history) when a store is given. */
function withHistoryUrl<C extends { env: object[] }>(container: C, url: pulumi.Input<string> | undefined) {
  return url === undefined
    ? container
    : { ...container, env: [...container.env, { name: "SCALER_METRICS_URL", value: url }] };
}
