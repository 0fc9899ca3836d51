/**
 * MetricsStore on AWS, on the app group's pattern: an instance role (read of its own password
 * parameter only), the password as an SSM SecureString, a launch template (IMDSv2 only, the boot
 * script of core/metrics/spec.ts), an Auto Scaling group of `metrics.replicas` instances with ELB
 * health checks, and an internal Network Load Balancer (TCP on the store's port, HTTP health
 * check on /health): only the VPC reaches it, and only the client security groups reach the port.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { METRICS_PROBE, metricsAmi, metricsUserData } from "../../core/metrics/spec";
import { createEc2InstanceRole } from "../shared/aws";
import type { MetricsBuildContext, MetricsBuildResult, MetricsStoreAwsArgs } from "./args";

export function createAwsMetricsStore(ctx: MetricsBuildContext, args: MetricsStoreAwsArgs): MetricsBuildResult {
  const { name, metrics: m, parent } = ctx;
  const opts = { parent };
  const tags = { Name: name, "scaleplane:metrics": m.name, "scaleplane:environment": ctx.environment };
  const parameter = new aws.ssm.Parameter(
    `${name}-db-password`,
    {
      name: `/scaleplane/${pulumi.getStack()}/${name}/METRICS_DATABASE_PASSWORD`,
      type: "SecureString",
      value: ctx.password,
      tags,
    },
    opts,
  );
  const { profile } = createEc2InstanceRole(name, tags, opts, (role) => {
    new aws.iam.RolePolicy(
      `${name}-read-password`,
      {
        role: role.id,
        policy: parameter.arn.apply((arn) =>
          JSON.stringify({
            Version: "2012-10-17",
            Statement: [{ Effect: "Allow", Action: ["ssm:GetParameter"], Resource: [arn] }],
          }),
        ),
      },
      opts,
    );
  });
  args.clientSecurityGroupIds.forEach(
    (sg, i) =>
      new aws.vpc.SecurityGroupIngressRule(
        `${name}-from-client-${i}`,
        {
          securityGroupId: args.instanceSecurityGroupId,
          ipProtocol: "tcp",
          fromPort: m.port,
          toPort: m.port,
          referencedSecurityGroupId: sg,
          description: "metrics store from the platform",
        },
        opts,
      ),
  );
  args.subnets.forEach(
    (s, i) =>
      new aws.vpc.SecurityGroupIngressRule(
        `${name}-health-${i}`,
        {
          securityGroupId: args.instanceSecurityGroupId,
          ipProtocol: "tcp",
          fromPort: m.port,
          toPort: m.port,
          cidrIpv4: s.cidr,
          description: "load balancer health checks",
        },
        opts,
      ),
  );
  const lt = new aws.ec2.LaunchTemplate(
    `${name}-lt`,
    {
      imageId: metricsAmi(m),
      instanceType: m.instanceType,
      iamInstanceProfile: { arn: profile.arn },
      vpcSecurityGroupIds: [args.instanceSecurityGroupId],
      userData: pulumi
        .all([ctx.env, parameter.name])
        .apply(([env, param]) => Buffer.from(metricsUserData(m, env, param)).toString("base64")),
      updateDefaultVersion: true,
      metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
      monitoring: { enabled: true },
      tagSpecifications: [{ resourceType: "instance", tags }],
    },
    opts,
  );
  const loadBalancer = new aws.lb.LoadBalancer(
    `${name}-nlb`,
    {
      internal: true,
      loadBalancerType: "network",
      subnets: args.subnets.map((s) => s.id),
      enableDeletionProtection: ctx.environment === "prod",
      tags,
    },
    opts,
  );
  const targetGroup = new aws.lb.TargetGroup(
    `${name}-tg`,
    {
      vpcId: args.vpcId,
      port: m.port,
      protocol: "TCP",
      targetType: "instance",
      healthCheck: {
        enabled: true,
        protocol: "HTTP",
        path: "/health",
        port: String(m.port),
        interval: METRICS_PROBE.intervalSeconds,
        healthyThreshold: 2,
        unhealthyThreshold: METRICS_PROBE.failureThreshold,
      },
      tags,
    },
    opts,
  );
  new aws.lb.Listener(
    `${name}-listener`,
    {
      loadBalancerArn: loadBalancer.arn,
      port: m.port,
      protocol: "TCP",
      defaultActions: [{ type: "forward", targetGroupArn: targetGroup.arn }],
    },
    opts,
  );
  const autoScalingGroup = new aws.autoscaling.Group(
    `${name}-asg`,
    {
      minSize: m.replicas,
      maxSize: m.replicas,
      desiredCapacity: m.replicas,
      vpcZoneIdentifiers: args.subnets.map((s) => s.id),
      launchTemplate: { id: lt.id, version: "$Latest" },
      targetGroupArns: [targetGroup.arn],
      healthCheckType: "ELB",
      healthCheckGracePeriod: 60,
      instanceRefresh: { strategy: "Rolling", preferences: { minHealthyPercentage: 50 } },
      tags: Object.entries(tags).map(([key, value]) => ({ key, value, propagateAtLaunch: true })),
    },
    opts,
  );
  const url = pulumi.interpolate`http://${loadBalancer.dnsName}:${m.port}`;
  return { endpoints: url.apply((u) => [u]), hostEndpoints: url.apply((u) => [u]), autoScalingGroup, loadBalancer };
}
