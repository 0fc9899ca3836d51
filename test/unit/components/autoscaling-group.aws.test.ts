/** AutoscalingGroup on target aws, under the offline mock runtime (invokes throw). */
import { TOKENS } from "../../../core/tokens";
import { AutoscalingGroup } from "../../../components/autoscaling-group";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, settle, valueOf } from "../../../scripts/lib/offline";
// Shared unit-test helpers (they create no resources, so importing them before installMocks is fine).
import { errorKeys, whereFound } from "../../support/inputs";

const rec = installMocks({ stack: "unit-aws" });

const SECRET = "s3cr3t-db-password-value";
const CERT = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555";
const network = {
  vpcId: "vpc-1",
  subnets: [
    { id: "subnet-a", cidr: "10.42.128.0/20", zone: "us-east-1a" },
    { id: "subnet-b", cidr: "10.42.144.0/20", zone: "us-east-1b" },
  ],
  publicSubnetIds: ["pub-a", "pub-b"],
};

// What every child of "web" was created with: options, the resource object and its (unresolved)
// props. Transformations see these; the mock sees only resolved inputs, and computed names
// (autonamed ASG, role) resolve to undefined there, so references are compared by identity here.
const childOptions = new Map<string, import("@pulumi/pulumi").CustomResourceOptions>();
const children = new Map<string, { resource: import("@pulumi/pulumi").Resource; props: Record<string, unknown> }>();
const captureOptions = (a: import("@pulumi/pulumi").ResourceTransformationArgs) => {
  childOptions.set(a.name, a.opts);
  children.set(a.name, { resource: a.resource, props: a.props });
  return undefined;
};

// Plain group: creates its own instance security group.
const web = new AutoscalingGroup(
  "web",
  {
    target: "aws",
    environment: "prod",
    app: {
      name: "web",
      image: "registry.example/web:1.2.3",
      port: 9000,
      healthCheckPath: "/healthz",
      minSize: 2,
      desiredSize: 3,
      maxSize: 8,
      instanceType: "t3.medium",
      scaling: { cpuTargetPercent: 65, memoryTargetPercent: 75, healthCheckGraceSeconds: 90, drainSeconds: 40 },
    },
    env: { SCALEPLANE_CONFIG_ENDPOINTS: pulumi.output("http://10.42.128.10:2379") },
    secretEnv: { DB_PASSWORD: pulumi.output(SECRET) },
    aws: {
      ...network,
      ingressCidrs: ["203.0.113.0/24", "2001:db8::/32"],
      loadBalancer: {
        certificateArn: CERT,
        sslPolicy: "ELBSecurityPolicy-TLS13-1-3-2021-06",
        accessLogs: { retentionDays: 30, region: "us-east-1", prefix: "web" },
        deletionProtection: true,
      },
    },
  },
  { transformations: [captureOptions] },
);

// Mixed instances, on the Platform's security group.
new AutoscalingGroup("mix", {
  target: "aws",
  app: {
    name: "mix",
    minSize: 1,
    maxSize: 4,
    mixedInstances: {
      instanceTypes: ["m6i.large", "m5.large"],
      onDemandBaseCapacity: 1,
      onDemandPercentageAboveBase: 20,
    },
  },
  aws: { ...network, instanceSecurityGroupId: "sg-platform-app" },
});

// The predictive engine: AWS's own predictive scaling beside target tracking, forecast only.
new AutoscalingGroup("pred", {
  target: "aws",
  app: {
    name: "pred",
    minSize: 2,
    maxSize: 12,
    scaling: { engine: "predictive", engineSettings: { predictive: { forecastOnly: true, warmupSeconds: 240 } } },
  },
  aws: network,
});

// The cost engine: its instance mix becomes the mixed-instances policy; pinned by the user, the pin wins.
new AutoscalingGroup("cheap", {
  target: "aws",
  app: { name: "cheap", minSize: 2, maxSize: 20, scaling: { engine: "cost" } },
  aws: network,
});
new AutoscalingGroup("pinned", {
  target: "aws",
  app: {
    name: "pinned",
    minSize: 2,
    maxSize: 20,
    scaling: { engine: "cost" },
    mixedInstances: { instanceTypes: ["m6i.large"], onDemandBaseCapacity: 2, onDemandPercentageAboveBase: 50 },
  },
  aws: network,
});

