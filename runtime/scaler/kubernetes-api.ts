/**
 * A small typed client of the Kubernetes API, as the in-cluster predictive scaler uses it: pod
 * metrics (metrics.k8s.io), pods (requests, phase, readiness), and the HPA (get, merge-patch). It
 * authenticates like every in-cluster client — the service account's token file and CA bundle —
 * and re-reads the token on each call (kubelet rotates projected tokens). Only the fields scaling
 * needs are typed; responses are parsed into the pure types of core/scaling/min-replicas.ts.
 * A client library (@kubernetes/client-node) would pull in far more than these four calls need.
 */
import { readFileSync } from "node:fs";
import { parseQuantity } from "../../core/kubernetes/quantity";
import type { PodInfo, PodUsage } from "../../core/scaling/min-replicas";
import { HttpCallError, httpCallOk } from "./http-call";

/** The field manager the HPA patches are recorded under (`kubectl get hpa --show-managed-fields`). */
export const FIELD_MANAGER = "scaleplane-predictive-scaler";

/** Where a pod's service account is mounted. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface KubernetesApiOptions {
  /** API server base URL. @default https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT */
  baseUrl?: string;
  /** Bearer token, or a function returning it. @default the service account's token file, read per call */
  token?: string | (() => string);
  /** CA bundle (PEM). @default the service account's ca.crt */
  ca?: string | Buffer;
  /** Deadline per call, ms. @default 10000 */
  timeoutMs?: number;
  /** Environment for the defaults. @default process.env */
  env?: NodeJS.ProcessEnv;
}

/** The HPA fields the scaler reads. */
export interface HpaInfo {
  name: string;
  namespace: string;
  minReplicas: number | undefined;
  maxReplicas: number;
  currentReplicas: number | undefined;
  desiredReplicas: number | undefined;
  resourceVersion: string | undefined;
}

interface PodMetricsList {
  items?: {
    metadata?: { name?: string };
    containers?: { name?: string; usage?: { cpu?: string; memory?: string } }[];
  }[];
}
interface PodList {
  items?: {
    metadata?: { name?: string; deletionTimestamp?: string };
    spec?: { containers?: { name?: string; resources?: { requests?: { cpu?: string; memory?: string } } }[] };
    status?: { phase?: string; conditions?: { type?: string; status?: string }[] };
  }[];
}
interface Hpa {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: { minReplicas?: number; maxReplicas?: number };
  status?: { currentReplicas?: number; desiredReplicas?: number };
}

const sum = (xs: (number | undefined)[]): number | undefined =>
  xs.length === 0 || xs.some((x) => x === undefined) ? undefined : xs.reduce<number>((a, b) => a + b!, 0);

export class KubernetesApi {
  private readonly baseUrl: string;
  private readonly token: () => string;
  private readonly ca: string | Buffer | undefined;
  private readonly timeoutMs: number;

  constructor(o: KubernetesApiOptions = {}) {
    const env = o.env ?? process.env;
    if (o.baseUrl) this.baseUrl = o.baseUrl.replace(/\/$/, "");
    else {
      const host = env.KUBERNETES_SERVICE_HOST;
      const port = env.KUBERNETES_SERVICE_PORT ?? "443";
      if (!host)
        throw new Error(
          "KubernetesApi: KUBERNETES_SERVICE_HOST is not set (not running in a pod?) and no baseUrl was given",
        );
      this.baseUrl = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
    }
    const t = o.token;
    this.token =
      typeof t === "string" ? () => t : (t ?? (() => readFileSync(`${SERVICE_ACCOUNT_DIR}/token`, "utf8").trim()));
    this.ca =
      o.ca ??
      (this.baseUrl.startsWith("https:") && o.baseUrl === undefined ? KubernetesApi.serviceAccountCa() : undefined);
    this.timeoutMs = o.timeoutMs ?? 10_000;
  }

  private static serviceAccountCa(): Buffer {
    try {
      return readFileSync(`${SERVICE_ACCOUNT_DIR}/ca.crt`);
    } catch (e) {
      throw new Error(
        `KubernetesApi: cannot read the service account CA bundle (automountServiceAccountToken off?): ${(e as Error).message}`,
      );
    }
  }

