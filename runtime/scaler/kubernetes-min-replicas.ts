/**
 * The predictive engine on Kubernetes, in the cluster: the HPA keeps all reactive scaling, and this
 * loop only raises the HPA's `spec.minReplicas` ahead of forecast load (and lowers it back, never
 * below the configured minimum). Every period it reads the group's pods (requests, readiness) and
 * their metrics.k8s.io usage, turns them into the engines' samples (core/scaling/min-replicas.ts
 * podSamples: CPU percent of the request, like the HPA), feeds the predictive engine and applies
 * `minReplicasDecision`: a merge patch only when the value changes, conditioned on the HPA's
 * resourceVersion; in forecast-only mode it only logs. One replica suffices. With a MetricsStore
 * (`SCALER_METRICS_URL`) the history is durable: each period's measured load is written there and
 * a restarted scaler reads the last two longest seasons back before its first decision
 * (runtime/scaler/predictive-history.ts), so a rollout forgets no daily or weekly pattern. Without
 * one a restarted scaler relearns, and until it has a forecast it leaves minReplicas at the
 * configured minimum.
 *
 * Entry (the scaler image, `node /app/scaler.js kubernetes-min-replicas`), environment:
 *   SCALER_NAMESPACE     namespace of the HPA and pods   @default the service account's namespace
 *   SCALER_HPA           the HPA's name                  required
 *   SCALER_POD_SELECTOR  label selector of the group's pods (a=b,c=d)   required
 *   SCALER_POLICY        the scaling policy JSON (core/app/scaling.ts appScalingPolicyInput)  required
 *   SCALER_HEALTH_PORT   port of GET /healthz (fresh while ticks complete)  @default 8080
 *   SCALER_METRICS_URL   the MetricsStore's URL (http://host:port) for the durable history   @default none
 *   SCALEPLANE_LOG_LEVEL pino level                      @default info
 */
import { existsSync, readFileSync } from "node:fs";
import * as http from "node:http";
import pino, { type Logger } from "pino";
import { createEngine, parseScalingPolicy, type Engine, type ScalingPolicy } from "../../core/scaling";
import { minReplicasDecision, podSamples, type MinReplicasDecision } from "../../core/scaling/min-replicas";
import { measureLoad, withHistory, type PredictiveState } from "../../core/scaling/predictive";
import { MetricsClient } from "../metrics-store/client";
import { KubernetesApi, SERVICE_ACCOUNT_DIR } from "./kubernetes-api";
import { PredictiveHistory } from "./predictive-history";

export interface MinReplicasLoopOptions {
  api: KubernetesApi;
  namespace: string;
  hpa: string;
  podSelector: string;
  /** Must name the predictive engine. */
  policy: ScalingPolicy;
  log: Logger;
  /** @default Date.now */
  now?: () => number;
  /** Durable history (the MetricsStore); without it the forecast starts empty. */
  history?: PredictiveHistory;
}

/** What one tick saw and did (logged, and returned for tests). */
export interface MinReplicasTick {
  pods: number;
  withMetrics: number;
  forecastDesired: number | undefined;
  decision: MinReplicasDecision;
  patched: boolean;
  /** History points read from the store before this tick's decision (the first tick only). */
  historyPoints?: number;
}

export class MinReplicasLoop {
  private readonly engine: Engine;
  private state: unknown;
  private stopped = false;
  private wake: (() => void) | undefined;
  private historyRead = false;
  /** ms of the last completed tick (the health endpoint's freshness). */
  lastTickMs = 0;

  constructor(private readonly o: MinReplicasLoopOptions) {
    if (o.policy.engine !== "predictive")
      throw new Error(
        `SCALER_POLICY: engine must be "predictive" for the Kubernetes min-replicas scaler; got "${o.policy.engine}"`,
      );
    this.engine = createEngine(o.policy);
    this.state = this.engine.init();
  }

  /** One period: read, decide, patch when needed. Throws on API errors (the caller logs and retries). */
  async tick(): Promise<MinReplicasTick> {
    const { api, namespace, hpa: hpaName, podSelector, policy, log } = this.o;
    const now = (this.o.now ?? Date.now)();
    const [pods, hpa, usage] = await Promise.all([
      api.listPods(namespace, podSelector),
      api.getHpa(namespace, hpaName),
      // metrics-server briefly unavailable: the tick still runs (no load observed, the forecast keeps its state).
      api.listPodMetrics(namespace, podSelector).catch((e: unknown) => {
        log.warn({ err: (e as Error).message }, "pod metrics unavailable this period");
        return [];
      }),
    ]);
    const instances = podSamples(pods, usage);
    const current = hpa.currentReplicas ?? instances.length;
    const historyPoints = await this.readHistory(now);
    const history = this.o.history;
    if (history) {
      // Best effort: a store that is down costs this period's point (a gap), never the decision.
      const { load } = measureLoad(instances, policy.predictive.metric, (this.state as PredictiveState).perRequest);
      if (load !== undefined)
        await history.record(now, load).catch((e: unknown) => {
          log.warn({ err: (e as Error).message }, "could not write the load to the metrics store");
        });
    }
    const { decision: d, state } = this.engine.decide(this.state, { nowMs: now, current, instances });
    this.state = state;
    // The HPA cannot go below one replica, nor above its own maxReplicas.
    const minSize = Math.max(1, policy.minSize);
    const decision = minReplicasDecision({
      minSize,
      maxSize: Math.max(minSize, Math.min(policy.maxSize, hpa.maxReplicas > 0 ? hpa.maxReplicas : policy.maxSize)),
      forecastDesired: d.forecastDesired,
      currentMinReplicas: hpa.minReplicas,
      forecastOnly: policy.predictive.forecastOnly,
    });
    let patched = false;
    if (decision.patch) {
      await api.patchHpaMinReplicas(namespace, hpaName, decision.minReplicas, hpa.resourceVersion);
      patched = true;
    }
    const tick = {
      pods: instances.length,
      withMetrics: instances.filter((i) => i.cpuPercent !== undefined).length,
      forecastDesired: d.forecastDesired,
      decision,
      patched,
      ...(historyPoints !== undefined ? { historyPoints } : {}),
    };
    log.info(
      {
        hpa: hpaName,
        current,
        minReplicas: decision.minReplicas,
        previousMinReplicas: hpa.minReplicas ?? 1,
        forecastDesired: d.forecastDesired,
        patched,
        pods: tick.pods,
        withMetrics: tick.withMetrics,
        engineReason: d.reason,
      },
      decision.reason,
    );
    this.lastTickMs = now;
    return tick;
  }