const T = {
  asg: "aws:autoscaling/group:Group",
  lt: "aws:ec2/launchTemplate:LaunchTemplate",
  hook: "aws:autoscaling/lifecycleHook:LifecycleHook",
  policy: "aws:autoscaling/policy:Policy",
  tg: "aws:lb/targetGroup:TargetGroup",
  alb: "aws:lb/loadBalancer:LoadBalancer",
  listener: "aws:lb/listener:Listener",
  sg: "aws:ec2/securityGroup:SecurityGroup",
  ingress: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
  egress: "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
  param: "aws:ssm/parameter:Parameter",
  role: "aws:iam/role:Role",
  attach: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
  rolePolicy: "aws:iam/rolePolicy:RolePolicy",
  profile: "aws:iam/instanceProfile:InstanceProfile",
};
type Obj = Record<string, unknown>;
const userData = (name: string) =>
  Buffer.from(rec.one(T.lt, name).inputs.userData as string, "base64").toString("utf8");

beforeAll(settle);

describe("AutoscalingGroup on aws", () => {
  it("registers the component with its type token under which every child sits", () => {
    const comp = rec.one(TOKENS.autoscalingGroup, "web");
    expect(comp.inputs).toMatchObject({ target: "aws", environment: "prod", app: { minSize: 2 } });
    for (const [type, name] of [
      [T.asg, "web-asg"],
      [T.lt, "web-lt"],
      [T.hook, "web-drain"],
      [T.tg, "web-tg"],
      [T.alb, "web-alb"],
      [T.listener, "web-http"],
      [T.role, "web-role"],
    ])
      expect(rec.parentOf(rec.one(type, name))?.urn).toBe(comp.urn);
  });

  it("launch template: IMDSv2 required, AL2023 via resolve:ssm (no invoke), the instance type, profile and group", () => {
    const lt = rec.one(T.lt, "web-lt").inputs;
    expect(lt.metadataOptions).toMatchObject({
      httpTokens: "required",
      httpEndpoint: "enabled",
      httpPutResponseHopLimit: 1,
    });
    expect(lt.imageId).toBe("resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64");
    expect(lt.instanceType).toBe("t3.medium");
    expect((lt.iamInstanceProfile as Obj).arn).toBe("arn:aws:mock:us-east-1:000000000000:web-profile");
    expect(lt.vpcSecurityGroupIds).toEqual([expect.stringMatching(/^web-sg-id-/)]);
  });

  it("user data runs the image with the env and the CloudWatch agent, and fetches the secret from SSM instead of carrying it", () => {
    const script = userData("web-lt");
    expect(script).not.toContain(SECRET);
    expect(script).toContain("amazon-cloudwatch-agent-ctl");
    expect(script).toContain("mem_used_percent");
    expect(script).toContain("SCALEPLANE_CONFIG_ENDPOINTS=http://10.42.128.10:2379");
    expect(script).toContain("PORT=9000");
    expect(script).toContain("'registry.example/web:1.2.3'");
    expect(script).toContain("--with-decryption --name '/scaleplane/unit-aws/web/DB_PASSWORD'");
    expect(script).toContain("--lifecycle-hook-name 'web-drain'");
  });

  it("keeps the secret in one SecureString parameter that only this group's role may read", async () => {
    const p = rec.one(T.param, "web-secret-db-password").inputs;
    expect(p).toMatchObject({ name: "/scaleplane/unit-aws/web/DB_PASSWORD", type: "SecureString" });
    // Registered as a secret (the engine encrypts it in state).
    expect(p.value).toEqual({ [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig, value: SECRET });
    const read = JSON.parse(rec.one(T.rolePolicy, "web-read-secrets").inputs.policy as string);
    expect(read.Statement).toEqual([
      {
        Effect: "Allow",
        Action: ["ssm:GetParameter", "ssm:GetParameters"],
        Resource: ["arn:aws:mock:us-east-1:000000000000:web-secret-db-password"],
      },
    ]);
    expect(rec.ofType(T.param).filter((r) => r.name.startsWith("mix-"))).toEqual([]);
    // The value travels only into the parameter, and only as a secret.
    expect(whereFound(rec, rec.one(TOKENS.autoscalingGroup, "web").urn, SECRET)).toEqual({
      anywhere: ["web-secret-db-password.value"],
      inPlainText: [],
    });
  });

  it("instance role: CloudWatch agent and SSM core managed policies, EC2 trust, completion of its own lifecycle actions", () => {
    const role = JSON.parse(rec.one(T.role, "web-role").inputs.assumeRolePolicy as string);
    expect(role.Statement[0].Principal).toEqual({ Service: "ec2.amazonaws.com" });
    const arns = rec
      .ofType(T.attach)
      .filter((r) => r.name.startsWith("web-"))
      .map((r) => r.inputs.policyArn);
    expect(arns.sort()).toEqual([
      "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
      "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy",
    ]);
    const lifecycle = JSON.parse(rec.one(T.rolePolicy, "web-lifecycle").inputs.policy as string);
    expect(lifecycle.Statement[0]).toEqual({
      Effect: "Allow",
      Action: "autoscaling:CompleteLifecycleAction",
      Resource: "arn:aws:mock:us-east-1:000000000000:web-asg",
    });
    const role2 = children.get("web-role")!.resource as import("@pulumi/aws").iam.Role;
    expect(children.get("web-profile")!.props.role).toBe(role2.name);
    expect(children.get("web-cwagent")!.props.role).toBe(role2.name);
    expect(children.get("web-lifecycle")!.props.role).toBe(role2.id);
  });

  it("group: sizes, ELB health checks with grace, refresh keeping ≥ 90% healthy, launch template at its latest version", () => {
    const g = rec.one(T.asg, "web-asg").inputs;
    expect(g).toMatchObject({
      minSize: 2,
      maxSize: 8,
      desiredCapacity: 3,
      healthCheckType: "ELB",
      healthCheckGracePeriod: 90,
      vpcZoneIdentifiers: ["subnet-a", "subnet-b"],
    });
    expect(g.targetGroupArns).toEqual(["arn:aws:mock:us-east-1:000000000000:web-tg"]);
    expect(g.instanceRefresh).toMatchObject({ strategy: "Rolling", preferences: { minHealthyPercentage: 90 } });
    expect(g.launchTemplate).toEqual({ id: expect.stringMatching(/^web-lt-id-/), version: "1" });
    expect(g.mixedInstancesPolicy).toBeUndefined();
  });

  it("drains terminating instances through a lifecycle hook whose heartbeat is drainSeconds", () => {
    const hook = rec.one(T.hook, "web-drain").inputs;
    expect(hook).toMatchObject({
      name: "web-drain",
      lifecycleTransition: "autoscaling:EC2_INSTANCE_TERMINATING",
      heartbeatTimeout: 40,
      defaultResult: "CONTINUE",
    });
  });

  it("mixed instances: the policy replaces the plain launch template, on-demand base + price-capacity-optimized spot over the listed types", () => {
    const g = rec.one(T.asg, "mix-asg").inputs;
    expect(g.launchTemplate).toBeUndefined();
    const mip = g.mixedInstancesPolicy as Obj;
    expect(mip.instancesDistribution).toEqual({
      onDemandBaseCapacity: 1,
      onDemandPercentageAboveBaseCapacity: 20,
      onDemandAllocationStrategy: "prioritized",
      spotAllocationStrategy: "price-capacity-optimized",
    });
    expect(mip.launchTemplate).toEqual({
      launchTemplateSpecification: { launchTemplateId: expect.stringMatching(/^mix-lt-id-/), version: "1" },
      overrides: [{ instanceType: "m6i.large" }, { instanceType: "m5.large" }],
    });
    expect(g.desiredCapacity).toBe(1); // desiredSize unset: minSize
  });

  it("engine cost: the engine's mix is the group's mixed-instances policy (types weighted by capacity units, on-demand base, on-demand share above it, price-capacity-optimized spot); a pinned app.mixedInstances wins", () => {
    const g = rec.one(T.asg, "cheap-asg").inputs;
    expect(g.launchTemplate).toBeUndefined();
    expect(g.capacityRebalance).toBe(true);
    const mip = g.mixedInstancesPolicy as Obj;
    const dist = mip.instancesDistribution as Obj;
    expect(dist).toMatchObject({
      onDemandBaseCapacity: 1,
      onDemandAllocationStrategy: "prioritized",
      spotAllocationStrategy: "price-capacity-optimized",
    });
    expect(dist.onDemandPercentageAboveBaseCapacity as number).toBeGreaterThan(0);
    expect(dist.onDemandPercentageAboveBaseCapacity as number).toBeLessThan(100);
    const overrides = (mip.launchTemplate as Obj).overrides as Obj[];
    expect(overrides.length).toBeGreaterThanOrEqual(2);
    // Weights are the price table's capacity units; on-demand's cheapest unit (t3.small) comes first.
    expect(overrides[0]).toEqual({ instanceType: "t3.small", weightedCapacity: "1" });
    for (const o of overrides) expect(["t3.small", "t3.medium", "c5.large", "m5.large"]).toContain(o.instanceType);
    const pinned = rec.one(T.asg, "pinned-asg").inputs.mixedInstancesPolicy as Obj;
    expect(pinned.instancesDistribution).toMatchObject({
      onDemandBaseCapacity: 2,
      onDemandPercentageAboveBaseCapacity: 50,
    });
    expect((pinned.launchTemplate as Obj).overrides).toEqual([{ instanceType: "m6i.large" }]);
  });

  it("target-tracks CPU (ASGAverageCPUUtilization) and memory (CWAgent mem_used_percent per group)", () => {
    const cpu = rec.one(T.policy, "web-cpu").inputs;
    expect(cpu.policyType).toBe("TargetTrackingScaling");
    expect(cpu.targetTrackingConfiguration).toMatchObject({
      targetValue: 65,
      predefinedMetricSpecification: { predefinedMetricType: "ASGAverageCPUUtilization" },
    });
    const mem = rec.one(T.policy, "web-memory").inputs;
    expect(mem.targetTrackingConfiguration).toMatchObject({
      targetValue: 75,
      customizedMetricSpecification: {
        namespace: "CWAgent",
        metricName: "mem_used_percent",
        statistic: "Average",
        metricDimensions: [{ name: "AutoScalingGroupName" }],
      },
    });
    // Both policies, and the memory metric's dimension, name this group.
    const groupName = (children.get("web-asg")!.resource as import("@pulumi/aws").autoscaling.Group).name;
    const memProps = children.get("web-memory")!.props as {
      autoscalingGroupName: unknown;
      targetTrackingConfiguration: { customizedMetricSpecification: { metricDimensions: { value: unknown }[] } };
    };
    expect(children.get("web-cpu")!.props.autoscalingGroupName).toBe(groupName);
    expect(memProps.autoscalingGroupName).toBe(groupName);
    expect(memProps.targetTrackingConfiguration.customizedMetricSpecification.metricDimensions[0].value).toBe(
      groupName,
    );
    expect(children.get("web-drain")!.props.autoscalingGroupName).toBe(groupName);
    // Defaults: 70 / 80.
    expect((rec.one(T.policy, "mix-cpu").inputs.targetTrackingConfiguration as Obj).targetValue).toBe(70);
    expect((rec.one(T.policy, "mix-memory").inputs.targetTrackingConfiguration as Obj).targetValue).toBe(80);
  });

  it("load balancer: public subnets, target group health on the app path, deregistration delay = drainSeconds, HTTPS listener, HTTP only redirects", () => {
    const alb = rec.one(T.alb, "web-alb").inputs;
    expect(alb).toMatchObject({
      loadBalancerType: "application",
      internal: false,
      subnets: ["pub-a", "pub-b"],
      enableDeletionProtection: true,
    });
    const tg = rec.one(T.tg, "web-tg").inputs;
    expect(tg).toMatchObject({ port: 9000, protocol: "HTTP", vpcId: "vpc-1", deregistrationDelay: 40 });
    expect(tg.healthCheck).toMatchObject({ path: "/healthz", matcher: "200", enabled: true });
    const https = rec.one(T.listener, "web-https").inputs;
    expect(https).toMatchObject({
      port: 443,
      protocol: "HTTPS",
      certificateArn: CERT,
      sslPolicy: "ELBSecurityPolicy-TLS13-1-3-2021-06",
      defaultActions: [{ type: "forward", targetGroupArn: "arn:aws:mock:us-east-1:000000000000:web-tg" }],
    });
    const http = rec.one(T.listener, "web-http").inputs;
    expect(http).toMatchObject({
      port: 80,
      protocol: "HTTP",
      defaultActions: [{ type: "redirect", redirect: { protocol: "HTTPS", port: "443", statusCode: "HTTP_301" } }],
    });
    // A certificate was given: nothing self-signed is created for web.
    expect(rec.resources.filter((r) => r.name.startsWith("web-lb-"))).toEqual([]);
  });

  it("access logs: an SSE-S3 bucket with public access blocked, a retention rule and a policy letting only ELB write below the prefix", () => {
    const alb = rec.one(T.alb, "web-alb").inputs;
    expect(alb.accessLogs).toMatchObject({ enabled: true, prefix: "web" });
    const after = childOptions.get("web-alb")?.dependsOn as import("@pulumi/pulumi").Resource[];
    expect(after).toHaveLength(1);
    expect((after[0] as unknown as { __pulumiType: string }).__pulumiType).toBe("aws:s3/bucketPolicy:BucketPolicy");
    expect(
      rec.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "web-alb-logs")
        .inputs.rules,
    ).toEqual([{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }]);
    expect(rec.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "web-alb-logs").inputs).toMatchObject({
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    expect(
      rec.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "web-alb-logs").inputs.rules,
    ).toEqual([{ id: "expire-access-logs", status: "Enabled", filter: { prefix: "web/" }, expiration: { days: 30 } }]);
    const policy = JSON.parse(rec.one("aws:s3/bucketPolicy:BucketPolicy", "web-alb-logs").inputs.policy as string);
    expect(policy.Statement[0]).toMatchObject({
      Effect: "Allow",
      Principal: { AWS: "arn:aws:iam::127311923021:root" },
      Action: "s3:PutObject",
    });
    expect(policy.Statement[0].Resource).toMatch(/\/web\/AWSLogs\/\*$/);
    expect(policy.Statement[1]).toMatchObject({
      Effect: "Deny",
      Condition: { Bool: { "aws:SecureTransport": "false" } },
    });
    expect(rec.one("aws:s3/bucket:Bucket", "web-alb-logs").inputs.forceDestroy).toBe(false);
  });

  it("without a certificate (outside prod) imports a self-signed one; no access logs, no deletion protection by default", () => {
    const https = rec.one(T.listener, "mix-https").inputs;
    expect(https).toMatchObject({ protocol: "HTTPS", sslPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06" });
    // The imported key stays a secret (the Pulumi secret signature), never plain state.
    expect(rec.one("aws:acm/certificate:Certificate", "mix-lb-cert").inputs.privateKey).toMatchObject({
      "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
    });
    expect(rec.one("tls:index/selfSignedCert:SelfSignedCert", "mix-lb-cert").inputs.allowedUses).toContain(
      "server_auth",
    );
    const alb = rec.one(T.alb, "mix-alb").inputs;
    expect(alb.enableDeletionProtection).toBe(false);
    expect(alb.accessLogs).toBeUndefined();
    expect(rec.resources.filter((r) => r.name === "mix-alb-logs")).toEqual([]);
  });

  it("security groups: ingressCidrs → ALB:80 and :443; the app port only from the ALB's group; nothing else in", () => {
    const albSgId = (rec.one(T.alb, "web-alb").inputs.securityGroups as string[])[0];
    expect(albSgId).toMatch(/^web-alb-sg-id-/);
    const webIngress = rec.ofType(T.ingress).filter((r) => r.name.startsWith("web-"));
    const toAlb = webIngress.filter((r) => r.inputs.securityGroupId === albSgId);
    expect(toAlb.map((r) => [r.inputs.fromPort, r.inputs.toPort, r.inputs.cidrIpv4 ?? r.inputs.cidrIpv6])).toEqual([
      [80, 80, "203.0.113.0/24"],
      [443, 443, "203.0.113.0/24"],
      [80, 80, "2001:db8::/32"],
      [443, 443, "2001:db8::/32"],
    ]);
    const instanceSg = rec.one(T.sg, "web-sg");
    const toApp = webIngress.filter((r) => r.inputs.securityGroupId !== albSgId);
    expect(toApp).toHaveLength(1);
    expect(toApp[0].inputs).toMatchObject({
      securityGroupId: expect.stringMatching(/^web-sg-id-/),
      fromPort: 9000,
      toPort: 9000,
      referencedSecurityGroupId: albSgId,
    });
    expect(toApp[0].inputs.cidrIpv4).toBeUndefined();
    expect(instanceSg.inputs.ingress ?? []).toEqual([]);
    const albOut = rec.one(T.egress, "web-alb-to-app").inputs;
    expect(albOut).toMatchObject({
      securityGroupId: albSgId,
      fromPort: 9000,
      toPort: 9000,
      referencedSecurityGroupId: expect.stringMatching(/^web-sg-id-/),
    });
  });

  it("uses the given instance security group instead of creating one, opening the app port on it from the ALB only", async () => {
    expect(
      rec
        .ofType(T.sg)
        .map((r) => r.name)
        .filter((n) => /^(mix|web)-/.test(n))
        .sort(),
    ).toEqual(["mix-alb-sg", "web-alb-sg", "web-sg"]);
    expect(rec.one(T.lt, "mix-lt").inputs.vpcSecurityGroupIds).toEqual(["sg-platform-app"]);
    const rule = rec.one(T.ingress, "mix-app-from-alb").inputs;
    expect(rule).toMatchObject({
      securityGroupId: "sg-platform-app",
      fromPort: 8080,
      toPort: 8080,
      referencedSecurityGroupId: expect.stringMatching(/^mix-alb-sg-id-/),
    });
    expect(rec.one(T.ingress, "mix-alb-http-0").inputs.cidrIpv4).toBe("0.0.0.0/0"); // default ingressCidrs
  });

  it("publishes the ALB URL, the instance security group and the initial size", async () => {
    expect(await valueOf(web.endpoints)).toEqual(["https://web-alb.elb.mock.amazonaws.com"]);
    expect(await valueOf(web.securityGroupId)).toMatch(/^web-sg-id-/);
    expect(await valueOf(web.instanceCount)).toBe(3);
  });

  it("leaves desiredCapacity to the scaling policies after creation (ignoreChanges on the group only)", () => {
    expect(childOptions.get("web-asg")?.ignoreChanges).toEqual(["desiredCapacity"]);
    expect(childOptions.get("web-lt")?.ignoreChanges).toBeUndefined();
  });
});

describe("AutoscalingGroup on aws: engines", () => {
  it("the predictive engine adds AWS predictive scaling (forecast-only selectable, buffered by the warm-up) beside target tracking", () => {
    const p = rec.one(T.policy, "pred-predictive").inputs;
    expect(p).toMatchObject({
      policyType: "PredictiveScaling",
      predictiveScalingConfiguration: {
        mode: "ForecastOnly",
        schedulingBufferTime: "240",
        maxCapacityBreachBehavior: "HonorMaxCapacity",
        metricSpecification: {
          targetValue: 70,
          predefinedMetricPairSpecification: { predefinedMetricType: "ASGCPUUtilization" },
        },
      },
    });
    expect(
      rec
        .ofType(T.policy)
        .filter((r) => r.name.startsWith("pred-"))
        .map((r) => r.name)
        .sort(),
    ).toEqual(["pred-cpu", "pred-memory", "pred-predictive"]);
  });
  it("other engines keep target tracking only", () => {
    expect(
      rec
        .ofType(T.policy)
        .filter((r) => r.inputs.policyType === "PredictiveScaling")
        .map((r) => r.name),
    ).toEqual(["pred-predictive"]);
  });
  it("refuses bad engine settings naming the field", () => {
    expect(
      errorKeys(
        () =>
          new AutoscalingGroup("bad-e1", {
            target: "aws",
            app: { scaling: { engine: "predictive", engineSettings: { predictive: { warmupSeconds: -1 } } } },
            aws: network,
          }),
      ),
    ).toEqual(["app.scaling.engineSettings.predictive.warmupSeconds"]);
    expect(
      errorKeys(
        () =>
          new AutoscalingGroup("bad-e2", {
            target: "aws",
            app: { scaling: { engineSettings: { metrics: ["cpu", "disk"] } } },
            aws: network,
          }),
      ),
    ).toEqual(["app.scaling.engineSettings.metrics[1]"]);
  });
});

describe("AutoscalingGroup argument validation (aws)", () => {
  it("names the missing aws block", () => {
    // @ts-expect-error -- the type requires the target's block; a JavaScript caller gets the ConfigError
    expect(errorKeys(() => new AutoscalingGroup("no-aws", { target: "aws", app: {} }))).toEqual(["aws"]);
  });

  it("names bad app fields, ALB subnets and ingress CIDRs", () => {
    expect(
      errorKeys(() => new AutoscalingGroup("bad-1", { target: "aws", app: { minSize: 5, maxSize: 2 }, aws: network })),
    ).toEqual(["app.maxSize"]);
    expect(
      errorKeys(() => new AutoscalingGroup("bad-2", { target: "aws", app: { minSize: -1 }, aws: network })),
    ).toEqual(["app.minSize"]);
    expect(
      errorKeys(
        () =>
          new AutoscalingGroup("bad-3", { target: "aws", app: {}, aws: { ...network, publicSubnetIds: ["pub-a"] } }),
      ),
    ).toEqual(["aws.publicSubnetIds"]);
    expect(
      errorKeys(
        () =>
          new AutoscalingGroup("bad-4", { target: "aws", app: {}, aws: { ...network, ingressCidrs: ["everyone"] } }),
      ),
    ).toEqual(["aws.ingressCidrs[0]"]);
    expect(
      errorKeys(() => new AutoscalingGroup("bad-5", { target: "aws", app: {}, env: { PORT: "1" }, aws: network })),
    ).toEqual(["env.PORT"]);
    expect(
      errorKeys(() => new AutoscalingGroup("bad-6", { target: "aws", environment: "prod", app: {}, aws: network })),
    ).toEqual(["aws.loadBalancer.certificateArn"]);
    expect(
      errorKeys(
        () =>
          new AutoscalingGroup("bad-7", {
            target: "aws",
            app: {},
            aws: { ...network, loadBalancer: { sslPolicy: "TLS-please", deletionProtection: false } },
          }),
      ),
    ).toEqual(["aws.loadBalancer.sslPolicy"]);
  });

  it("creates nothing for a rejected group", async () => {
    await settle();
    expect(rec.resources.filter((r) => r.name.startsWith("bad-") || r.name.startsWith("no-aws"))).toEqual([]);
  });
});

describe("AutoscalingGroup on aws: the children a user extends", () => {
  it("exposes the load balancer, target group, listener, launch template, group and role; nothing of other targets", () => {
    expect(web.loadBalancer).toBeDefined();
    expect(web.targetGroup).toBeDefined();
    expect(web.listener).toBeDefined();
    expect(web.redirectListener).toBeDefined();
    expect(web.accessLogBucket).toBeDefined();
    expect(web.launchTemplate).toBeDefined();
    expect(web.autoScalingGroup).toBeDefined();
    expect(web.instanceRole).toBeDefined();
    expect([web.deployment, web.service, web.hpa, web.network, web.containers]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });
});
