/**
 * `app.scaling` as a union discriminated by `engine`: each engine's fields typed and refused on
 * another engine naming the key, the old names accepted with a deprecation message, and the
 * result the engine policy the group runs.
 */
import { ConfigError, configWarnings, parsePlatformConfig } from "../../../core/config";
import { appScalingPolicy } from "../../../core/app/scaling";
import { hpaBehavior } from "../../../core/app/kubernetes";
import { configReferenceMarkdown } from "../../../scripts/lib/config-docs";

const problems = (raw: unknown) => {
  try {
    parsePlatformConfig(raw);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error("accepted");
};

describe("app.scaling, one shape per engine", () => {
  test("each engine gets its own section, typed and defaulted", () => {
    const c = parsePlatformConfig({ app: { scaling: { engine: "predictive", predictive: { warmupSeconds: 240 } } } });
    expect(c.app.scaling).toMatchObject({
      engine: "predictive",
      predictive: { warmupSeconds: 240, sampleSeconds: 300 },
    });
    const policy = appScalingPolicy(c.app, 15);
    expect(policy).toMatchObject({ engine: "predictive", minSize: 2, maxSize: 10, predictive: { warmupSeconds: 240 } });
    const t = parsePlatformConfig({
      app: { scaling: { engine: "threshold", threshold: { scaleUpCooldownSeconds: 30, errorRate: 0.02 } } },
    });
    expect(appScalingPolicy(t.app, 15)).toMatchObject({
      engine: "threshold",
      threshold: { scaleUpCooldownSeconds: 30 },
      targets: { errorRate: 0.02, cpuPercent: 70 },
    });
  });

  test("a setting of another engine is refused, naming the key and the engine it belongs to", () => {
    expect(problems({ app: { scaling: { predictive: { warmupSeconds: 240 } } } })).toEqual([
      {
        key: "scaleplane:app.scaling.predictive",
        message: expect.stringMatching(
          /^unknown key for engine hpa \(predictive is a setting of engine predictive or cost\); allowed: engine, /,
        ),
      },
    ]);
    expect(problems({ app: { scaling: { engine: "threshold", metrics: ["cpu"] } } })[0]).toMatchObject({
      key: "scaleplane:app.scaling.metrics",
      message: expect.stringContaining("metrics is a setting of engine hpa or predictive or multi-metric or cost"),
    });
    expect(problems({ app: { scaling: { engine: "magic" } } })[0]).toMatchObject({
      key: "scaleplane:app.scaling.engine",
      message: 'engine must be one of threshold, hpa, predictive, multi-metric, cost; got "magic"',
    });
  });

  test("policy rules across fields name the typed key", () => {
    expect(problems({ app: { scaling: { metrics: ["requestsPerSecond"] } } })).toEqual([
      { key: "scaleplane:app.scaling.targets.requestsPerSecond", message: expect.stringMatching(/is required/) },
    ]);
    expect(
      problems({
        app: { scaling: { hpa: { scaleDown: { policies: [{ type: "Pods", value: 0, periodSeconds: 60 }] } } } },
      }),
    ).toEqual([{ key: "scaleplane:app.scaling.hpa.scaleDown.policies[0].value", message: expect.any(String) }]);
  });

  test("the stabilization windows are named as such; the old names still work, with a deprecation message", () => {
    const raw = { app: { scaling: { scaleUpCooldownSeconds: 30, scaleDownCooldownSeconds: 600 } } };
    const c = parsePlatformConfig(raw);
    expect(c.app.scaling).toMatchObject({ scaleUpStabilizationSeconds: 30, scaleDownStabilizationSeconds: 600 });
    expect(c.app.scaling).not.toHaveProperty("scaleUpCooldownSeconds");
    expect(hpaBehavior(c.app.scaling)).toMatchObject({
      scaleUp: { stabilizationWindowSeconds: 30 },
      scaleDown: { stabilizationWindowSeconds: 600 },
    });
    expect(configWarnings(c, raw)).toEqual([
      {
        key: "scaleplane:app.scaling.scaleUpCooldownSeconds",
        message: expect.stringMatching(/deprecated.*scaleUpStabilizationSeconds/),
      },
      {
        key: "scaleplane:app.scaling.scaleDownCooldownSeconds",
        message: expect.stringMatching(/deprecated.*scaleDownStabilizationSeconds/),
      },
    ]);
    // The new name wins over the old one.
    expect(
      parsePlatformConfig({ app: { scaling: { scaleUpCooldownSeconds: 30, scaleUpStabilizationSeconds: 0 } } }).app
        .scaling.scaleUpStabilizationSeconds,
    ).toBe(0);
  });

  test("engineSettings (deprecated) is merged into the typed fields; its errors name it as written", () => {
    const raw = { app: { scaling: { engine: "predictive", engineSettings: { predictive: { forecastOnly: true } } } } };
    const c = parsePlatformConfig(raw);
    expect(c.app.scaling).toMatchObject({ predictive: { forecastOnly: true, warmupSeconds: 180 } });
    expect(configWarnings(c, raw)[0]).toMatchObject({
      key: "scaleplane:app.scaling.engineSettings",
      message: expect.stringMatching(/deprecated: write its fields \(predictive\) directly under app\.scaling/),
    });
    expect(problems({ app: { scaling: { engineSettings: { threshold: {} } } } })[0]).toMatchObject({
      key: "scaleplane:app.scaling.engineSettings.threshold",
      message: expect.stringContaining("is not a setting of engine hpa"),
    });
    // The result is valid input again (components re-check what the Platform passes).
    expect(parsePlatformConfig({ app: c.app }).app).toEqual(c.app);
  });

  test("docs/config.md lists every engine's fields with the engines they belong to", () => {
    const md = configReferenceMarkdown();
    expect(md).toContain("| `scaleplane:app.scaling` | object, one shape per `engine` |");
    expect(md).toMatch(
      /\| `scaleplane:app\.scaling\.engine` \| string \| `hpa`, `threshold`, `predictive`, `multi-metric`, `cost` \|/,
    );
    expect(md).toMatch(/`scaleplane:app\.scaling\.predictive\.warmupSeconds` \| integer/);
    expect(md).toMatch(/`scaleplane:app\.scaling\.threshold` \| object \| {2}\| \(engine `threshold` only\)/);
    expect(md).toMatch(/`scaleplane:app\.scaling\.multiMetric\.composites\[\]\.terms\[\]\.weight`/);
  });
});
