import {
  ConfigError,
  parsePlatformConfig,
  parseSection,
  AppSchema,
  shardList,
  weightResolutionOf,
  type PlatformConfigInput,
} from "../../core/config";

/** Returns the problems of an invalid config (fails the test when it is accepted). */
function problems(raw: unknown): { key: string; message: string }[] {
  try {
    parsePlatformConfig(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
  throw new Error(`config was accepted: ${JSON.stringify(raw)}`);
}

describe("platform config: defaults", () => {
  it("an empty config is a valid local (docker) platform with the documented defaults", () => {
    const c = parsePlatformConfig({});
    expect(c.target).toBe("docker");
    expect(c.environment).toBe("dev");
    expect(c.app).toMatchObject({ minSize: 2, maxSize: 10, port: 8080, healthCheckPath: "/health" });
    expect(c.app.scaling).toMatchObject({
      cpuTargetPercent: 70,
      memoryTargetPercent: 80,
      scaleUpStabilizationSeconds: 60,
      scaleDownStabilizationSeconds: 300,
      healthCheckGraceSeconds: 60,
      drainSeconds: 30,
      engine: "hpa",
      metrics: ["cpu", "memory"],
      hpa: { tolerance: 0.1, scaleDown: { selectPolicy: "Min" } },
    });
    // The result is itself valid input (the Platform hands it to its components, which check it again).
    expect(parsePlatformConfig({ app: c.app }).app).toEqual(c.app);
    expect(c.configService).toMatchObject({
      members: 3,
      heartbeatIntervalMs: 100,
      electionTimeoutMs: 1000,
      tls: false,
    });
    expect(c.database).toMatchObject({ shards: 3, replicationFactor: 1, consistency: "one" });
    expect(weightResolutionOf(c.database)).toBe(150);
  });

  it("accepts a full prod config", () => {
    const c = parsePlatformConfig({
      target: "aws",
      environment: "prod",
      aws: {
        zones: ["us-east-1a", "us-east-1b", "us-east-1c"],
        loadBalancer: { certificateArn: "arn:aws:acm:us-east-1:123456789012:certificate/abc-123" },
      },
      app: { minSize: 3, maxSize: 30, desiredSize: 3, mixedInstances: { instanceTypes: ["m6i.large"] } },
      configService: { members: 5, tls: true },
      database: {
        shards: [{ name: "a" }, { name: "b", weight: 2 }, { name: "c" }],
        replicationFactor: 3,
        consistency: "quorum",
      },
    });
    expect(c.configService.members).toBe(5);
    expect(shardList(c.database)).toEqual([
      { name: "a", weight: 1 },
      { name: "b", weight: 2 },
      { name: "c", weight: 1 },
    ]);
  });

  it("numbers a shard count into named shards", () => {
    expect(shardList(parsePlatformConfig({ database: { shards: 2 } }).database)).toEqual([
      { name: "shard-0", weight: 1 },
      { name: "shard-1", weight: 1 },
    ]);
  });
});

/** [description, config, the key the error must name, a fragment of what is allowed] */
const INVALID: [string, PlatformConfigInput | Record<string, unknown>, string, string][] = [
  ["unknown target", { target: "gcp" }, "scaleplane:target", "docker, aws, kubernetes"],
  ["unknown environment", { environment: "production" }, "scaleplane:environment", "dev, staging, prod"],
  ["unknown top-level key", { databse: {} }, "scaleplane:databse", "unknown key"],
  ["unknown app key (typo)", { app: { minsize: 1 } }, "scaleplane:app.minsize", "allowed: name, image"],
  ["min > max", { app: { minSize: 5, maxSize: 3 } }, "scaleplane:app.maxSize", "≥ app.minSize (5)"],
  [
    "desired above max",
    { app: { minSize: 1, maxSize: 3, desiredSize: 4 } },
    "scaleplane:app.desiredSize",
    "between app.minSize (1) and app.maxSize (3)",
  ],
  [
    "desired below min",
    { app: { minSize: 2, desiredSize: 1 } },
    "scaleplane:app.desiredSize",
    "between app.minSize (2)",
  ],
  ["negative min", { app: { minSize: -1 } }, "scaleplane:app.minSize", "whole number from 1"],
  ["min 0 (no scale-from-zero)", { app: { minSize: 0 } }, "scaleplane:app.minSize", "whole number from 1"],
  ["fractional max", { app: { maxSize: 2.5 } }, "scaleplane:app.maxSize", "whole number"],
  [
    "negative scale-up cooldown",
    { app: { scaling: { scaleUpCooldownSeconds: -5 } } },
    "scaleplane:app.scaling.scaleUpCooldownSeconds",
    "from 0 to 3600",
  ],
  [
    "negative scale-down cooldown",
    { app: { scaling: { scaleDownCooldownSeconds: -1 } } },
    "scaleplane:app.scaling.scaleDownCooldownSeconds",
    "from 0 to 3600",
  ],
  [
    "cpu target over 100%",
    { app: { scaling: { cpuTargetPercent: 120 } } },
    "scaleplane:app.scaling.cpuTargetPercent",
    "from 1 to 100",
  ],
  ["zero cpu", { app: { cpu: 0 } }, "scaleplane:app.cpu", "> 0"],
  ["port out of range", { app: { port: 70000 } }, "scaleplane:app.port", "from 1 to 65535"],
  [
    "relative health path",
    { app: { healthCheckPath: "health" } },
    "scaleplane:app.healthCheckPath",
    "starting with '/'",
  ],
  ["bad app name", { app: { name: "My_App" } }, "scaleplane:app.name", "DNS label"],
  [
    "prod on aws without a certificate",
    { target: "aws", environment: "prod", configService: { members: 3 } },
    "scaleplane:aws.loadBalancer.certificateArn",
    "required in prod",
  ],
  [
    "not an ACM certificate ARN",
    { target: "aws", aws: { loadBalancer: { certificateArn: "arn:aws:iam::123456789012:server-certificate/x" } } },
    "scaleplane:aws.loadBalancer.certificateArn",
    "ACM certificate ARN",
  ],
  [
    "not an ELB TLS policy",
    { target: "aws", aws: { loadBalancer: { sslPolicy: "TLSv1.3" } } },
    "scaleplane:aws.loadBalancer.sslPolicy",
    "ELBSecurityPolicy-",
  ],
  [
    "unknown scaling engine",
    { app: { scaling: { engine: "magic" } } },
    "scaleplane:app.scaling.engine",
    "threshold, hpa, predictive",
  ],
  [
    "unknown metric in engine settings",
    { app: { scaling: { engineSettings: { metrics: ["cpu", "disk"] } } } },
    "scaleplane:app.scaling.engineSettings.metrics[1]",
    "unknown metric",
  ],
  [
    "negative threshold cooldown",
    { app: { scaling: { engine: "threshold", engineSettings: { threshold: { scaleUpCooldownSeconds: -1 } } } } },
    "scaleplane:app.scaling.engineSettings.threshold.scaleUpCooldownSeconds",
    "whole number from 0",
  ],
  [
    "engine set twice",
    { app: { scaling: { engineSettings: { engine: "cost" } } } },
    "scaleplane:app.scaling.engineSettings.engine",
    "app.scaling.engine",
  ],
  [
    "mixed instances off aws",
    { app: { mixedInstances: { instanceTypes: ["m5.large"] } } },
    "scaleplane:app.mixedInstances",
    "only supported on target aws",
  ],
  [
    "mixed instances without types",
    { target: "aws", app: { mixedInstances: { instanceTypes: [] } } },
    "scaleplane:app.mixedInstances.instanceTypes",
    "at least one instance type",
  ],
  ["even member count", { configService: { members: 4 } }, "scaleplane:configService.members", "1, 3, 5 or 7"],
  ["nine members", { configService: { members: 9 } }, "scaleplane:configService.members", "1, 3, 5 or 7"],
  [
    "member count as a string",
    { configService: { members: "3" } },
    "scaleplane:configService.members",
    "odd member count",
  ],
  [
    "one member in prod",
    { environment: "prod", configService: { members: 1 } },
    "scaleplane:configService.members",
    "3, 5 or 7 in prod",
  ],
  [
    "election timeout under 5 heartbeats",
    { configService: { heartbeatIntervalMs: 200, electionTimeoutMs: 500 } },
    "scaleplane:configService.electionTimeoutMs",
    "≥ 5 × configService.heartbeatIntervalMs (1000)",
  ],
  [
    "peer port equals client port",
    { configService: { clientPort: 2379, peerPort: 2379 } },
    "scaleplane:configService.peerPort",
    "must differ",
  ],
  ["tls not a boolean", { configService: { tls: "yes" } }, "scaleplane:configService.tls", "true or false"],
  [
    "replication above shard count",
    { database: { shards: 2, replicationFactor: 3 } },
    "scaleplane:database.replicationFactor",
    "≤ the shard count (2)",
  ],
  [
    "quorum with replication 1",
    { database: { consistency: "quorum" } },
    "scaleplane:database.consistency",
    "replicationFactor ≥ 2",
  ],
  [
    "unknown consistency",
    { database: { consistency: "strong" } },
    "scaleplane:database.consistency",
    "one, quorum, all",
  ],
  ["vnodes above 4096", { database: { virtualNodes: 5000 } }, "scaleplane:database.virtualNodes", "from 1 to 4096"],
  ["zero vnodes", { database: { virtualNodes: 0 } }, "scaleplane:database.virtualNodes", "from 1 to 4096"],
  ["zero weight", { database: { shards: [{ name: "a", weight: 0 }] } }, "scaleplane:database.shards[0].weight", "> 0"],
  [
    "negative weight",
    { database: { shards: [{ name: "a" }, { name: "b", weight: -1 }] } },
    "scaleplane:database.shards[1].weight",
    "> 0",
  ],
  [
    "duplicate shard names",
    { database: { shards: [{ name: "a" }, { name: "a" }] } },
    "scaleplane:database.shards[1].name",
    "must be unique",
  ],
  ["zero shards", { database: { shards: 0 } }, "scaleplane:database.shards", "from 1 to 256"],
  [
    "backup retention over 35 days",
    { database: { backupRetentionDays: 40 } },
    "scaleplane:database.backupRetentionDays",
    "from 0 to 35",
  ],
  ["aws with one zone", { target: "aws", aws: { zones: ["us-east-1a"] } }, "scaleplane:aws.zones", "at least 2 zones"],
  ["bad vpc cidr", { aws: { vpcCidr: "10.0.0.0/8" } }, "scaleplane:aws.vpcCidr", "/16 to /24"],
  ["endpoint not a url", { aws: { endpoint: "localhost" } }, "scaleplane:aws.endpoint", "URL"],
  [
    "overlapping docker port ranges",
    { docker: { appPortBase: 20000, etcdPortBase: 20005 } },
    "scaleplane:docker.etcdPortBase",
    "overlaps docker.appPortBase",
  ],
  [
    "metrics store port inside the database range",
    { docker: { databasePortBase: 19200 } },
    "scaleplane:metrics.hostPort",
    "overlaps docker.databasePortBase range 19200..19202",
  ],
  ["privileged host port", { docker: { appPortBase: 80 } }, "scaleplane:docker.appPortBase", "from 1024"],
];

describe("platform config: invalid configs name the key and what is allowed", () => {
  it("has at least 25 cases", () => expect(INVALID.length).toBeGreaterThanOrEqual(25));

  it.each(INVALID)("%s", (_what, raw, key, allowed) => {
    const found = problems(raw);
    const hit = found.find((p) => p.key === key);
    if (!hit) throw new Error(`expected a problem for ${key}, got: ${JSON.stringify(found)}`);
    expect(hit.message).toContain(allowed);
  });

  it("reports every problem at once, one line per key", () => {
    const err = (() => {
      try {
        parsePlatformConfig({ target: "gcp", configService: { members: 2 }, database: { virtualNodes: 0 } });
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error("accepted");
    })();
    expect(err.problems.map((p) => p.key).sort()).toEqual([
      "scaleplane:configService.members",
      "scaleplane:database.virtualNodes",
      "scaleplane:target",
    ]);
    expect(err.message.split("\n")).toHaveLength(4);
  });
});

describe("parseSection (component arguments)", () => {
  it("names the argument path", () => {
    expect(() => parseSection(AppSchema, { minSize: 4, maxSize: 2 }, "app")).toThrow(
      /app\.maxSize: must be ≥ app\.minSize \(4\)/,
    );
  });
  it("applies defaults", () => {
    expect(parseSection(AppSchema, undefined, "app").minSize).toBe(2);
  });
});
