/**
 * The CacheTopology provider's operations (see ./index.ts for the resource and what each does).
 * Bundled with esbuild into the serialized provider (providers/bundled-operations.ts), so zod, the
 * config client and the cache runtime may be used freely; npm packages stay `require`d by name.
 *
 * Progress goes to `pulumi.log.info` (the CLI shows it as the resource's output).
 */
import { performance } from "node:perf_hooks";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { CacheResizeError } from "../../core/cache/resize";
import {
  CacheNodeSchema,
  CacheRouter,
  MAX_CACHE_REPLICAS,
  fenceWaitMs,
  initialTopology,
} from "../../core/cache/topology";
import type { CacheTopology as Topology } from "../../core/cache/topology";
import { fenceCache, readTopology, resizeCache, type ResizeOptions } from "../../runtime/cache-client";
import { providerConfigClient } from "../config-client";

/** The plain inputs the provider receives (validated by check). */
export const CacheTopologyInputsSchema = z.object({
  etcdEndpoints: z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, "must be http(s)://host:port")).min(1),
  etcdPrefix: z
    .string()
    .regex(/^\/[A-Za-z0-9._\-/]*\/$/, "must start and end with /")
    .default("/scaleplane/"),
  cluster: z.string().regex(/^[a-z0-9][-a-z0-9]*$/, "must be a lowercase name (a-z, 0-9, '-')"),
  nodes: z.array(CacheNodeSchema).min(1, "must list at least one node"),
  replicas: z.number().int().min(1).max(MAX_CACHE_REPLICAS).default(1),
  viewLeaseMs: z.number().int().min(100).max(60_000).default(2000),
  nearTtlMs: z.number().int().min(1).max(10_000).default(100),
  warmMs: z.number().int().min(0).max(600_000).default(5000),
});
export type CacheTopologyInputs = z.output<typeof CacheTopologyInputsSchema>;

/** What the last create/update did. */
export interface CacheTopologyRun {
  /** created: a new topology; adopted: an existing one taken over (resized, then every node fenced); resized; unchanged. */
  action: "created" | "adopted" | "resized" | "unchanged";
  /** Node names before and after. */
  from: string[];
  to: string[];
  /** Topology steps written (phases, fences). */
  steps: number;
  seconds: number;
}

/** Outputs (state): the inputs (no secret among them), the stored epoch and generations, the last run. */
export type CacheTopologyOutputs = CacheTopologyInputs & {
  epoch: number;
  generations: Record<string, number>;
  /** The phase of a resize a refresh found in flight ("" when none). */
  migrationPhase: string;
  lastRun: CacheTopologyRun;
};

/** Keys whose change is an update (`cluster` and `etcdPrefix` name another topology: a replacement). */
const UPDATE_KEYS = ["etcdEndpoints", "nodes", "replicas", "viewLeaseMs", "nearTtlMs", "warmMs"] as const;
const REPLACE_KEYS = ["cluster", "etcdPrefix"] as const;

