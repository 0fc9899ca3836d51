/**
 * `npm run bench -- ring [--nodes 16] [--vnodes 150] [--keys 1000000] [--rounds 3]`
 *
 * Our consistent-hash ring (core/ring.ts: MurmurHash3, typed arrays, binary search) against the
 * `hashring` npm package (ketama-style, md5, LRU cache; dev dependency, baseline only), in the
 * same process on the same keys: build time, owner lookups/s, 3-replica lookups/s, balance of the
 * key space over the nodes (exact, from the ring points, and as observed on the keys) and how much
 * of the key space moves when a node is added. Figures are ratios against the baseline; nothing
 * here asserts a time.
 */
import { parseArgs } from "node:util";
import * as asciichart from "asciichart";
import { Presets, SingleBar } from "cli-progress";
import { HASH_SPACE, buildRing, diffOwnership, ownerOf, ownership, replicasFor, type Ring } from "../core/ring";

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
}

const LIMITS: Record<keyof Options, [min: number, max: number, fallback: number]> = {
  nodes: [2, 256, 16],
  vnodes: [3, 4096, 150],
  keys: [1000, 10_000_000, 1_000_000],
  rounds: [1, 20, 3],
};

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: { nodes: { type: "string" }, vnodes: { type: "string" }, keys: { type: "string" }, rounds: { type: "string" } },
    strict: false,
    allowPositionals: true,
  });
  const read = (name: keyof Options): number => {
    const [min, max, fallback] = LIMITS[name];
    const raw = values[name];
    if (raw === undefined || raw === true) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`bench ring: --${name} must be a whole number from ${min} to ${max}; got ${JSON.stringify(raw)}`);
    return n;
  };
  return { nodes: read("nodes"), vnodes: read("vnodes"), keys: read("keys"), rounds: read("rounds") };
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
  return { maxOverMean: Math.max(...shares) / mean, minOverMean: Math.min(...shares) / mean, stddevOverMean: Math.sqrt(variance) / mean };
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

/** The owner of every key, and the share of the keys each name receives. */
function keyOwners(names: string[], keys: string[], lookup: (key: string) => string | undefined): { owners: (string | undefined)[]; shares: number[] } {
  const index = new Map(names.map((n, i) => [n, i]));
  const counts = new Array<number>(names.length).fill(0);
  const owners = keys.map(lookup);
  for (const owner of owners) {
    const i = index.get(owner ?? "");
    if (i === undefined) throw new Error(`bench ring: a key was placed on unknown node ${JSON.stringify(owner)}`);
    counts[i]++;
  }
  return { owners, shares: counts.map((c) => c / keys.length) };
}

const fmt = (x: number, digits = 3): string => (Number.isFinite(x) ? x.toFixed(digits) : String(x));
const rate = (x: number): string => `${(x / 1e6).toFixed(2)} M/s`;
const round = (x: number, digits = 4): number => Number(x.toFixed(digits));

