/**
 * The plan a rebalance executes: core/sharding/rebalance's moves (which ranges change replica set, and
 * which surviving old replicas each new replica copies from) cut into copy batches with its
 * `batches`. Batches are the unit copied, verified and recorded as done before the next, so a
 * crash repeats at most one; {@link TARGET_BATCHES} of them whatever the ring's granularity (a
 * move is one partition-aligned range; a ring change moves tens of thousands).
 *
 * Why so few: rows sit in a shard's table in the order they were written, not by hash, so the
 * rows of any batch (a slice of the hash space) are spread over nearly every page of the source
 * table, and copying or verifying a batch reads the whole table whatever its share. Each batch
 * also starts and drains its copy pipeline. 32 batches made a copy of 100,000 rows read its source
 * 32 times and cost twice the time of 4 (`npm run bench -- shards`); 4 keep the repeated work
 * after a crash to a quarter of the copy, and progress visible.
 */
import {
  batches,
  planRebalance,
  type Placement,
  type PlanOptions,
  type RangeMove,
  type RebalancePlan,
} from "../../core/sharding/rebalance";

/** How many copy batches a migration is cut into (fewer when it has fewer moves). */
export const TARGET_BATCHES = 4;

/** A planned migration. */
export interface MigrationPlan {
  /** core/sharding/rebalance's plan. */
  readonly plan: RebalancePlan;
  /** Its moves in order, in copy batches. */
  readonly batches: readonly { readonly moves: readonly RangeMove[] }[];
}

/**
 * Plans the move between two placements.
 * @throws RebalanceError (core/sharding/rebalance) naming the refused argument (`before.*`, `after.*`)
 */
export function planMigration(from: Placement, to: Placement, options: PlanOptions = {}): MigrationPlan {
  const plan = planRebalance(from, to, options);
  const perBatch = Math.max(1, Math.ceil(plan.moves.length / TARGET_BATCHES));
  return { plan, batches: batches(plan.moves, perBatch).map((moves) => ({ moves })) };
}
