/**
 * MetricsStore under Pulumi's mocks, on each target: the children it creates and what they carry
 * (ports on 127.0.0.1 only, the password as a file / secretKeyRef / SSM parameter, probes,
 * internal load balancer), and argument validation naming the `metrics.` key.
 */
import * as pulumi from "@pulumi/pulumi";
import { MetricsStore } from "../../../components/metrics-store";
import { installMocks, settle } from "../../../scripts/lib/offline";
import { plainInputs } from "../../support/inputs";

const rec = installMocks({ stack: "unit-metrics-store" });
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const common = {
  configEndpoints: ["http://config-0:2379"],
  databaseUser: "scaleplane",
  databasePassword: pulumi.secret("s3cret-pw"),
};

describe("MetricsStore", () => {
  it("docker: replicas on 127.0.0.1 ports, the password as an uploaded file, a healthcheck", async () => {
    new MetricsStore("m", {
      ...common,
      target: "docker",
      metrics: { replicas: 2, hostPort: 19300 },
      docker: { networks: ["net-a", "net-b"] },
    });
    await settle();
    const containers = rec.ofType("docker:index/container:Container").filter((r) => r.name.startsWith("m-"));
    expect(containers).toHaveLength(2);
    const c = plainInputs(containers[1].inputs) as Obj;
    expect(c.ports).toEqual([expect.objectContaining({ external: 19301, internal: 9201, ip: "127.0.0.1" })]);
    expect(JSON.stringify(c.envs)).not.toContain("s3cret-pw");
    expect(JSON.stringify(c.envs)).toContain("METRICS_DATABASE_PASSWORD_FILE=");
    // the admin API (delete_series) is off unless scaleplane:metrics.adminApi says otherwise
    expect(c.envs).toContain("METRICS_ADMIN_API=false");
    expect(c.healthcheck.tests[0]).toBe("CMD");
    expect(c.networksAdvanced.map((n: Obj) => n.name)).toEqual(["net-a", "net-b"]);
  });

  it("kubernetes: a Deployment with probes and the password from a secretKeyRef, a ClusterIP Service", async () => {
    new MetricsStore("k", { ...common, target: "kubernetes", metrics: {}, kubernetes: { namespace: "sp" } });
    await settle();
    const dep = plainInputs(rec.one("kubernetes:apps/v1:Deployment", "k").inputs) as Obj;
    const container = dep.spec.template.spec.containers[0];
    const pw = container.env.find((e: Obj) => e.name === "METRICS_DATABASE_PASSWORD");
    expect(pw.valueFrom.secretKeyRef.key).toBe("password");
    expect(container.readinessProbe.httpGet.path).toBe("/ready");
    expect(plainInputs(rec.one("kubernetes:core/v1:Service", "k").inputs).spec.type).toBe("ClusterIP");
  });

  it("aws: an Auto Scaling group behind an internal TCP load balancer, the password in SSM", async () => {
    new MetricsStore("a", {
      ...common,
      target: "aws",
      metrics: { replicas: 3 },
      aws: {
        vpcId: "vpc-1",
        subnets: [
          { id: "s-1", cidr: "10.0.1.0/24", zone: "a" },
          { id: "s-2", cidr: "10.0.2.0/24", zone: "b" },
        ],
        clientSecurityGroupIds: ["sg-app"],
        instanceSecurityGroupId: "sg-app",
      },
    });
    await settle();
    expect(plainInputs(rec.one("aws:lb/loadBalancer:LoadBalancer", "a-nlb").inputs)).toMatchObject({
      internal: true,
      loadBalancerType: "network",
    });
    expect(plainInputs(rec.one("aws:ssm/parameter:Parameter", "a-db-password").inputs).type).toBe("SecureString");
    const asg = plainInputs(rec.one("aws:autoscaling/group:Group", "a-asg").inputs) as Obj;
    expect([asg.minSize, asg.maxSize, asg.healthCheckType]).toEqual([3, 3, "ELB"]);
    const lt = plainInputs(rec.one("aws:ec2/launchTemplate:LaunchTemplate", "a-lt").inputs) as Obj;
    expect(lt.metadataOptions.httpTokens).toBe("required");
    expect(Buffer.from(lt.userData, "base64").toString()).not.toContain("s3cret-pw");
  });

  it("refuses bad settings naming the metrics key", () => {
    expect(
      () =>
        new MetricsStore("bad", {
          ...common,
          target: "docker",
          metrics: { retention: { rawDays: 30, oneMinuteDays: 7 } },
          docker: { networks: [] },
        }),
    ).toThrow(/metrics\.retention\.oneMinuteDays/);
  });
});
