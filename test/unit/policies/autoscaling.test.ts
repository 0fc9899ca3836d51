import { TOKENS } from "../../../core/tokens";
import {
  asgElbHealthCheck,
  asgMaxNotBelowMin,
  asgMinInstancesProd,
  imdsv2Required,
  lbTargetHealthCheck,
  scalingCooldownsSet,
} from "../../../policies/autoscaling";
import { child, platform, runResource, runStack, urn } from "./fake-args";

const ASG = "aws:autoscaling/group:Group";
const HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler";

describe("asg-min-instances-prod", () => {
  const prod = platform({ target: "aws", environment: "prod" });
  const app = child(prod, TOKENS.autoscalingGroup, "p-app");

  it("passes a prod group with minSize 2 and ignores dev groups below it", async () => {
    const dev = platform({ target: "aws", environment: "dev" }, "d");
    const devApp = child(dev, TOKENS.autoscalingGroup, "d-app");
    const out = await runStack(asgMinInstancesProd, [
      prod,
      app,
      child(app, ASG, "p-app-asg", { minSize: 2, maxSize: 4 }),
      dev,
      devApp,
      child(devApp, ASG, "d-app-asg", { minSize: 1 }),
    ]);
    expect(out.messages).toEqual([]);
  });

  it("fails a prod ASG with minSize 1, naming the key to change", async () => {
    const asg = child(app, ASG, "p-app-asg", { minSize: 1, maxSize: 4 });
    const out = await runStack(asgMinInstancesProd, [prod, app, asg]);
    expect(out.messages).toEqual([
      "Auto Scaling group p-app-asg has minSize 1 in prod; set minSize (scaleplane:app.minSize) to at least 2 so a single instance failure does not take the app down.",
    ]);
    expect(out.urns).toEqual([urn(asg)]);
  });

  it("fails a prod HPA below minInstances from the policy config", async () => {
    const hpa = child(app, HPA, "p-app-hpa", { spec: { minReplicas: 2, maxReplicas: 5 } });
    const out = await runStack(asgMinInstancesProd, [prod, app, hpa], { config: { minInstances: 3 } });
    expect(out.messages).toEqual([
      "HorizontalPodAutoscaler p-app-hpa has minReplicas 2 in prod; set spec.minReplicas (scaleplane:app.minSize) to at least 3 so a single pod failure does not take the app down.",
    ]);
  });

  it("checks the component settings where no ASG or HPA exists (Docker), and honours a forced environment", async () => {
    const dev = platform({ target: "docker", environment: "dev", app: { minSize: 1 } });
    const group = child(dev, TOKENS.autoscalingGroup, "p-app");
    expect((await runStack(asgMinInstancesProd, [dev, group])).messages).toEqual([]);
    const out = await runStack(asgMinInstancesProd, [dev, group], { config: { environment: "prod" } });
    expect(out.messages).toEqual([
      "AutoscalingGroup p-app has minSize 1 in prod; set scaleplane:app.minSize to at least 2 so a single instance failure does not take the app down.",
    ]);
  });

  it("reads prod from the stack tag when no component says", async () => {
    const asg = { type: ASG, name: "lone", props: { minSize: 1 } };
    expect((await runStack(asgMinInstancesProd, [asg])).messages).toEqual([]);
    expect(
      (await runStack(asgMinInstancesProd, [asg], { stackTags: { "scaleplane:environment": "prod" } })).messages,
    ).toHaveLength(1);
  });
});

describe("asg-max-not-below-min", () => {
  it("passes consistent sizes", async () => {
    expect(
      (await runResource(asgMaxNotBelowMin, ASG, { minSize: 2, maxSize: 4, desiredCapacity: 3 })).messages,
    ).toEqual([]);
    expect((await runResource(asgMaxNotBelowMin, HPA, { spec: { minReplicas: 2, maxReplicas: 2 } })).messages).toEqual(
      [],
    );
  });
  it("fails max below min", async () => {
    expect((await runResource(asgMaxNotBelowMin, ASG, { minSize: 3, maxSize: 2 }, { name: "g" })).messages).toEqual([
      "Auto Scaling group g has maxSize 2 below minSize 3; set maxSize (scaleplane:app.maxSize) to at least 3.",
    ]);
    expect(
      (await runResource(asgMaxNotBelowMin, HPA, { spec: { minReplicas: 3, maxReplicas: 2 } }, { name: "h" })).messages,
    ).toEqual([
      "HorizontalPodAutoscaler h has maxReplicas 2 below minReplicas 3; set spec.maxReplicas (scaleplane:app.maxSize) to at least 3.",
    ]);
  });
  it("fails a desired capacity outside the range", async () => {
    expect(
      (await runResource(asgMaxNotBelowMin, ASG, { minSize: 2, maxSize: 4, desiredCapacity: 5 }, { name: "g" }))
        .messages,
    ).toEqual([
      "Auto Scaling group g has desiredCapacity 5 outside [2, 4]; set desiredCapacity (scaleplane:app.desiredSize) between minSize and maxSize.",
    ]);
  });
  it("is not applicable to other types", async () => {
    expect((await runResource(asgMaxNotBelowMin, "aws:s3/bucket:Bucket", {})).notApplicable).toMatch(/applies to/);
  });
});

