/**
 * Placement of the sharded database: which shard owns a key, where its replicas live, what share
 * of the key space each shard holds, and which hash ranges change hands when the shard list
 * changes (what an online rebalance copies). Pure and immutable: no I/O, no Pulumi.
 *
 * Model. A key's hash is MurmurHash3 (x86, 32-bit) of its UTF-8 bytes with the fixed seed
 * {@link RING_SEED} ({@link hashKey}; the shards store it as column `h`). The 2^32 hash space is
 * cut into {@link PARTITION_COUNT} = 2^17 equal partitions (partition = `h >>> 15`). Each
 * partition ranks every node by weighted rendezvous (highest-random-weight) hashing: node `i`
 * scores `ln(u) / w_i`, where `u ∈ (0, 1)` is a MurmurHash3 of the partition number keyed by the
 * node's name and `w_i` is its weight in quanta (`vnodes`, below); the highest score owns the
 * partition. Replicas follow that ranking: first the best node of each zone (in rank order), then
 * the remaining nodes in rank order. The first {@link PRECOMPUTED_REPLICAS} replicas of every
 * partition are computed when the ring is built, so a lookup is one hash and a table read.
 *
 * Why not the classic ring of random points (what this module was until the sharding bench). A
 * ring of `v` random points per node gives each node a share whose spread is ≈ 1/√v: at 150
 * points per node and 16 nodes the largest share was 1.18 × the mean, and reaching 1.05 needs
 * thousands of points per node. Here:
 * - Balance. A node's share is Binomial(2^17, w_i/Σw) partitions: for 16 equal nodes the spread
 *   is √(15/2^17) ≈ 1.1 %; the largest share is ≈ 1.02 × the mean up to 16 nodes, ≈ 1.03 at 32,
 *   ≈ 1.04 at 64 (measured on shard-0..n-1; the bench prints it).
 * - Minimal movement by construction. Adding a node moves exactly the partitions it now wins
 *   (each from its previous owner, nothing between old nodes); removing a node moves only its
 *   partitions; changing one node's weight moves partitions only to or from that node. The
 *   exponential-race form `ln(u)/w` makes the win probability exactly `w_i / Σw`.
 * - Deterministic and stateless: the placement is a function of the node set alone (names,
 *   weights, zones), so every router computes the same one from the shard map, in any order.
 * - Fast lookups: `ownerOf` is a hash and a table read, `replicasFor(n ≤ 5)` a hash and `n` reads.
 * Rejected: bounded-load rendezvous and Maglev tables balance to within one partition but move
 * more than the minimum when the set changes (cascades between old nodes); history-dependent
 * token allocation cannot be recomputed from the shard map alone; 2^16 partitions left 16-32
 * nodes at up to 1.055 × the mean. The price: the build scores every node on every partition
 * (2^17 × nodes hashes, tens of milliseconds for 16 nodes, once per shard-map epoch) and the
 * partition count is fixed forever (changing it would move almost every key). It also bounds the
 * rebalance work: a moving range is a run of whole partitions (2^15 hashes each), and adding a
 * 17th node moves ~7,700 partitions.
 *
 * `vnodesPerWeight` (the config key `database.weightResolution`, formerly `virtualNodes`; `ShardMap.vnodesPerWeight`) used to
 * be the number of ring points per unit of weight. It now sets the resolution of weights: a node
 * of weight `w` ranks with the weight quantum count `vnodes = max(1, round(w × vnodesPerWeight))`,
 * so weights are honoured to 1/vnodesPerWeight and a tiny weight still gets one quantum. Balance
 * no longer depends on it, and with whole-number weights changing it moves no key.
 */

/** Size of the hash space: hashes are integers in `[0, HASH_SPACE)`. */
export const HASH_SPACE = 2 ** 32;

/**
 * A hash range `[start, end)` of the ring, `0 ≤ start < end ≤ HASH_SPACE`: the unit the rebalance
 * planner moves and the rebalancer's SQL selects (the one definition every module imports).
 */
export interface HashRange {
  /** First hash of the range (inclusive). */
  readonly start: number;
  /** End of the range (exclusive), `≤ HASH_SPACE`. */
  readonly end: number;
}

/**
 * MurmurHash3 seed of every key hash. Changing it moves every key to another shard, so it is
 * fixed forever (it is the seed of the published MurmurHash3 x86_32 test vector, which the unit
 * tests pin).
 */
