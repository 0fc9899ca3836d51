import { TOKENS } from "../../../core/tokens";
import {
  albAccessLogsProd,
  albDeletionProtectionProd,
  albHttpsOnly,
  albLogBucketAccessLogged,
  ec2DetailedMonitoringProd,
} from "../../../policies/load-balancer";
import { child, runResource, runStack, urn } from "./fake-args";

const LISTENER = "aws:lb/listener:Listener";
const ALB = "aws:lb/loadBalancer:LoadBalancer";
const INSTANCE = "aws:ec2/instance:Instance";

describe("alb-https-only", () => {
  it("passes an HTTPS listener with a current TLS policy and an HTTP listener that redirects", async () => {
    const https = {
      protocol: "HTTPS",
      port: 443,
      sslPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06",
      defaultActions: [{ type: "forward" }],
    };
    const redirect = {
      protocol: "HTTP",
      port: 80,
      defaultActions: [{ type: "redirect", redirect: { protocol: "HTTPS", port: "443", statusCode: "HTTP_301" } }],
    };
    expect((await runResource(albHttpsOnly, LISTENER, https)).messages).toEqual([]);
    expect((await runResource(albHttpsOnly, LISTENER, redirect)).messages).toEqual([]);
  });
  it("fails an HTTP listener that forwards", async () => {
    const out = await runResource(
      albHttpsOnly,
      LISTENER,
      { protocol: "HTTP", port: 80, defaultActions: [{ type: "forward", targetGroupArn: "tg" }] },
      { name: "app-http" },
    );
    expect(out.messages).toEqual([
      'Listener app-http serves plain HTTP; make it redirect to HTTPS (type "redirect", protocol "HTTPS") and serve the app on an HTTPS listener (scaleplane:aws.loadBalancer.certificateArn).',
    ]);
  });
  it("fails an HTTP listener whose redirect stays on HTTP", async () => {
    const out = await runResource(
      albHttpsOnly,
      LISTENER,
      { protocol: "HTTP", defaultActions: [{ type: "redirect", redirect: { protocol: "HTTP", port: "8080" } }] },
      { name: "l" },
    );
    expect(out.messages).toHaveLength(1);
  });
  it("fails an HTTPS listener with an outdated TLS policy", async () => {
    const out = await runResource(
      albHttpsOnly,
      LISTENER,
      { protocol: "HTTPS", sslPolicy: "ELBSecurityPolicy-2016-08" },
      { name: "app-https" },
    );
    expect(out.messages).toEqual([
      expect.stringMatching(
        /^Listener app-https uses TLS policy ELBSecurityPolicy-2016-08, which allows outdated protocols or ciphers; set sslPolicy \(scaleplane:aws.loadBalancer.sslPolicy\) to one of ELBSecurityPolicy-TLS13-1-2-2021-06, /,
      ),
    ]);
  });
});

const prodPlatform = { type: TOKENS.platform, name: "p", props: { environment: "prod" } };
const devPlatform = { type: TOKENS.platform, name: "p", props: { environment: "dev" } };

describe("alb-access-logs-prod", () => {
  it("passes a prod load balancer with access logs, and a dev one without", async () => {
    expect(
      (
        await runStack(albAccessLogsProd, [
          prodPlatform,
          child(prodPlatform, ALB, "alb", { accessLogs: { bucket: "logs", enabled: true } }),
        ])
      ).messages,
    ).toEqual([]);
    expect((await runStack(albAccessLogsProd, [devPlatform, child(devPlatform, ALB, "alb", {})])).messages).toEqual([]);
  });
  it("fails a prod load balancer without access logs", async () => {
    const alb = child(prodPlatform, ALB, "p-app-alb", { accessLogs: { bucket: "logs", enabled: false } });
    const out = await runStack(albAccessLogsProd, [prodPlatform, alb]);
    expect(out.messages).toEqual([
      "Load balancer p-app-alb keeps no access logs in prod; set scaleplane:aws.loadBalancer.accessLogs true (an encrypted, private S3 bucket with a retention rule is created).",
    ]);
    expect(out.urns).toEqual([urn(alb)]);
  });
});

