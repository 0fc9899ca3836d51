/**
 * The autoscaling group's Kubernetes spec: pod resources, HPA replicas, behaviour and metrics.
 * Pure.
 */
import type { AppConfig, ScalingConfig } from "../config";
import { appHpaBehavior } from "../scaling/app-policy";
import { kubernetesQuantities } from "../kubernetes/quantity";

/** Pod resources: requests equal limits (Guaranteed QoS, so HPA utilisation is of a fixed size). */
export function kubernetesResources(app: AppConfig): {
  requests: Record<"cpu" | "memory", string>;
  limits: Record<"cpu" | "memory", string>;
} {
  const r = kubernetesQuantities(app);
  return { requests: { ...r }, limits: { ...r } };
}

/** HPA replicas (app.minSize is at least 1: the HPA cannot scale from zero either). */
export const hpaReplicas = (app: AppConfig): { minReplicas: number; maxReplicas: number } => ({
  minReplicas: app.minSize,
  maxReplicas: app.maxSize,
});

/**
 * autoscaling/v2 `behavior`: the app's stabilization windows and rate limits
 * (core/scaling/app-policy.ts, the same the Docker controller and AWS get). By default up by
 * 100 % or 4 pods per 15 s, whichever is more; down by 50 % or 1 pod per 60 s, whichever is less.
 */
export const hpaBehavior = (scaling: ScalingConfig) => appHpaBehavior(scaling);

/** HPA metrics: average CPU and memory utilisation of the pods' requests. */
export function hpaMetrics(scaling: ScalingConfig) {
  const resource = (name: "cpu" | "memory", averageUtilization: number) => ({
    type: "Resource" as const,
    resource: { name, target: { type: "Utilization" as const, averageUtilization } },
  });
  return [resource("cpu", scaling.cpuTargetPercent), resource("memory", scaling.memoryTargetPercent)];
}
