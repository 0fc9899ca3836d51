import { AppSchema } from "../../../core/config";
import { dockerScalingSpec, CONTROLLER_REPLICAS, LB_IMAGE, SCALER_IMAGE } from "../../../core/scaling/docker";
import { LaunchSpecSchema } from "../../../core/scaling/reconcile";
import { parseScalingPolicy } from "../../../core/scaling/policy";

const app = AppSchema.parse({
  minSize: 2,
  maxSize: 6,
  cpu: 0.5,
  memoryMb: 256,
  scaling: { drainSeconds: 10, scaleDownCooldownSeconds: 120 },
});

describe("core/scaling-docker", () => {
  const s = dockerScalingSpec("app", "app-local", app, 18080);

  it("publishes one load balancer on 127.0.0.1:portBase with a slot per possible instance", () => {
    expect(s.endpoint).toBe("http://127.0.0.1:18080");
    expect(s.lb).toMatchObject({
      name: "app-local-lb",
      image: LB_IMAGE,
      hostPort: 18080,
      containerPort: 8080,
      slots: 64,
    });
    expect(s.lb.env.HAPROXY_CONFIG).toContain("server-template slot 1-64 127.0.0.1:8080 check disabled");
    expect(s.lb.env.HAPROXY_CONFIG).toContain("option httpchk GET /health");
    expect(() => dockerScalingSpec("app", "app-local", app, 80)).toThrow("docker.portBase");
  });

  it("runs two controller replicas of one group", () => {
    expect(s.controllers).toHaveLength(CONTROLLER_REPLICAS);
    expect(new Set(s.controllers.map((c) => c.env.SCALER_ID)).size).toBe(CONTROLLER_REPLICAS);
    for (const c of s.controllers)
      expect(c).toMatchObject({
        image: SCALER_IMAGE,
        env: { SCALER_GROUP: "app-local", SCALER_LEASE_TTL_SECONDS: "10" },
      });
  });

  it("hands the controller a valid launch spec and the app's range, targets and HPA behaviour as the policy", () => {
    expect(LaunchSpecSchema.parse({ ...s.launchSpec, group: s.group, env: { PORT: "8080" } })).toMatchObject({
      networks: ["app-local-net"],
      loadBalancer: "app-local-lb",
      drainSeconds: 10,
      drainMaxSeconds: 25,
      stopTimeoutSeconds: 30,
    });
    const p = parseScalingPolicy(s.policy);
    expect(p).toMatchObject({
      engine: "hpa",
      minSize: 2,
      maxSize: 6,
      metrics: ["cpu", "memory"],
      targets: { cpuPercent: 70, memoryPercent: 80 },
    });
    expect(p.hpa.behavior.scaleDown.stabilizationWindowSeconds).toBe(120);
  });
});
