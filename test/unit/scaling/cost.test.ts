/**
 * The cost engine: the cheapest cover is optimal; the mix covers the demand, never costs more than
 * on-demand, keeps one spot pool within the interruption bound, and never buys more spot when any
 * type's interruption risk rises (fast-check); the engine decides the predictive engine's count.
 */
import fc from "fast-check";
import { parsePlatformConfig } from "../../../core/config";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  cheapestCover,
  createEngine,
  expectedSpotPerHour,
  interruptionsPerHour,
  parseScalingPolicy,
  planMix,
  type CostSettings,
  type InstanceSample,
} from "../../../core/scaling";

const read = (file: string) =>
  JSON.parse(readFileSync(join(__dirname, "../../../core/scaling", file), "utf8")) as Record<string, unknown>;
const prices = read("prices.json");
const gcpPrices = read("prices-gcp.json");
const settings = (raw: Record<string, unknown>): CostSettings => parseScalingPolicy({ cost: raw }).cost!;

const units = (entries: { count: number; capacityUnits: number }[]) =>
  entries.reduce((s, e) => s + e.count * e.capacityUnits, 0);

/** A random price table: 1-4 types, some with spot and committed rates. */
const tableArb = fc
  .array(
    fc.record({
      capacityUnits: fc.integer({ min: 1, max: 4 }),
      onDemand: fc.double({ min: 0.01, max: 1, noNaN: true }),
      spotShareOfOnDemand: fc.option(fc.double({ min: 0.05, max: 1.2, noNaN: true }), { nil: undefined }),
      interruption: fc.double({ min: 0, max: 0.99, noNaN: true }),
      reservedShare: fc.double({ min: 0.3, max: 0.95, noNaN: true }),
    }),
    { minLength: 1, maxLength: 4 },
  )
  .map((types) =>
    types.map((t, i) => ({
      name: `t${i}`,
      capacityUnits: t.capacityUnits,
      onDemandPerHour: t.onDemand,
      ...(t.spotShareOfOnDemand === undefined ? {} : { spotPerHour: t.onDemand * t.spotShareOfOnDemand }),
      spotInterruptionRate: t.interruption,
      reservedPerHour: t.onDemand * t.reservedShare,
    })),
  );

const rulesArb = fc.record({
  onDemandBase: fc.integer({ min: 0, max: 6 }),
  spotShare: fc.double({ min: 0, max: 1, noNaN: true }),
  maxInterruptionLoss: fc.double({ min: 0, max: 1, noNaN: true }),
  sloPenaltyFactor: fc.double({ min: 0, max: 1000, noNaN: true }),
});