describe("alb-log-bucket-access-logged", () => {
  const LOGGING = "aws:s3/bucketLogging:BucketLogging";
  const logs = { accessLogs: { bucket: "app-logs", enabled: true, prefix: "app" } };
  const bucket = { type: "aws:s3/bucket:Bucket", name: "app-logs", props: { bucket: "app-logs" } };

  it("passes a log bucket that logs its access to another bucket, in any environment, and an ALB without logs", async () => {
    for (const p of [prodPlatform, devPlatform]) {
      const stack = [
        p,
        child(p, ALB, "alb", logs),
        child(p, bucket.type, bucket.name, bucket.props),
        child(p, LOGGING, "app-logs", { bucket: "app-logs", targetBucket: "app-logs-access" }),
      ];
      expect((await runStack(albLogBucketAccessLogged, stack)).messages).toEqual([]);
    }
    expect(
      (await runStack(albLogBucketAccessLogged, [devPlatform, child(devPlatform, ALB, "alb", {})])).messages,
    ).toEqual([]);
  });
  it("reads a bucket resource's inline logging too", async () => {
    const inline = child(prodPlatform, bucket.type, bucket.name, {
      bucket: "app-logs",
      logging: { targetBucket: "audit" },
    });
    expect(
      (await runStack(albLogBucketAccessLogged, [prodPlatform, child(prodPlatform, ALB, "alb", logs), inline]))
        .messages,
    ).toEqual([]);
  });
  it("fails a log bucket that records no access of its own (S3.9), also when the bucket is not in the stack", async () => {
    const alb = child(prodPlatform, ALB, "p-app-alb", logs);
    for (const stack of [
      [prodPlatform, alb, child(prodPlatform, bucket.type, bucket.name, bucket.props)],
      [prodPlatform, alb],
    ]) {
      const out = await runStack(albLogBucketAccessLogged, stack);
      expect(out.messages).toEqual([
        "Load balancer p-app-alb delivers its access logs to bucket app-logs, which records no access of its own: nobody could tell who read or deleted the logs. Enable its server access logging (aws.s3.BucketLogging) to a separate, locked-down bucket (the AutoscalingGroup creates <group>-alb-logs-access); a bucket managed outside this stack is guarded where it is managed (disable this policy here).",
      ]);
      expect(out.urns).toEqual([urn(alb)]);
    }
  });
  it("fails a log bucket that logs its access to itself", async () => {
    const out = await runStack(albLogBucketAccessLogged, [
      prodPlatform,
      child(prodPlatform, ALB, "p-app-alb", logs),
      child(prodPlatform, LOGGING, "app-logs", { bucket: "app-logs", targetBucket: "app-logs" }),
    ]);
    expect(out.messages).toEqual([
      "Load balancer p-app-alb delivers its access logs to bucket app-logs, which logs its own access to itself: every delivery is logged again, an endless loop of logs. Log to a separate bucket.",
    ]);
  });
});

describe("alb-deletion-protection-prod", () => {
  it("passes a protected prod load balancer and an unprotected dev one", async () => {
    expect(
      (
        await runStack(albDeletionProtectionProd, [
          prodPlatform,
          child(prodPlatform, ALB, "alb", { enableDeletionProtection: true }),
        ])
      ).messages,
    ).toEqual([]);
    expect(
      (
        await runStack(albDeletionProtectionProd, [
          devPlatform,
          child(devPlatform, ALB, "alb", { enableDeletionProtection: false }),
        ])
      ).messages,
    ).toEqual([]);
  });
  it("fails an unprotected prod load balancer", async () => {
    expect(
      (
        await runStack(albDeletionProtectionProd, [
          prodPlatform,
          child(prodPlatform, ALB, "p-app-alb", { enableDeletionProtection: false }),
        ])
      ).messages,
    ).toEqual([
      "Load balancer p-app-alb has no deletion protection in prod; set scaleplane:aws.loadBalancer.deletionProtection true (enableDeletionProtection).",
    ]);
  });
});

describe("ec2-detailed-monitoring-prod", () => {
  it("passes monitored prod instances and unmonitored dev ones", async () => {
    expect(
      (
        await runStack(ec2DetailedMonitoringProd, [
          prodPlatform,
          child(prodPlatform, INSTANCE, "etcd-0", { monitoring: true }),
        ])
      ).messages,
    ).toEqual([]);
    expect(
      (
        await runStack(ec2DetailedMonitoringProd, [
          devPlatform,
          child(devPlatform, INSTANCE, "etcd-0", { monitoring: false }),
        ])
      ).messages,
    ).toEqual([]);
  });
  it("advises monitoring on unmonitored prod instances", async () => {
    expect(
      (await runStack(ec2DetailedMonitoringProd, [prodPlatform, child(prodPlatform, INSTANCE, "p-config-0", {})]))
        .messages,
    ).toEqual([
      "EC2 instance p-config-0 has only 5-minute metrics in prod; set monitoring true (scaleplane:configService.detailedMonitoring) so a stalled member shows before it costs an election.",
    ]);
  });
});
