/**
 * The consistent-hash ring of the sharded database: which shard owns a key, where its replicas
 * live, what share of the key space each shard holds, and which hash ranges change owner when the
 * shard list changes (what an online rebalance copies). Pure and immutable: no I/O, no Pulumi.
 *
 * Model. Keys and virtual nodes are hashed with MurmurHash3 (x86, 32-bit; the `murmurhash`
 * package's `v3`) over their UTF-8 bytes with the fixed seed {@link RING_SEED}. A node of weight
 * `w` gets `max(1, round(w × vnodesPerWeight))` points, the hashes of `"<name>#<i>"`. Points are
 * kept sorted in typed arrays; a key hash `h` belongs to the first point strictly greater than
 * `h`, wrapping around to the first point, so each point owns the half-open range
 * `[previous point, point)`. Two points with the same hash are ordered by node name (the first
 * owns the range, the second an empty one), so a ring depends only on the set of nodes, never on
 * the order they are listed in.
 */
import murmurhash from "murmurhash";
import type { ShardMap } from "./shard-map";

/** Size of the hash space: hashes are integers in `[0, HASH_SPACE)`. */
export const HASH_SPACE = 2 ** 32;

/**
 * MurmurHash3 seed of every ring hash. Changing it moves every key to another shard, so it is
 * fixed forever (it is the seed of the published MurmurHash3 x86_32 test vector, which the unit
 * tests pin).
 */
export const RING_SEED = 0x9747b28c;

/** Lower bound of `vnodesPerWeight` (as `ShardMap.vnodesPerWeight` and `database.virtualNodes`). */
export const MIN_VNODES_PER_WEIGHT = 1;
/** Upper bound of `vnodesPerWeight`. */
export const MAX_VNODES_PER_WEIGHT = 4096;
/** The default `vnodesPerWeight` (as in `database.virtualNodes`). */
export const DEFAULT_VNODES_PER_WEIGHT = 150;

/** Most points a ring may have (bounds memory: 8 bytes per point while building). */
export const MAX_RING_POINTS = 2 ** 22;

/** Node indices are packed below the hash in one float64 sort key (2^32 × 2^20 < 2^53). */
const NODE_SLOTS = 2 ** 20;

/** A node as callers describe it; a {@link ShardMap} `shards` entry fits as is. */
export interface RingNodeInput {
  /** Stable, unique name: the node's identity on the ring. */
  readonly name: string;
  /** Ring weight (> 0); its share of the key space is proportional to it. */
  readonly weight: number;
  /** Failure domain; replicas prefer distinct zones. A node without one is a domain of its own. */
  readonly zone?: string;
}

/** A node of a built ring. */
export interface RingMember {
  /** The node's name. */
  readonly name: string;
  /** The node's weight as given. */
  readonly weight: number;
  /** The node's zone, when given. */
  readonly zone?: string;
  /** Its number of points: `max(1, round(weight × vnodesPerWeight))`. */
  readonly vnodes: number;
}

/** A hash range `[start, end)` that changes owner between two rings. */
export interface OwnershipMove {
  /** First hash of the range (inclusive), `0 ≤ start < end`. */
  readonly start: number;
  /** End of the range (exclusive), `≤ HASH_SPACE`. */
  readonly end: number;
  /** Owner of the range in the `before` ring. */
  readonly from: string;
  /** Owner of the range in the `after` ring. */
  readonly to: string;
}

/** A bad argument to a ring function; `argument` names it (e.g. `nodes[2].weight`). */
export class RingError extends Error {
  /** The argument (path) that was refused. */
  readonly argument: string;
  /**
   * @param fn - the function refusing the argument
   * @param argument - the argument's path, e.g. `nodes[2].weight`
   * @param message - what is allowed and what was given
   */
  constructor(fn: string, argument: string, message: string) {
    super(`${fn}: ${argument} ${message}`);
    this.name = "RingError";
    this.argument = argument;
  }
}

interface RingData {
  /** Sorted point hashes (ascending; equal hashes ordered by node index). */
  readonly points: Uint32Array;
  /** Node index (into `nodes`) of each point. */
  readonly owners: Uint32Array;
  /** Zone index of each node (nodes without a zone get a zone of their own). */
  readonly zones: Uint32Array;
  /** Number of distinct zones. */
  readonly zoneCount: number;
}

let dataOf!: (ring: Ring) => RingData;
let newRing!: (nodes: readonly RingMember[], vnodesPerWeight: number, data: RingData) => Ring;

/**
 * A built ring (see {@link buildRing}). Immutable: its node list is frozen and its point arrays
 * are private to this module.
 */
