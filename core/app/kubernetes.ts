/**
 * The autoscaling group's Kubernetes spec: pod resources, HPA replicas, behaviour and metrics.
 * Pure.
 */
import type { AppConfig, ScalingConfig } from "../config";
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

export interface HpaScalingPolicy {
  type: "Pods" | "Percent";
  value: number;
  periodSeconds: number;
}
export interface HpaScalingRules {
  stabilizationWindowSeconds: number;
  selectPolicy: "Max" | "Min";
  policies: HpaScalingPolicy[];
}

/**
 * autoscaling/v2 `behavior`. Scale-up: the stabilization window is the scale-up cooldown; at most
 * double or +4 pods per 15 s, whichever is more. Scale-down: the window is the scale-down
 * cooldown; at most 50% or 1 pod per minute, whichever is less (gentle, so a burst after a lull
 * is not met by a group that shed everything at once).
 */
export function hpaBehavior(scaling: ScalingConfig): { scaleUp: HpaScalingRules; scaleDown: HpaScalingRules } {
  return {
    scaleUp: {
      stabilizationWindowSeconds: scaling.scaleUpCooldownSeconds,
      selectPolicy: "Max",
      policies: [
        { type: "Percent", value: 100, periodSeconds: 15 },
        { type: "Pods", value: 4, periodSeconds: 15 },
      ],
    },
    scaleDown: {
      stabilizationWindowSeconds: scaling.scaleDownCooldownSeconds,
      selectPolicy: "Min",
      policies: [
        { type: "Percent", value: 50, periodSeconds: 60 },
        { type: "Pods", value: 1, periodSeconds: 60 },
      ],
    },
  };
}

/** HPA metrics: average CPU and memory utilisation of the pods' requests. */
export function hpaMetrics(scaling: ScalingConfig) {
  const resource = (name: "cpu" | "memory", averageUtilization: number) => ({
    type: "Resource" as const,
    resource: { name, target: { type: "Utilization" as const, averageUtilization } },
  });
  return [resource("cpu", scaling.cpuTargetPercent), resource("memory", scaling.memoryTargetPercent)];
}
