/**
 * The placement part of the shards bench (`npm run bench -- shards`, and alone as
 * `npm run bench -- ring`): our ring (core/sharding/ring.ts: MurmurHash3 keys, 2^17 partitions placed by
 * weighted rendezvous hashing, table lookups) against the `hashring` npm package (ketama-style
 * ring, md5, LRU cache; dev dependency, baseline only), in the same process on the same keys.
 *
 * Figures (all ratios or counts, nothing here asserts a time):
 * - `lookup_vs_hashring`: owner lookups/s ÷ `hashring.get` lookups/s (best of rounds, alternated);
 * - `replicas_vs_hashring`: 3 distinct replicas/s ÷ `hashring.range(key, 3)`/s;
 * - `max_mean` / `hashring_max_mean`: max/mean keys per shard at the default vnodes (150 per
 *   weight; hashring gets the same number of ring points per node, 3 per md5 digest);
 * - `moved_vs_min`: mean over n = 3..32 of (keys whose owner changes going n → n+1 shards) ÷
 *   (keys / (n+1)), the minimum any balanced placement must move; `hashring_moved_vs_min` alike.
 */
import { parseArgs } from "node:util";
import * as asciichart from "asciichart";
import { Presets, SingleBar } from "cli-progress";
import {
  DEFAULT_VNODES_PER_WEIGHT,
  HASH_SPACE,
  buildRing,
  diffOwnership,
  hashKey,
  ownerOf,
  ownerOfHash,
  ownership,
  replicasFor,
  type Ring,
} from "../../core/sharding/ring";

/** The part of the `hashring` package the bench uses (it ships no types). */
interface HashRingBaseline {
  get(key: string): string | undefined;
  range(key: string, size: number): string[];
  /** The continuum: points sorted by `value`; a key belongs to the first point ≥ its hash. */
  ring: { value: number; server: string }[];
}
type HashRingCtor = new (servers: string[], algorithm: string, options: Record<string, unknown>) => HashRingBaseline;
const HashRing = require("hashring") as HashRingCtor;

interface Options {
  nodes: number;
  vnodes: number;
  keys: number;
  rounds: number;
  /** Keys the hashring side of `moved_vs_min` is measured on (its lookups are ~30× slower). */
  moveKeys: number;
}

const LIMITS: Record<keyof Options, [min: number, max: number, fallback: number]> = {
  nodes: [2, 256, 16],
  vnodes: [3, 4096, DEFAULT_VNODES_PER_WEIGHT],
  keys: [1000, 10_000_000, 1_000_000],
  rounds: [1, 20, 3],
  moveKeys: [1000, 10_000_000, 100_000],
};

const FLAGS: Record<keyof Options, string> = {
  nodes: "nodes",
  vnodes: "vnodes",
  keys: "keys",
  rounds: "rounds",
  moveKeys: "move-keys",
};

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(Object.values(FLAGS).map((f) => [f, { type: "string" as const }])),
    strict: false,
    allowPositionals: true,
  });
  const read = (name: keyof Options): number => {
    const [min, max, fallback] = LIMITS[name];
    const raw = values[FLAGS[name]];
    if (raw === undefined || raw === true) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(
        `bench ring: --${FLAGS[name]} must be a whole number from ${min} to ${max}; got ${JSON.stringify(raw)}`,
      );
    return n;
  };
  return {
    nodes: read("nodes"),
    vnodes: read("vnodes"),
    keys: read("keys"),
    rounds: read("rounds"),
    moveKeys: read("moveKeys"),
  };
}

