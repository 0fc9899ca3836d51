/**
 * `npm run bench -- shards`: the sharded database measured side by side in one run; the final
 * stdout line (printed by bench/run.ts) is one JSON object merging every part's figures.
 *
 * Parts, each `(argv) => Promise<figures>`, run in order in this process:
 * - placement (bench/shards/ring.ts): `lookup_vs_hashring`, `replicas_vs_hashring`, `max_mean`,
 *   `hashring_max_mean`, `moved_vs_min` (our ring against the `hashring` package);
 * - rebalance copy and cutover on real PostgreSQL (bench/shards/copy.ts): `copy_vs_raw`,
 *   `cutover_pause_ms`, `p99_write_during_vs_before`;
 * - data safety on real PostgreSQL (bench/shards/safety.ts): `shrink_copy_vs_raw` (a 5 → 3 shrink
 *   at rf 3 reading rf − w + 1 old replicas per range), `quorum_read_p99_vs_before` (blocking read
 *   repair at 0 disagreement), `skewed_writes_refused` (a router 5 min fast).
 *
 * Then a goals table (issue 15's acceptance bars, each figure against its bar, with its spread
 * over the rounds where it has one); `goals_missed` in the JSON names the figures that missed,
 * and `load_1m_start` / `load_1m_end` record the machine's load average around the run.
 */
import { loadavg } from "node:os";
import { copyFigures } from "./shards/copy";
import { ringFigures } from "./shards/ring";
import { safetyFigures } from "./shards/safety";

/** One part of the shards bench: prints what it measured and returns its figures. */
export type ShardsBenchPart = (argv: string[]) => Promise<Record<string, unknown>>;

/** The parts, in run order (the hook for the copy/cutover figures). */
export const PARTS: readonly ShardsBenchPart[] = [ringFigures, copyFigures, safetyFigures];

/** A bar a figure must meet (issue 15's acceptance). */
interface Goal {
  figure: string;
  bar: string;
  met: (x: number) => boolean;
}

/** The goals, in the order they are printed. */
export const GOALS: readonly Goal[] = [
  { figure: "lookup_vs_hashring", bar: "≥ 20", met: (x) => x >= 20 },
  { figure: "max_mean", bar: "≤ 1.05", met: (x) => x <= 1.05 },
  { figure: "moved_vs_min", bar: "≤ 1.05", met: (x) => x <= 1.05 },
  { figure: "copy_vs_raw", bar: "≥ 0.8", met: (x) => x >= 0.8 },
  { figure: "cutover_pause_ms", bar: "< 1000", met: (x) => x < 1000 },
  { figure: "shrink_copy_vs_raw", bar: "≥ 0.6", met: (x) => x >= 0.6 },
  { figure: "quorum_read_p99_vs_before", bar: "≤ 1.3", met: (x) => x <= 1.3 },
  { figure: "skewed_writes_refused", bar: "= 1", met: (x) => x === 1 },
  { figure: "skewed_rows_stored", bar: "= 0", met: (x) => x === 0 },
];

/** Prints the goals table; returns the figures that missed their bar (or are absent). */
function printGoals(figures: Record<string, unknown>): string[] {
  const rows = GOALS.map((g) => {
    const x = figures[g.figure];
    const lo = figures[`${g.figure}_min`];
    const hi = figures[`${g.figure}_max`];
    const ok = typeof x === "number" && g.met(x);
    return {
      ok,
      cells: [
        g.figure,
        typeof x === "number" ? String(x) : "absent",
        typeof lo === "number" && typeof hi === "number" ? `${lo}-${hi}` : "",
        g.bar,
        ok ? "met" : "MISSED",
      ],
    };
  });
  const head = ["figure", "measured", "rounds' spread", "goal", ""];
  const widths = head.map((_, c) => Math.max(...[head, ...rows.map((r) => r.cells)].map((r) => r[c].length)));
  const line = (r: string[]) => r.map((cell, c) => cell.padEnd(widths[c])).join("  ");
  console.log("\ngoals (issue 15's acceptance)");
  console.log(line(head));
  for (const r of rows) console.log(line(r.cells));
  return rows.flatMap((r, i) => (r.ok ? [] : [GOALS[i].figure]));
}

export default async function shardsBench(argv: string[]): Promise<Record<string, unknown>> {
  const figures: Record<string, unknown> = { load_1m_start: Number(loadavg()[0].toFixed(2)) };
  for (const part of PARTS) {
    const got = await part(argv);
    const clash = Object.keys(got).filter((k) => k in figures);
    if (clash.length > 0) throw new Error(`bench shards: figure(s) ${clash.join(", ")} reported by two parts`);
    Object.assign(figures, got);
  }
  figures.load_1m_end = Number(loadavg()[0].toFixed(2));
  figures.goals_missed = printGoals(figures);
  return figures;
}
