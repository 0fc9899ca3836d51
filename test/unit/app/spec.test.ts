/** The autoscaling group's pure spec (core/app/). */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { AppSchema, parseSection, type AppConfigInput } from "../../../core/config";
import type { ScalingPolicyInput } from "../../../core/scaling";

type CostInput = NonNullable<ScalingPolicyInput["cost"]>;
import {
  AWS_AMI,
  DRAIN_OVERRUN_SECONDS,
  awsInstancesDistribution,
  awsScalingPolicies,
  awsUserData,
  cloudWatchAgentConfig,
  desiredCapacity,
  dockerInstances,
  drainTiming,
  hpaBehavior,
  hpaMetrics,
  hpaReplicas,
  instanceEnv,
  kubernetesResources,
  probes,
} from "../../../core/app";
import { errorKeys } from "../../support/inputs";

const app = (raw: AppConfigInput = {}) => parseSection(AppSchema, raw, "app");
const shippedPrices = JSON.parse(
  readFileSync(join(__dirname, "../../../core/scaling/prices.json"), "utf8"),
) as CostInput;

describe("capacity", () => {
  it("starts at desiredSize, or minSize when unset", () => {
    expect(desiredCapacity(app({ minSize: 3, maxSize: 9 }))).toBe(3);
    expect(desiredCapacity(app({ minSize: 3, desiredSize: 5, maxSize: 9 }))).toBe(5);
  });

  it("refuses minSize 0 naming the key: no target scales up from zero instances", () => {
    expect(() => app({ minSize: 0, maxSize: 2 })).toThrow(/app\.minSize: must be a whole number from 1 to 1000; got 0/);
    expect(hpaReplicas(app({ minSize: 3, maxSize: 7 }))).toEqual({ minReplicas: 3, maxReplicas: 7 });
  });
});

describe("drain timing", () => {
  it("gives the runtime more time than the app's drain bound, for any drainSeconds", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3600 }), (drainSeconds) => {
        const t = drainTiming(app({ scaling: { drainSeconds } }).scaling);
        expect(t.drainSeconds).toBe(drainSeconds);
        expect(t.drainMaxSeconds).toBe(drainSeconds + DRAIN_OVERRUN_SECONDS);
        expect(t.stopGraceSeconds).toBeGreaterThan(t.drainMaxSeconds);
      }),
    );
  });

  it("never lets the liveness probe kill an instance during its drain (health is 503 then)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3600 }), (drainSeconds) => {
        const a = app({ scaling: { drainSeconds } });
        const live = probes(a).liveness;
        expect(live.periodSeconds * live.failureThreshold).toBeGreaterThan(drainTiming(a.scaling).drainMaxSeconds);
      }),
    );
  });

  it("takes a draining instance out of rotation quickly and waits the grace period before liveness counts", () => {
    const p = probes(app({ healthCheckPath: "/ready", port: 9000, scaling: { healthCheckGraceSeconds: 45 } }));
    expect(p.readiness).toMatchObject({ path: "/ready", port: 9000, failureThreshold: 2 });
    expect(p.readiness.periodSeconds * p.readiness.failureThreshold).toBeLessThanOrEqual(10);
    expect(p.liveness.initialDelaySeconds).toBe(45);
  });
});

describe("instance environment", () => {
  it("merges app.env and env and sets PORT and the drain bounds", () => {
    const env = instanceEnv(app({ port: 9000, env: { A: "1" }, scaling: { drainSeconds: 12 } }), { B: "2" });
    expect(env).toEqual({
      A: "1",
      B: "2",
      PORT: "9000",
      DRAIN_SECONDS: "12",
      DRAIN_MAX_SECONDS: String(12 + DRAIN_OVERRUN_SECONDS),
    });
  });

  it("refuses reserved names, non-shell-safe names and a secret that is also plain, naming the argument", () => {
    expect(errorKeys(() => instanceEnv(app({ env: { PORT: "1" } })))).toEqual(["app.env.PORT"]);
    expect(errorKeys(() => instanceEnv(app(), { "BAD-NAME": "x", DRAIN_SECONDS: "3" }))).toEqual([
      "env.BAD-NAME",
      "env.DRAIN_SECONDS",
    ]);
    expect(errorKeys(() => instanceEnv(app(), { DB_PASSWORD: "x" }, ["DB_PASSWORD"]))).toEqual([
      "secretEnv.DB_PASSWORD",
    ]);
    expect(errorKeys(() => instanceEnv(app(), {}, ["$(reboot)"]))).toEqual(["secretEnv.$(reboot)"]);
  });
});

