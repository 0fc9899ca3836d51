/**
 * `npm run bench -- shards`: the sharded database measured side by side in one run; the final
 * stdout line (printed by bench/run.ts) is one JSON object merging every part's figures.
 *
 * Parts, each `(argv) => Promise<figures>`, run in order in this process:
 * - placement (bench/shards/ring.ts): `lookup_vs_hashring`, `replicas_vs_hashring`, `max_mean`,
 *   `hashring_max_mean`, `moved_vs_min` (our ring against the `hashring` package);
 * - rebalance copy and cutover on real PostgreSQL (bench/shards/copy.ts): `copy_vs_raw`,
 *   `cutover_pause_ms`, `p99_write_during_vs_before`.
 */
import { copyFigures } from "./shards/copy";
import { ringFigures } from "./shards/ring";

/** One part of the shards bench: prints what it measured and returns its figures. */
export type ShardsBenchPart = (argv: string[]) => Promise<Record<string, unknown>>;

/** The parts, in run order (the hook for the copy/cutover figures). */
export const PARTS: readonly ShardsBenchPart[] = [ringFigures, copyFigures];

export default async function shardsBench(argv: string[]): Promise<Record<string, unknown>> {
  const figures: Record<string, unknown> = {};
  for (const part of PARTS) {
    const got = await part(argv);
    const clash = Object.keys(got).filter((k) => k in figures);
    if (clash.length > 0) throw new Error(`bench shards: figure(s) ${clash.join(", ")} reported by two parts`);
    Object.assign(figures, got);
  }
  return figures;
}
