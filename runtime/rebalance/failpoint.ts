/**
 * Failpoints: named places in the rebalance where a test can have the process killed outright
 * (SIGKILL of itself: no finally blocks, no resign, exactly like a crash), to prove that a rerun
 * finishes the migration with no loss and no duplicate. Off unless the environment variable
 * `SCALEPLANE_FAILPOINTS` lists the point, as `name` (first hit) or `name@n` (n-th hit), comma
 * separated. The chaos tests set it for the dynamic-provider host process they start.
 */

const hits = new Map<string, number>();

/** Names of the failpoints the rebalance passes (in order). */
export const FAILPOINTS = [
  /** After a batch was copied, verified and recorded. */
  "rebalance.after-batch",
  /** After the shard map switched reads to the new owners (phase cutover). */
  "rebalance.after-cutover",
  /** After the migration was cleared from the shard map, before the old owners' rows are deleted. */
  "rebalance.before-cleanup",
] as const;
export type Failpoint = (typeof FAILPOINTS)[number];

/** Kills this process if `SCALEPLANE_FAILPOINTS` arms `name` for this hit. */
export function failpoint(name: Failpoint): void {
  const spec = process.env.SCALEPLANE_FAILPOINTS;
  if (!spec) return;
  const n = (hits.get(name) ?? 0) + 1;
  hits.set(name, n);
  for (const item of spec.split(",").map((s) => s.trim())) {
    const [point, at] = item.split("@");
    if (point === name && (at === undefined ? n === 1 : Number(at) === n)) {
      process.stderr.write(`failpoint ${name} (hit ${n}): killing process ${process.pid}\n`);
      process.kill(process.pid, "SIGKILL");
    }
  }
}
