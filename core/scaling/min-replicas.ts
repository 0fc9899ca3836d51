/**
 * The predictive engine on Kubernetes, pure: the HPA keeps the reactive scaling, and the in-cluster
 * loop (runtime/scaler/kubernetes-min-replicas.ts) only raises the HPA's `spec.minReplicas` ahead of
 * forecast load. Two pure steps live here so they are unit tested without a cluster:
 *
 *  - `podSamples`: pods (phase, readiness, CPU/memory requests) and their metrics.k8s.io usage →
 *    the engines' InstanceSample, utilization measured against the *requests*, exactly as the HPA
 *    measures it (a pod without a request for a resource reports no value for it).
 *  - `minReplicasDecision`: `clamp(max(minSize, forecastDesired), minSize, maxSize)`, a patch only
 *    when that differs from the HPA's current value; never below the configured minimum; in
 *    forecast-only mode nothing is patched (the decision is logged).
 */
import { clamp } from "./metrics";
import type { InstanceSample } from "./types";

/** One pod as the Kubernetes API lists it, reduced to what scaling needs. */
export interface PodInfo {
  name: string;
  /** `status.phase`: Pending, Running, Succeeded, Failed, Unknown. */
  phase: string;
  /** The `Ready` condition is True. */
  ready: boolean;
  /** Being deleted (`metadata.deletionTimestamp` set): the HPA ignores such pods. */
  terminating: boolean;
  /** Sum of the containers' CPU requests, cores; undefined when any container has none. */
  cpuRequestCores?: number;
  /** Sum of the containers' memory requests, bytes; undefined when any container has none. */
  memoryRequestBytes?: number;
}

/** One pod's usage from metrics.k8s.io (summed over its containers). */
export interface PodUsage {
  name: string;
  cpuCores: number;
  memoryBytes: number;
}

/**
 * The engines' samples of the group: every non-terminating, non-failed pod; Pending pods are
 * `phase: "pending"` (the hpa engine counts them as 0 % on a scale-up); utilization = usage /
 * request × 100 when both are known.
 */
export function podSamples(pods: readonly PodInfo[], usage: readonly PodUsage[]): InstanceSample[] {
  const byName = new Map(usage.map((u) => [u.name, u]));
  return pods
    .filter((p) => !p.terminating && p.phase !== "Failed" && p.phase !== "Succeeded")
    .map((p) => {
      const u = byName.get(p.name);
      const s: InstanceSample = { id: p.name, ready: p.ready, phase: p.phase === "Pending" ? "pending" : "running" };
      if (u && p.cpuRequestCores !== undefined && p.cpuRequestCores > 0)
        s.cpuPercent = (u.cpuCores / p.cpuRequestCores) * 100;
      if (u && p.memoryRequestBytes !== undefined && p.memoryRequestBytes > 0)
        s.memoryPercent = (u.memoryBytes / p.memoryRequestBytes) * 100;
      return s;
    });
}

export interface MinReplicasInput {
  /** The app's configured minimum (`app.minSize`): minReplicas never goes below it. */
  minSize: number;
  /** The app's maximum (`app.maxSize`): minReplicas never goes above it. */
  maxSize: number;
  /** The predictive engine's forecast count; undefined before it has a forecast. */
  forecastDesired: number | undefined;
  /** The HPA's `spec.minReplicas` now (undefined: the API default, 1). */
  currentMinReplicas: number | undefined;
  /** Forecast-only: report, never patch. */
  forecastOnly: boolean;
}

export interface MinReplicasDecision {
  /** The minReplicas the forecast asks for. */
  minReplicas: number;
  /** Patch the HPA to `minReplicas` (false when unchanged or in forecast-only mode). */
  patch: boolean;
  /** One line for the log. */
  reason: string;
}

/** What the HPA's `spec.minReplicas` should be this period, and whether to patch it. */
export function minReplicasDecision(i: MinReplicasInput): MinReplicasDecision {
  if (!Number.isInteger(i.minSize) || !Number.isInteger(i.maxSize) || i.minSize < 1 || i.maxSize < i.minSize)
    throw new Error(
      `minReplicasDecision: need integers 1 <= minSize <= maxSize; got minSize ${i.minSize}, maxSize ${i.maxSize}`,
    );
  const forecast = i.forecastDesired;
  const minReplicas = clamp(Math.max(i.minSize, forecast ?? i.minSize), i.minSize, i.maxSize);
  const current = i.currentMinReplicas ?? 1;
  const why =
    forecast === undefined
      ? `no forecast yet: minReplicas stays at the configured minimum ${i.minSize}`
      : forecast > i.minSize
        ? `forecast needs ${forecast} (configured minimum ${i.minSize}, maximum ${i.maxSize}): minReplicas ${minReplicas}`
        : `forecast needs ${forecast}, at or below the configured minimum ${i.minSize}: minReplicas ${minReplicas}`;
  if (minReplicas === current) return { minReplicas, patch: false, reason: `${why}; unchanged` };
  if (i.forecastOnly)
    return { minReplicas, patch: false, reason: `${why}; forecast-only: would change ${current} → ${minReplicas}` };
  return { minReplicas, patch: true, reason: `${why}; ${current} → ${minReplicas}` };
}
