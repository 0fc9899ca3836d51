/**
 * The MetricsStore part of `npm run status`: which store instances the stack runs (from the
 * recorded containers, label `scaleplane.io/metrics`) and what each is doing, read live over its
 * published 127.0.0.1 port: health, the shard map epoch it follows, samples accepted and refused,
 * and the per-shard maintenance it runs (horizon, blocks sealed).
 */
import type { Recording } from "./offline";

export interface MetricsInstance {
  container: string;
  hostPort: number;
}

export interface MetricsInstanceStatus extends MetricsInstance {
  healthy: boolean;
  epoch?: number;
  samplesAccepted?: number;
  samplesRefused?: number;
  /** Shards this instance maintains (it holds their leases), with their horizon. */
  maintains: { shard: string; horizon: string; sealedBlocks: number; at: string }[];
  error?: string;
}

type Labels = Record<string, string>;

/** The store instances of a recorded stack. */
export function metricsInstances(rec: Recording): MetricsInstance[] {
  const out: MetricsInstance[] = [];
  for (const c of rec.ofType("docker:index/container:Container")) {
    const labels: Labels = Array.isArray(c.inputs.labels)
      ? Object.fromEntries((c.inputs.labels as { label: string; value: string }[]).map((l) => [l.label, l.value]))
      : {};
    if (labels["scaleplane.io/metrics"] === undefined) continue;
    const port = (c.inputs.ports as { ip?: string; external?: number }[] | undefined)?.find(
      (p) => p.ip === "127.0.0.1",
    )?.external;
    if (port !== undefined) out.push({ container: String(c.inputs.name), hostPort: port });
  }
  return out;
}

const counter = (text: string, name: string): number | undefined => {
  const m = new RegExp(`^${name.replace(/[{}"=]/g, (c) => `\\${c}`)} (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
};

/** Reads one instance (bounded: 2 s per call). */
export async function metricsInstanceStatus(i: MetricsInstance): Promise<MetricsInstanceStatus> {
  const base = `http://127.0.0.1:${i.hostPort}`;
  const get = (path: string) => fetch(`${base}${path}`, { signal: AbortSignal.timeout(2000) });
  try {
    const ready = (await (await get("/ready")).json()) as { epoch?: number };
    const text = await (await get("/metrics")).text();
    const maint = (await (await get("/api/v1/status/maintenance")).json()) as {
      data: Record<string, { horizon: number; sealedBlocks: number; at: number }>;
    };
    return {
      ...i,
      healthy: true,
      epoch: ready.epoch,
      samplesAccepted: counter(text, "scaleplane_metrics_samples_accepted_total"),
      samplesRefused: counter(text, 'scaleplane_metrics_samples_refused_total{reason="too_old"}'),
      maintains: Object.entries(maint.data).map(([shard, r]) => ({
        shard,
        horizon: r.horizon > 0 ? new Date(r.horizon).toISOString() : "-",
        sealedBlocks: r.sealedBlocks,
        at: new Date(r.at).toISOString(),
      })),
    };
  } catch (e) {
    return { ...i, healthy: false, maintains: [], error: (e instanceof Error ? e.message : String(e)).split("\n")[0] };
  }
}

/** Lines of the human-readable view. */
export function renderMetricsStatus(list: readonly MetricsInstanceStatus[]): string[] {
  if (list.length === 0) return ["metrics store: none in this stack"];
  const out = ["metrics store"];
  for (const s of list)
    out.push(
      `  ${s.container} 127.0.0.1:${s.hostPort} ${s.healthy ? "healthy" : `DOWN (${s.error})`}` +
        (s.healthy
          ? `, shard map epoch ${s.epoch}, samples accepted ${s.samplesAccepted ?? 0}, refused as too old ${s.samplesRefused ?? 0}` +
            (s.maintains.length
              ? `; maintains ${s.maintains.map((m) => `${m.shard} (horizon ${m.horizon})`).join(", ")}`
              : "")
          : ""),
    );
  return out;
}