  private async request<T>(
    call: string,
    method: string,
    path: string,
    query: Record<string, string> = {},
    body?: { contentType: string; value: unknown },
  ): Promise<T> {
    const url = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    let token: string;
    try {
      token = this.token();
    } catch (e) {
      throw new HttpCallError(
        `kubernetes ${call}`,
        "network",
        `cannot read the service account token: ${(e as Error).message}`,
      );
    }
    const res = await httpCallOk(
      {
        call: `kubernetes ${call}`,
        method,
        url,
        headers: {
          accept: "application/json",
          authorization: `Bearer ${token}`,
          ...(body ? { "content-type": body.contentType } : {}),
        },
        ...(body ? { body: JSON.stringify(body.value) } : {}),
        ...(this.ca !== undefined ? { ca: this.ca } : {}),
        timeoutMs: this.timeoutMs,
      },
      // Errors come back as a Status object: its message is the useful part.
      (b) => {
        try {
          const s = JSON.parse(b) as { reason?: string; message?: string };
          return [s.reason, s.message].filter(Boolean).join(": ") || b.slice(0, 500);
        } catch {
          return b.slice(0, 500);
        }
      },
    );
    try {
      return JSON.parse(res.body) as T;
    } catch {
      throw new HttpCallError(
        `kubernetes ${call}`,
        "status",
        `response is not JSON: ${res.body.slice(0, 200)}`,
        res.status,
        res.body,
      );
    }
  }

  /** Usage of the pods matching `labelSelector`, summed over each pod's containers (cores, bytes). */
  async listPodMetrics(namespace: string, labelSelector: string): Promise<PodUsage[]> {
    const list = await this.request<PodMetricsList>(
      "listPodMetrics",
      "GET",
      `/apis/metrics.k8s.io/v1beta1/namespaces/${encodeURIComponent(namespace)}/pods`,
      { labelSelector },
    );
    return (list.items ?? []).map((item) => {
      const name = item.metadata?.name ?? "";
      let cpuCores = 0;
      let memoryBytes = 0;
      for (const c of item.containers ?? []) {
        cpuCores += parseQuantity(c.usage?.cpu ?? "0", `pod ${name} container ${c.name} cpu usage`);
        memoryBytes += parseQuantity(c.usage?.memory ?? "0", `pod ${name} container ${c.name} memory usage`);
      }
      return { name, cpuCores, memoryBytes };
    });
  }

  /** The pods matching `labelSelector`: phase, readiness and summed requests. */
  async listPods(namespace: string, labelSelector: string): Promise<PodInfo[]> {
    const list = await this.request<PodList>(
      "listPods",
      "GET",
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
      { labelSelector },
    );
    return (list.items ?? []).map((item) => {
      const name = item.metadata?.name ?? "";
      const containers = item.spec?.containers ?? [];
      const req = (r: "cpu" | "memory") =>
        sum(
          containers.map((c) =>
            c.resources?.requests?.[r] === undefined
              ? undefined
              : parseQuantity(c.resources.requests[r]!, `pod ${name} container ${c.name} ${r} request`),
          ),
        );
      const cpu = req("cpu");
      const memory = req("memory");
      return {
        name,
        phase: item.status?.phase ?? "Unknown",
        ready: (item.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
        terminating: item.metadata?.deletionTimestamp !== undefined,
        ...(cpu !== undefined ? { cpuRequestCores: cpu } : {}),
        ...(memory !== undefined ? { memoryRequestBytes: memory } : {}),
      };
    });
  }

  private hpaPath(namespace: string, name: string): string {
    return `/apis/autoscaling/v2/namespaces/${encodeURIComponent(namespace)}/horizontalpodautoscalers/${encodeURIComponent(name)}`;
  }

  private static hpaInfo(h: Hpa): HpaInfo {
    return {
      name: h.metadata?.name ?? "",
      namespace: h.metadata?.namespace ?? "",
      minReplicas: h.spec?.minReplicas,
      maxReplicas: h.spec?.maxReplicas ?? 0,
      currentReplicas: h.status?.currentReplicas,
      desiredReplicas: h.status?.desiredReplicas,
      resourceVersion: h.metadata?.resourceVersion,
    };
  }

  async getHpa(namespace: string, name: string): Promise<HpaInfo> {
    return KubernetesApi.hpaInfo(await this.request<Hpa>("getHpa", "GET", this.hpaPath(namespace, name)));
  }

  /**
   * Sets the HPA's `spec.minReplicas` (a JSON merge patch: nothing else changes). With
   * `resourceVersion`, the patch applies only to that version (409 otherwise), so a decision made on
   * a stale read is not written.
   */
  async patchHpaMinReplicas(
    namespace: string,
    name: string,
    minReplicas: number,
    resourceVersion?: string,
  ): Promise<HpaInfo> {
    const value = { ...(resourceVersion ? { metadata: { resourceVersion } } : {}), spec: { minReplicas } };
    return KubernetesApi.hpaInfo(
      await this.request<Hpa>(
        "patchHpa",
        "PATCH",
        this.hpaPath(namespace, name),
        { fieldManager: FIELD_MANAGER },
        { contentType: "application/merge-patch+json", value },
      ),
    );
  }
}
