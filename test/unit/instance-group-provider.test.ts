import { instanceGroupFailures } from "../../core/scaling/reconcile";
import { settingsFromEnv } from "../../runtime/scaler/settings";

const launchSpec = {
  image: "scaleplane/sample-app:0.1.0",
  port: 8080,
  healthPath: "/health",
  env: { PORT: "8080" },
  cpus: 0.5,
  memoryMb: 256,
  networks: ["web-net"],
  labels: {},
  loadBalancer: "web-lb",
  drainSeconds: 5,
  drainMaxSeconds: 20,
  healthCheckGraceSeconds: 30,
  stopTimeoutSeconds: 25,
};
const good = {
  group: "web",
  configEndpoints: ["http://127.0.0.1:2379"],
  launchSpec,
  policy: { minSize: 2, maxSize: 6 },
  lbSlots: 64,
};
const props = (news: Record<string, unknown>) => instanceGroupFailures(news).map((f) => f.property);

describe("ManagedInstanceGroup provider check", () => {
  it("accepts a good policy", () => {
    expect(instanceGroupFailures(good)).toEqual([]);
  });

  it("refuses min > max, an unknown metric and a negative cooldown, naming the field", () => {
    expect(instanceGroupFailures({ ...good, policy: { minSize: 7, maxSize: 6 } })).toEqual([
      { property: "policy.minSize", reason: expect.stringContaining("must be ≤ scaling.maxSize (6); got 7") },
    ]);
    expect(props({ ...good, policy: { metrics: ["cpu", "latency"] } })).toEqual(["policy.metrics[1]"]);
    expect(props({ ...good, policy: { threshold: { scaleUpCooldownSeconds: -1 } } })).toEqual([
      "policy.threshold.scaleUpCooldownSeconds",
    ]);
    expect(
      props({ ...good, policy: { hpa: { behavior: { scaleDown: { stabilizationWindowSeconds: -30 } } } } }),
    ).toEqual(["policy.hpa.behavior.scaleDown.stabilizationWindowSeconds"]);
  });

  it("refuses a maxSize above the load balancer's slots, a bad launch spec and bad endpoints", () => {
    expect(instanceGroupFailures({ ...good, policy: { maxSize: 100 } })).toEqual([
      { property: "policy.maxSize", reason: expect.stringContaining("64 server slots") },
    ]);
    expect(props({ ...good, launchSpec: { ...launchSpec, port: 0, networks: [] } })).toEqual([
      "launchSpec.port",
      "launchSpec.networks",
    ]);
    expect(props({ ...good, group: "Web_1" })).toEqual(["group"]);
    expect(props({ ...good, configEndpoints: ["127.0.0.1:2379"] })).toEqual(["configEndpoints"]);
    expect(props({ ...good, secretEnv: { "A B": "x" } })).toEqual(["secretEnv"]);
  });
});

describe("scaling controller environment", () => {
  it("reads its settings and names a bad variable", () => {
    expect(
      settingsFromEnv({
        SCALER_GROUP: "web",
        SCALER_CONFIG_ENDPOINTS: "http://config-0:2379, http://config-1:2379",
        SCALER_ID: "a",
      }),
    ).toEqual({
      group: "web",
      endpoints: ["http://config-0:2379", "http://config-1:2379"],
      id: "a",
      ttlSeconds: 10,
    });
    expect(() => settingsFromEnv({ SCALER_CONFIG_ENDPOINTS: "http://x:1" })).toThrow("SCALER_GROUP is required");
    expect(() =>
      settingsFromEnv({ SCALER_GROUP: "web", SCALER_CONFIG_ENDPOINTS: "http://x:1", SCALER_LEASE_TTL_SECONDS: "1" }),
    ).toThrow("SCALER_LEASE_TTL_SECONDS must be");
  });
});
