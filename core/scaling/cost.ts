/**
 * The cost engine: how much capacity to run is the predictive engine's answer (the hpa's rule on the
 * load expected when a launched instance would serve, core/scaling/predictive.ts), counted in
 * capacity units as in an Auto Scaling group with instance weights; how to buy it is this module's,
 * from a dated price table (policy.cost, e.g. core/scaling/prices.json), never from code:
 *
 *  1. Committed capacity first (`committedUnits`: reserved instances, a savings plan, committed use
 *     discounts), priced at the cheapest type per unit under the commitment's rate and paid every
 *     hour whether used or not.
 *  2. Spot for at most `spotShare` of the rest above the `onDemandBase` (the part of the load that
 *     tolerates interruption), priced with each type's interruption risk: the spot price plus the
 *     expected cost of its interruptions, i.e. interruptions per hour (from the type's monthly
 *     reclaimed share) × (the replacement's warm-up billed at the spot price + the capacity missing
 *     from the notice until the replacement serves, at `sloPenaltyFactor` × the on-demand unit
 *     price). A type whose expected spot cost per unit is not below the cheapest on-demand unit is
 *     not bought as spot at all. Spot is spread over types: no type (one spot pool, reclaimed in one
 *     event) holds more than `maxInterruptionLoss` of the group's capacity.
 *  3. On-demand for the rest, as the cheapest combination of types (an exact min-cost cover that
 *     overshoots by less than one instance).
 *
 * The spot amount is the largest one whose expected cost (spot at its risk-priced cost plus the
 * on-demand cover of the remainder) is below the all-on-demand cover of the same capacity. Both
 * the set of usable amounts and each amount's expected cost only grow worse as any type's
 * interruption rate rises, so more risk never raises the spot share; and since an amount is used
 * only when it is cheaper, the mix never costs more than on-demand (property tests in
 * test/unit/scaling/cost.test.ts).
 *
 * Pure; each decision's mix is memoized by unit count (a controller or a simulation asks for the
 * same few counts again and again).
 */
import { fmt } from "./metrics";
import type { InstanceTypePrice, ScalingPolicy } from "./policy";
import { createPredictiveEngine, type PredictiveState } from "./predictive";
import type { Engine, InstanceMixEntry } from "./types";

export type CostSettings = NonNullable<ScalingPolicy["cost"]>;
type Market = InstanceMixEntry["market"];

/** Hours in a month as clouds bill them (730 = 8760 / 12). */
export const HOURS_PER_MONTH = 730;

/** Interruptions per instance-hour for a share of instances reclaimed per month (Infinity at 1). */
export function interruptionsPerHour(monthlyShare: number): number {
  return monthlyShare >= 1 ? Infinity : -Math.log(1 - monthlyShare) / HOURS_PER_MONTH;
}

/** The cheapest on-demand price of one capacity unit in the table. */
export function onDemandUnitPrice(cost: Pick<CostSettings, "instanceTypes">): number {
  return Math.min(...cost.instanceTypes.map((t) => t.onDemandPerHour / t.capacityUnits));
}

/**
 * The expected $/hour of one spot instance of `type`: its spot price plus its interruptions per
 * hour × (the replacement's warm-up at the spot price + the capacity missing between the notice
 * and the replacement serving, at `sloPenaltyFactor` × the on-demand unit price). Undefined when
 * the type has no spot price.
 */
export function expectedSpotPerHour(
  type: InstanceTypePrice,
  cost: CostSettings,
  warmupSeconds: number,
): number | undefined {
  if (type.spotPerHour === undefined) return undefined;
  const rate = interruptionsPerHour(type.spotInterruptionRate);
  if (!Number.isFinite(rate)) return Infinity;
  const replacement = (warmupSeconds / 3600) * type.spotPerHour;
  const missingHours = Math.max(0, warmupSeconds - cost.interruptionNoticeSeconds) / 3600;
  const slo = missingHours * type.capacityUnits * onDemandUnitPrice(cost) * cost.sloPenaltyFactor;
  return type.spotPerHour + rate * (replacement + slo);
}