export const RING_SEED = 0x9747b28c;

/** Bits of the partition number: a hash `h` lies in partition `h >>> (32 - PARTITION_BITS)`. */
export const PARTITION_BITS = 17;
/** Number of equal hash-range partitions; fixed forever (changing it would move almost every key). */
export const PARTITION_COUNT = 2 ** PARTITION_BITS;
/** Hashes per partition: partition `p` is `[p × PARTITION_SPAN, (p + 1) × PARTITION_SPAN)`. */
export const PARTITION_SPAN = HASH_SPACE / PARTITION_COUNT;
const PARTITION_SHIFT = 32 - PARTITION_BITS;

/** Lower bound of `vnodesPerWeight` (as `ShardMap.vnodesPerWeight` and `database.weightResolution`). */
export const MIN_VNODES_PER_WEIGHT = 1;
/** Upper bound of `vnodesPerWeight`. */
export const MAX_VNODES_PER_WEIGHT = 4096;
/** The default `vnodesPerWeight` (as in `database.weightResolution`). */
export const DEFAULT_VNODES_PER_WEIGHT = 150;

/** Most nodes a ring may have (the build scores every node for every partition). */
export const MAX_RING_NODES = 1024;

/** Replicas precomputed per partition (lookups of more replicas rank the partition on demand). */
export const PRECOMPUTED_REPLICAS = 5;

/** Second seed of a node's identity: the pair (hash with RING_SEED, hash with this) is 64 bits. */
const NODE_SEED_2 = 0x5bd1e995;

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
  /** Its weight in quanta, the weight it ranks with: `max(1, round(weight × vnodesPerWeight))`. */
  readonly vnodes: number;
}

/** A hash range `[start, end)` that changes owner between two rings. */
export interface OwnershipMove extends HashRange {
  /** Owner of the range in the `before` ring. */
  readonly from: string;
  /** Owner of the range in the `after` ring. */
  readonly to: string;
}

/** A maximal hash range `[start, end)` whose replica list (primary first) is the same throughout. */
export interface ReplicaRange extends HashRange {
  /** The range's replicas, primary first (as {@link replicasForHash}). */
  readonly replicas: readonly string[];
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

/**
 * Node indices: bytes up to 256 nodes (the tables stay small enough to sit in cache: 128 KiB of
 * owners, 640 KiB of replicas), 16 bits above.
 */
type IndexArray = Uint8Array | Uint16Array;

interface RingData {
  /** Node names, indexed like `Ring.nodes`. */
  readonly names: readonly string[];
  /** Owner (node index) of each partition. */
  readonly owners: IndexArray;
  /** The first `depth` replicas (node indices) of each partition, `depth` per partition. */
  readonly replicas: IndexArray;
  /** Replicas precomputed per partition: `min(node count, PRECOMPUTED_REPLICAS)`. */
  readonly depth: number;
  /** The 32-bit identity hashes of each node (keys of its partition scores), the second scrambled. */
  readonly seed1: Int32Array;
  readonly seed2: Int32Array;
  /** 1 / vnodes of each node. */
  readonly invWeight: Float64Array;
  /** Whether every node has the same vnodes (then ranks compare raw hashes, see rankPartitions). */
  readonly uniform: boolean;
  /** Zone index of each node (nodes without a zone get a zone of their own). */
  readonly zones: Uint32Array;
  /** Number of distinct zones. */
  readonly zoneCount: number;
}

let dataOf!: (ring: Ring) => RingData;
let newRing!: (nodes: readonly RingMember[], vnodesPerWeight: number, data: RingData) => Ring;

/**
 * A built ring (see {@link buildRing}). Immutable: its node list is frozen and its tables are
 * private to this module.
 */
export class Ring {
  /** The nodes, sorted by name (UTF-16 code unit order). */
  readonly nodes: readonly RingMember[];
  /** Weight quanta per unit of weight this ring was built with. */
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

