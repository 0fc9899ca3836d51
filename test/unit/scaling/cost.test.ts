/** The cost engine: the cheapest cover is optimal, the on-demand/spot split, $/hour. */
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  cheapestCover,
  createEngine,
  instanceMix,
  parseScalingPolicy,
  type InstanceSample,
} from "../../../core/scaling";

const prices = JSON.parse(readFileSync(join(__dirname, "../../../core/scaling/prices.json"), "utf8")) as Record<
  string,
  unknown
>;

describe("cost engine", () => {
  test("the shipped prices are dated config and validate", () => {
    const p = parseScalingPolicy({ engine: "cost", cost: prices });
    expect(p.cost?.pricesAsOf).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  test("cheapest cover is optimal (brute force over small cases)", () => {
    const type = fc.record({ units: fc.integer({ min: 1, max: 4 }), price: fc.integer({ min: 1, max: 50 }) });
    fc.assert(
      fc.property(fc.array(type, { minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 12 }), (types, units) => {
        const priced = types.map((t, i) => ({ name: `t${i}`, capacityUnits: t.units, onDemandPerHour: t.price }));
        const got = cheapestCover(units, priced, "on-demand");
        // Brute force: every combination of counts up to `units` each.
        let best = Infinity;
        const rec = (i: number, covered: number, cost: number) => {
          if (covered >= units) return void (best = Math.min(best, cost));
          if (i === priced.length) return;
          for (let c = 0; c <= units; c++)
            rec(i + 1, covered + c * priced[i].capacityUnits, cost + c * priced[i].onDemandPerHour);
        };
        rec(0, 0, 0);
        expect(got.perHour).toBeCloseTo(best, 9);
        expect(got.entries.reduce((s, e) => s + e.count * e.capacityUnits, 0)).toBeGreaterThanOrEqual(units);
      }),
    );
  });

  test("on-demand base, then the spot share of the rest (rounded down), each at the cheapest types", () => {
    const cost = parseScalingPolicy({ cost: { ...prices, onDemandBase: 2, spotShare: 0.7 } }).cost!;
    const m = instanceMix(12, cost);
    expect(m.onDemandUnits).toBe(5); // 2 base + 10 × 0.3 = 3
    expect(m.spotUnits).toBe(7);
    expect(m.mix.every((e) => e.type.startsWith("t3."))).toBe(true); // t3 is cheapest per unit in the shipped prices
    expect(m.perHour).toBeCloseTo(5 * 0.0208 + 3 * 0.0141 + 0.0071, 6);
  });

  test("decides the hpa's count and reports the mix and $/hour", () => {
    const p = parseScalingPolicy({ engine: "cost", minSize: 1, maxSize: 100, cost: prices });
    const e = createEngine(p);
    const hpa = createEngine(p, "hpa");
    const instances: InstanceSample[] = Array.from({ length: 4 }, (_, i) => ({
      id: `i${i}`,
      ready: true,
      cpuPercent: 140,
      memoryPercent: 40,
    }));
    const r = e.decide(e.init(), { nowMs: 0, current: 4, instances });
    expect(r.decision.desired).toBe(hpa.decide(hpa.init(), { nowMs: 0, current: 4, instances }).decision.desired);
    expect(r.decision.desired).toBe(8);
    expect(r.decision.costPerHour).toBeGreaterThan(0);
    expect(r.decision.mix?.reduce((s, m) => s + m.count * m.capacityUnits, 0)).toBeGreaterThanOrEqual(8);
    expect(r.decision.reason).toMatch(/\$0\.\d+\/h \(prices as of \d{4}-\d{2}-\d{2}\)/);
  });
});