interface Priced {
  t: InstanceTypePrice;
  price: number;
}

/** Exact-sum unbounded min-cost table over [0, limit]: cost[u] of instances summing to exactly u units. */
function exactCoverTable(limit: number, priced: readonly Priced[]): { cost: Float64Array; choice: Int32Array } {
  const cost = new Float64Array(limit + 1).fill(Infinity);
  const choice = new Int32Array(limit + 1).fill(-1);
  cost[0] = 0;
  for (let u = 1; u <= limit; u++)
    for (let i = 0; i < priced.length; i++) {
      const prev = u - priced[i].t.capacityUnits;
      if (prev >= 0 && cost[prev] + priced[i].price < cost[u] - 1e-12) {
        cost[u] = cost[prev] + priced[i].price;
        choice[u] = i;
      }
    }
  return { cost, choice };
}

function entriesFrom(counts: Map<number, number>, priced: readonly Priced[], market: Market): InstanceMixEntry[] {
  return [...counts.entries()]
    .filter(([, count]) => count > 0)
    .sort((a, b) => a[0] - b[0])
    .map(([i, count]) => ({
      type: priced[i].t.name,
      market,
      count,
      capacityUnits: priced[i].t.capacityUnits,
      pricePerHour: priced[i].price,
    }));
}

/** Cheapest multiset of `types` whose capacity units sum to ≥ `units` (dynamic programming). */
export function cheapestCover(
  units: number,
  types: readonly InstanceTypePrice[],
  market: "on-demand" | "spot",
): { entries: InstanceMixEntry[]; perHour: number } {
  const priced = types
    .map((t) => ({ t, price: market === "spot" ? t.spotPerHour : t.onDemandPerHour }))
    .filter((x): x is Priced => x.price !== undefined);
  if (units <= 0 || priced.length === 0) return { entries: [], perHour: 0 };
  const maxUnits = Math.max(...priced.map((x) => x.t.capacityUnits));
  const { cost, choice } = exactCoverTable(units + maxUnits, priced);
  let best = -1;
  for (let u = units; u <= units + maxUnits; u++)
    if (Number.isFinite(cost[u]) && (best < 0 || cost[u] < cost[best] - 1e-12)) best = u;
  const counts = new Map<number, number>();
  for (let u = best; u > 0; u -= priced[choice[u]].t.capacityUnits)
    counts.set(choice[u], (counts.get(choice[u]) ?? 0) + 1);
  return { entries: entriesFrom(counts, priced, market), perHour: cost[best] };
}

/** The type that carries committed capacity: the cheapest per unit under the commitment's rate. */
export function commitmentType(cost: CostSettings): { type: InstanceTypePrice; perHour: number } | undefined {
  const rate = cost.commitment === "reserved" ? "reservedPerHour" : "savingsPlanPerHour";
  let best: { type: InstanceTypePrice; perHour: number } | undefined;
  for (const t of cost.instanceTypes) {
    const p = t[rate];
    if (p !== undefined && (!best || p / t.capacityUnits < best.perHour / best.type.capacityUnits))
      best = { type: t, perHour: p };
  }
  return best;
}

/** The cost engine's purchase for one unit count. */
export interface MixPlan {
  /** Instances running: committed, then on-demand, then spot. */
  mix: InstanceMixEntry[];
  /**
   * $/hour paid: the whole commitment (used or not), the on-demand instances, the spot instances at
   * their price and the replacements' warm-up their expected interruptions cost.
   */
  perHour: number;
  /** `perHour` plus the expected SLO cost of interruptions (what the choice minimized). */
  expectedPerHour: number;
  /** The commitment's fee per hour (part of perHour). */
  commitmentPerHour: number;
  /** $/hour of the same units all on-demand (the cheapest cover): the reference. */
  allOnDemandPerHour: number;
  /** $/hour of the units above the committed capacity all on-demand: what the uncommitted part never exceeds. */
  uncommittedOnDemandPerHour: number;
  committedUnits: number;
  onDemandUnits: number;
  spotUnits: number;
  /** Capacity units of the largest spot pool (one type): what one interruption event can take. */
  largestSpotPoolUnits: number;
  /** Spot interruptions expected per hour of this mix (each type's rate × its instances). */
  interruptionsPerHour: number;
}

