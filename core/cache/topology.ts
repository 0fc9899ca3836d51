/**
 * The cache topology: which Redis nodes hold the cache, their generations, and a resize in
 * flight. It lives in etcd under one key (runtime/cache-client `cacheTopologyKey`) and is changed
 * only by compare-and-swap, so a resize and a generation bump can never overwrite each other.
 * Pure: schema and routing, no I/O.
 *
 * Placement reuses the shared ring (core/sharding/ring.ts) with the cache's own node set: a key's
 * owner is `replicasFor(ring, key, replicas)[0]`, and adding or removing a node moves exactly the
 * partitions the ring moves (never between two old nodes).
 *
 * Why a phased resize (`migration.phase`). Clients trust their copy of this key only for a bounded
 * time after confirming it with etcd (the view lease, {@link CacheTimings.viewLeaseMs}), and every
 * change of phase is published at least one view lease after the previous one. So a client that
 * still trusts its copy is at most one phase behind, and each pair of adjacent phases is safe
 * together:
 *
 * | phase       | reads                           | fills (lease + set) | invalidations    |
 * | ----------- | ------------------------------- | ------------------- | ---------------- |
 * | (none)      | owner                           | owner               | owner            |
 * | `prepare`   | old owner                       | old owner           | old and new      |
 * | `migrating` | new owner, then the old (ASK)   | new owner           | old and new      |
 * | `finishing` | new owner                       | new owner           | old and new      |
 * | (done)      | new owner                       | new owner           | new owner        |
 *
 * In every pair of adjacent rows, each node some client reads is invalidated by every writer of
 * both rows, so every cached copy a reader can see is lease-protected against every write
 * (test/unit/cache/topology.test.ts checks this table for every pair).
 */
import { z } from "zod";
import { buildRing, replicasFor, type Ring } from "../sharding/ring";

/** Phases of a resize, in order. */
export const RESIZE_PHASES = ["prepare", "migrating", "finishing"] as const;
export type ResizePhase = (typeof RESIZE_PHASES)[number];

/** Most replicas a cached key may have. */
export const MAX_CACHE_REPLICAS = 3;

const NodeName = z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,62})$/, {
  error: (iss) => `must be a lowercase node name (a-z, 0-9, '-', '.'); got ${JSON.stringify(iss.input)}`,
});

export const CacheNodeSchema = z.strictObject({
  /** Stable node name: its identity on the ring. */
  name: NodeName,
  /** Host clients connect to. */
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  /** Ring weight (> 0). */
  weight: z.number().positive().default(1),
  /** Failure domain; replicas prefer distinct zones. */
  zone: z.string().min(1).optional(),
});
export type CacheNode = z.output<typeof CacheNodeSchema>;
export type CacheNodeInput = z.input<typeof CacheNodeSchema>;

export const CacheTopologySchema = z
  .strictObject({
    /** Incremented by every change; writers CAS on the etcd key. */
    epoch: z.number().int().min(0),
    /** The current (target) node set. */
    nodes: z.array(CacheNodeSchema).min(1),
    /** Copies of each cached key on distinct nodes (zones first). */
    replicas: z.number().int().min(1).max(MAX_CACHE_REPLICAS).default(1),
    /** Ring weight resolution (as the shard map's). */
    vnodesPerWeight: z.number().int().min(1).max(4096).default(150),
    /**
     * Generation of every node (of `nodes` and `migration.from`). A node serves only while the
     * generation stored in it equals this one; a bump fences everything the node holds.
     */
    generations: z.record(z.string(), z.number().int().min(1)),
    /** A resize in flight: the old node set and the phase. */
    migration: z
      .strictObject({
        phase: z.enum(RESIZE_PHASES),
        from: z.array(CacheNodeSchema).min(1),
      })
      .optional(),
  })
  .superRefine((t, ctx) => {
    const check = (list: CacheNode[], path: string) => {
      const seen = new Set<string>();
      list.forEach((n, i) => {
        if (seen.has(n.name))
          ctx.addIssue({ code: "custom", path: [path, i, "name"], message: `duplicate node ${n.name}` });
        seen.add(n.name);
        if (t.generations[n.name] === undefined)
          ctx.addIssue({ code: "custom", path: ["generations", n.name], message: "missing: every node needs one" });
      });
      if (t.replicas > list.length)
        ctx.addIssue({ code: "custom", path: ["replicas"], message: `must be ≤ the node count (${list.length})` });
    };
    check(t.nodes, "nodes");
    if (t.migration) check(t.migration.from, "migration");
  });
export type CacheTopology = z.output<typeof CacheTopologySchema>;

/**
 * The initial topology of a node set: epoch 1, generation 1 everywhere (every later generation is
 * the epoch that assigns it, so always above 1).
 */