describe("scaling-cooldowns-set", () => {
  const POLICY = "aws:autoscaling/policy:Policy";
  it("passes a target-tracking policy with warm-up and an HPA with a stabilization window", async () => {
    expect(
      (
        await runResource(scalingCooldownsSet, POLICY, {
          policyType: "TargetTrackingScaling",
          estimatedInstanceWarmup: 60,
        })
      ).messages,
    ).toEqual([]);
    expect(
      (await runResource(scalingCooldownsSet, POLICY, { policyType: "SimpleScaling", cooldown: 300 })).messages,
    ).toEqual([]);
    expect(
      (
        await runResource(scalingCooldownsSet, HPA, {
          spec: { behavior: { scaleDown: { stabilizationWindowSeconds: 300 } } },
        })
      ).messages,
    ).toEqual([]);
  });
  it("fails a target-tracking policy without warm-up", async () => {
    expect(
      (await runResource(scalingCooldownsSet, POLICY, { policyType: "TargetTrackingScaling" }, { name: "cpu" }))
        .messages,
    ).toEqual([
      "Scaling policy cpu (TargetTrackingScaling) has no estimatedInstanceWarmup; set estimatedInstanceWarmup to the seconds a new instance needs before its metrics count (scaleplane:app.scaling.healthCheckGraceSeconds).",
    ]);
  });
  it("fails a simple policy without cooldown", async () => {
    expect((await runResource(scalingCooldownsSet, POLICY, {}, { name: "s" })).messages).toEqual([
      "Scaling policy s (SimpleScaling) has cooldown unset; set cooldown to at least 60 seconds (scaleplane:app.scaling.scaleDownCooldownSeconds).",
    ]);
  });
  it("fails an HPA whose scale-down window is below the configured minimum", async () => {
    expect(
      (
        await runResource(
          scalingCooldownsSet,
          HPA,
          { spec: { behavior: { scaleDown: { stabilizationWindowSeconds: 0 } } } },
          { name: "h", config: { minScaleDownSeconds: 120 } },
        )
      ).messages,
    ).toEqual([
      "HorizontalPodAutoscaler h has scale-down stabilization window 0; set spec.behavior.scaleDown.stabilizationWindowSeconds to at least 120 (scaleplane:app.scaling.scaleDownCooldownSeconds).",
    ]);
  });
});

describe("asg-elb-health-check", () => {
  it("passes an ELB-checked group with grace", async () => {
    expect(
      (
        await runResource(asgElbHealthCheck, ASG, {
          targetGroupArns: ["arn"],
          healthCheckType: "ELB",
          healthCheckGracePeriod: 60,
        })
      ).messages,
    ).toEqual([]);
  });
  it("is not applicable to a group without a load balancer", async () => {
    expect((await runResource(asgElbHealthCheck, ASG, {})).notApplicable).toBe(
      "the group is not attached to a load balancer",
    );
  });
  it("fails EC2 health checks and a zero grace period", async () => {
    expect(
      (
        await runResource(
          asgElbHealthCheck,
          ASG,
          { targetGroupArns: ["arn"], healthCheckGracePeriod: 0 },
          { name: "g" },
        )
      ).messages,
    ).toEqual([
      'Auto Scaling group g uses health check type EC2 (default); set healthCheckType "ELB" so instances failing the load balancer\'s health check are replaced.',
      "Auto Scaling group g has healthCheckGracePeriod 0s; set it to at least 30s (scaleplane:app.scaling.healthCheckGraceSeconds) so booting instances are not killed.",
    ]);
  });
});

describe("lb-target-health-check", () => {
  const TG = "aws:lb/targetGroup:TargetGroup";
  it("passes a target group with a health path", async () => {
    expect(
      (await runResource(lbTargetHealthCheck, TG, { protocol: "HTTP", healthCheck: { path: "/health" } })).messages,
    ).toEqual([]);
  });
  it("fails disabled health checks", async () => {
    expect(
      (await runResource(lbTargetHealthCheck, TG, { healthCheck: { enabled: false } }, { name: "tg" })).messages,
    ).toEqual([
      "Target group tg has health checks disabled; set healthCheck.enabled true with the app's health path (scaleplane:app.healthCheckPath).",
    ]);
  });
  it("fails an HTTP target group without a path", async () => {
    expect((await runResource(lbTargetHealthCheck, TG, { protocol: "HTTP" }, { name: "tg" })).messages).toEqual([
      "Target group tg has no health-check path; set healthCheck.path to the app's health endpoint (scaleplane:app.healthCheckPath, default /health).",
    ]);
  });
});

describe("imdsv2-required", () => {
  it("passes required tokens", async () => {
    expect(
      (
        await runResource(imdsv2Required, "aws:ec2/launchTemplate:LaunchTemplate", {
          metadataOptions: { httpTokens: "required" },
        })
      ).messages,
    ).toEqual([]);
  });
  it("fails optional tokens on a launch template and unset ones on an instance", async () => {
    expect(
      (
        await runResource(
          imdsv2Required,
          "aws:ec2/launchTemplate:LaunchTemplate",
          { metadataOptions: { httpTokens: "optional" } },
          { name: "lt" },
        )
      ).messages,
    ).toEqual([
      'Launch template lt allows IMDSv1 (metadataOptions.httpTokens is optional); set metadataOptions.httpTokens to "required".',
    ]);
    expect((await runResource(imdsv2Required, "aws:ec2/instance:Instance", {}, { name: "i" })).messages).toEqual([
      'EC2 instance i allows IMDSv1 (metadataOptions.httpTokens is unset); set metadataOptions.httpTokens to "required".',
    ]);
  });
});
