/**
 * The in-cluster predictive scaler of a Kubernetes group (`app.scaling.engine: predictive`), pure:
 * the RBAC rules it needs (least privilege: get/patch only the group's HPA, read its pods and their
 * metrics) and its container (the scaler image's `kubernetes-min-replicas` entry, its environment,
 * probes, resources). The HPA keeps the reactive scaling; this scaler only raises the HPA's
 * minReplicas ahead of forecast load (runtime/scaler/kubernetes-min-replicas.ts).
 */
import type { AppConfig } from "../config";
import { SCALER_IMAGE } from "../scaling/docker";
import { hpaReplicas } from "./kubernetes";
import { appScalingPolicy, appScalingPolicyInput } from "./scaling";

/** Seconds between the Kubernetes scaler's ticks (metrics-server refreshes every 15 s by default). */
export const KUBERNETES_SCALER_PERIOD_SECONDS = 30;
/** Port of the scaler's GET /healthz. */
export const KUBERNETES_SCALER_HEALTH_PORT = 8080;
/** Unprivileged uid the scaler runs as (`nobody`): it needs the API only, not the Docker socket. */
export const KUBERNETES_SCALER_UID = 65534;

/** True when the app's group gets the predictive min-replicas scaler on Kubernetes. */
export const kubernetesPredictiveScaler = (app: AppConfig): boolean => app.scaling.engine === "predictive";

/**
 * True when the scaler, not `pulumi up`, owns the HPA's `spec.minReplicas` (it patches it; in
 * forecast-only mode it only logs, so the program keeps owning it). The component then ignores
 * changes of that field: an `up` would otherwise put back the configured minimum the scaler has
 * just raised ahead of forecast load. A changed `app.minSize` still takes effect: it reaches the
 * scaler's policy (its Deployment rolls), and the scaler never keeps minReplicas below it.
 */
export const kubernetesScalerOwnsMinReplicas = (app: AppConfig): boolean =>
  kubernetesPredictiveScaler(app) && !appScalingPolicy(app, KUBERNETES_SCALER_PERIOD_SECONDS).predictive.forecastOnly;

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** The Role's rules: the HPA by name (get, patch), pods and pod metrics (get, list). */
export function kubernetesScalerRules(hpaName: string): PolicyRule[] {
  return [
    {
      apiGroups: ["autoscaling"],
      resources: ["horizontalpodautoscalers"],
      verbs: ["get", "patch"],
      resourceNames: [hpaName],
    },
    { apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] },
    { apiGroups: ["metrics.k8s.io"], resources: ["pods"], verbs: ["get", "list"] },
  ];
}

/** The `key=value,...` label selector of the group's pods. */
export const labelSelector = (labels: Record<string, string>): string =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");

/** The scaler's container: image, command, environment, probes, resources, security context. */
export function kubernetesScalerContainer(app: AppConfig, s: { hpaName: string; podSelector: Record<string, string> }) {
  // The HPA cannot go below one replica; the policy's minimum is the HPA's.
  const policy = {
    ...appScalingPolicyInput(app, KUBERNETES_SCALER_PERIOD_SECONDS),
    minSize: hpaReplicas(app).minReplicas,
  };
  const probe = (periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path: "/healthz", port: "health" },
    periodSeconds,
    timeoutSeconds: 3,
    failureThreshold,
  });
  return {
    name: "scaler",
    image: SCALER_IMAGE,
    command: ["node", "/app/scaler.js", "kubernetes-min-replicas"],
    ports: [{ name: "health", containerPort: KUBERNETES_SCALER_HEALTH_PORT, protocol: "TCP" }],
    env: [
      // The pod's own namespace (the downward API): the group's HPA and pods are in it.
      { name: "SCALER_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
      { name: "SCALER_HPA", value: s.hpaName },
      { name: "SCALER_POD_SELECTOR", value: labelSelector(s.podSelector) },
      { name: "SCALER_POLICY", value: JSON.stringify(policy) },
      { name: "SCALER_HEALTH_PORT", value: String(KUBERNETES_SCALER_HEALTH_PORT) },
    ],
    resources: { requests: { cpu: "50m", memory: "96Mi" }, limits: { cpu: "200m", memory: "128Mi" } },
    readinessProbe: probe(10, 3),
    livenessProbe: probe(20, 3),
    securityContext: {
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: KUBERNETES_SCALER_UID,
      capabilities: { drop: ["ALL"] },
    },
  };
}