export function initialTopology(
  nodes: readonly CacheNodeInput[],
  options: { replicas?: number; vnodesPerWeight?: number } = {},
): CacheTopology {
  return CacheTopologySchema.parse({
    epoch: 1,
    nodes,
    replicas: options.replicas ?? 1,
    vnodesPerWeight: options.vnodesPerWeight ?? 150,
    generations: Object.fromEntries(nodes.map((n) => [n.name, 1])),
  });
}

/** Where one key's cache operations go under a topology. */
export interface KeyRoute {
  /**
   * Replica lists to read from, in order: the first list is tried first (its nodes in order when
   * one is down); during `migrating` the old owner's list follows (read-through on a miss).
   */
  readonly read: readonly (readonly string[])[];
  /** The nodes a fill sets (lease first, then set), primary first. */
  readonly fill: readonly string[];
  /** Every node a write must invalidate. */
  readonly invalidate: readonly string[];
}

/** Timings the clients and the resize controller agree on (from `cache` config). */
export interface CacheTimings {
  /** How long a client trusts its topology copy after confirming it with etcd, ms. */
  readonly viewLeaseMs: number;
  /** How long a near-cache entry lives, ms. */
  readonly nearTtlMs: number;
}

/**
 * How long a resize waits between two phases, and a writer after fencing a node: one view lease
 * plus a margin for clock-rate differences between processes (1 % + 20 ms).
 */
export function fenceWaitMs(t: CacheTimings): number {
  return Math.ceil(Math.max(t.viewLeaseMs, t.nearTtlMs) * 1.01) + 20;
}

/** Routes keys under one topology (rings built once). */
export class CacheRouter {
  readonly topology: CacheTopology;
  readonly current: Ring;
  readonly previous?: Ring;
  /**
   * What routing depends on (node sets, replicas, phase) but not generations: two routers with
   * the same value send every key to the same nodes.
   */
  readonly routing: string;
  /** Every node the topology names (current and old), by name. */
  readonly nodes: ReadonlyMap<string, CacheNode>;
  private readonly fromReplicas: number;

  constructor(topology: CacheTopology) {
    this.topology = topology;
    this.current = ringOf(topology.nodes, topology.vnodesPerWeight);
    const from = topology.migration?.from;
    this.previous = from ? ringOf(from, topology.vnodesPerWeight) : undefined;
    this.fromReplicas = from ? Math.min(topology.replicas, from.length) : topology.replicas;
    const shape = (l: readonly CacheNode[]) => l.map((n) => [n.name, n.weight, n.zone ?? null]);
    this.routing = JSON.stringify([
      topology.vnodesPerWeight,
      topology.replicas,
      shape(topology.nodes),
      from ? shape(from) : null,
      topology.migration?.phase ?? null,
    ]);
    const nodes = new Map<string, CacheNode>();
    for (const n of [...(from ?? []), ...topology.nodes]) nodes.set(n.name, n);
    this.nodes = nodes;
  }

  /** The key's replicas on the current ring, primary first. */
  owners(key: string): string[] {
    return replicasFor(this.current, key, this.topology.replicas);
  }

  /** Where `key` is read, filled and invalidated (see the table in the module doc). */
  route(key: string): KeyRoute {
    const now = this.owners(key);
    if (!this.previous || !this.topology.migration) return { read: [now], fill: now, invalidate: now };
    const old = replicasFor(this.previous, key, this.fromReplicas);
    const both = [...new Set([...now, ...old])];
    switch (this.topology.migration.phase) {
      case "prepare":
        return { read: [old], fill: old, invalidate: both };
      case "migrating":
        return { read: sameList(now, old) ? [now] : [now, old], fill: now, invalidate: both };
      case "finishing":
        return { read: [now], fill: now, invalidate: both };
    }
  }

  /** The generation a node must hold to serve. */
  generation(node: string): number {
    const g = this.topology.generations[node];
    if (g === undefined)
      throw new Error(`cache node ${node} has no generation in topology epoch ${this.topology.epoch}`);
    return g;
  }
}

/**
 * Rings by node set: a topology changes far more often (generation bumps, phases) than its node
 * sets, and a build ranks every node on 2^17 partitions (tens of ms), so the last few are kept.
 */
const rings = new Map<string, Ring>();
const RING_MEMO = 8;
function ringOf(nodes: readonly CacheNode[], vnodesPerWeight: number): Ring {
  const shape = JSON.stringify([vnodesPerWeight, [...nodes].map((n) => [n.name, n.weight, n.zone ?? null]).sort()]);
  let ring = rings.get(shape);
  if (!ring) {
    ring = buildRing(nodes, vnodesPerWeight);
    if (rings.size >= RING_MEMO) rings.delete(rings.keys().next().value!);
  }
  rings.delete(shape);
  rings.set(shape, ring);
  return ring;
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
