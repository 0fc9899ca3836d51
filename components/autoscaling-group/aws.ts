/**
 * AWS target of the AutoscalingGroup: an instance role (CloudWatch agent, SSM core, read of the
 * group's own SecureString parameters, completing its lifecycle actions), a launch template
 * (IMDSv2 only, AL2023 resolved by EC2 at launch, the boot script from core/app/aws.ts), an Auto
 * Scaling group (ELB health checks, rolling instance refresh ≥ 90% healthy, optional mixed
 * instances), a termination lifecycle hook for drain, an internet-facing ALB with its target group
 * and HTTP listener, security groups (internet → ALB:80, ALB → app port only), and CPU and memory
 * target-tracking policies.
 *
 * `desiredCapacity` is set on create and then ignored: the scaling policies own it, and an update
 * of the stack must not reset the group to its initial size.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import {
  awsAmi,
  FRONTEND_PORT,
  INSTANCE_REFRESH_MIN_HEALTHY_PERCENT,
  awsInstancesDistribution,
  awsScalingPolicies,
  awsPredictiveScaling,
  awsUserData,
  desiredCapacity,
  ssmSecretParameterName,
} from "../../core/app";
import { DEFAULT_TLS_POLICY, HTTPS_PORT } from "../../core/app/alb";
import { createEc2InstanceRole } from "../shared/aws";
import { createAccessLogBuckets } from "./access-logs";
import type { AutoscalingGroupAwsArgs, AwsGroupResult, GroupBuildContext } from "./args";

/** Creates the group's AWS resources under `ctx.parent`. */
export function createAwsGroup(ctx: GroupBuildContext, args: AutoscalingGroupAwsArgs): AwsGroupResult {
  const { name, app, parent } = ctx;
  const opts = { parent };
  const tags = { Name: name, "scaleplane:group": name, "scaleplane:environment": ctx.environment };
  const drainSeconds = app.scaling.drainSeconds;
  const grace = app.scaling.healthCheckGraceSeconds;
  const lifecycleHookName = `${name}-drain`;

  // Secrets: one SecureString parameter each; only their names reach the instance's boot script.
  const parameterPrefix = `/scaleplane/${pulumi.getStack()}/${name}`;
  const parameters = Object.entries(ctx.secretEnv).map(
    ([k, value]) =>
      [
        k,
        new aws.ssm.Parameter(
          `${name}-secret-${k.toLowerCase().replace(/_/g, "-")}`,
          { name: ssmSecretParameterName(parameterPrefix, k), type: "SecureString", value, tags },
          opts,
        ),
      ] as const,
  );

  // Instance role: CloudWatch agent, SSM core, read of the group's own parameters.
  const { role, profile } = createEc2InstanceRole(name, tags, opts, (role) => {
    new aws.iam.RolePolicyAttachment(
      `${name}-cwagent`,
      { role: role.name, policyArn: aws.iam.ManagedPolicy.CloudWatchAgentServerPolicy },
      opts,
    );
    new aws.iam.RolePolicyAttachment(
      `${name}-ssm-core`,
      { role: role.name, policyArn: aws.iam.ManagedPolicy.AmazonSSMManagedInstanceCore },
      opts,
    );
    if (parameters.length > 0)
      new aws.iam.RolePolicy(
        `${name}-read-secrets`,
        {
          role: role.id,
          policy: pulumi.all(parameters.map(([, p]) => p.arn)).apply((arns) =>
            JSON.stringify({
              Version: "2012-10-17",
              Statement: [{ Effect: "Allow", Action: ["ssm:GetParameter", "ssm:GetParameters"], Resource: arns }],
            }),
          ),
        },
        opts,
      );
  });

  // Security groups: the internet (ingressCidrs) reaches the ALB on 80; only the ALB reaches the app port.
  const albSg = new aws.ec2.SecurityGroup(
    `${name}-alb-sg`,
    { vpcId: args.vpcId, description: `${name} load balancer`, tags: { ...tags, Name: `${name}-alb` } },
    opts,
  );
  const instanceSgId: pulumi.Input<string> =
    args.instanceSecurityGroupId ??
    new aws.ec2.SecurityGroup(
      `${name}-sg`,
      {
        vpcId: args.vpcId,
        description: `${name} instances`,
        egress: [
          {
            protocol: "-1",
            fromPort: 0,
            toPort: 0,
            cidrBlocks: ["0.0.0.0/0"],
            description: "outbound (packages, image pulls, SSM, CloudWatch)",
          },
        ],
        tags,
      },
      opts,
    ).id;
  (args.ingressCidrs ?? ["0.0.0.0/0"]).forEach((cidr, i) => {
    const source = cidr.includes(":") ? { cidrIpv6: cidr } : { cidrIpv4: cidr };
    new aws.vpc.SecurityGroupIngressRule(
      `${name}-alb-http-${i}`,
      {
        securityGroupId: albSg.id,
        ipProtocol: "tcp",
        fromPort: FRONTEND_PORT,
        toPort: FRONTEND_PORT,
        ...source,
        description: "HTTP to the load balancer (redirected to HTTPS)",
      },
      opts,
    );
    new aws.vpc.SecurityGroupIngressRule(
      `${name}-alb-https-${i}`,
      {
        securityGroupId: albSg.id,
        ipProtocol: "tcp",
        fromPort: HTTPS_PORT,
        toPort: HTTPS_PORT,
        ...source,
        description: "HTTPS to the load balancer",
      },
      opts,
    );
  });
  new aws.vpc.SecurityGroupEgressRule(
    `${name}-alb-to-app`,
    {
      securityGroupId: albSg.id,
      ipProtocol: "tcp",
      fromPort: app.port,
      toPort: app.port,
      referencedSecurityGroupId: instanceSgId,
      description: "load balancer to the app port",
    },
    opts,
  );
  new aws.vpc.SecurityGroupIngressRule(
    `${name}-app-from-alb`,
    {
      securityGroupId: instanceSgId,
      ipProtocol: "tcp",
      fromPort: app.port,
      toPort: app.port,
      referencedSecurityGroupId: albSg.id,
      description: "app port from the load balancer only",
    },
    opts,
  );

  // Launch template.
  const userData = ctx.env.apply((env) =>
    Buffer.from(
      awsUserData({
        app,
        env,
        secretParameters: Object.fromEntries(
          Object.keys(ctx.secretEnv).map((k) => [k, ssmSecretParameterName(parameterPrefix, k)]),
        ),
        lifecycleHookName,
      }),
    ).toString("base64"),
  );
  const lt = new aws.ec2.LaunchTemplate(
    `${name}-lt`,
    {
      description: `${name}: ${app.image}`,
      // Amazon Linux 2023 for the instance types' architecture (Graviton types boot only arm64 images).
      imageId: awsAmi(app),
      instanceType: app.instanceType,
      iamInstanceProfile: { arn: profile.arn },
      vpcSecurityGroupIds: [instanceSgId],
      userData,
      updateDefaultVersion: true,
      // IMDSv2 only; hop limit 1 keeps the role's credentials out of reach of containers.
      metadataOptions: {
        httpEndpoint: "enabled",
        httpTokens: "required",
        httpPutResponseHopLimit: 1,
        instanceMetadataTags: "disabled",
      },
      monitoring: { enabled: true },
      blockDeviceMappings: [
        {
          deviceName: "/dev/xvda",
          ebs: { volumeSize: 20, volumeType: "gp3", encrypted: "true", deleteOnTermination: "true" },
        },
      ],
      tagSpecifications: [
        { resourceType: "instance", tags },
        { resourceType: "volume", tags },
      ],
      tags,
    },
    opts,
  );

  // Load balancer.
  const targetGroup = new aws.lb.TargetGroup(
    `${name}-tg`,
    {
      vpcId: args.vpcId,
      port: app.port,
      protocol: "HTTP",
      targetType: "instance",
      deregistrationDelay: drainSeconds,
      healthCheck: {
        enabled: true,
        path: app.healthCheckPath,
        port: "traffic-port",
        protocol: "HTTP",
        matcher: "200",
        interval: 10,
        timeout: 5,
        healthyThreshold: 2,
        unhealthyThreshold: 2,
      },
      tags,
    },
    opts,
  );
  const lbSettings = args.loadBalancer ?? { sslPolicy: DEFAULT_TLS_POLICY, deletionProtection: false };
  const logs = lbSettings.accessLogs
    ? createAccessLogBuckets(name, lbSettings.accessLogs, lbSettings.deletionProtection, albSg.arn, tags, opts)
    : undefined;
  const alb = new aws.lb.LoadBalancer(
    `${name}-alb`,
    {
      loadBalancerType: "application",
      internal: false,
      subnets: args.publicSubnetIds,
      securityGroups: [albSg.id],
      dropInvalidHeaderFields: true,
      idleTimeout: 60,
      enableDeletionProtection: lbSettings.deletionProtection,
      ...(logs ? { accessLogs: { bucket: logs.bucket.bucket, prefix: logs.prefix, enabled: true } } : {}),
      tags,
    },
    // ELB checks at create time that it may write to the bucket: the policy must exist first.
    { ...opts, dependsOn: logs ? [logs.policy] : [] },
  );
  const certificateArn = lbSettings.certificateArn ?? createSelfSignedCertificate(name, tags, opts);
  const listener = new aws.lb.Listener(
    `${name}-https`,
    {
      loadBalancerArn: alb.arn,
      port: HTTPS_PORT,
      protocol: "HTTPS",
      sslPolicy: lbSettings.sslPolicy,
      certificateArn,
      defaultActions: [{ type: "forward", targetGroupArn: targetGroup.arn }],
      tags,
    },
    opts,
  );
  // Port 80 only redirects: no request is ever served in clear text.
  const redirectListener = new aws.lb.Listener(
    `${name}-http`,
    {
      loadBalancerArn: alb.arn,
      port: FRONTEND_PORT,
      protocol: "HTTP",
      defaultActions: [
        { type: "redirect", redirect: { protocol: "HTTPS", port: String(HTTPS_PORT), statusCode: "HTTP_301" } },
      ],
      tags,
    },
    opts,
  );

  // The group.
  const ltSpec = { id: lt.id, version: lt.latestVersion.apply((v) => String(v)) };
  const mixed = awsInstancesDistribution(app);
  const group = new aws.autoscaling.Group(
    `${name}-asg`,
    {
      vpcZoneIdentifiers: args.subnets.map((s) => s.id),
      minSize: app.minSize,
      maxSize: app.maxSize,
      desiredCapacity: desiredCapacity(app),
      healthCheckType: "ELB",
      healthCheckGracePeriod: grace,
      defaultInstanceWarmup: grace,
      targetGroupArns: [targetGroup.arn],
      ...(mixed
        ? {
            capacityRebalance: true,
            mixedInstancesPolicy: {
              instancesDistribution: mixed.instancesDistribution,
              launchTemplate: {
                launchTemplateSpecification: { launchTemplateId: ltSpec.id, version: ltSpec.version },
                overrides: mixed.overrides,
              },
            },
          }
        : { launchTemplate: ltSpec }),
      instanceRefresh: {
        strategy: "Rolling",
        preferences: {
          minHealthyPercentage: INSTANCE_REFRESH_MIN_HEALTHY_PERCENT,
          instanceWarmup: String(grace),
          skipMatching: true,
        },
      },
      enabledMetrics: [
        "GroupDesiredCapacity",
        "GroupInServiceInstances",
        "GroupPendingInstances",
        "GroupTerminatingInstances",
        "GroupTotalInstances",
      ],
      tags: Object.entries(tags).map(([key, value]) => ({ key, value, propagateAtLaunch: true })),
    },
    { ...opts, ignoreChanges: ["desiredCapacity"] },
  );

  new aws.autoscaling.LifecycleHook(
    `${name}-drain`,
    {
      name: lifecycleHookName,
      autoscalingGroupName: group.name,
      lifecycleTransition: "autoscaling:EC2_INSTANCE_TERMINATING",
      heartbeatTimeout: drainSeconds,
      defaultResult: "CONTINUE",
    },
    opts,
  );
  // The drain watcher on each instance completes its own lifecycle action once the app has exited.
  new aws.iam.RolePolicy(
    `${name}-lifecycle`,
    {
      role: role.id,
      policy: group.arn.apply((arn) =>
        JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            { Effect: "Allow", Action: "autoscaling:CompleteLifecycleAction", Resource: arn },
            { Effect: "Allow", Action: "autoscaling:DescribeAutoScalingInstances", Resource: "*" },
          ],
        }),
      ),
    },
    opts,
  );

  for (const p of awsScalingPolicies(app, group.name))
    new aws.autoscaling.Policy(
      `${name}-${p.suffix}`,
      {
        autoscalingGroupName: group.name,
        policyType: "TargetTrackingScaling",
        estimatedInstanceWarmup: p.estimatedInstanceWarmup,
        targetTrackingConfiguration: p.targetTrackingConfiguration,
      },
      opts,
    );

  const predictive = awsPredictiveScaling(app);
  if (predictive)
    new aws.autoscaling.Policy(
      `${name}-predictive`,
      { autoscalingGroupName: group.name, policyType: "PredictiveScaling", predictiveScalingConfiguration: predictive },
      opts,
    );

  return {
    endpoints: alb.dnsName.apply((dns) => [`https://${dns}`]),
    groupName: group.name,
    securityGroupId: pulumi.output(instanceSgId),
    loadBalancer: alb,
    targetGroup,
    listener,
    redirectListener,
    ...(logs ? { accessLogBucket: logs.bucket } : {}),
    launchTemplate: lt,
    autoScalingGroup: group,
    role,
  };
}

/**
 * A self-signed certificate imported into ACM, for stacks without `aws.loadBalancer.certificateArn`
 * (refused in prod): the listener shape stays HTTPS-only; clients must trust it explicitly.
 */
function createSelfSignedCertificate(
  name: string,
  tags: Record<string, string>,
  opts: pulumi.CustomResourceOptions,
): pulumi.Output<string> {
  const key = new tls.PrivateKey(`${name}-lb-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, opts);
  const cert = new tls.SelfSignedCert(
    `${name}-lb-cert`,
    {
      privateKeyPem: key.privateKeyPem,
      subject: { commonName: `${name}.scaleplane.invalid`, organization: "scaleplane (self-signed)" },
      dnsNames: [`${name}.scaleplane.invalid`],
      validityPeriodHours: 24 * 365,
      earlyRenewalHours: 24 * 30,
      allowedUses: ["digital_signature", "key_encipherment", "server_auth"],
    },
    opts,
  );
  return new aws.acm.Certificate(
    `${name}-lb-cert`,
    { privateKey: key.privateKeyPem, certificateBody: cert.certPem, tags },
    opts,
  ).arn;
}
