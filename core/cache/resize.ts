/**
 * Resize and fencing of the cache topology as pure steps: each function returns the next
 * topology (epoch + 1) that the runtime writes by compare-and-swap. The runtime waits
 * {@link fenceWaitMs} between two steps of a resize (see core/cache/topology.ts for why).
 *
 * Generations: every generation assigned is the epoch of the topology that assigns it. Epochs
 * only grow, so a node that joins again, or is fenced, always gets a generation it never held
 * before, and whatever it still stores from an earlier life is refused.
 */
import { diffOwnership, type OwnershipMove } from "../sharding/ring";
import {
  CacheRouter,
  CacheTopologySchema,
  RESIZE_PHASES,
  type CacheNode,
  type CacheNodeInput,
  type CacheTopology,
} from "./topology";

/** A bad resize request; `argument` names what was refused. */
export class CacheResizeError extends Error {
  constructor(
    readonly argument: string,
    message: string,
  ) {
    super(`cache resize: ${argument} ${message}`);
    this.name = "CacheResizeError";
  }
}

const sameNode = (a: CacheNode, b: CacheNode) =>
  a.name === b.name && a.weight === b.weight && a.zone === b.zone && a.host === b.host && a.port === b.port;

const ringShape = (nodes: readonly CacheNode[]) =>
  JSON.stringify([...nodes].map((n) => [n.name, n.weight, n.zone ?? null]).sort());

/** Whether `nodes` is the topology's node set already (names, weights, zones, addresses). */
export function sameNodes(t: CacheTopology, nodes: readonly CacheNode[]): boolean {
  if (t.nodes.length !== nodes.length) return false;
  const byName = new Map(t.nodes.map((n) => [n.name, n]));
  return nodes.every((n) => {
    const m = byName.get(n.name);
    return m !== undefined && sameNode(m, n);
  });
}

/**
 * The first step towards `target`: `undefined` when nothing changes; a new topology without a
 * migration when only addresses changed (those nodes get a new generation: a new address is a new
 * node as far as its data is concerned); otherwise phase `prepare`, new nodes with a fresh
 * generation.
 * @throws CacheResizeError while another resize is in flight, or for a bad node list
 */
export function beginResize(t: CacheTopology, targetInput: readonly CacheNodeInput[]): CacheTopology | undefined {
  if (t.migration)
    throw new CacheResizeError("topology", `is already resizing (phase ${t.migration.phase}); finish that first`);
  const probe = CacheTopologySchema.safeParse({
    ...t,
    nodes: targetInput,
    generations: Object.fromEntries(targetInput.map((n) => [n.name, 1])),
    migration: undefined,
  });
  if (!probe.success)
    throw new CacheResizeError("nodes", probe.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  const target = probe.data.nodes;
  if (sameNodes(t, target)) return undefined;
  const epoch = t.epoch + 1;
  const known = new Map(t.nodes.map((n) => [n.name, n]));
  const generations: Record<string, number> = { ...t.generations };
  for (const n of target) {
    const k = known.get(n.name);
    if (!k || k.host !== n.host || k.port !== n.port) generations[n.name] = epoch;
  }
  if (ringShape(t.nodes) === ringShape(target))
    return CacheTopologySchema.parse({ ...t, epoch, nodes: target, generations: pick(generations, target) });
  return CacheTopologySchema.parse({
    ...t,
    epoch,
    nodes: target,
    generations,
    migration: { phase: "prepare", from: t.nodes },
  });
}

/** The next step of a resize in flight: prepare → migrating → finishing → done (no migration). */
export function advanceResize(t: CacheTopology): CacheTopology {
  if (!t.migration) throw new CacheResizeError("topology", "has no resize in flight");
  const epoch = t.epoch + 1;
  const i = RESIZE_PHASES.indexOf(t.migration.phase);
  if (i < RESIZE_PHASES.length - 1)
    return CacheTopologySchema.parse({ ...t, epoch, migration: { ...t.migration, phase: RESIZE_PHASES[i + 1] } });
  const { migration: _done, ...rest } = t;
  void _done;
  return CacheTopologySchema.parse({ ...rest, epoch, generations: pick(t.generations, t.nodes) });
}

/** Fences `node`: a new generation, so nothing it holds now is ever served again. */
export function bumpGeneration(t: CacheTopology, node: string): CacheTopology {
  if (t.generations[node] === undefined)
    throw new CacheResizeError("node", `${JSON.stringify(node)} is not in topology epoch ${t.epoch}`);
  const epoch = t.epoch + 1;
  return CacheTopologySchema.parse({ ...t, epoch, generations: { ...t.generations, [node]: epoch } });
}

/** The partitions whose owner changes between two topologies' rings (what a resize moves). */
export function movedRanges(before: CacheTopology, after: CacheTopology): OwnershipMove[] {
  return diffOwnership(new CacheRouter(before).current, new CacheRouter(after).current);
}

/** The nodes a resize leaves out (to be flushed and stopped once it is done). */
export function removedNodes(before: CacheTopology, after: CacheTopology): string[] {
  const keep = new Set(after.nodes.map((n) => n.name));
  return before.nodes.filter((n) => !keep.has(n.name)).map((n) => n.name);
}

const pick = (g: Record<string, number>, nodes: readonly CacheNode[]) =>
  Object.fromEntries(nodes.map((n) => [n.name, g[n.name]]));