  /**
   * Once, before the first decision: the stored history folded into the forecast. A store that
   * cannot answer leaves the forecast empty (it learns live), said in the log.
   */
  private async readHistory(now: number): Promise<number | undefined> {
    if (this.historyRead || !this.o.history) return undefined;
    this.historyRead = true;
    try {
      const points = await this.o.history.read(now);
      this.state = withHistory(this.state as PredictiveState, points);
      this.o.log.info({ points: points.length }, "predictive history read from the metrics store");
      return points.length;
    } catch (e) {
      this.o.log.warn({ err: (e as Error).message }, "could not read the predictive history: learning from now");
      return 0;
    }
  }

  /** Ticks every `policy.periodSeconds` until `stop()`; a failed tick is logged and retried next period. */
  async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.tick();
      } catch (e) {
        this.o.log.error({ err: (e as Error).message }, "tick failed");
      }
      if (this.stopped) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.o.policy.periodSeconds * 1000);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }
}

/** The loop's settings from its environment; errors name the variable. */
export function minReplicasSettingsFromEnv(env: NodeJS.ProcessEnv): {
  namespace: string;
  hpa: string;
  podSelector: string;
  policy: ScalingPolicy;
  healthPort: number;
  metricsUrl?: string;
} {
  const need = (k: string) => {
    const v = env[k];
    if (!v) throw new Error(`${k} is required`);
    return v;
  };
  const nsFile = `${SERVICE_ACCOUNT_DIR}/namespace`;
  const namespace = env.SCALER_NAMESPACE || (existsSync(nsFile) ? readFileSync(nsFile, "utf8").trim() : "");
  if (!namespace) throw new Error(`SCALER_NAMESPACE is required (no ${nsFile} to default from)`);
  let raw: unknown;
  try {
    raw = JSON.parse(need("SCALER_POLICY"));
  } catch (e) {
    throw new Error(`SCALER_POLICY: not JSON (${(e as Error).message})`);
  }
  const policy = parseScalingPolicy(raw, "SCALER_POLICY");
  const healthPort = Number(env.SCALER_HEALTH_PORT ?? "8080");
  if (!Number.isInteger(healthPort) || healthPort < 1 || healthPort > 65535)
    throw new Error(`SCALER_HEALTH_PORT must be a port number; got ${env.SCALER_HEALTH_PORT}`);
  const metricsUrl = env.SCALER_METRICS_URL || undefined;
  if (metricsUrl !== undefined && !/^https?:\/\/[^/\s]+/.test(metricsUrl))
    throw new Error(`SCALER_METRICS_URL must be http(s)://host:port; got ${metricsUrl}`);
  return {
    namespace,
    hpa: need("SCALER_HPA"),
    podSelector: need("SCALER_POD_SELECTOR"),
    policy,
    healthPort,
    ...(metricsUrl ? { metricsUrl } : {}),
  };
}

/** Runs the loop in the pod: JSON logs, GET /healthz (503 once three periods pass without a tick), SIGTERM stops. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const s = minReplicasSettingsFromEnv(env);
  const log = pino({ name: "kubernetes-min-replicas", level: env.SCALEPLANE_LOG_LEVEL ?? "info" }).child({
    namespace: s.namespace,
    hpa: s.hpa,
  });
  const loop = new MinReplicasLoop({
    api: new KubernetesApi({ env }),
    namespace: s.namespace,
    hpa: s.hpa,
    podSelector: s.podSelector,
    policy: s.policy,
    log,
    ...(s.metricsUrl
      ? {
          history: new PredictiveHistory(
            new MetricsClient({ url: s.metricsUrl }),
            { group: s.hpa, namespace: s.namespace },
            s.policy.predictive,
          ),
        }
      : {}),
  });
  const started = Date.now();
  const server = http.createServer((req, res) => {
    const last = loop.lastTickMs || started;
    const healthy = Date.now() - last < 3 * s.policy.periodSeconds * 1000 + 30_000;
    res
      .writeHead(req.url === "/healthz" ? (healthy ? 200 : 503) : 404, { "content-type": "text/plain" })
      .end(healthy ? "ok\n" : "stale\n");
  });
  server.listen(s.healthPort);
  for (const sig of ["SIGTERM", "SIGINT"] as const)
    process.once(sig, () => {
      log.info({ signal: sig }, "stopping");
      loop.stop();
      server.close();
    });
  log.info(
    {
      podSelector: s.podSelector,
      periodSeconds: s.policy.periodSeconds,
      forecastOnly: s.policy.predictive.forecastOnly,
      minSize: s.policy.minSize,
      maxSize: s.policy.maxSize,
    },
    "starting",
  );
  await loop.run();
}
