/**
 * The cost engine: how much capacity is the hpa engine's answer (counts are capacity units, as in
 * an Auto Scaling group with instance weights); how to buy it is this engine's: `onDemandBase`
 * units on-demand, then `spotShare` of the rest on spot (rounded down: the remainder stays
 * on-demand), each part covered by the cheapest combination of the priced instance types (an exact
 * unbounded min-cost cover, overshooting by less than one instance). Prices are dated config
 * (policy.cost, e.g. core/scaling/prices.json), never code. The decision carries the mix and $/hour.
 */
import { hpaStep, initHpaState, recordScaleEvent, type HpaState } from "./hpa";
import { fmt } from "./metrics";
import type { InstanceTypePrice, ScalingPolicy } from "./policy";
import type { Engine, InstanceMixEntry } from "./types";

type Market = InstanceMixEntry["market"];

/** Cheapest multiset of `types` whose capacity units sum to ≥ `units` (dynamic programming). */
export function cheapestCover(
  units: number,
  types: readonly InstanceTypePrice[],
  market: Market,
): { entries: InstanceMixEntry[]; perHour: number } {
  const priced = types
    .map((t) => ({ t, price: market === "spot" ? t.spotPerHour : t.onDemandPerHour }))
    .filter((x): x is { t: InstanceTypePrice; price: number } => x.price !== undefined);
  if (units <= 0 || priced.length === 0) return { entries: [], perHour: 0 };
  const maxUnits = Math.max(...priced.map((x) => x.t.capacityUnits));
  const limit = units + maxUnits;
  const cost = new Float64Array(limit + 1).fill(Infinity);
  const choice = new Int32Array(limit + 1).fill(-1);
  cost[0] = 0;
  for (let u = 1; u <= limit; u++)
    priced.forEach((x, i) => {
      const prev = u - x.t.capacityUnits;
      if (prev >= 0 && cost[prev] + x.price < cost[u] - 1e-12) {
        cost[u] = cost[prev] + x.price;
        choice[u] = i;
      }
    });
  let best = -1;
  for (let u = units; u <= limit; u++)
    if (Number.isFinite(cost[u]) && (best < 0 || cost[u] < cost[best] - 1e-12)) best = u;
  const counts = new Map<number, number>();
  for (let u = best; u > 0; u -= priced[choice[u]].t.capacityUnits)
    counts.set(choice[u], (counts.get(choice[u]) ?? 0) + 1);
  const entries = [...counts.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([i, count]) => ({
      type: priced[i].t.name,
      market,
      count,
      capacityUnits: priced[i].t.capacityUnits,
      pricePerHour: priced[i].price,
    }));
  return { entries, perHour: cost[best] };
}

/** The mix for `units` capacity units under the policy's base/spot split. */
export function instanceMix(
  units: number,
  cost: NonNullable<ScalingPolicy["cost"]>,
): { mix: InstanceMixEntry[]; perHour: number; onDemandUnits: number; spotUnits: number } {
  const base = Math.min(units, cost.onDemandBase);
  const above = units - base;
  const spotPossible = cost.instanceTypes.some((t) => t.spotPerHour !== undefined);
  const spotUnits = spotPossible ? Math.floor(above * cost.spotShare + 1e-9) : 0;
  const onDemandUnits = units - spotUnits;
  const od = cheapestCover(onDemandUnits, cost.instanceTypes, "on-demand");
  const spot = cheapestCover(spotUnits, cost.instanceTypes, "spot");
  return { mix: [...od.entries, ...spot.entries], perHour: od.perHour + spot.perHour, onDemandUnits, spotUnits };
}

export function createCostEngine(policy: ScalingPolicy): Engine<HpaState> {
  const cost = policy.cost;
  if (!cost) throw new Error("scaling.cost: is required for the cost engine (instance types with dated prices)");
  return {
    name: "cost",
    init: initHpaState,
    decide(state, input) {
      const step = hpaStep(policy, state, input);
      const m = instanceMix(step.desired, cost);
      const mixText = m.mix.map((e) => `${e.count}× ${e.type} ${e.market}`).join(" + ") || "nothing";
      const reason = `${step.reason}; ${step.desired} units as ${m.onDemandUnits} on-demand + ${m.spotUnits} spot: ${mixText} = $${fmt(m.perHour, 4)}/h (prices as of ${cost.pricesAsOf})`;
      return {
        decision: {
          engine: "cost",
          desired: step.desired,
          current: input.current,
          reason,
          contributions: step.contributions,
          mix: m.mix,
          costPerHour: m.perHour,
        },
        state: step.state,
      };
    },
    applied: (state, change) => recordScaleEvent(policy, state, change),
  };
}