describe("cost engine", () => {
  test("the shipped price tables (AWS, GCP) are dated config with their sources, and validate", () => {
    for (const table of [prices, gcpPrices]) {
      const c = settings(table);
      expect(c.pricesAsOf).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(c.pricesSource).toBeTruthy();
      expect(c.notes?.join(" ")).toMatch(/https:\/\//);
      expect(c.notes?.join(" ")).toMatch(/ESTIMATE/);
      expect(c.instanceTypes.every((t) => t.reservedPerHour! < t.onDemandPerHour)).toBe(true);
      expect(c.instanceTypes.every((t) => t.savingsPlanPerHour! < t.onDemandPerHour)).toBe(true);
    }
  });

  test("a commitment needs a committed rate, named by key", () => {
    expect(() =>
      parseScalingPolicy({
        cost: {
          pricesAsOf: "2026-12-07",
          instanceTypes: [{ name: "a", onDemandPerHour: 1 }],
          committedUnits: 2,
        },
      }),
    ).toThrow(/scaling\.cost\.committedUnits: needs an instance type with reservedPerHour/);
    // In the stack config, the error names the scaleplane: key.
    expect(() =>
      parsePlatformConfig({
        target: "aws",
        app: {
          scaling: {
            engine: "cost",
            cost: {
              pricesAsOf: "2026-12-07",
              instanceTypes: [{ name: "m5.large", onDemandPerHour: 0.096 }],
              committedUnits: 2,
              commitment: "savingsPlan",
            },
          },
        },
      }),
    ).toThrow(
      'scaleplane:app.scaling.cost.committedUnits: needs an instance type with savingsPlanPerHour (cost.commitment is "savingsPlan")',
    );
    expect(() =>
      parsePlatformConfig({ app: { scaling: { engine: "cost", cost: { ...prices, maxInterruptionLoss: 2 } } } }),
    ).toThrow("scaleplane:app.scaling.cost.maxInterruptionLoss: must be a number ≥ 0 and ≤ 1");
  });

  test("cheapest cover is optimal (brute force over small cases)", () => {
    const type = fc.record({ units: fc.integer({ min: 1, max: 4 }), price: fc.integer({ min: 1, max: 50 }) });
    fc.assert(
      fc.property(fc.array(type, { minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 12 }), (types, want) => {
        const priced = types.map((t, i) => ({
          name: `t${i}`,
          capacityUnits: t.units,
          onDemandPerHour: t.price,
          spotInterruptionRate: 0.1,
        }));
        const got = cheapestCover(want, priced, "on-demand");
        let best = Infinity;
        const rec = (i: number, covered: number, cost: number) => {
          if (covered >= want) return void (best = Math.min(best, cost));
          if (i === priced.length) return;
          for (let c = 0; c <= want; c++)
            rec(i + 1, covered + c * priced[i].capacityUnits, cost + c * priced[i].onDemandPerHour);
        };
        rec(0, 0, 0);
        expect(got.perHour).toBeCloseTo(best, 9);
        expect(units(got.entries)).toBeGreaterThanOrEqual(want);
      }),
    );
  });

  test("property: the mix covers the demand, never costs more than on-demand, keeps every spot pool within the bound and the spot share", () => {
    fc.assert(
      fc.property(
        tableArb,
        rulesArb,
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 0, max: 20 }),
        fc.integer({ min: 0, max: 900 }),
        (types, rules, want, committedUnits, warmup) => {
          const cost = settings({ pricesAsOf: "2026-12-07", instanceTypes: types, ...rules, committedUnits });
          const m = planMix(want, cost, warmup);
          // Covers the demanded capacity.
          expect(units(m.mix)).toBeGreaterThanOrEqual(want);
          expect(m.committedUnits + m.onDemandUnits + m.spotUnits).toBeGreaterThanOrEqual(want);
          // Never costs more than all-on-demand for the capacity above the commitment (the
          // commitment itself is paid whatever the hour), risk included; without one, than all-on-demand.
          expect(m.perHour - m.commitmentPerHour).toBeLessThanOrEqual(m.uncommittedOnDemandPerHour + 1e-9);
          expect(m.expectedPerHour - m.commitmentPerHour).toBeLessThanOrEqual(m.uncommittedOnDemandPerHour + 1e-9);
          if (committedUnits === 0) expect(m.perHour).toBeLessThanOrEqual(m.allOnDemandPerHour + 1e-9);
          // One interruption event (one pool) takes at most maxInterruptionLoss of the group.
          expect(m.largestSpotPoolUnits).toBeLessThanOrEqual(Math.floor(rules.maxInterruptionLoss * want + 1e-9));
          for (const e of m.mix.filter((x) => x.market === "spot"))
            expect(e.count * e.capacityUnits).toBeLessThanOrEqual(m.largestSpotPoolUnits);
          // Spot stays within its share above the base, never on the base.
          const rest = Math.max(0, want - m.committedUnits);
          const base = Math.max(0, Math.min(rest, rules.onDemandBase - m.committedUnits));
          expect(m.spotUnits).toBeLessThanOrEqual(Math.floor(rules.spotShare * (rest - base) + 1e-9));
        },
      ),
    );
  });

  test("property: more interruption risk never raises the spot share", () => {
    fc.assert(
      fc.property(
        tableArb,
        rulesArb,
        fc.integer({ min: 1, max: 60 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 4, maxLength: 4 }),
        fc.integer({ min: 0, max: 900 }),
        (types, rules, want, extra, warmup) => {
          const riskier = types.map((t, i) => ({
            ...t,
            spotInterruptionRate: Math.min(0.999, t.spotInterruptionRate + extra[i] * (1 - t.spotInterruptionRate)),
          }));
          const a = planMix(want, settings({ pricesAsOf: "2026-12-07", instanceTypes: types, ...rules }), warmup);
          const b = planMix(want, settings({ pricesAsOf: "2026-12-07", instanceTypes: riskier, ...rules }), warmup);
          expect(b.spotUnits).toBeLessThanOrEqual(a.spotUnits);
        },
      ),
    );
  });

  test("expected spot cost: the spot price plus interruptions × (replacement warm-up + SLO cost of the missing capacity)", () => {
    const cost = settings(prices);
    const t = cost.instanceTypes.find((x) => x.name === "m5.large")!;
    const rate = -Math.log(1 - 0.1) / 730;
    expect(interruptionsPerHour(0.1)).toBeCloseTo(rate, 12);
    const odUnit = 0.0208; // t3.small, the cheapest on-demand unit
    const expected = 0.0389 + rate * ((180 / 3600) * 0.0389 + (60 / 3600) * 2 * odUnit * 10);
    expect(expectedSpotPerHour(t, cost, 180)).toBeCloseTo(expected, 12);
    expect(expectedSpotPerHour({ ...t, spotInterruptionRate: 1 }, cost, 180)).toBe(Infinity);
  });

  test("the shipped AWS table: 20 units are committed, then on-demand base, then spot spread over types within 30 %", () => {
    const cost = settings({ ...prices, committedUnits: 4 });
    const m = planMix(20, cost, 180);
    expect(m.committedUnits).toBe(4);
    expect(m.mix[0]).toMatchObject({ market: "committed", type: "t3.small", count: 4 }); // cheapest reserved per unit
    expect(m.commitmentPerHour).toBeCloseTo(4 * 0.013, 9);
    // 16 above the commitment, all above the base (the base is within the commitment): at most 70 % = 11 spot.
    expect(m.spotUnits).toBe(11);
    expect(m.largestSpotPoolUnits).toBeLessThanOrEqual(6); // 30 % of 20
    expect(new Set(m.mix.filter((e) => e.market === "spot").map((e) => e.type)).size).toBeGreaterThanOrEqual(2);
    expect(m.perHour).toBeLessThan(m.allOnDemandPerHour);
    const spotInstances = m.mix.filter((e) => e.market === "spot").reduce((s, e) => s + e.count, 0);
    expect(m.interruptionsPerHour).toBeCloseTo(spotInstances * interruptionsPerHour(0.1), 12);
  });

  test("a type whose risk-priced spot cost reaches on-demand is not bought as spot", () => {
    // risky: 0.9 + 0.0063 interruptions/h × (0.05 h × 0.9 + 1/60 h × 1 unit × 1 × 1000) ≈ 1.005 ≥ 1
    const cost = settings({
      pricesAsOf: "2026-12-07",
      instanceTypes: [
        { name: "safe", onDemandPerHour: 1, spotPerHour: 0.3, spotInterruptionRate: 0.05 },
        { name: "risky", onDemandPerHour: 1, spotPerHour: 0.9, spotInterruptionRate: 0.99 },
      ],
      onDemandBase: 0,
      spotShare: 1,
      maxInterruptionLoss: 0.5,
      sloPenaltyFactor: 1000,
    });
    const m = planMix(10, cost, 180);
    expect(m.mix.filter((e) => e.market === "spot").map((e) => e.type)).toEqual(["safe"]);
    expect(m.spotUnits).toBe(5); // one pool holds at most half
    expect(m.onDemandUnits).toBe(5);
  });

  test("decides the predictive engine's count and reports the mix and $/hour", () => {
    const p = parseScalingPolicy({ engine: "cost", minSize: 1, maxSize: 100, cost: prices });
    const e = createEngine(p);
    const predictive = createEngine(p, "predictive");
    const instances: InstanceSample[] = Array.from({ length: 4 }, (_, i) => ({
      id: `i${i}`,
      ready: true,
      cpuPercent: 140,
      memoryPercent: 40,
    }));
    const r = e.decide(e.init(), { nowMs: 0, current: 4, instances });
    const want = predictive.decide(predictive.init(), { nowMs: 0, current: 4, instances }).decision.desired;
    expect(r.decision.engine).toBe("cost");
    expect(r.decision.desired).toBe(want);
    expect(r.decision.desired).toBe(8);
    expect(r.decision.costPerHour).toBeGreaterThan(0);
    expect(units(r.decision.mix ?? [])).toBeGreaterThanOrEqual(8);
    expect(r.decision.reason).toMatch(/\$0\.\d+\/h against \$0\.\d+\/h on-demand \(prices as of \d{4}-\d{2}-\d{2}\)/);
  });
});
