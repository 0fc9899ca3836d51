/**
 * What a rebalance remembers in etcd so that a rerun after a crash (or a kill) finishes the same
 * migration instead of starting another one, and never repeats a step that would be unsafe:
 *
 * - `rebalance/active`: the migration in flight: its id, the old and new placements, the plan's
 *   digest and its stage. Written (fenced) before the shard map is changed for it; `stage:
 *   "cleanup"` is written before the migration is cleared from the shard map, so once the map no
 *   longer shows the migration the old owners' rows are still known to need deleting.
 * - `rebalance/<id>/progress`: the batches already copied and verified, with running totals.
 * - `rebalance/sweep`: staying shards that did not answer at a cleanup; the next runs delete their
 *   rows outside the ranges they hold, once they answer.
 *
 * Both are written only through the rebalancer's leadership (fenced), so a deposed rebalancer
 * can never record progress it did not make.
 */
import { z } from "zod";
import { ShardPlacementSchema, type ShardPlacement } from "../../core/sharding/shard-map";
import { configKey } from "../config-client";

/** Where data lives: what a migration moves between (a shard map without epoch or consistency). */
export const PlacementSchema = ShardPlacementSchema;
export type Placement = ShardPlacement;

/** The migration in flight. */
export const ActiveMigrationSchema = z.strictObject({
  id: z.string().min(1),
  /** planned: map not changed yet; copying: map in dual-write/cutover; cleanup: old owners' rows to delete. */
  stage: z.enum(["planned", "copying", "cleanup"]),
  from: PlacementSchema,
  to: PlacementSchema,
  /** Digest of the plan's batches: a rerun with a different plan starts its copy over. */
  planDigest: z.string(),
  startedAt: z.string(),
});
export type ActiveMigration = z.infer<typeof ActiveMigrationSchema>;

export const ACTIVE_KEY = configKey("rebalance/active", ActiveMigrationSchema);

/** Progress of one migration's copy. */
export const ProgressSchema = z.strictObject({
  planDigest: z.string(),
  /** Indexes of the batches copied and verified. */
  done: z.array(z.number().int().min(0)),
  rowsCopied: z.number().int().min(0),
  bytesCopied: z.number().int().min(0),
  /** (source, target) pairs of the done batches verified clean (absent in records written before it existed). */
  verifiedPairs: z.number().int().min(0).optional(),
});
export type Progress = z.infer<typeof ProgressSchema>;

/** Staying shards a cleanup could not reach: a later run deletes their rows outside what they hold. */
export const SweepSchema = z.strictObject({ shards: z.array(z.string().min(1)) });
export const SWEEP_KEY = configKey("rebalance/sweep", SweepSchema);

/** The progress key of a migration id. */
export const progressKey = (id: string) => configKey(`rebalance/${id}/progress`, ProgressSchema);
