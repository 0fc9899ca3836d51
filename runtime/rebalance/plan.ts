/**
 * The plan a rebalance executes: core/rebalance's moves (which ranges change replica set, and
 * which surviving old replicas each new replica copies from) cut into copy batches with its
 * `batches`. Batches are the unit copied, verified and recorded as done before the next, so a
 * crash repeats at most one; about {@link TARGET_BATCHES} of them whatever the ring's
 * granularity (a move is one partition-aligned range; a ring change moves tens of thousands).
 */
import { batches, planRebalance, type RangeMove, type RebalancePlan } from "../../core/rebalance";
import type { ShardPlacement } from "../../core/shard-map";

/** How many copy batches a migration is cut into (fewer when it has fewer moves). */
export const TARGET_BATCHES = 32;

/** A planned migration. */
export interface MigrationPlan {
  /** core/rebalance's plan. */
  readonly plan: RebalancePlan;
  /** Its moves in order, in copy batches. */
  readonly batches: readonly { readonly moves: readonly RangeMove[] }[];
}

/**
 * Plans the move between two placements.
 * @throws RebalanceError (core/rebalance) naming the refused argument (`before.*`, `after.*`)
 */
export function planMigration(from: ShardPlacement, to: ShardPlacement): MigrationPlan {
  const plan = planRebalance(from, to);
  const perBatch = Math.max(1, Math.ceil(plan.moves.length / TARGET_BATCHES));
  return { plan, batches: batches(plan.moves, perBatch).map((moves) => ({ moves })) };
}
