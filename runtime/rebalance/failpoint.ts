/**
 * Failpoints: named places in the rebalance where a test can have the process killed outright
 * (SIGKILL of itself: no finally blocks, no resign, exactly like a crash), to prove that a rerun
 * finishes the migration with no loss and no duplicate. Off unless the environment variable
 * `SCALEPLANE_FAILPOINTS` lists the point, as `name` (first hit) or `name@n` (n-th hit), comma
 * separated. The chaos tests set it for the dynamic-provider host process they start, one point
 * at a time, for every point below.
 */

const hits = new Map<string, number>();

/** Names of the failpoints the rebalance passes, in the order a migration passes them. */
export const FAILPOINTS = [
  /** The migration is recorded (`rebalance/active`, stage planned); the shard map is not changed yet. */
  "rebalance.after-plan",
  /** The map is at epoch e+1 (dual-write); the shards' fence is not raised to it yet. */
  "rebalance.after-dual-write-cas",
  /** Inside a copy: a chunk was written on its target (the pair is neither complete nor verified). */
  "rebalance.in-copy",
  /** After a batch was copied, verified and recorded. */
  "rebalance.after-batch",
  /** Every batch is copied and verified; the map is not switched to cutover yet. */
  "rebalance.before-cutover-cas",
  /** The map is at epoch e+2 (cutover: reads use the new owners); the fence is not raised to it yet. */
  "rebalance.after-cutover-cas",
  /** After the shard map switched reads to the new owners and the fence was raised (phase cutover). */
  "rebalance.after-cutover",
  /** The cleanup is recorded (stage cleanup); the migration is still in the map. */
  "rebalance.after-cleanup-record",
  /** The map is at epoch e+3 (no migration); the fence is not raised to it yet. */
  "rebalance.after-complete-cas",
  /** After the migration was cleared from the shard map and the fence raised, before the old owners' rows are deleted. */
  "rebalance.before-cleanup",
  /** Inside the cleanup: one shard's moved rows were deleted. */
  "rebalance.in-cleanup",
  /** Every old owner is cleaned; the progress and active records are not deleted yet. */
  "rebalance.after-cleanup",
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
