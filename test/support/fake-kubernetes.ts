/**
 * A fake Kubernetes cluster on a FakeHttpServer: one group's pods with their metrics.k8s.io usage
 * and its HPA (a PATCH of spec.minReplicas is applied), for the in-cluster scaler's tests.
 */
import { json, type FakeHttpServer } from "./fake-http";

export const NS = "apps";
export const SELECTOR = "app.kubernetes.io/name=web";

/** A fake cluster: `pods` pods with 250m requests each using `cpuCores`, an HPA with minReplicas `min`. */
export function cluster(fake: FakeHttpServer, s: { pods: number; cpuCores: number; min: number }): void {
  const names = Array.from({ length: s.pods }, (_, i) => `web-${i}`);
  fake.route = (r) => {
    if (r.method === "GET" && r.path === `/api/v1/namespaces/${NS}/pods`)
      return json({
        items: names.map((name) => ({
          metadata: { name },
          spec: { containers: [{ name: "app", resources: { requests: { cpu: "250m", memory: "256Mi" } } }] },
          status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] },
        })),
      });
    if (r.method === "GET" && r.path === `/apis/metrics.k8s.io/v1beta1/namespaces/${NS}/pods`)
      return json({
        items: names.map((name) => ({
          metadata: { name },
          containers: [{ name: "app", usage: { cpu: `${Math.round(s.cpuCores * 1e9)}n`, memory: "64Mi" } }],
        })),
      });
    if (r.path === `/apis/autoscaling/v2/namespaces/${NS}/horizontalpodautoscalers/web`) {
      if (r.method === "PATCH") s.min = (JSON.parse(r.body) as { spec: { minReplicas: number } }).spec.minReplicas;
      return json({
        metadata: { name: "web", namespace: NS, resourceVersion: String(fake.seen.length) },
        spec: { minReplicas: s.min, maxReplicas: 8 },
        status: { currentReplicas: s.pods },
      });
    }
    return json({ kind: "Status", reason: "NotFound", message: "no route" }, 404);
  };
}