  /** Number of equal hash-range partitions the ring assigns (always {@link PARTITION_COUNT}). */
  get size(): number {
    return this.#data.owners.length;
  }
}

// ---- hashing ----------------------------------------------------------------------------------

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** The scrambled form of a MurmurHash3 x86_32 block (what a body round xors into the state). */
function scramble(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

/** One MurmurHash3 x86_32 body round on an already scrambled block. */
function mixScrambled(h: number, scrambled: number): number {
  h ^= scrambled;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** One MurmurHash3 x86_32 body round: mixes the 32-bit block `k` into `h`. */
function mixBlock(h: number, k: number): number {
  return mixScrambled(h, scramble(k));
}

/** MurmurHash3 x86_32 tail and finalisation (`tail` holds the last `length % 4` bytes). */
function finish(h: number, tail: number, length: number): number {
  if ((length & 3) !== 0) {
    tail = Math.imul(tail, C1);
    tail = (tail << 15) | (tail >>> 17);
    h ^= Math.imul(tail, C2);
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3 x86_32 of `bytes[0, length)`. */
function murmurBytes(bytes: Uint8Array, length: number, seed: number): number {
  let h = seed | 0;
  const blocks = length & ~3;
  let i = 0;
  for (; i < blocks; i += 4)
    h = mixBlock(h, bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
  let tail = 0;
  const rest = length & 3;
  if (rest === 3) tail ^= bytes[i + 2] << 16;
  if (rest >= 2) tail ^= bytes[i + 1] << 8;
  if (rest >= 1) tail ^= bytes[i];
  return finish(h, tail, length);
}

const encoder = new TextEncoder();
let scratch = new Uint8Array(1024);

/** MurmurHash3 x86_32 of a string's UTF-8 bytes (the general path). */
function murmurUtf8(key: string, seed: number): number {
  // UTF-8 needs at most 3 bytes per UTF-16 code unit; reuse one buffer instead of allocating.
  if (key.length * 3 > scratch.length) scratch = new Uint8Array(key.length * 3);
  const { written } = encoder.encodeInto(key, scratch);
  return murmurBytes(scratch, written, seed);
}

/**
 * The ring hash of a key (or any string): MurmurHash3 x86_32 of its UTF-8 bytes with
 * {@link RING_SEED}, an integer in `[0, 2^32)`. Routers and the rebalancer use it to place rows
 * (the shards' `h` column). ASCII strings are hashed straight from their UTF-16 code units (their
 * UTF-8 bytes are the same), others through `TextEncoder`; both give the same hash.
 */
export function hashKey(key: string): number {
  const length = key.length;
  const blocks = length & ~3;
  let h = RING_SEED | 0;
  let i = 0;
  for (; i < blocks; i += 4) {
    const a = key.charCodeAt(i);
    const b = key.charCodeAt(i + 1);
    const c = key.charCodeAt(i + 2);
    const d = key.charCodeAt(i + 3);
    if ((a | b | c | d) > 0x7f) return murmurUtf8(key, RING_SEED);
    h = mixBlock(h, a | (b << 8) | (c << 16) | (d << 24));
  }
  const rest = length & 3;
  let tail = 0;
  if (rest !== 0) {
    const a = key.charCodeAt(i);
    const b = rest >= 2 ? key.charCodeAt(i + 1) : 0;
    const c = rest === 3 ? key.charCodeAt(i + 2) : 0;
    if ((a | b | c) > 0x7f) return murmurUtf8(key, RING_SEED);
    tail = a | (b << 8) | (c << 16);
  }
  return finish(h, tail, length);
}

/**
 * The rendezvous hash of node (seed1, seed2) on partition `p`, `x ∈ [0, 2^32)` (its variate is
 * `u = (x + ½) / 2^32`): MurmurHash3 x86_32 of the two blocks `p`, `seed2` keyed by `seed1` (a
 * 64-bit node identity, so two names whose 32-bit hashes collide still score independently).
 */
function partitionHash(seed1: number, scrambledSeed2: number, scrambledP: number): number {
  // = MurmurHash3(blocks [p, seed2], seed1); the blocks come scrambled (each is per partition or
  // per node, so the build scrambles each once instead of once per node × partition).
  return finish(mixScrambled(mixScrambled(seed1, scrambledP), scrambledSeed2), 0, 8);
}

// ---- validation -------------------------------------------------------------------------------

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

/** A lone UTF-16 surrogate (a name the ring refuses; core/sharding/shard-map.ts refuses it in the schema too). */
export const LONE_SURROGATE = /\p{Cs}/u;

/** Validates the nodes and returns them as members sorted by name. */
function members(nodes: readonly RingNodeInput[], vnodesPerWeight: number): RingMember[] {
  const fn = "buildRing";
  if (!Array.isArray(nodes) || nodes.length === 0)
    throw new RingError(fn, "nodes", `must list at least one node ({name, weight, zone?}); got ${show(nodes)}`);
  if (nodes.length > MAX_RING_NODES)
    throw new RingError(fn, "nodes", `must list at most ${MAX_RING_NODES} nodes; got ${nodes.length}`);
  if (!isWhole(vnodesPerWeight, MIN_VNODES_PER_WEIGHT, MAX_VNODES_PER_WEIGHT))
    throw new RingError(
      fn,
      "vnodesPerWeight",
      `must be a whole number from ${MIN_VNODES_PER_WEIGHT} to ${MAX_VNODES_PER_WEIGHT}; got ${show(vnodesPerWeight)}`,
    );
  const firstIndex = new Map<string, number>();
  const out: RingMember[] = [];
  nodes.forEach((node, i) => {
    const at = `nodes[${i}]`;
    if (typeof node !== "object" || node === null)
      throw new RingError(fn, at, `must be an object {name, weight, zone?}; got ${show(node)}`);
    const { name, weight, zone } = node;
    if (typeof name !== "string" || name.length === 0)
      throw new RingError(fn, `${at}.name`, `must be a non-empty string; got ${show(name)}`);
    // UTF-8 encodes every lone surrogate as U+FFFD: two such names would hash alike.
    if (LONE_SURROGATE.test(name))
      throw new RingError(
        fn,
        `${at}.name`,
        `must be well-formed Unicode (no lone UTF-16 surrogates); got ${show(name)}`,
      );
    const seen = firstIndex.get(name);
    if (seen !== undefined)
      throw new RingError(fn, `${at}.name`, `must be unique; ${show(name)} is also nodes[${seen}].name`);
    firstIndex.set(name, i);
    if (typeof weight !== "number" || !Number.isFinite(weight) || weight <= 0)
      throw new RingError(fn, `${at}.weight`, `must be a finite number > 0; got ${show(weight)}`);
    if (zone !== undefined && (typeof zone !== "string" || zone.length === 0))
      throw new RingError(fn, `${at}.zone`, `must be a non-empty string when given; got ${show(zone)}`);
    const vnodes = Math.max(1, Math.round(weight * vnodesPerWeight));
    if (!Number.isSafeInteger(vnodes))
      throw new RingError(
        fn,
        `${at}.weight`,
        `× vnodesPerWeight (${vnodesPerWeight}) must stay below 2^53; got ${show(weight)}`,
      );
    out.push(Object.freeze(zone === undefined ? { name, weight, vnodes } : { name, weight, zone, vnodes }));
  });
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

// ---- ranking ----------------------------------------------------------------------------------

/**
 * Reusable per-ring work buffers for {@link rankPartitions}: node scores, per-zone leaders, and
 * the top lists being built. Allocated once per build (and per on-demand lookup of many replicas).
 */
interface RankScratch {
  readonly score: Float64Array;
  readonly leaderOf: Int32Array;
  readonly top: Int32Array;
  readonly topScore: Float64Array;
}

/** What ranking a partition reads from a ring. */
type RankInput = Pick<RingData, "seed1" | "seed2" | "invWeight" | "uniform" | "zones">;

const rankScratch = (nodeCount: number, zoneCount: number, n: number): RankScratch => ({
  score: new Float64Array(nodeCount),
  leaderOf: new Int32Array(zoneCount),
  top: new Int32Array(n),
  topScore: new Float64Array(n),
});

/**
 * Inserts the nodes `i` whose leader flag (`leaderOf[zones[i]] === i`) equals `leaders` (every
 * node when `leaders` is null) into the rank-sorted list `top[from, n)` (score desc; on equal
 * scores the lower index stays ahead, as candidates come in index order); returns its new length.
 */
function selectTop(
  score: Float64Array,
  leaderOf: Int32Array,
  zones: Uint32Array,
  top: Int32Array,
  topScore: Float64Array,
  leaders: boolean | null,
  from: number,
  n: number,
): number {
  let count = from;
  for (let i = 0; i < score.length; i++) {
    if (leaders !== null && (leaderOf[zones[i]] === i) !== leaders) continue;
    const sc = score[i];
    if (count === n && sc <= topScore[n - 1]) continue;
    let j = count < n ? count++ : n - 1;
    while (j > from && topScore[j - 1] < sc) {
      top[j] = top[j - 1];
      topScore[j] = topScore[j - 1];
      j--;
    }
    top[j] = i;
    topScore[j] = sc;
  }
  return count;
}

/**
 * Writes the first `n` replicas of each partition `p` in `[first, last)` into
 * `out[at + (p - first) × n, … + n)`: the best node of each zone in rank order, then the other
 * nodes in rank order (rank = score desc, then node index). The first one is the partition's
 * owner (the best node overall leads its zone). O(nodes × n) per partition.
 */
function rankPartitions(
  d: RankInput,
  first: number,
  last: number,
  n: number,
  s: RankScratch,
  out: IndexArray,
  at: number,
): void {
  const { seed1, seed2, invWeight, zones, uniform } = d;
  const nodeCount = seed1.length;
  const { score, leaderOf, top, topScore } = s;
  // Without shared zones every node leads its own zone: one plain top-n selection.
  const allLeaders = leaderOf.length === nodeCount;
  for (let p = first; p < last; p++, at += n) {
    const scrambledP = scramble(p);
    for (let i = 0; i < nodeCount; i++) {
      const x = partitionHash(seed1[i], seed2[i], scrambledP);
      // ln(u) / w with u = (x + ½) / 2^32. With equal weights that order is the order of x itself
      // (ln is strictly increasing on these u), so the logarithm is skipped: same ranking, faster.
      score[i] = uniform ? x : Math.log((x + 0.5) / HASH_SPACE) * invWeight[i];
    }
    if (allLeaders) selectTop(score, leaderOf, zones, top, topScore, null, 0, n);
    else {
      leaderOf.fill(-1);
      for (let i = 0; i < nodeCount; i++) {
        const z = zones[i];
        const l = leaderOf[z];
        // Equal scores go to the lower node index (the name first in order): i > l, so keep l.
        if (l < 0 || score[i] > score[l]) leaderOf[z] = i;
      }
      const count = selectTop(score, leaderOf, zones, top, topScore, true, 0, n);
      if (count < n) selectTop(score, leaderOf, zones, top, topScore, false, count, n);
    }
    for (let j = 0; j < n; j++) out[at + j] = top[j];
  }
}

// ---- building ---------------------------------------------------------------------------------

/**
 * Builds a ring. The result depends only on the set of nodes (not their order) and
 * `vnodesPerWeight`.
 *
 * @param nodes - 1 to {@link MAX_RING_NODES} nodes; names non-empty, unique and well-formed
 *   Unicode, weights finite and > 0, zones non-empty when given; `ShardMap` shards fit as they are
 * @param vnodesPerWeight - weight quanta per unit of weight, a whole number from 1 to 4096 (@default 150)
 * @throws RingError naming the argument (`nodes`, `nodes[i].name`, `nodes[i].weight`, `nodes[i].zone`, `vnodesPerWeight`)
 */
export function buildRing(nodes: readonly RingNodeInput[], vnodesPerWeight: number = DEFAULT_VNODES_PER_WEIGHT): Ring {
  const sorted = members(nodes, vnodesPerWeight);
  const nodeCount = sorted.length;

  const seed1 = new Int32Array(nodeCount);
  const seed2 = new Int32Array(nodeCount);
  const invWeight = new Float64Array(nodeCount);
  const identity = new Map<string, number>();
  sorted.forEach((m, i) => {
    seed1[i] = hashKey(m.name);
    seed2[i] = scramble(murmurUtf8(m.name, NODE_SEED_2));
    invWeight[i] = 1 / m.vnodes;
    // Two names with the same 64-bit identity would score alike everywhere (one would own
    // nothing); astronomically unlikely, refused rather than silently starved.
    const id = `${seed1[i]}:${seed2[i]}`;
    const twin = identity.get(id);
    if (twin !== undefined) {
      const index = nodes.findIndex((x) => x.name === m.name);
      throw new RingError(
        "buildRing",
        `nodes[${index}].name`,
        `hashes like ${show(sorted[twin].name)} (a 64-bit MurmurHash3 collision); rename one of them`,
      );
    }
    identity.set(id, i);
  });

  const zoneIds = new Map<string, number>();
  const zones = new Uint32Array(nodeCount);
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

  const names = Object.freeze(sorted.map((m) => m.name));
  const uniform = sorted.every((m) => m.vnodes === sorted[0].vnodes);
  const base = { names, seed1, seed2, invWeight, uniform, zones, zoneCount };
  const depth = Math.min(nodeCount, PRECOMPUTED_REPLICAS);
  const Index = nodeCount <= 256 ? Uint8Array : Uint16Array;
  const replicas = new Index(PARTITION_COUNT * depth);
  const owners = new Index(PARTITION_COUNT);
  const s = rankScratch(nodeCount, zoneCount, depth);
  rankPartitions(base, 0, PARTITION_COUNT, depth, s, replicas, 0);
  for (let p = 0; p < PARTITION_COUNT; p++) owners[p] = replicas[p * depth];
  return newRing(Object.freeze(sorted), vnodesPerWeight, { ...base, owners, replicas, depth });
}

/**
 * The ring of a shard map: its shards at its `vnodesPerWeight` (host/port are ignored).
 * @throws RingError as {@link buildRing}
 */
export function ringOfShardMap(map: {
  readonly shards: readonly RingNodeInput[];
  readonly vnodesPerWeight: number;
}): Ring {
  return buildRing(map.shards, map.vnodesPerWeight);
}

// ---- lookups ----------------------------------------------------------------------------------

function checkHash(fn: string, hash: number): void {
  if (!isWhole(hash, 0, HASH_SPACE - 1))
    throw new RingError(fn, "hash", `must be a whole number from 0 to 2^32-1; got ${show(hash)}`);
}

function checkKey(fn: string, key: string): void {
  if (typeof key !== "string") throw new RingError(fn, "key", `must be a string; got ${show(key)}`);
}

function checkReplicaCount(fn: string, ring: Ring, n: number): void {
  const nodeCount = ring.nodes.length;
  if (!isWhole(n, 1, nodeCount))
    throw new RingError(
      fn,
      "n",
      `must be a whole number from 1 to the ring's node count (${nodeCount}); got ${show(n)}`,
    );
}

/** The partition of a hash: `hash >>> 16`; it covers `[p × PARTITION_SPAN, (p + 1) × PARTITION_SPAN)`. */
export function partitionOf(hash: number): number {
  checkHash("partitionOf", hash);
  return hash >>> PARTITION_SHIFT;
}

/**
 * The node owning a ring hash (the top-ranked node of its partition).
 * @throws RingError naming `hash` when it is not a whole number in `[0, 2^32)`
 */
export function ownerOfHash(ring: Ring, hash: number): string {
  checkHash("ownerOfHash", hash);
  const d = dataOf(ring);
  return d.names[d.owners[hash >>> PARTITION_SHIFT]];
}

/**
 * The node owning a key: `ownerOfHash(ring, hashKey(key))`; always `replicasFor(ring, key, n)[0]`.
 * @throws RingError naming `key` when it is not a string
 */
export function ownerOf(ring: Ring, key: string): string {
  checkKey("ownerOf", key);
  const d = dataOf(ring);
  return d.names[d.owners[hashKey(key) >>> PARTITION_SHIFT]];
}

/** The first `n` replicas of partition `p` (node names). */
function replicasOfPartition(ring: Ring, p: number, n: number): string[] {
  const d = dataOf(ring);
  const { names } = d;
  if (n <= d.depth) {
    const r = d.replicas;
    const at = p * d.depth;
    // Array literals for the common sizes: packed arrays, no resizing (the hot path of routers).
    if (n === 3) return [names[r[at]], names[r[at + 1]], names[r[at + 2]]];
    if (n === 2) return [names[r[at]], names[r[at + 1]]];
    if (n === 1) return [names[r[at]]];
    const out: string[] = [];
    for (let j = 0; j < n; j++) out.push(names[r[at + j]]);
    return out;
  }
  const idx = new Uint16Array(n);
  rankPartitions(d, p, p + 1, n, rankScratch(d.seed1.length, d.zoneCount, n), idx, 0);
  return Array.from(idx, (i) => names[i]);
}

/**
 * The `n` distinct nodes holding a ring hash, primary (= {@link ownerOfHash}) first: the
 * partition's best node of each zone in rank order, then the other nodes in rank order. So with
 * `z` zones the replicas span `min(n, z)` zones, without zones they are the `n` best-ranked
 * nodes, and the list for `n - 1` is always a prefix of the list for `n`.
 *
 * @param n - replica count, a whole number from 1 to the node count
 * @throws RingError naming `hash` or `n`
 */
export function replicasForHash(ring: Ring, hash: number, n: number): string[] {
  checkHash("replicasForHash", hash);
  checkReplicaCount("replicasForHash", ring, n);
  return replicasOfPartition(ring, hash >>> PARTITION_SHIFT, n);
}

/**
 * The `n` distinct nodes holding a key, primary (= {@link ownerOf}) first; see
 * {@link replicasForHash}.
 *
 * @param n - replica count, a whole number from 1 to the node count
 * @throws RingError naming `key` or `n`
 */
export function replicasFor(ring: Ring, key: string, n: number): string[] {
  checkKey("replicasFor", key);
  const d = dataOf(ring);
  // The routers' hot path (n ≤ the precomputed depth, n = 3 above all) stays in this function.
  if (n === 3 && d.depth >= 3) {
    const { names, replicas } = d;
    const at = (hashKey(key) >>> PARTITION_SHIFT) * d.depth;
    return [names[replicas[at]], names[replicas[at + 1]], names[replicas[at + 2]]];
  }
  checkReplicaCount("replicasFor", ring, n);
  return replicasOfPartition(ring, hashKey(key) >>> PARTITION_SHIFT, n);
}

/** Share of the hash space each node owns, in `[0, 1]`, summing to 1; keyed by name, in `ring.nodes` order. */
export function ownership(ring: Ring): Map<string, number> {
  const { owners, names } = dataOf(ring);
  const count = new Float64Array(names.length);
  for (let p = 0; p < owners.length; p++) count[owners[p]]++;
  return new Map(names.map((name, i) => [name, count[i] / owners.length]));
}

/**
 * Share of all replicas each node holds at `n` replicas per key, in `[0, 1]`, summing to 1; keyed
 * by name, in `ring.nodes` order (at `n = 1` this is {@link ownership}). Zones decide it as much as
 * weights: every key puts its first replicas in distinct zones, so a zone with few shards carries
 * as many replicas as one with many (see {@link replicaLoadReport}).
 *
 * @throws RingError naming `n`
 */
export function replicaLoad(ring: Ring, n: number): Map<string, number> {
  const count = new Float64Array(ring.nodes.length);
  const index = new Map(ring.nodes.map((m, i) => [m.name, i]));
  for (const r of replicaRanges(ring, n)) {
    const span = (r.end - r.start) / HASH_SPACE;
    for (const name of r.replicas) count[index.get(name)!] += span;
  }
  return new Map(ring.nodes.map((m, i) => [m.name, count[i] / n]));
}

/** How far each node's replica load is above its fair share ({@link replicaLoadReport}). */
export interface ReplicaLoadReport {
  /** The node with the largest ratio. */
  readonly worst: string;
  /** Its replica load over its fair share (the mean, or its weight's share when larger). */
  readonly ratio: number;
  /** Every node's ratio, by name, in `ring.nodes` order. */
  readonly ratios: ReadonlyMap<string, number>;
  /** The zone layout: zone (or the node's own name when it has none) → its nodes' names. */
  readonly zones: ReadonlyMap<string, readonly string[]>;
}

/**
 * Each node's replica load ({@link replicaLoad}) over its fair share: the mean load, or the share
 * its weight asks for (`weight / Σ weight`) when that is larger (a heavy node is meant to hold
 * more). About 1 on a balanced ring; above 1 on the nodes of a thin zone (3/3/1 shards at 3
 * replicas: the lone shard holds a third of all replicas, 2.33× the mean) or on light nodes that
 * take the replicas zones or the replica count keep off a heavy one.
 */
export function replicaLoadReport(ring: Ring, n: number): ReplicaLoadReport {
  const load = replicaLoad(ring, n);
  const total = ring.nodes.reduce((s, m) => s + m.weight, 0);
  const mean = 1 / ring.nodes.length;
  const ratios = new Map(ring.nodes.map((m) => [m.name, load.get(m.name)! / Math.max(mean, m.weight / total)]));
  let worst = ring.nodes[0].name;
  for (const [name, r] of ratios) if (r > ratios.get(worst)!) worst = name;
  const zones = new Map<string, string[]>();
  for (const m of ring.nodes) {
    const z = m.zone ?? m.name;
    zones.set(z, [...(zones.get(z) ?? []), m.name]);
  }
  return { worst, ratio: ratios.get(worst)!, ratios, zones };
}

/** Largest replica load, over a node's fair share, that `plan`/`check` accept silently. */
export const MAX_REPLICA_LOAD_RATIO = 1.25;

/**
 * Why a shard list would load some shard with more than {@link MAX_REPLICA_LOAD_RATIO}× its fair
 * share of the replicas ({@link replicaLoadReport}) at `n` replicas per key (naming the shard, the ratio and the zone
 * layout that causes it), or undefined when it does not. A ring without zones whose weights are
 * equal is balanced by construction and is not built.
 */
export function replicaLoadWarning(
  nodes: readonly RingNodeInput[],
  vnodesPerWeight: number,
  n: number,
): string | undefined {
  if (n <= 1 || n > nodes.length) return undefined;
  if (nodes.every((x) => x.zone === undefined && x.weight === nodes[0].weight)) return undefined;
  const report = replicaLoadReport(buildRing(nodes, vnodesPerWeight), n);
  if (report.ratio <= MAX_REPLICA_LOAD_RATIO) return undefined;
  const layout = [...report.zones]
    .map(
      ([zone, names]) =>
        `${zone}: ${names.length} shard(s), weight ${names.reduce((s, x) => s + nodes.find((m) => m.name === x)!.weight, 0)}`,
    )
    .join("; ");
  const thin = report.zones.size >= n;
  return (
    `${report.worst} would hold ${report.ratio.toFixed(2)}× its share of the replicas (the mean, or its weight's share when larger) at replicationFactor ${n} ` +
    `(more than ${MAX_REPLICA_LOAD_RATIO}×). Zones: ${layout}. ` +
    (thin
      ? `Each key keeps its first ${Math.min(n, report.zones.size)} replicas in distinct zones, so a zone with less weight than the others carries as many replicas as they do; give the zones equal weight (add shards to the thin zone, or weight its shards up).`
      : `With fewer zones than replicas, a key's extra replicas fall on the zones' other shards regardless of weight; give the zones equal weight or use equal shard weights.`)
  );
}

/**
 * The maximal hash ranges over which the `n`-replica list (primary first) is constant, sorted,
 * covering `[0, 2^32)` without gaps; each is a union of whole partitions. The rebalance planner
 * compares two rings' lists.
 *
 * @param n - replica count, a whole number from 1 to the node count
 * @throws RingError naming `n`
 */
export function replicaRanges(ring: Ring, n: number): ReplicaRange[] {
  checkReplicaCount("replicaRanges", ring, n);
  const d = dataOf(ring);
  const idx = new Uint16Array(PARTITION_COUNT * n);
  if (n <= d.depth) {
    for (let p = 0; p < PARTITION_COUNT; p++) for (let j = 0; j < n; j++) idx[p * n + j] = d.replicas[p * d.depth + j];
  } else {
    const s = rankScratch(d.seed1.length, d.zoneCount, n);
    rankPartitions(d, 0, PARTITION_COUNT, n, s, idx, 0);
  }
  const same = (p: number, q: number): boolean => {
    for (let j = 0; j < n; j++) if (idx[p * n + j] !== idx[q * n + j]) return false;
    return true;
  };
  const out: ReplicaRange[] = [];
  let first = 0;
  for (let p = 1; p <= PARTITION_COUNT; p++) {
    if (p < PARTITION_COUNT && same(first, p)) continue;
    const replicas = Object.freeze(Array.from(idx.subarray(first * n, first * n + n), (i) => d.names[i]));
    out.push(Object.freeze({ start: first * PARTITION_SPAN, end: p * PARTITION_SPAN, replicas }));
    first = p;
  }
  return out;
}

/**
 * The hash ranges whose owner differs between two rings, sorted by `start`, non-overlapping,
 * each maximal (adjacent ranges with the same `from` and `to` are merged) and never wrapping
 * (every range lies inside `[0, 2^32)`). Every hash outside them keeps its owner; each range is a
 * union of whole partitions. Linear in the partition count.
 */
export function diffOwnership(before: Ring, after: Ring): OwnershipMove[] {
  const a = dataOf(before);
  const b = dataOf(after);
  const moves: OwnershipMove[] = [];
  for (let p = 0; p < PARTITION_COUNT; p++) {
    const from = a.names[a.owners[p]];
    const to = b.names[b.owners[p]];
    if (from === to) continue;
    const start = p * PARTITION_SPAN;
    const end = start + PARTITION_SPAN;
    const prev = moves[moves.length - 1];
    if (prev !== undefined && prev.end === start && prev.from === from && prev.to === to)
      moves[moves.length - 1] = { ...prev, end };
    else moves.push({ start, end, from, to });
  }
  return moves.map((m) => Object.freeze(m));
}