/**
 * The mix for `units` capacity units (module doc): committed capacity, then as much risk-priced,
 * diversified spot as pays (at most `spotShare` of what is above the base), then the cheapest
 * on-demand cover. `warmupSeconds`: from a launch until an instance serves (the replacement's gap).
 */
export function planMix(units: number, cost: CostSettings, warmupSeconds: number): MixPlan {
  const n = Math.max(0, Math.floor(units));
  // 1. Committed capacity.
  const committed = cost.committedUnits > 0 ? commitmentType(cost) : undefined;
  const committedInstances = committed ? Math.ceil(cost.committedUnits / committed.type.capacityUnits) : 0;
  const committedCapacity = committed ? committedInstances * committed.type.capacityUnits : 0;
  const commitmentPerHour = committed ? committedInstances * committed.perHour : 0;
  const committedRunning = committed ? Math.min(committedInstances, Math.ceil(n / committed.type.capacityUnits)) : 0;
  const rest = Math.max(0, n - committedCapacity);
  // 2. The spot candidates: risk-priced below the cheapest on-demand unit, each within its pool cap.
  const nonSpot = Math.max(0, Math.min(rest, cost.onDemandBase - committedCapacity));
  const spotMax = Math.floor(cost.spotShare * (rest - nonSpot) + 1e-9);
  const odUnit = onDemandUnitPrice(cost);
  const poolCap = Math.floor(cost.maxInterruptionLoss * n + 1e-9);
  const spotTypes = cost.instanceTypes
    .map((t) => ({ t, price: expectedSpotPerHour(t, cost, warmupSeconds) }))
    .filter((x): x is Priced => x.price !== undefined && x.price / x.t.capacityUnits < odUnit - 1e-15)
    .map((x) => ({
      ...x,
      max: Math.min(Math.floor(poolCap / x.t.capacityUnits), Math.floor(spotMax / x.t.capacityUnits)),
    }))
    .filter((x) => x.max > 0);
  // Bounded knapsack (binary splitting): g[s] = least expected cost of exactly s spot units.
  const items: { type: number; count: number }[] = [];
  spotTypes.forEach((x, type) => {
    let left = x.max;
    for (let k = 1; left > 0; k *= 2) {
      const count = Math.min(k, left);
      items.push({ type, count });
      left -= count;
    }
  });
  const g = new Float64Array(spotMax + 1).fill(Infinity);
  g[0] = 0;
  const take = new Uint8Array(items.length * (spotMax + 1));
  items.forEach((item, i) => {
    const w = item.count * spotTypes[item.type].t.capacityUnits;
    const c = item.count * spotTypes[item.type].price;
    for (let s = spotMax; s >= w; s--)
      if (g[s - w] + c < g[s] - 1e-12) {
        g[s] = g[s - w] + c;
        take[i * (spotMax + 1) + s] = 1;
      }
  });
  // 3. On-demand covers of every remainder: od[x] = least cost of ≥ x units.
  const odPriced = cost.instanceTypes.map((t) => ({ t, price: t.onDemandPerHour }));
  const maxUnits = Math.max(...odPriced.map((x) => x.t.capacityUnits));
  const exact = exactCoverTable(rest + maxUnits, odPriced).cost;
  const od = new Float64Array(rest + 1);
  let suffix = Infinity;
  for (let u = rest + maxUnits; u >= 0; u--) {
    suffix = Math.min(suffix, exact[u]);
    if (u <= rest) od[u] = suffix;
  }
  const allOd = od[rest];
  let spotUnits = 0;
  for (let s = spotMax; s >= 1; s--)
    if (Number.isFinite(g[s]) && od[rest - s] + g[s] < allOd - 1e-12) {
      spotUnits = s;
      break;
    }
  // The chosen spot instances.
  const spotCounts = new Map<number, number>();
  for (let i = items.length - 1, s = spotUnits; i >= 0 && s > 0; i--)
    if (take[i * (spotMax + 1) + s]) {
      const it = items[i];
      spotCounts.set(it.type, (spotCounts.get(it.type) ?? 0) + it.count);
      s -= it.count * spotTypes[it.type].t.capacityUnits;
    }
  const spotEntries = entriesFrom(
    spotCounts,
    spotTypes.map((x) => ({ t: x.t, price: x.t.spotPerHour! })),
    "spot",
  );
  const onDemand = cheapestCover(rest - spotUnits, cost.instanceTypes, "on-demand");
  const onDemandUnits = onDemand.entries.reduce((s, e) => s + e.count * e.capacityUnits, 0);
  const committedEntries: InstanceMixEntry[] =
    committed && committedRunning > 0
      ? [
          {
            type: committed.type.name,
            market: "committed",
            count: committedRunning,
            capacityUnits: committed.type.capacityUnits,
            pricePerHour: committed.perHour,
          },
        ]
      : [];
  let spotPaid = 0;
  let spotExpected = 0;
  let largest = 0;
  let interruptions = 0;
  for (const [i, count] of spotCounts) {
    const x = spotTypes[i];
    const rate = interruptionsPerHour(x.t.spotInterruptionRate);
    interruptions += count * rate;
    spotPaid += count * x.t.spotPerHour! * (1 + rate * (warmupSeconds / 3600));
    spotExpected += count * x.price;
    largest = Math.max(largest, count * x.t.capacityUnits);
  }
  return {
    mix: [...committedEntries, ...onDemand.entries, ...spotEntries],
    perHour: commitmentPerHour + onDemand.perHour + spotPaid,
    expectedPerHour: commitmentPerHour + onDemand.perHour + spotExpected,
    commitmentPerHour,
    allOnDemandPerHour: cheapestCover(n, cost.instanceTypes, "on-demand").perHour,
    uncommittedOnDemandPerHour: allOd,
    committedUnits: Math.min(n, committedCapacity),
    onDemandUnits,
    spotUnits,
    largestSpotPoolUnits: largest,
    interruptionsPerHour: interruptions,
  };
}