describe("docker instances", () => {
  it("names instances, publishes 127.0.0.1 ports portBase+i and sizes them", () => {
    const specs = dockerInstances("web", app({ minSize: 3, maxSize: 5, cpu: 0.25, memoryMb: 256, port: 9000 }), 18080);
    expect(specs.map((s) => [s.name, s.hostPort, s.endpoint])).toEqual([
      ["web-0", 18080, "http://127.0.0.1:18080"],
      ["web-1", 18081, "http://127.0.0.1:18081"],
      ["web-2", 18082, "http://127.0.0.1:18082"],
    ]);
    expect(specs[1]).toMatchObject({ containerPort: 9000, cpus: "0.25", memoryMb: 256, stopSignal: "SIGTERM" });
    expect(specs[1].labels).toMatchObject({ "scaleplane.group": "web", "scaleplane.instance": "1" });
  });

  it("health-checks the app's path inside the container, with the grace period as start period", () => {
    const [s] = dockerInstances(
      "web",
      app({
        minSize: 1,
        port: 9000,
        healthCheckPath: "/hz",
        scaling: { healthCheckGraceSeconds: 42, drainSeconds: 20 },
      }),
      20000,
    );
    expect(s.healthcheck.test).toEqual([
      "CMD",
      "curl",
      "-fsS",
      "-o",
      "/dev/null",
      "--max-time",
      "3",
      "http://127.0.0.1:9000/hz",
    ]);
    expect(s.healthcheck.startPeriod).toBe("42s");
    expect(s.stopTimeoutSeconds).toBe(drainTiming(app({ scaling: { drainSeconds: 20 } }).scaling).stopGraceSeconds);
  });

  it("refuses a port base without room for the instances, naming docker.portBase", () => {
    expect(errorKeys(() => dockerInstances("web", app({ minSize: 4, maxSize: 4 }), 65534))).toEqual([
      "docker.portBase",
    ]);
    expect(errorKeys(() => dockerInstances("web", app(), 80))).toEqual(["docker.portBase"]);
  });
});

describe("kubernetes", () => {
  it("requests what it limits (millicores, MiB)", () => {
    expect(kubernetesResources(app({ cpu: 0.5, memoryMb: 512 }))).toEqual({
      requests: { cpu: "500m", memory: "512Mi" },
      limits: { cpu: "500m", memory: "512Mi" },
    });
    expect(kubernetesResources(app({ cpu: 2, memoryMb: 2048 })).limits.cpu).toBe("2000m");
  });

  it("derives HPA stabilization windows from the cooldowns, scaling up fast and down gently", () => {
    const b = hpaBehavior(app({ scaling: { scaleUpCooldownSeconds: 30, scaleDownCooldownSeconds: 600 } }).scaling);
    expect(b.scaleUp.stabilizationWindowSeconds).toBe(30);
    expect(b.scaleDown.stabilizationWindowSeconds).toBe(600);
    expect(b.scaleUp.selectPolicy).toBe("Max");
    expect(b.scaleDown.selectPolicy).toBe("Min");
    for (const rules of [b.scaleUp, b.scaleDown])
      for (const p of rules.policies) {
        expect(p.value).toBeGreaterThan(0);
        expect(p.periodSeconds).toBeGreaterThan(0);
        expect(p.periodSeconds).toBeLessThanOrEqual(1800); // the API's bound
      }
    expect(b.scaleDown.policies).toContainEqual({ type: "Pods", value: 1, periodSeconds: 60 });
  });

  it("scales on CPU and memory utilisation targets", () => {
    expect(hpaMetrics(app({ scaling: { cpuTargetPercent: 55, memoryTargetPercent: 65 } }).scaling)).toEqual([
      { type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 55 } } },
      { type: "Resource", resource: { name: "memory", target: { type: "Utilization", averageUtilization: 65 } } },
    ]);
  });
});