export class Ring {
  /** The nodes, sorted by name (UTF-16 code unit order). */
  readonly nodes: readonly RingMember[];
  /** Points per unit of weight this ring was built with. */
  readonly vnodesPerWeight: number;
  readonly #data: RingData;

  static {
    dataOf = (ring) => ring.#data;
    newRing = (nodes, vnodesPerWeight, data) => new Ring(nodes, vnodesPerWeight, data);
  }

  private constructor(nodes: readonly RingMember[], vnodesPerWeight: number, data: RingData) {
    this.nodes = nodes;
    this.vnodesPerWeight = vnodesPerWeight;
    this.#data = data;
    Object.freeze(this);
  }

  /** Total number of points on the ring. */
  get size(): number {
    return this.#data.points.length;
  }
}

const encoder = new TextEncoder();
let scratch = new Uint8Array(1024);

/**
 * The ring hash of a key (or any string): MurmurHash3 x86_32 of its UTF-8 bytes with
 * {@link RING_SEED}, an integer in `[0, 2^32)`. Routers and the rebalancer use it to place rows.
 */
export function hashKey(key: string): number {
  // UTF-8 needs at most 3 bytes per UTF-16 code unit; reuse one buffer instead of allocating.
  if (key.length * 3 > scratch.length) scratch = new Uint8Array(key.length * 3);
  const { written } = encoder.encodeInto(key, scratch);
  return murmurhash.v3(scratch.subarray(0, written), RING_SEED);
}

/**
 * The point hashes of a node: `hashKey(name + "#" + v)` for v = 0..count-1, computed on one
 * buffer (the UTF-8 name and "#" once, then the decimal digits of v) instead of one string each.
 */
export function vnodeHashes(name: string, count: number): Uint32Array {
  if (!isWhole(count, 0, MAX_RING_POINTS)) throw new RingError("vnodeHashes", "count", `must be a whole number from 0 to ${MAX_RING_POINTS}; got ${show(count)}`);
  const prefix = encoder.encode(`${name}#`);
  const buf = new Uint8Array(prefix.length + 16);
  buf.set(prefix);
  const out = new Uint32Array(count);
  for (let v = 0; v < count; v++) {
    let digits = 1;
    for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
    for (let x = v, i = prefix.length + digits - 1; i >= prefix.length; i--, x = Math.floor(x / 10)) buf[i] = 48 + (x % 10);
    out[v] = murmurhash.v3(buf.subarray(0, prefix.length + digits), RING_SEED);
  }
  return out;
}

const show = (v: unknown): string => {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean" || v === null || v === undefined) return String(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
};

const isWhole = (v: unknown, min: number, max: number): v is number =>
  typeof v === "number" && Number.isInteger(v) && v >= min && v <= max;

const LONE_SURROGATE = /\p{Cs}/u;