export default async function ringBench(argv: string[]): Promise<Record<string, unknown>> {
  const o = options(argv);
  const names = Array.from({ length: o.nodes }, (_, i) => `shard-${i}`);
  const keys = Array.from({ length: o.keys }, (_, i) => `user:${i}:${(i * 2654435761) % 1_000_003}`);
  const replicaKeys = keys.slice(0, Math.min(keys.length, 250_000));
  // hashring makes 3 points per md5 digest in hash_ring mode: vnodes/3 digests ≈ our point count.
  const hashringOptions = { "vnode count": Math.max(1, Math.round(o.vnodes / 3)), compatibility: "hash_ring" };
  const buildOurs = (): Ring => buildRing(names.map((name) => ({ name, weight: 1 })), o.vnodes);
  const buildTheirs = (): HashRingBaseline => new HashRing(names, "md5", hashringOptions);

  const BUILDS = 15;
  const bar = new SingleBar({ format: "ring bench {bar} {value}/{total} {step}", hideCursor: true }, Presets.shades_classic);
  bar.start(2 * BUILDS + 4 * o.rounds + 3, 0, { step: "build" });

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

  // Lookups: alternate ours/theirs per round, best round counts (least disturbed by the machine).
  let sink = 0;
  const oursLookupMs: number[] = [];
  const theirsLookupMs: number[] = [];
  const oursReplicaMs: number[] = [];
  const theirsReplicaMs: number[] = [];
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

  bar.update({ step: "balance" });
  const oursExact = [...ownership(ring).values()];
  const theirsExact = hashringOwnership(hr, names);
  const ours = keyOwners(names, keys, (k) => ownerOf(ring, k));
  const theirs = keyOwners(names, keys, (k) => hr.get(k));
  bar.increment();

  // Adding a node: what moves (exactly, from the ring diff; and observed on the keys).
  bar.update({ step: "add a node" });
  const added = `shard-${o.nodes}`;
  const grown = buildRing([...names, added].map((name) => ({ name, weight: 1 })), o.vnodes);
  const moves = diffOwnership(ring, grown);
  const movedExact = moves.reduce((s, m) => s + (m.end - m.start), 0) / HASH_SPACE;
  const movesOnlyToNew = moves.every((m) => m.to === added);
  const hrGrown = new HashRing([...names, added], "md5", hashringOptions);
  let oursMovedKeys = 0;
  let theirsMovedKeys = 0;
  let theirsMovedElsewhere = 0;
  keys.forEach((k, i) => {
    if (ownerOf(grown, k) !== ours.owners[i]) oursMovedKeys++;
    const after = hrGrown.get(k);
    if (after !== theirs.owners[i]) {
      theirsMovedKeys++;
      if (after !== added) theirsMovedElsewhere++;
    }
  });
  bar.increment();
  bar.update({ step: "done" });
  bar.increment();
  bar.stop();

  const oursLookups = o.keys / (Math.min(...oursLookupMs) / 1000);
  const theirsLookups = o.keys / (Math.min(...theirsLookupMs) / 1000);
  const oursReplicas = replicaKeys.length / (Math.min(...oursReplicaMs) / 1000);
  const theirsReplicas = replicaKeys.length / (Math.min(...theirsReplicaMs) / 1000);
  const buildMs = median(oursBuildMs);
  const theirsBuild = median(theirsBuildMs);
  const bo = balance(oursExact);
  const bt = balance(theirsExact);
  const bok = balance(ours.shares);
  const btk = balance(theirs.shares);

  const rows: [string, string, string, string][] = [
    ["points on the ring", String(ring.size), String(hr.ring.length), ""],
    ["build (median of 15)", `${fmt(buildMs)} ms`, `${fmt(theirsBuild)} ms`, `${fmt(theirsBuild / buildMs, 2)}× faster`],
    [`owner lookups (${o.keys} keys)`, rate(oursLookups), rate(theirsLookups), `${fmt(oursLookups / theirsLookups, 2)}×`],
    [`3-replica lookups (${replicaKeys.length} keys)`, rate(oursReplicas), rate(theirsReplicas), `${fmt(oursReplicas / theirsReplicas, 2)}×`],
    ["ownership max/mean (exact)", fmt(bo.maxOverMean), fmt(bt.maxOverMean), ""],
    ["ownership min/mean (exact)", fmt(bo.minOverMean), fmt(bt.minOverMean), ""],
    ["ownership stddev/mean (exact)", fmt(bo.stddevOverMean), fmt(bt.stddevOverMean), ""],
    ["key share max/mean (observed)", fmt(bok.maxOverMean), fmt(btk.maxOverMean), ""],
    [`keys moved adding ${added}`, `${fmt(100 * (oursMovedKeys / o.keys), 2)} %`, `${fmt(100 * (theirsMovedKeys / o.keys), 2)} %`, `ideal ≈ ${fmt(100 / (o.nodes + 1), 2)} %`],
  ];
  const widths = [0, 1, 2, 3].map((c) => Math.max(...[["", "ours (core/ring)", "hashring 3.2.0", "ours vs hashring"], ...rows].map((r) => r[c].length)));
  const line = (r: string[]) => r.map((cell, c) => cell.padEnd(widths[c])).join("  ");
  console.log(`\nconsistent-hash ring: ${o.nodes} nodes × ${o.vnodes} vnodes, ${o.keys} keys, best of ${o.rounds} rounds`);
  console.log(line(["", "ours (core/ring)", "hashring 3.2.0", "ours vs hashring"]));
  for (const r of rows) console.log(line(r));

  console.log(`\nshare of the key space per node (% of 2^32; mean ${fmt(100 / o.nodes, 2)} %)`);
  const barOf = (share: number) => "█".repeat(Math.round(share * o.nodes * 20));
  names.forEach((n, i) =>
    console.log(`${n.padEnd(10)} ours ${fmt(100 * oursExact[i], 2).padStart(6)} % ${barOf(oursExact[i]).padEnd(32)} hashring ${fmt(100 * theirsExact[i], 2).padStart(6)} % ${barOf(theirsExact[i])}`),
  );
  // Per-node deviation from the mean (% of the mean), each node 3 columns wide: ours vs hashring.
  const widen = (xs: number[]) => xs.flatMap((x) => [x, x, x]);
  const color = process.stdout.isTTY ? [asciichart.green, asciichart.red] : [undefined, undefined];
  console.log(`\nownership deviation from the mean per node, % (${process.stdout.isTTY ? "green ours, red hashring" : "series 1 ours, series 2 hashring"})`);
  console.log(
    asciichart.plot([widen(oursExact.map((s) => 100 * (s * o.nodes - 1))), widen(theirsExact.map((s) => 100 * (s * o.nodes - 1)))], {
      height: 12,
      colors: color,
      format: (x) => x.toFixed(1).padStart(7),
    }),
  );
  if (sink === -1) console.log("unreachable");

  return {
    nodes: o.nodes,
    vnodes_per_node: o.vnodes,
    keys: o.keys,
    ours_points: ring.size,
    hashring_points: hr.ring.length,
    build_ms: round(buildMs),
    hashring_build_ms: round(theirsBuild),
    build_speedup_vs_hashring: round(theirsBuild / buildMs, 3),
    ours_lookups_per_s: Math.round(oursLookups),
    hashring_lookups_per_s: Math.round(theirsLookups),
    lookup_ratio_vs_hashring: round(oursLookups / theirsLookups, 3),
    ours_replicas3_per_s: Math.round(oursReplicas),
    hashring_range3_per_s: Math.round(theirsReplicas),
    replicas_ratio_vs_hashring: round(oursReplicas / theirsReplicas, 3),
    max_over_mean_ownership: round(bo.maxOverMean),
    min_over_mean_ownership: round(bo.minOverMean),
    ownership_stddev_over_mean: round(bo.stddevOverMean),
    hashring_max_over_mean_ownership: round(bt.maxOverMean),
    hashring_min_over_mean_ownership: round(bt.minOverMean),
    hashring_ownership_stddev_over_mean: round(bt.stddevOverMean),
    key_max_over_mean: round(bok.maxOverMean),
    hashring_key_max_over_mean: round(btk.maxOverMean),
    moved_fraction_on_add: round(movedExact, 5),
    ideal_moved_fraction_on_add: round(1 / (o.nodes + 1), 5),
    moved_key_fraction_on_add: round(oursMovedKeys / o.keys, 5),
    hashring_moved_key_fraction_on_add: round(theirsMovedKeys / o.keys, 5),
    hashring_keys_moved_between_old_nodes: theirsMovedElsewhere,
    moves_only_to_new_node: movesOnlyToNew,
    diff_ranges_on_add: moves.length,
  };
}