/** One line for a reason: `2× t3.medium committed + 1× t3.small on-demand + 3× c5.large spot = $0.12/h`. */
export function mixText(plan: MixPlan): string {
  return plan.mix.map((e) => `${e.count}× ${e.type} ${e.market}`).join(" + ") || "nothing";
}

/** A memoized `planMix` for one price table (the engine asks for the same few counts again and again). */
export function mixPlanner(cost: CostSettings, warmupSeconds: number): (units: number) => MixPlan {
  const memo = new Map<number, MixPlan>();
  return (units) => {
    let plan = memo.get(units);
    if (!plan) {
      plan = planMix(units, cost, warmupSeconds);
      if (memo.size > 10_000) memo.clear();
      memo.set(units, plan);
    }
    return plan;
  };
}

export function createCostEngine(policy: ScalingPolicy): Engine<PredictiveState> {
  const cost = policy.cost;
  if (!cost) throw new Error("scaling.cost: is required for the cost engine (instance types with dated prices)");
  const predictive = createPredictiveEngine(policy);
  const plan = mixPlanner(cost, policy.predictive.warmupSeconds);
  return {
    name: "cost",
    init: predictive.init,
    decide(state, input) {
      const step = predictive.decide(state, input);
      const m = plan(step.decision.desired);
      const reason = `${step.decision.reason}; ${step.decision.desired} units as ${m.committedUnits} committed + ${m.onDemandUnits} on-demand + ${m.spotUnits} spot: ${mixText(m)} = $${fmt(m.perHour, 4)}/h against $${fmt(m.allOnDemandPerHour, 4)}/h on-demand (prices as of ${cost.pricesAsOf})`;
      return {
        decision: { ...step.decision, engine: "cost", reason, mix: m.mix, costPerHour: m.perHour },
        state: step.state,
      };
    },
    applied: predictive.applied,
    settle: predictive.settle,
  };
}