/** Validates the nodes and returns them as members sorted by name. */
function members(nodes: readonly RingNodeInput[], vnodesPerWeight: number): RingMember[] {
  const fn = "buildRing";
  if (!Array.isArray(nodes) || nodes.length === 0)
    throw new RingError(fn, "nodes", `must list at least one node ({name, weight, zone?}); got ${show(nodes)}`);
  if (nodes.length > NODE_SLOTS) throw new RingError(fn, "nodes", `must list at most ${NODE_SLOTS} nodes; got ${nodes.length}`);
  if (!isWhole(vnodesPerWeight, MIN_VNODES_PER_WEIGHT, MAX_VNODES_PER_WEIGHT))
    throw new RingError(
      fn,
      "vnodesPerWeight",
      `must be a whole number from ${MIN_VNODES_PER_WEIGHT} to ${MAX_VNODES_PER_WEIGHT}; got ${show(vnodesPerWeight)}`,
    );
  const firstIndex = new Map<string, number>();
  const out: RingMember[] = [];
  let total = 0;
  nodes.forEach((node, i) => {
    const at = `nodes[${i}]`;
    if (typeof node !== "object" || node === null) throw new RingError(fn, at, `must be an object {name, weight, zone?}; got ${show(node)}`);
    const { name, weight, zone } = node;
    if (typeof name !== "string" || name.length === 0) throw new RingError(fn, `${at}.name`, `must be a non-empty string; got ${show(name)}`);
    // UTF-8 encodes every lone surrogate as U+FFFD: two such names would share all their points.
    if (LONE_SURROGATE.test(name))
      throw new RingError(fn, `${at}.name`, `must be well-formed Unicode (no lone UTF-16 surrogates); got ${show(name)}`);
    const seen = firstIndex.get(name);
    if (seen !== undefined) throw new RingError(fn, `${at}.name`, `must be unique; ${show(name)} is also nodes[${seen}].name`);
    firstIndex.set(name, i);
    if (typeof weight !== "number" || !Number.isFinite(weight) || weight <= 0)
      throw new RingError(fn, `${at}.weight`, `must be a finite number > 0; got ${show(weight)}`);
    if (zone !== undefined && (typeof zone !== "string" || zone.length === 0))
      throw new RingError(fn, `${at}.zone`, `must be a non-empty string when given; got ${show(zone)}`);
    const vnodes = Math.max(1, Math.round(weight * vnodesPerWeight));
    total += vnodes;
    if (total > MAX_RING_POINTS)
      throw new RingError(
        fn,
        `${at}.weight`,
        `makes the ring exceed ${MAX_RING_POINTS} points (Σ max(1, round(weight × vnodesPerWeight))); lower the weights or vnodesPerWeight (${vnodesPerWeight})`,
      );
    out.push(Object.freeze(zone === undefined ? { name, weight, vnodes } : { name, weight, zone, vnodes }));
  });
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Builds a ring. The result depends only on the set of nodes (not their order) and
 * `vnodesPerWeight`.
 *
 * @param nodes - at least one node; names non-empty, unique and well-formed Unicode, weights finite
 *   and > 0, zones non-empty when given; `ShardMap` shards fit as they are
 * @param vnodesPerWeight - points per unit of weight, a whole number from 1 to 4096 (@default 150)
 * @throws RingError naming the argument (`nodes`, `nodes[i].name`, `nodes[i].weight`, `nodes[i].zone`, `vnodesPerWeight`)
 */
export function buildRing(nodes: readonly RingNodeInput[], vnodesPerWeight: number = DEFAULT_VNODES_PER_WEIGHT): Ring {
  const sorted = members(nodes, vnodesPerWeight);
  let total = 0;
  for (const m of sorted) total += m.vnodes;

  // Sort key: hash × 2^20 + node index (exact in a float64), so ties on a hash go by node name.
  const keys = new Float64Array(total);
  let k = 0;
  sorted.forEach((m, index) => {
    const hashes = vnodeHashes(m.name, m.vnodes);
    for (let v = 0; v < hashes.length; v++) keys[k++] = hashes[v] * NODE_SLOTS + index;
  });
  keys.sort();
  const points = new Uint32Array(total);
  const owners = new Uint32Array(total);
  for (let i = 0; i < total; i++) {
    const hash = Math.floor(keys[i] / NODE_SLOTS);
    points[i] = hash;
    owners[i] = keys[i] - hash * NODE_SLOTS;
  }

  const zoneIds = new Map<string, number>();
  const zones = new Uint32Array(sorted.length);
  let zoneCount = 0;
  sorted.forEach((m, i) => {
    if (m.zone === undefined) {
      zones[i] = zoneCount++;
      return;
    }
    let id = zoneIds.get(m.zone);
    if (id === undefined) zoneIds.set(m.zone, (id = zoneCount++));
    zones[i] = id;
  });

  return newRing(Object.freeze(sorted), vnodesPerWeight, { points, owners, zones, zoneCount });
}

/**
 * The ring of a shard map: its shards at its `vnodesPerWeight` (host/port are ignored).
 * @throws RingError as {@link buildRing}
 */
export function ringOfShardMap(map: Pick<ShardMap, "shards" | "vnodesPerWeight">): Ring {
  return buildRing(map.shards, map.vnodesPerWeight);
}

/** Index of the first point strictly greater than `hash`, wrapping to 0 (binary search). */
function pointIndexOf(points: Uint32Array, hash: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid] <= hash) lo = mid + 1;
    else hi = mid;
  }
  return lo === points.length ? 0 : lo;
}

function checkHash(fn: string, hash: number): void {
  if (!isWhole(hash, 0, HASH_SPACE - 1)) throw new RingError(fn, "hash", `must be a whole number from 0 to 2^32-1; got ${show(hash)}`);
}

function checkKey(fn: string, key: string): void {
  if (typeof key !== "string") throw new RingError(fn, "key", `must be a string; got ${show(key)}`);
}

/**
 * The node owning a ring hash (the first point clockwise, strictly after it).
 * @throws RingError naming `hash` when it is not a whole number in `[0, 2^32)`
 */
export function ownerOfHash(ring: Ring, hash: number): string {
  checkHash("ownerOfHash", hash);
  const d = dataOf(ring);
  return ring.nodes[d.owners[pointIndexOf(d.points, hash)]].name;
}

/**
 * The node owning a key: `ownerOfHash(ring, hashKey(key))`; always `replicasFor(ring, key, n)[0]`.
 * @throws RingError naming `key` when it is not a string
 */