describe("aws", () => {
  it("tracks CPU (predefined) and memory (CloudWatch agent, per group) with the configured targets", () => {
    const [cpu, mem] = awsScalingPolicies(
      app({ scaling: { cpuTargetPercent: 60, memoryTargetPercent: 75, healthCheckGraceSeconds: 90 } }),
      "grp",
    );
    expect(cpu.targetTrackingConfiguration).toEqual({
      targetValue: 60,
      disableScaleIn: false,
      predefinedMetricSpecification: { predefinedMetricType: "ASGAverageCPUUtilization" },
    });
    expect(mem.targetTrackingConfiguration.targetValue).toBe(75);
    expect(mem.targetTrackingConfiguration.customizedMetricSpecification).toEqual({
      namespace: "CWAgent",
      metricName: "mem_used_percent",
      statistic: "Average",
      unit: "Percent",
      metricDimensions: [{ name: "AutoScalingGroupName", value: "grp" }],
    });
    expect(cpu.estimatedInstanceWarmup).toBe(90);
  });

  it("has the agent publish mem_used_percent aggregated by Auto Scaling group (the policy's dimension)", () => {
    const cfg = cloudWatchAgentConfig() as {
      metrics: {
        namespace: string;
        aggregation_dimensions: string[][];
        metrics_collected: { mem: { measurement: string[] } };
      };
    };
    expect(cfg.metrics.namespace).toBe("CWAgent");
    expect(cfg.metrics.aggregation_dimensions).toContainEqual(["AutoScalingGroupName"]);
    expect(cfg.metrics.metrics_collected.mem.measurement).toEqual(["mem_used_percent"]);
  });

  it("spreads mixed instances over the listed types with an on-demand base and price-capacity-optimized spot", () => {
    expect(awsInstancesDistribution(app())).toBeUndefined();
    const d = awsInstancesDistribution(
      app({
        mixedInstances: {
          instanceTypes: ["t3.small", "t3a.small"],
          onDemandBaseCapacity: 2,
          onDemandPercentageAboveBase: 10,
        },
      }),
    );
    expect(d).toEqual({
      instancesDistribution: {
        onDemandBaseCapacity: 2,
        onDemandPercentageAboveBaseCapacity: 10,
        onDemandAllocationStrategy: "prioritized",
        spotAllocationStrategy: "price-capacity-optimized",
      },
      overrides: [{ instanceType: "t3.small" }, { instanceType: "t3a.small" }],
    });
  });

  it("engine cost: the cost engine's choice at maxSize becomes the distribution (types weighted by capacity units, committed capacity in the on-demand base, its spot share above it) unless app.mixedInstances pins one", () => {
    const chosen = awsInstancesDistribution(
      app({ maxSize: 20, scaling: { engine: "cost", cost: { ...shippedPrices, committedUnits: 4 } } }),
    );
    // 20 units: 4 committed (t3.small reserved, the base), 16 above: 11 spot (70 %, within 30 % per
    // pool), 5 on-demand: ceil(5 / 16 × 100) = 32 % on-demand above the base.
    expect(chosen).toEqual({
      instancesDistribution: {
        onDemandBaseCapacity: 4,
        onDemandPercentageAboveBaseCapacity: 32,
        onDemandAllocationStrategy: "prioritized",
        spotAllocationStrategy: "price-capacity-optimized",
      },
      overrides: [
        { instanceType: "t3.small", weightedCapacity: "1" },
        { instanceType: "t3.medium", weightedCapacity: "2" },
      ],
    });
    // The shipped table (no commitment): the base is onDemandBase.
    const plain = awsInstancesDistribution(app({ maxSize: 20, scaling: { engine: "cost" } }))!;
    expect(plain.instancesDistribution.onDemandBaseCapacity).toBe(1);
    expect(plain.instancesDistribution.onDemandPercentageAboveBaseCapacity).toBeLessThan(100);
    expect(plain.overrides.length).toBeGreaterThanOrEqual(2);
    // Too small a group for any spot within the interruption bound: on-demand only, one type.
    expect(awsInstancesDistribution(app({ minSize: 1, maxSize: 2, scaling: { engine: "cost" } }))).toMatchObject({
      instancesDistribution: { onDemandBaseCapacity: 1, onDemandPercentageAboveBaseCapacity: 100 },
      overrides: [{ instanceType: "t3.small", weightedCapacity: "1" }],
    });
    // Pinned by the user: taken as written.
    const pinned = { instanceTypes: ["m6i.large"], onDemandBaseCapacity: 3, onDemandPercentageAboveBase: 50 };
    expect(awsInstancesDistribution(app({ maxSize: 20, mixedInstances: pinned, scaling: { engine: "cost" } }))).toEqual(
      {
        instancesDistribution: {
          onDemandBaseCapacity: 3,
          onDemandPercentageAboveBaseCapacity: 50,
          onDemandAllocationStrategy: "prioritized",
          spotAllocationStrategy: "price-capacity-optimized",
        },
        overrides: [{ instanceType: "m6i.large" }],
      },
    );
    // Other engines: one instance type.
    expect(awsInstancesDistribution(app({ maxSize: 20, scaling: { engine: "predictive" } }))).toBeUndefined();
  });

  it("boots Amazon Linux 2023 resolved by EC2 (no plan-time lookup)", () => {
    expect(AWS_AMI).toBe("resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64");
  });

  describe("user data", () => {
    const a = app({ image: "registry.example/app:1", port: 9000, env: { MODE: "it's $HOME" } });
    const script = awsUserData({
      app: a,
      env: instanceEnv(a, { CONFIG: "http://10.0.0.1:2379" }),
      secretParameters: { DB_PASSWORD: "/scaleplane/t/web/DB_PASSWORD" },
      lifecycleHookName: "web-drain",
    });

    it("is valid bash", () => {
      const r = spawnSync("bash", ["-n"], { input: script, encoding: "utf8" });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
    });

    it("starts the CloudWatch agent and runs the image with the env file, port and drain stop timeout", () => {
      expect(script).toContain("dnf install -y docker amazon-cloudwatch-agent");
      expect(script).toContain("amazon-cloudwatch-agent-ctl -a fetch-config");
      expect(script).toContain('"mem_used_percent"');
      expect(script).toMatch(/docker run -d --name app .*--env-file "\$ENV_FILE" -p 9000:9000/);
      expect(script).toContain(`--stop-timeout ${drainTiming(a.scaling).stopGraceSeconds}`);
      expect(script).toContain("'registry.example/app:1'");
      // Plain env lands verbatim in a quoted heredoc: no shell expansion of `$HOME`.
      expect(script).toContain("cat > \"$ENV_FILE\" <<'APPENV'\nMODE=it's $HOME\n");
      expect(script).toContain("CONFIG=http://10.0.0.1:2379");
    });

    it("reads secrets from SSM at boot by parameter name and completes the drain lifecycle action", () => {
      expect(script).toContain(
        "aws ssm get-parameter --region \"$REGION\" --with-decryption --name '/scaleplane/t/web/DB_PASSWORD'",
      );
      expect(script).toContain("target-lifecycle-state");
      expect(script).toContain("--lifecycle-hook-name 'web-drain' --lifecycle-action-result CONTINUE");
      expect(script).toContain("X-aws-ec2-metadata-token"); // IMDSv2 sessions only
    });

    it("refuses an env value with a newline (it would inject env-file lines)", () => {
      expect(
        errorKeys(() => awsUserData({ app: a, env: { X: "a\nEVIL=1" }, secretParameters: {}, lifecycleHookName: "h" })),
      ).toEqual(["env.X"]);
    });
  });
});
