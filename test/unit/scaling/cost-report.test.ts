/**
 * Pricing a run after the fact (core/scaling/cost-report.ts): re-pricing the occupancy equals the
 * simulator's own bill, the commitment found is the cheapest amount (brute force), and the report
 * carries on-demand hpa, the mix and the best commitments per cloud.
 */
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createEngine, parseScalingPolicy, planMix, type CostSettings } from "../../../core/scaling";
import { costSvg } from "../../../core/scaling/chart";
import { commitmentCurve, costReport, mixTotal, onDemandTotal } from "../../../core/scaling/cost-report";
import { runSimulation, type TracePoint } from "../../../core/scaling/simulate";

const read = (file: string) =>
  parseScalingPolicy({
    cost: JSON.parse(readFileSync(join(__dirname, "../../../core/scaling", file), "utf8")) as unknown,
  }).cost!;
const aws = read("prices.json");
const gcp = read("prices-gcp.json");

/** Two days of a daily cycle at 5-minute rows. */
const trace: TracePoint[] = Array.from({ length: 576 }, (_, i) => ({
  t: Date.UTC(2026, 0, 5) + i * 300_000,
  demand: 300 + 250 * Math.sin((2 * Math.PI * i) / 288),
}));

const run = runSimulation(
  trace,
  { model: { capacityPerInstance: 40 }, prices: aws, engines: ["hpa", "cost"] },
  { parsePolicy: (raw) => parseScalingPolicy(raw), createEngine },
);
const byEngine = (name: string) => run.runs.find((r) => r.figures.engine === name)!;

describe("spot interruptions in the simulator", () => {
  test("the cost engine's spot instances are reclaimed at their types' rates (seeded: runs repeat), each costing the capacity until its replacement serves", () => {
    const risky = { ...aws, instanceTypes: aws.instanceTypes.map((t) => ({ ...t, spotInterruptionRate: 0.999 })) };
    const simulate = (prices: CostSettings) =>
      runSimulation(
        trace,
        { model: { capacityPerInstance: 40 }, prices, engines: ["hpa", "cost"] },
        { parsePolicy: (raw) => parseScalingPolicy(raw), createEngine },
      ).runs.map((r) => r.figures);
    const [hpa, cost] = simulate(risky);
    expect(hpa.interruptions).toBe(0);
    // 0.999 a month is ~0.0095 interruptions per instance-hour: over 48 h of several spot instances, some.
    expect(cost.interruptions).toBeGreaterThan(0);
    expect(simulate(risky)[1]).toEqual(cost);
    // The shipped rates (10 % a month) reclaim far fewer.
    expect(byEngine("cost").figures.interruptions).toBeLessThan(cost.interruptions);
  });
});

describe("cost report", () => {
  test("the occupancy re-priced is the simulator's own bill, and covers the whole trace", () => {
    const cost = byEngine("cost");
    const seconds = cost.occupancy.reduce((s, [, sec]) => s + sec, 0);
    expect(seconds).toBeCloseTo(run.seconds, 6);
    expect(mixTotal(cost.occupancy, aws, run.policy.predictive.warmupSeconds)).toBeCloseTo(cost.figures.cost, 6);
    const instanceHours = cost.occupancy.reduce((s, [n, sec]) => s + (n * sec) / 3600, 0);
    expect(instanceHours).toBeCloseTo(cost.figures.instanceHours, 6);
    // On-demand hpa: t3.small is the cheapest unit, so every count costs count × its price.
    const hpa = byEngine("hpa");
    expect(onDemandTotal(hpa.occupancy, aws)).toBeCloseTo(hpa.figures.instanceHours * 0.0208, 6);
  });

  test("the best commitment is the cheapest amount over the trace (brute force over every amount)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 1, max: 50_000 })), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.constantFrom<CostSettings["commitment"]>("reserved", "savingsPlan"),
        (occupancy, kind) => {
          const curve = commitmentCurve(occupancy, aws, kind, 180)!;
          const max = Math.max(...occupancy.map(([n]) => n));
          let best = Infinity;
          for (let units = 0; units <= max; units++)
            best = Math.min(best, mixTotal(occupancy, { ...aws, commitment: kind, committedUnits: units }, 180));
          expect(curve.best.total).toBeCloseTo(best, 9);
          expect(curve.points).toHaveLength(max + 1);
          expect(curve.best.total).toBeLessThanOrEqual(curve.points[0].total + 1e-9); // never above no commitment
        },
      ),
      { numRuns: 30 },
    );
  });

  test("a steady load is best committed where spot does not cover it; the fee is paid whether used or not", () => {
    const steady: [number, number][] = [[10, 3600 * 24 * 7]];
    // Without spot: all of it.
    const noSpot = commitmentCurve(steady, { ...aws, spotShare: 0 }, "reserved", 180)!;
    expect(noSpot.best.units).toBe(10);
    expect(noSpot.best.perHourFee).toBeCloseTo(10 * 0.013, 9);
    // With the shipped rules: 6 of 10 units run on spot (cheaper than reserved: t3.small $0.0071 <
    // $0.013, t3.medium), so 4 are committed.
    const curve = commitmentCurve(steady, aws, "reserved", 180)!;
    expect(planMix(10, aws, 180).spotUnits).toBe(6);
    expect(curve.best.units).toBe(4);
    expect(curve.best.perHourFee).toBeCloseTo(planMix(10, { ...aws, committedUnits: 4 }, 180).commitmentPerHour, 9);
    // Committed capacity a quiet hour does not use is still paid.
    const idle = planMix(0, { ...aws, committedUnits: 10 }, 180);
    expect(idle.perHour).toBeCloseTo(10 * 0.013, 9);
    expect(idle.mix).toEqual([]);
  });

  test("the report: per cloud, on-demand hpa, the mix and the best commitments, each against on-demand hpa", () => {
    const r = costReport(
      byEngine("hpa").occupancy,
      byEngine("cost").occupancy,
      [
        { cloud: "aws", cost: aws },
        { cloud: "gcp", cost: gcp },
      ],
      180,
    );
    expect(r.hours).toBeCloseTo(run.seconds / 3600, 6);
    expect(r.options.map((o) => `${o.cloud}: ${o.option}`)).toEqual([
      "aws: on-demand hpa",
      "aws: cost engine mix",
      "aws: cost engine + best reserved",
      "aws: cost engine + best savings plan",
      "gcp: on-demand hpa",
      "gcp: cost engine mix",
      "gcp: cost engine + best reserved",
      "gcp: cost engine + best savings plan",
    ]);
    for (const cloud of ["aws", "gcp"]) {
      const lines = r.options.filter((o) => o.cloud === cloud);
      expect(lines[0].vsOnDemandHpa).toBe(1);
      // Committing the best amount never costs more than the mix without a commitment.
      expect(lines[2].total).toBeLessThanOrEqual(lines[1].total + 1e-9);
      expect(lines[3].total).toBeLessThanOrEqual(lines[1].total + 1e-9);
      for (const o of lines) expect(o.perHour).toBeCloseTo(o.total / r.hours, 9);
    }
    expect(r.curves).toHaveLength(4);
    // The chart: one bar per option, one curve per cloud and kind with its minimum marked.
    const svg = costSvg("t", "s", r);
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.match(/<polyline /g)).toHaveLength(4);
    expect(svg.match(/<circle /g)).toHaveLength(4);
    for (const o of r.options) expect(svg).toContain(`${o.cloud}: ${o.option}`);
  });
});