export function ownerOf(ring: Ring, key: string): string {
  checkKey("ownerOf", key);
  const d = dataOf(ring);
  return ring.nodes[d.owners[pointIndexOf(d.points, hashKey(key))]].name;
}

/**
 * The `n` distinct nodes holding a key, primary (= {@link ownerOf}) first. Walking clockwise from
 * the key, a node is taken while its zone is still unused; once every zone holds a replica (or the
 * walk has seen every node) the skipped nodes follow in clockwise order. So with `z` zones the
 * replicas span `min(n, z)` zones, and without zones they are the first `n` distinct nodes.
 *
 * @param n - replica count, a whole number from 1 to the node count
 * @throws RingError naming `key` or `n`
 */
export function replicasFor(ring: Ring, key: string, n: number): string[] {
  checkKey("replicasFor", key);
  const nodeCount = ring.nodes.length;
  if (!isWhole(n, 1, nodeCount))
    throw new RingError("replicasFor", "n", `must be a whole number from 1 to the ring's node count (${nodeCount}); got ${show(n)}`);
  const { points, owners, zones, zoneCount } = dataOf(ring);
  const picked: number[] = [];
  const skipped: number[] = [];
  const seenNode = new Uint8Array(nodeCount);
  const usedZone = new Uint8Array(zoneCount);
  let zonesUsed = 0;
  let seen = 0;
  const start = pointIndexOf(points, hashKey(key));
  for (let step = 0; step < points.length && picked.length < n && seen < nodeCount; step++) {
    let i = start + step;
    if (i >= points.length) i -= points.length;
    const node = owners[i];
    if (seenNode[node] === 1) continue;
    seenNode[node] = 1;
    seen++;
    if (zonesUsed < zoneCount) {
      if (usedZone[zones[node]] === 0) {
        usedZone[zones[node]] = 1;
        zonesUsed++;
        picked.push(node);
      } else skipped.push(node);
    } else {
      // Every zone holds a replica: nodes skipped earlier come first (they are earlier clockwise).
      for (let s = 0; s < skipped.length && picked.length < n; s++) picked.push(skipped[s]);
      skipped.length = 0;
      if (picked.length < n) picked.push(node);
    }
  }
  for (let s = 0; s < skipped.length && picked.length < n; s++) picked.push(skipped[s]);
  return picked.map((i) => ring.nodes[i].name);
}

/** Share of the hash space each node owns, in `[0, 1]`, summing to 1; keyed by name, in `ring.nodes` order. */
export function ownership(ring: Ring): Map<string, number> {
  const { points, owners } = dataOf(ring);
  const span = new Float64Array(ring.nodes.length);
  const last = points.length - 1;
  span[owners[0]] += points[0] + (HASH_SPACE - points[last]);
  for (let i = 1; i <= last; i++) span[owners[i]] += points[i] - points[i - 1];
  return new Map(ring.nodes.map((m, i) => [m.name, span[i] / HASH_SPACE]));
}

/**
 * The hash ranges whose owner differs between two rings, sorted by `start`, non-overlapping,
 * each maximal (adjacent ranges with the same `from` and `to` are merged) and never wrapping:
 * a move across 2^32 is reported as `[x, 2^32)` and `[0, y)`. A rebalance copies exactly these
 * ranges from `from` to `to`; every hash outside them keeps its owner. Linear in the point count.
 */
export function diffOwnership(before: Ring, after: Ring): OwnershipMove[] {
  const a = dataOf(before);
  const b = dataOf(after);
  const moves: OwnershipMove[] = [];
  let ia = 0;
  let ib = 0;
  let start = 0;
  while (start < HASH_SPACE) {
    // Advance to the first point of each ring strictly after `start`: it owns [start, next boundary).
    while (ia < a.points.length && a.points[ia] <= start) ia++;
    while (ib < b.points.length && b.points[ib] <= start) ib++;
    const endA = ia < a.points.length ? a.points[ia] : HASH_SPACE;
    const endB = ib < b.points.length ? b.points[ib] : HASH_SPACE;
    const end = Math.min(endA, endB);
    const from = before.nodes[a.owners[ia < a.points.length ? ia : 0]].name;
    const to = after.nodes[b.owners[ib < b.points.length ? ib : 0]].name;
    if (from !== to) {
      const prev = moves[moves.length - 1];
      if (prev !== undefined && prev.end === start && prev.from === from && prev.to === to) moves[moves.length - 1] = { ...prev, end };
      else moves.push({ start, end, from, to });
    }
    start = end;
  }
  return moves.map((m) => Object.freeze(m));
}
