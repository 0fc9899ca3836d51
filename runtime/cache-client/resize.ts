/**
 * The cache resize controller: moves the topology to a new node set through the phases of
 * core/cache/topology.ts, one compare-and-swap per step, waiting one fence wait (a view lease
 * plus margins) after each so no client trusting an older copy is more than one step behind.
 * During `migrating` the new owners read through the old ones (ASK), so they do not start cold;
 * `warmMs` is how long that phase lasts.
 *
 * Resumable: every step is read from etcd, so a run cut at any point is finished by the next
 * run (which first waits a fence wait, since it cannot know when the last step was written).
 */
import type { Logger } from "pino";
import { advanceResize, beginResize } from "../../core/cache/resize";
import {
  fenceWaitMs,
  initialTopology,
  type CacheNodeInput,
  type CacheTimings,
  type CacheTopology,
} from "../../core/cache/topology";
import type { ConfigClient } from "../config-client";
import { initTopology, readTopology, updateTopology } from "./topology-store";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface ResizeOptions extends CacheTimings {
  /** How long the `migrating` phase (read-through from the old owners) lasts, ms. @default 5000 */
  warmMs?: number;
  /** Replicas per key for a topology created here. @default 1 */
  replicas?: number;
  /** Called after each step is written. */
  onStep?: (t: CacheTopology) => void;
  log?: Logger;
}

/**
 * Brings the cluster's topology to `nodes`: creates it when absent, finishes a resize in flight,
 * then resizes (when the node set differs). Resolves with the final topology.
 */
export async function resizeCache(
  config: ConfigClient,
  cluster: string,
  nodes: readonly CacheNodeInput[],
  o: ResizeOptions,
): Promise<CacheTopology> {
  const wait = fenceWaitMs(o);
  const stored = await readTopology(config, cluster);
  if (!stored) {
    const created = await initTopology(config, cluster, initialTopology(nodes, { replicas: o.replicas ?? 1 }));
    o.onStep?.(created);
    if (created.epoch === 0 && created.migration === undefined) return created;
  }
  let t = (await readTopology(config, cluster))!.topology;
  if (t.migration) {
    // a run was cut: the last step's time is unknown, so give every client a full view lease
    await sleep(wait);
    t = await finish(config, cluster, t, o, wait);
  }
  let started = false;
  t = await updateTopology(config, cluster, (cur) => {
    started = false;
    const next = beginResize(cur, nodes);
    started = next !== undefined;
    return next;
  });
  if (!started) return t;
  o.onStep?.(t);
  o.log?.info({ epoch: t.epoch, phase: t.migration?.phase ?? "done" }, "cache resize step");
  await sleep(wait);
  return t.migration ? finish(config, cluster, t, o, wait) : t;
}

async function finish(
  config: ConfigClient,
  cluster: string,
  from: CacheTopology,
  o: ResizeOptions,
  wait: number,
): Promise<CacheTopology> {
  let t = from;
  while (t.migration) {
    const phase = t.migration.phase;
    t = await updateTopology(config, cluster, (cur) =>
      cur.migration?.phase === phase ? advanceResize(cur) : undefined,
    );
    o.onStep?.(t);
    o.log?.info({ epoch: t.epoch, phase: t.migration?.phase ?? "done" }, "cache resize step");
    await sleep(t.migration?.phase === "finishing" ? Math.max(wait, 0) : wait);
    if (t.migration?.phase === "migrating") await sleep(Math.max(0, (o.warmMs ?? 5000) - wait));
  }
  return t;
}