/** Validates raw inputs (the node list as a topology would hold it); failures name the property. */
export function parseInputs(raw: Record<string, unknown>): {
  inputs?: CacheTopologyInputs;
  failures: pulumi.dynamic.CheckFailure[];
} {
  const { __provider: _p, ...rest } = raw;
  const r = CacheTopologyInputsSchema.safeParse(rest);
  if (!r.success)
    return { failures: r.error.issues.map((i) => ({ property: i.path.join(".") || "(inputs)", reason: i.message })) };
  try {
    initialTopology(r.data.nodes, { replicas: r.data.replicas });
  } catch (e) {
    const issues = e instanceof z.ZodError ? e.issues : [{ path: ["nodes"], message: String(e) }];
    return { failures: issues.map((i) => ({ property: i.path.join("."), reason: i.message })) };
  }
  return { inputs: r.data, failures: [] };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const names = (t?: Pick<Topology, "nodes">) => (t ? t.nodes.map((n) => n.name) : []);

function outputsOf(i: CacheTopologyInputs, t: Topology, lastRun: CacheTopologyRun): CacheTopologyOutputs {
  return { ...i, epoch: t.epoch, generations: t.generations, migrationPhase: t.migration?.phase ?? "", lastRun };
}

/**
 * Brings the stored topology to the inputs. `timings` are the ones clients may still run with
 * (an update passes the larger of the old and new ones: clients change settings only when the
 * app is redeployed). `adopt`: when a topology exists already, fence every node afterwards.
 * `recordedEpoch`: the epoch the engine's state holds (an update's); when etcd is past it and
 * there is nothing left to do, a run was cut after writing its last step, whose view lease may
 * not have passed yet: wait it out before the engine deletes the nodes taken out.
 */
async function apply(
  inputs: CacheTopologyInputs,
  timings: Pick<ResizeOptions, "viewLeaseMs" | "nearTtlMs">,
  adopt: boolean,
  recordedEpoch?: number,
): Promise<CacheTopologyOutputs> {
  const config = providerConfigClient(inputs);
  const t0 = performance.now();
  let steps = 0;
  const o: ResizeOptions = {
    ...timings,
    warmMs: inputs.warmMs,
    replicas: inputs.replicas,
    onStep: (t) => {
      steps++;
      void pulumi.log.info(
        `cache ${inputs.cluster}: epoch ${t.epoch}, ${t.migration ? `resize phase ${t.migration.phase}` : "no resize in flight"}, nodes ${names(t).join(", ")}`,
      );
    },
  };
  try {
    const before = (await readTopology(config, inputs.cluster))?.topology;
    let t = await resizeCache(config, inputs.cluster, inputs.nodes, o);
    let action: CacheTopologyRun["action"] = !before
      ? "created"
      : new CacheRouter(before).routing === new CacheRouter(t).routing && before.epoch === t.epoch
        ? "unchanged"
        : "resized";
    if (action === "unchanged" && recordedEpoch !== undefined && t.epoch !== recordedEpoch) {
      void pulumi.log.info(`cache ${inputs.cluster}: a cut run wrote epoch ${t.epoch}; waiting out its view lease`);
      await sleep(fenceWaitMs(timings));
    }
    if (before && adopt) {
      // Created over an existing topology: its invalidations may have stopped meanwhile (the
      // resource was deleted, or a create was cut before it could record its state).
      t = await fenceCache(config, inputs.cluster, o);
      action = "adopted";
    }
    const run = {
      action,
      from: names(before?.migration ? { nodes: before.migration.from } : before),
      to: names(t),
      steps,
      seconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
    };
    void pulumi.log.info(`cache ${inputs.cluster}: ${action} at epoch ${t.epoch} (${run.to.join(", ")})`);
    return outputsOf(inputs, t, run);
  } catch (e) {
    if (e instanceof CacheResizeError) throw new Error(`CacheTopology: ${e.message}`);
    throw e;
  } finally {
    config.close();
  }
}

const invalid = (failures: pulumi.dynamic.CheckFailure[]) =>
  new Error(`CacheTopology: invalid inputs: ${failures.map((f) => `${f.property}: ${f.reason}`).join("; ")}`);

/** create: publishes the topology, or takes over an existing one (resize to these nodes, fence every node). */
export async function create(raw: Record<string, unknown>): Promise<CacheTopologyOutputs> {
  const { inputs, failures } = parseInputs(raw);
  if (!inputs) throw invalid(failures);
  return apply(inputs, inputs, true);
}

/** update: the phased resize to the new nodes (first finishing one a killed run left). */
export async function update(olds: CacheTopologyOutputs, raw: Record<string, unknown>): Promise<CacheTopologyOutputs> {
  const { inputs, failures } = parseInputs(raw);
  if (!inputs) throw invalid(failures);
  return apply(
    inputs,
    {
      viewLeaseMs: Math.max(inputs.viewLeaseMs, olds.viewLeaseMs ?? 0),
      nearTtlMs: Math.max(inputs.nearTtlMs, olds.nearTtlMs ?? 0),
    },
    false,
    typeof olds.epoch === "number" ? olds.epoch : undefined,
  );
}

/** check: inputs valid (names the property), node list a valid topology. */
export async function check(
  _olds: Record<string, unknown>,
  news: Record<string, unknown>,
): Promise<pulumi.dynamic.CheckResult> {
  const { failures } = parseInputs(news);
  return { inputs: news, failures };
}

/** diff: the changed inputs, a resize a refresh found in flight; another cluster key is a replacement. */
export async function diff(
  olds: CacheTopologyOutputs,
  news: Record<string, unknown>,
): Promise<pulumi.dynamic.DiffResult> {
  const { inputs } = parseInputs(news);
  if (!inputs) return { changes: true, replaces: [], deleteBeforeReplace: false };
  // the old state as the schema reads it (defaults filled in), so only real differences count
  const before = CacheTopologyInputsSchema.safeParse(olds);
  const old = (before.success ? before.data : olds) as Partial<CacheTopologyInputs>;
  const same = (k: keyof CacheTopologyInputs) => JSON.stringify(old[k]) === JSON.stringify(inputs[k]);
  const replaces = REPLACE_KEYS.filter((k) => !same(k));
  const changed = UPDATE_KEYS.filter((k) => !same(k));
  const inFlight = typeof olds.migrationPhase === "string" && olds.migrationPhase !== "";
  return {
    changes: replaces.length + changed.length > 0 || inFlight,
    replaces: [...replaces],
    deleteBeforeReplace: false,
  };
}

/**
 * read (refresh): what etcd holds: its node list and replica count (so a resize made outside
 * `pulumi up` shows as a difference the next update reverts), epoch, generations, a resize in
 * flight. No topology: the resource is gone.
 */
export async function read(id: string, props: CacheTopologyOutputs): Promise<pulumi.dynamic.ReadResult> {
  const config = providerConfigClient(props);
  try {
    const stored = await readTopology(config, props.cluster);
    if (!stored) return { id: "", props: {} };
    const t = stored.topology;
    return {
      id,
      props: {
        ...props,
        nodes: t.nodes,
        replicas: t.replicas,
        epoch: t.epoch,
        generations: t.generations,
        migrationPhase: t.migration?.phase ?? "",
      },
    };
  } finally {
    config.close();
  }
}

/**
 * delete: the nodes are going away with this resource (or stop being invalidated): every node is
 * fenced, so nothing they hold is served again by a client still running, and the key is kept,
 * so epochs only grow (a CacheTopology created over it later adopts it).
 */
export async function remove(props: CacheTopologyOutputs): Promise<void> {
  const config = providerConfigClient(props);
  try {
    if (!(await readTopology(config, props.cluster))) return;
    // (a resize in flight may stay: fencing changes no route, and a later create finishes it)
    await fenceCache(config, props.cluster, { viewLeaseMs: props.viewLeaseMs, nearTtlMs: props.nearTtlMs });
    void pulumi.log.info(`cache ${props.cluster}: every node fenced; the topology stays in etcd`);
  } finally {
    config.close();
  }
}