/** Milliseconds `fn` takes (high-resolution clock). */
function timeMs(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** max/mean, min/mean and stddev/mean of a share vector (shares sum to 1). */
function balance(shares: number[]): { maxOverMean: number; minOverMean: number; stddevOverMean: number } {
  const mean = 1 / shares.length;
  const variance = shares.reduce((s, x) => s + (x - mean) ** 2, 0) / shares.length;
  return {
    maxOverMean: Math.max(...shares) / mean,
    minOverMean: Math.min(...shares) / mean,
    stddevOverMean: Math.sqrt(variance) / mean,
  };
}

/** Exact share of the 2^32 space per server of a hashring continuum (a point owns (previous, point]). */
function hashringOwnership(hr: HashRingBaseline, servers: string[]): number[] {
  const span = new Map(servers.map((s) => [s, 0]));
  const points = hr.ring;
  points.forEach((p, i) => {
    const arc = i === 0 ? p.value + (HASH_SPACE - points[points.length - 1].value) : p.value - points[i - 1].value;
    span.set(p.server, (span.get(p.server) ?? 0) + arc);
  });
  return servers.map((s) => (span.get(s) ?? 0) / HASH_SPACE);
}

/** The share of the keys each name receives. */
function keyShares(names: string[], owners: readonly (string | undefined)[]): number[] {
  const index = new Map(names.map((n, i) => [n, i]));
  const counts = new Array<number>(names.length).fill(0);
  for (const owner of owners) {
    const i = index.get(owner ?? "");
    if (i === undefined) throw new Error(`bench ring: a key was placed on unknown node ${JSON.stringify(owner)}`);
    counts[i]++;
  }
  return counts.map((c) => c / owners.length);
}

/** Σ over transitions n → n+1 (n = from..to) of moved/(keys/(n+1)), divided by the count: mean ratio to the minimum. */
function movedVsMin(
  from: number,
  to: number,
  keyCount: number,
  ownersFor: (nodes: string[]) => ArrayLike<string | undefined>,
  onStep: () => void,
): { mean: number; perN: number[] } {
  const names = (n: number) => Array.from({ length: n }, (_, i) => `shard-${i}`);
  const perN: number[] = [];
  let before = ownersFor(names(from));
  for (let n = from; n <= to; n++) {
    const after = ownersFor(names(n + 1));
    let moved = 0;
    for (let i = 0; i < keyCount; i++) if (before[i] !== after[i]) moved++;
    perN.push(moved / (keyCount / (n + 1)));
    before = after;
    onStep();
  }
  return { mean: perN.reduce((s, x) => s + x, 0) / perN.length, perN };
}

const fmt = (x: number, digits = 3): string => (Number.isFinite(x) ? x.toFixed(digits) : String(x));
const rate = (x: number): string => `${(x / 1e6).toFixed(2)} M/s`;
const round = (x: number, digits = 4): number => Number(x.toFixed(digits));

/**
 * Measures our placement against `hashring` (see the module header), prints a table and a chart
 * of the per-shard load of both, and returns the figures for the bench's final JSON line.
 *
 * @param argv - `--nodes` (16), `--vnodes` (150 per weight), `--keys` (1,000,000), `--rounds` (3),
 *   `--move-keys` (100,000: keys of hashring's `moved_vs_min`); other arguments are ignored
 */
export async function ringFigures(argv: string[]): Promise<Record<string, unknown>> {
  const o = options(argv);
  const MOVE_FROM = 3;
  const MOVE_TO = 32;
  const names = Array.from({ length: o.nodes }, (_, i) => `shard-${i}`);
  const keys = Array.from({ length: o.keys }, (_, i) => `user:${i}:${(i * 2654435761) % 1_000_003}`);
  const replicaKeys = keys.slice(0, Math.min(keys.length, 250_000));
  // hashring makes 3 points per md5 digest in hash_ring mode: vnodes/3 digests = 150 points a node.
  const hashringOptions = { "vnode count": Math.max(1, Math.round(o.vnodes / 3)), compatibility: "hash_ring" };
  const buildOurs = (nodes: string[] = names): Ring =>
    buildRing(
      nodes.map((name) => ({ name, weight: 1 })),
      o.vnodes,
    );
  const buildTheirs = (nodes: string[] = names): HashRingBaseline => new HashRing(nodes, "md5", hashringOptions);

  const BUILDS = 5;
  const transitions = MOVE_TO - MOVE_FROM + 1;
  const bar = new SingleBar(
    { format: "ring bench {bar} {value}/{total} {step}", hideCursor: true },
    Presets.shades_classic,
  );
  bar.start(2 * BUILDS + 4 * o.rounds + 2 + 2 * transitions, 0, { step: "build" });

  const oursBuildMs: number[] = [];
  const theirsBuildMs: number[] = [];
  let ring = buildOurs();
  let hr = buildTheirs();
  for (let i = 0; i < BUILDS; i++) {
    oursBuildMs.push(timeMs(() => (ring = buildOurs())));
    bar.increment();
    theirsBuildMs.push(timeMs(() => (hr = buildTheirs())));
    bar.increment();
  }

  // Lookups: alternate ours/theirs per round; the best round counts (least disturbed by the machine).
  let sink = 0;
  const oursLookupMs: number[] = [];
  const theirsLookupMs: number[] = [];
  const oursReplicaMs: number[] = [];
  const theirsReplicaMs: number[] = [];
  let distinctReplicas = true;
  for (let r = 0; r < o.rounds; r++) {
    bar.update({ step: `owner lookups, round ${r + 1}` });
    oursLookupMs.push(timeMs(() => keys.forEach((k) => (sink += ownerOf(ring, k).length))));
    bar.increment();
    theirsLookupMs.push(timeMs(() => keys.forEach((k) => (sink += (hr.get(k) ?? "").length))));
    bar.increment();
    bar.update({ step: `3-replica lookups, round ${r + 1}` });
    oursReplicaMs.push(timeMs(() => replicaKeys.forEach((k) => (sink += replicasFor(ring, k, 3).length))));
    bar.increment();
    theirsReplicaMs.push(timeMs(() => replicaKeys.forEach((k) => (sink += hr.range(k, 3).length))));
    bar.increment();
  }
  // Both sides must really return 3 distinct nodes (checked outside the timed loops).
  for (let i = 0; i < replicaKeys.length; i += 97) {
    if (new Set(replicasFor(ring, replicaKeys[i], 3)).size !== 3 || new Set(hr.range(replicaKeys[i], 3)).size !== 3)
      distinctReplicas = false;
  }

  bar.update({ step: "balance" });
  const oursExact = [...ownership(ring).values()];
  const theirsExact = hashringOwnership(hr, names);
  const oursOwners = keys.map((k) => ownerOf(ring, k));
  const theirsOwners = keys.map((k) => hr.get(k));
  const oursKeys = keyShares(names, oursOwners);
  const theirsKeys = keyShares(names, theirsOwners);
  bar.increment();

  // Adding one node to the default set: what moves (exactly from the partition diff, and on keys).
  bar.update({ step: "add a node" });
  const added = `shard-${o.nodes}`;
  const grown = buildOurs([...names, added]);
  const moves = diffOwnership(ring, grown);
  const movedExact = moves.reduce((s, m) => s + (m.end - m.start), 0) / HASH_SPACE;
  const movesOnlyToNew = moves.every((m) => m.to === added);
  bar.increment();

  // moved_vs_min over n = 3..32, ours on all keys (hashed once), hashring on the first moveKeys keys.
  const hashes = Uint32Array.from(keys, hashKey);
  bar.update({ step: `moved n → n+1, n = ${MOVE_FROM}..${MOVE_TO} (ours)` });
  const ours = movedVsMin(
    MOVE_FROM,
    MOVE_TO,
    keys.length,
    (nodes) => {
      const r = buildOurs(nodes);
      return Array.from(hashes, (h) => ownerOfHash(r, h));
    },
    () => bar.increment(),
  );
  const moveKeys = keys.slice(0, Math.min(keys.length, o.moveKeys));
  bar.update({ step: `moved n → n+1, n = ${MOVE_FROM}..${MOVE_TO} (hashring)` });
  const theirs = movedVsMin(
    MOVE_FROM,
    MOVE_TO,
    moveKeys.length,
    (nodes) => {
      const r = buildTheirs(nodes);
      return moveKeys.map((k) => r.get(k));
    },
    () => bar.increment(),
  );
  bar.stop();

  const oursLookups = o.keys / (Math.min(...oursLookupMs) / 1000);
  const theirsLookups = o.keys / (Math.min(...theirsLookupMs) / 1000);
  const oursReplicas = replicaKeys.length / (Math.min(...oursReplicaMs) / 1000);
  const theirsReplicas = replicaKeys.length / (Math.min(...theirsReplicaMs) / 1000);
  const buildMs = median(oursBuildMs);
  const theirsBuild = median(theirsBuildMs);
  const bo = balance(oursExact);
  const bt = balance(theirsExact);
  const bok = balance(oursKeys);
  const btk = balance(theirsKeys);

  const rows: [string, string, string, string][] = [
    ["placement units", `${ring.size} partitions`, `${hr.ring.length} points`, ""],
    [
      `build (median of ${BUILDS})`,
      `${fmt(buildMs)} ms`,
      `${fmt(theirsBuild)} ms`,
      `${fmt(theirsBuild / buildMs, 2)}×`,
    ],
    [
      `owner lookups (${o.keys} keys)`,
      rate(oursLookups),
      rate(theirsLookups),
      `${fmt(oursLookups / theirsLookups, 2)}×`,
    ],
    [
      `3-replica lookups (${replicaKeys.length} keys)`,
      rate(oursReplicas),
      rate(theirsReplicas),
      `${fmt(oursReplicas / theirsReplicas, 2)}×`,
    ],
    ["keys per shard max/mean", fmt(bok.maxOverMean), fmt(btk.maxOverMean), ""],
    ["keys per shard min/mean", fmt(bok.minOverMean), fmt(btk.minOverMean), ""],
    ["ownership max/mean (exact)", fmt(bo.maxOverMean), fmt(bt.maxOverMean), ""],
    ["ownership stddev/mean (exact)", fmt(bo.stddevOverMean), fmt(bt.stddevOverMean), ""],
    [
      `moved/minimum, n → n+1, n = ${MOVE_FROM}..${MOVE_TO}`,
      `${fmt(ours.mean)} (${o.keys} keys)`,
      `${fmt(theirs.mean)} (${moveKeys.length} keys)`,
      "ideal 1",
    ],
  ];
  const head = ["", "ours (core/sharding/ring)", "hashring 3.2.0", "ours vs hashring"];
  const widths = [0, 1, 2, 3].map((c) => Math.max(...[head, ...rows].map((r) => r[c].length)));
  const line = (r: string[]) => r.map((cell, c) => cell.padEnd(widths[c])).join("  ");
  console.log(
    `\nplacement: ${o.nodes} shards, ${o.vnodes} vnodes per weight, ${o.keys} keys, best of ${o.rounds} rounds`,
  );
  console.log(line(head));
  for (const r of rows) console.log(line(r));
  console.log(
    `adding ${added}: ${fmt(100 * movedExact, 2)} % of the hash space moves (ideal ${fmt(100 / (o.nodes + 1), 2)} %), in ${moves.length} ranges, all onto ${added}: ${movesOnlyToNew}`,
  );

  // Per-shard load (keys per shard, % of the mean), each shard 3 columns wide: ours vs hashring.
  const widen = (xs: number[]) => xs.flatMap((x) => [x, x, x]);
  const tty = process.stdout.isTTY === true;
  console.log(
    `\nkeys per shard, % of the mean, shard-0..shard-${o.nodes - 1} (${tty ? "green ours, red hashring" : "series 1 ours, series 2 hashring"})`,
  );
  console.log(
    asciichart.plot([widen(oursKeys.map((s) => 100 * s * o.nodes)), widen(theirsKeys.map((s) => 100 * s * o.nodes))], {
      height: 12,
      colors: tty ? [asciichart.green, asciichart.red] : undefined,
      format: (x) => x.toFixed(1).padStart(7),
    }),
  );
  console.log(
    `\nmoved ÷ minimum going n → n+1 (${tty ? "green ours, red hashring" : "series 1 ours, series 2 hashring"}), n = ${MOVE_FROM}..${MOVE_TO}`,
  );
  console.log(
    asciichart.plot([ours.perN, theirs.perN], {
      height: 8,
      colors: tty ? [asciichart.green, asciichart.red] : undefined,
      format: (x) => x.toFixed(2).padStart(7),
    }),
  );
  if (sink === -1) console.log("unreachable");

  return {
    nodes: o.nodes,
    vnodes_per_weight: o.vnodes,
    keys: o.keys,
    lookup_vs_hashring: round(oursLookups / theirsLookups, 3),
    replicas_vs_hashring: round(oursReplicas / theirsReplicas, 3),
    max_mean: round(bok.maxOverMean),
    hashring_max_mean: round(btk.maxOverMean),
    moved_vs_min: round(ours.mean),
    hashring_moved_vs_min: round(theirs.mean),
    lookups_per_s: Math.round(oursLookups),
    hashring_lookups_per_s: Math.round(theirsLookups),
    replicas3_per_s: Math.round(oursReplicas),
    hashring_range3_per_s: Math.round(theirsReplicas),
    replicas_distinct: distinctReplicas,
    ownership_max_mean: round(bo.maxOverMean),
    hashring_ownership_max_mean: round(bt.maxOverMean),
    ownership_stddev_mean: round(bo.stddevOverMean),
    hashring_ownership_stddev_mean: round(bt.stddevOverMean),
    partitions: ring.size,
    hashring_points: hr.ring.length,
    build_ms: round(buildMs),
    hashring_build_ms: round(theirsBuild),
    moved_fraction_on_add: round(movedExact, 5),
    ideal_moved_fraction_on_add: round(1 / (o.nodes + 1), 5),
    moves_only_to_new_node: movesOnlyToNew,
    diff_ranges_on_add: moves.length,
  };
}
