/** The scaling policy schema: defaults, and refusals that name the field. */
import { createEngine, ENGINE_NAMES, parseScalingPolicy } from "../../../core/scaling";

const refuse = (raw: unknown): string => {
  try {
    parseScalingPolicy(raw);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(raw)}`);
};

describe("scaling policy", () => {
  test("defaults are Kubernetes' HPA defaults and the issue's thresholds", () => {
    const p = parseScalingPolicy({});
    expect(p.engine).toBe("hpa");
    expect(p.targets).toMatchObject({ cpuPercent: 70, memoryPercent: 80, errorRate: 0.05 });
    expect(p.hpa.tolerance).toBe(0.1);
    expect(p.hpa.behavior.scaleDown).toEqual({
      stabilizationWindowSeconds: 300,
      selectPolicy: "Max",
      policies: [{ type: "Percent", value: 100, periodSeconds: 15 }],
    });
    expect(p.hpa.behavior.scaleUp.stabilizationWindowSeconds).toBe(0);
    expect(p.hpa.behavior.scaleUp.policies).toEqual([
      { type: "Percent", value: 100, periodSeconds: 15 },
      { type: "Pods", value: 4, periodSeconds: 15 },
    ]);
    expect(p.predictive.seasons.map((s) => s.seconds)).toEqual([86_400, 604_800]);
  });

  test.each([
    [{ minSize: 5, maxSize: 3 }, /scaling\.minSize: must be ≤ scaling\.maxSize \(3\); got 5/],
    [{ metrics: ["cpu", "disk"] }, /scaling\.metrics\[1\]: unknown metric "disk"/],
    [{ targets: { diskPercent: 50 } }, /scaling\.targets\.diskPercent: unknown key/],
    [
      { threshold: { scaleUpCooldownSeconds: -1 } },
      /scaling\.threshold\.scaleUpCooldownSeconds: must be a whole number from 0/,
    ],
    [{ threshold: { scaleDownCooldownSeconds: -30 } }, /scaling\.threshold\.scaleDownCooldownSeconds/],
    [
      { hpa: { behavior: { scaleDown: { stabilizationWindowSeconds: -5 } } } },
      /scaling\.hpa\.behavior\.scaleDown\.stabilizationWindowSeconds/,
    ],
    [
      { hpa: { behavior: { scaleUp: { policies: [{ type: "Pod", value: 4, periodSeconds: 15 }] } } } },
      /scaling\.hpa\.behavior\.scaleUp\.policies\[0\]\.type: must be one of Pods, Percent/,
    ],
    [{ metrics: ["requestsPerSecond"] }, /scaling\.targets\.requestsPerSecond: is required/],
    [{ metrics: ["gauge:queue_depth"] }, /scaling\.targets\.gauges\.queue_depth: is required/],
    [
      { predictive: { metric: "p95LatencyMs" }, targets: { p95LatencyMs: 200 } },
      /scaling\.predictive\.metric: must be an additive load metric/,
    ],
    [
      { predictive: { sampleSeconds: 300, seasons: [{ name: "odd", seconds: 1000 }] } },
      /scaling\.predictive\.seasons\[0\]\.seconds: must be a multiple/,
    ],
    [{ engine: "cost" }, /scaling\.cost: is required/],
    [{ engine: "magic" }, /scaling\.engine: must be one of threshold, hpa, predictive, multi-metric, cost/],
    [{ minSize: 2.5 }, /scaling\.minSize: must be a whole number/],
    [
      { cost: { pricesAsOf: "yesterday", instanceTypes: [{ name: "a", onDemandPerHour: 1 }] } },
      /scaling\.cost\.pricesAsOf: must be a date YYYY-MM-DD/,
    ],
    [
      {
        cost: {
          pricesAsOf: "2026-12-01",
          instanceTypes: [
            { name: "a", onDemandPerHour: 1 },
            { name: "a", onDemandPerHour: 2 },
          ],
        },
      },
      /scaling\.cost\.instanceTypes\[1\]\.name: must be unique/,
    ],
  ])("refuses %j naming the field", (raw, message) => {
    expect(refuse(raw)).toMatch(message);
  });

  test("every engine can be created from a full policy", () => {
    const p = parseScalingPolicy({
      cost: {
        pricesAsOf: "2026-12-01",
        instanceTypes: [{ name: "t3.small", onDemandPerHour: 0.0208, spotPerHour: 0.007 }],
      },
    });
    for (const name of ENGINE_NAMES) expect(createEngine(p, name).name).toBe(name);
  });
});
