/**
 * Pricing a simulated run after the fact, pure: the counts an engine ran (its occupancy: seconds at
 * each count, core/scaling/simulate.ts) do not depend on prices, so one run is priced under every
 * price table (a cloud each) and every commitment without simulating again. This is what
 * `npm run simulate -- --cost` reports: $/hour per option (on-demand HPA, the cost engine's mix,
 * per cloud) and the commitment (reserved capacity or a savings plan, in capacity units) that
 * minimizes the total over the trace — committed capacity is paid every hour of the trace whether
 * used or not, so the best amount is found by pricing each candidate over the whole trace.
 */
import { cheapestCover, mixPlanner, type CostSettings } from "./cost";

/** Seconds at each count: `[count, seconds]`. */
export type Occupancy = readonly (readonly [number, number])[];

/** $ over the occupancy with every count bought all on-demand (the cheapest cover of each). */
export function onDemandTotal(occupancy: Occupancy, cost: CostSettings): number {
  return occupancy.reduce(
    (s, [n, sec]) => s + (cheapestCover(n, cost.instanceTypes, "on-demand").perHour * sec) / 3600,
    0,
  );
}

/** $ over the occupancy with each count bought as the cost engine's mix under `cost`. */
export function mixTotal(occupancy: Occupancy, cost: CostSettings, warmupSeconds: number): number {
  const plan = mixPlanner(cost, warmupSeconds);
  return occupancy.reduce((s, [n, sec]) => s + (plan(n).perHour * sec) / 3600, 0);
}

/** Spot interruptions expected over the occupancy with the cost engine's mix under `cost`. */
export function expectedInterruptions(occupancy: Occupancy, cost: CostSettings, warmupSeconds: number): number {
  const plan = mixPlanner(cost, warmupSeconds);
  return occupancy.reduce((s, [n, sec]) => s + (plan(n).interruptionsPerHour * sec) / 3600, 0);
}

export type CommitmentKind = CostSettings["commitment"];

export interface CommitmentCurve {
  kind: CommitmentKind;
  /** Total $ over the trace per committed amount (capacity units). */
  points: { units: number; total: number }[];
  best: { units: number; total: number; perHourFee: number };
}

/**
 * Total $ of the cost engine's mix over the occupancy for committed amounts from 0 to the largest
 * count (every unit when at most 200 candidates, else evenly spaced), and the amount that minimizes
 * it (the smallest of equal totals). Undefined when no type has the kind's rate.
 */
export function commitmentCurve(
  occupancy: Occupancy,
  cost: CostSettings,
  kind: CommitmentKind,
  warmupSeconds: number,
): CommitmentCurve | undefined {
  const rate = kind === "reserved" ? "reservedPerHour" : "savingsPlanPerHour";
  if (!cost.instanceTypes.some((t) => t[rate] !== undefined)) return undefined;
  const max = occupancy.reduce((m, [n]) => Math.max(m, n), 0);
  const step = Math.max(1, Math.ceil(max / 200));
  const points: { units: number; total: number }[] = [];
  let best: CommitmentCurve["best"] = { units: 0, total: Infinity, perHourFee: 0 };
  for (let units = 0; units <= max; units += step) {
    const settings = { ...cost, commitment: kind, committedUnits: units };
    const total = mixTotal(occupancy, settings, warmupSeconds);
    points.push({ units, total });
    if (total < best.total - 1e-9)
      best = { units, total, perHourFee: mixPlanner(settings, warmupSeconds)(0).commitmentPerHour };
  }
  return { kind, points, best };
}

/** One line of the report. */
export interface CostOption {
  cloud: string;
  option: string;
  /** Mean $/hour over the trace. */
  perHour: number;
  total: number;
  /** Against on-demand HPA on the same cloud. */
  vsOnDemandHpa: number;
  committedUnits: number;
  commitment?: CommitmentKind;
  commitmentPerHour: number;
  /** Spot interruptions expected over the trace (the simulator does not interrupt instances; see the engine's doc). */
  expectedInterruptions: number;
}

export interface CostReport {
  hours: number;
  options: CostOption[];
  curves: { cloud: string; curve: CommitmentCurve }[];
}

/**
 * The report for one trace: per price table (cloud), on-demand HPA (the hpa engine's counts, each
 * the cheapest on-demand cover), the cost engine's mix without a commitment, and with the reserved
 * and the savings-plan amounts that minimize the total.
 */
export function costReport(
  hpaOccupancy: Occupancy,
  costOccupancy: Occupancy,
  tables: readonly { cloud: string; cost: CostSettings }[],
  warmupSeconds: number,
): CostReport {
  const seconds = hpaOccupancy.reduce((s, [, sec]) => s + sec, 0);
  const hours = seconds / 3600;
  const options: CostOption[] = [];
  const curves: CostReport["curves"] = [];
  for (const { cloud, cost } of tables) {
    const base = { ...cost, committedUnits: 0 };
    const hpa = onDemandTotal(hpaOccupancy, base);
    const line = (option: string, total: number, extra: Partial<CostOption> = {}): CostOption => ({
      cloud,
      option,
      perHour: hours > 0 ? total / hours : 0,
      total,
      vsOnDemandHpa: hpa > 0 ? total / hpa : 0,
      committedUnits: 0,
      commitmentPerHour: 0,
      expectedInterruptions: 0,
      ...extra,
    });
    options.push(line("on-demand hpa", hpa));
    options.push(
      line("cost engine mix", mixTotal(costOccupancy, base, warmupSeconds), {
        expectedInterruptions: expectedInterruptions(costOccupancy, base, warmupSeconds),
      }),
    );
    for (const kind of ["reserved", "savingsPlan"] as const) {
      const curve = commitmentCurve(costOccupancy, base, kind, warmupSeconds);
      if (!curve) continue;
      curves.push({ cloud, curve });
      options.push(
        line(`cost engine + best ${kind === "reserved" ? "reserved" : "savings plan"}`, curve.best.total, {
          committedUnits: curve.best.units,
          commitment: kind,
          commitmentPerHour: curve.best.perHourFee,
          expectedInterruptions: expectedInterruptions(
            costOccupancy,
            { ...base, commitment: kind, committedUnits: curve.best.units },
            warmupSeconds,
          ),
        }),
      );
    }
  }
  return { hours, options, curves };
}
