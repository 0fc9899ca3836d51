/** AutoscalingGroup on target aws, under the offline mock runtime (invokes throw). */
import { installMocks, settle, valueOf } from "../../scripts/lib/offline";
// Shared unit-test helpers (they create no resources, so importing them before installMocks is fine).
import { errorKeys, whereFound } from "../support/inputs";

const rec = installMocks({ stack: "unit-aws" });
const { AutoscalingGroup } = require("../../components/autoscaling-group") as typeof import("../../components/autoscaling-group");
const pulumi = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");

const SECRET = "s3cr3t-db-password-value";
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
const web = new AutoscalingGroup("web", {
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
  aws: { ...network, ingressCidrs: ["203.0.113.0/24", "2001:db8::/32"] },
}, { transformations: [captureOptions] });

// Mixed instances, on the Platform's security group.
new AutoscalingGroup("mix", {
  target: "aws",
  app: { name: "mix", minSize: 1, maxSize: 4, mixedInstances: { instanceTypes: ["m6i.large", "m5.large"], onDemandBaseCapacity: 1, onDemandPercentageAboveBase: 20 } },
  aws: { ...network, instanceSecurityGroupId: "sg-platform-app" },
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
const userData = (name: string) => Buffer.from(rec.one(T.lt, name).inputs.userData as string, "base64").toString("utf8");

beforeAll(settle);

describe("AutoscalingGroup on aws", () => {
  it("registers the component with its type token under which every child sits", () => {
    const comp = rec.one("scaleplane:autoscaling:AutoscalingGroup", "web");
    expect(comp.inputs).toMatchObject({ target: "aws", environment: "prod", app: { minSize: 2 } });
    for (const [type, name] of [[T.asg, "web-asg"], [T.lt, "web-lt"], [T.hook, "web-drain"], [T.tg, "web-tg"], [T.alb, "web-alb"], [T.listener, "web-http"], [T.role, "web-role"]])
      expect(rec.parentOf(rec.one(type, name))?.urn).toBe(comp.urn);
  });

  it("launch template: IMDSv2 required, AL2023 via resolve:ssm (no invoke), the instance type, profile and group", () => {
    const lt = rec.one(T.lt, "web-lt").inputs;
    expect(lt.metadataOptions).toMatchObject({ httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 });
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
    expect(read.Statement).toEqual([{ Effect: "Allow", Action: ["ssm:GetParameter", "ssm:GetParameters"], Resource: ["arn:aws:mock:us-east-1:000000000000:web-secret-db-password"] }]);
    expect(rec.ofType(T.param).filter((r) => r.name.startsWith("mix-"))).toEqual([]);
    // The value travels only into the parameter, and only as a secret.
    expect(whereFound(rec, rec.one("scaleplane:autoscaling:AutoscalingGroup", "web").urn, SECRET)).toEqual({ anywhere: ["web-secret-db-password.value"], inPlainText: [] });
  });

  it("instance role: CloudWatch agent and SSM core managed policies, EC2 trust, completion of its own lifecycle actions", () => {
    const role = JSON.parse(rec.one(T.role, "web-role").inputs.assumeRolePolicy as string);
    expect(role.Statement[0].Principal).toEqual({ Service: "ec2.amazonaws.com" });
    const arns = rec.ofType(T.attach).filter((r) => r.name.startsWith("web-")).map((r) => r.inputs.policyArn);
    expect(arns.sort()).toEqual(["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore", "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"]);
    const lifecycle = JSON.parse(rec.one(T.rolePolicy, "web-lifecycle").inputs.policy as string);
    expect(lifecycle.Statement[0]).toEqual({ Effect: "Allow", Action: "autoscaling:CompleteLifecycleAction", Resource: "arn:aws:mock:us-east-1:000000000000:web-asg" });
    const role2 = children.get("web-role")!.resource as import("@pulumi/aws").iam.Role;
    expect(children.get("web-profile")!.props.role).toBe(role2.name);
    expect(children.get("web-cwagent")!.props.role).toBe(role2.name);
    expect(children.get("web-lifecycle")!.props.role).toBe(role2.id);
  });

  it("group: sizes, ELB health checks with grace, refresh keeping ≥ 90% healthy, launch template at its latest version", () => {
    const g = rec.one(T.asg, "web-asg").inputs;
    expect(g).toMatchObject({ minSize: 2, maxSize: 8, desiredCapacity: 3, healthCheckType: "ELB", healthCheckGracePeriod: 90, vpcZoneIdentifiers: ["subnet-a", "subnet-b"] });
    expect(g.targetGroupArns).toEqual(["arn:aws:mock:us-east-1:000000000000:web-tg"]);
    expect(g.instanceRefresh).toMatchObject({ strategy: "Rolling", preferences: { minHealthyPercentage: 90 } });
    expect(g.launchTemplate).toEqual({ id: expect.stringMatching(/^web-lt-id-/), version: "1" });
    expect(g.mixedInstancesPolicy).toBeUndefined();
  });

  it("drains terminating instances through a lifecycle hook whose heartbeat is drainSeconds", () => {
    const hook = rec.one(T.hook, "web-drain").inputs;
    expect(hook).toMatchObject({ name: "web-drain", lifecycleTransition: "autoscaling:EC2_INSTANCE_TERMINATING", heartbeatTimeout: 40, defaultResult: "CONTINUE" });
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

  it("target-tracks CPU (ASGAverageCPUUtilization) and memory (CWAgent mem_used_percent per group)", () => {
    const cpu = rec.one(T.policy, "web-cpu").inputs;
    expect(cpu.policyType).toBe("TargetTrackingScaling");
    expect(cpu.targetTrackingConfiguration).toMatchObject({ targetValue: 65, predefinedMetricSpecification: { predefinedMetricType: "ASGAverageCPUUtilization" } });
    const mem = rec.one(T.policy, "web-memory").inputs;
    expect(mem.targetTrackingConfiguration).toMatchObject({
      targetValue: 75,
      customizedMetricSpecification: { namespace: "CWAgent", metricName: "mem_used_percent", statistic: "Average", metricDimensions: [{ name: "AutoScalingGroupName" }] },
    });
    // Both policies, and the memory metric's dimension, name this group.
    const groupName = (children.get("web-asg")!.resource as import("@pulumi/aws").autoscaling.Group).name;
    const memProps = children.get("web-memory")!.props as { autoscalingGroupName: unknown; targetTrackingConfiguration: { customizedMetricSpecification: { metricDimensions: { value: unknown }[] } } };
    expect(children.get("web-cpu")!.props.autoscalingGroupName).toBe(groupName);
    expect(memProps.autoscalingGroupName).toBe(groupName);
    expect(memProps.targetTrackingConfiguration.customizedMetricSpecification.metricDimensions[0].value).toBe(groupName);
    expect(children.get("web-drain")!.props.autoscalingGroupName).toBe(groupName);
    // Defaults: 70 / 80.
    expect((rec.one(T.policy, "mix-cpu").inputs.targetTrackingConfiguration as Obj).targetValue).toBe(70);
    expect((rec.one(T.policy, "mix-memory").inputs.targetTrackingConfiguration as Obj).targetValue).toBe(80);
  });

  it("load balancer: public subnets, target group health on the app path, deregistration delay = drainSeconds, HTTP listener", () => {
    const alb = rec.one(T.alb, "web-alb").inputs;
    expect(alb).toMatchObject({ loadBalancerType: "application", internal: false, subnets: ["pub-a", "pub-b"] });
    const tg = rec.one(T.tg, "web-tg").inputs;
    expect(tg).toMatchObject({ port: 9000, protocol: "HTTP", vpcId: "vpc-1", deregistrationDelay: 40 });
    expect(tg.healthCheck).toMatchObject({ path: "/healthz", matcher: "200", enabled: true });
    const l = rec.one(T.listener, "web-http").inputs;
    expect(l).toMatchObject({ port: 80, protocol: "HTTP", defaultActions: [{ type: "forward", targetGroupArn: "arn:aws:mock:us-east-1:000000000000:web-tg" }] });
  });

  it("security groups: ingressCidrs → ALB:80; the app port only from the ALB's group; nothing else in", () => {
    const albSgId = (rec.one(T.alb, "web-alb").inputs.securityGroups as string[])[0];
    expect(albSgId).toMatch(/^web-alb-sg-id-/);
    const webIngress = rec.ofType(T.ingress).filter((r) => r.name.startsWith("web-"));
    const toAlb = webIngress.filter((r) => r.inputs.securityGroupId === albSgId);
    expect(toAlb.map((r) => [r.inputs.fromPort, r.inputs.toPort, r.inputs.cidrIpv4 ?? r.inputs.cidrIpv6])).toEqual([
      [80, 80, "203.0.113.0/24"],
      [80, 80, "2001:db8::/32"],
    ]);
    const instanceSg = rec.one(T.sg, "web-sg");
    const toApp = webIngress.filter((r) => r.inputs.securityGroupId !== albSgId);
    expect(toApp).toHaveLength(1);
    expect(toApp[0].inputs).toMatchObject({ securityGroupId: expect.stringMatching(/^web-sg-id-/), fromPort: 9000, toPort: 9000, referencedSecurityGroupId: albSgId });
    expect(toApp[0].inputs.cidrIpv4).toBeUndefined();
    expect(instanceSg.inputs.ingress ?? []).toEqual([]);
    const albOut = rec.one(T.egress, "web-alb-to-app").inputs;
    expect(albOut).toMatchObject({ securityGroupId: albSgId, fromPort: 9000, toPort: 9000, referencedSecurityGroupId: expect.stringMatching(/^web-sg-id-/) });
  });

  it("uses the given instance security group instead of creating one, opening the app port on it from the ALB only", async () => {
    expect(rec.ofType(T.sg).map((r) => r.name).sort()).toEqual(["mix-alb-sg", "web-alb-sg", "web-sg"]);
    expect(rec.one(T.lt, "mix-lt").inputs.vpcSecurityGroupIds).toEqual(["sg-platform-app"]);
    const rule = rec.one(T.ingress, "mix-app-from-alb").inputs;
    expect(rule).toMatchObject({ securityGroupId: "sg-platform-app", fromPort: 8080, toPort: 8080, referencedSecurityGroupId: expect.stringMatching(/^mix-alb-sg-id-/) });
    expect(rec.one(T.ingress, "mix-alb-http-0").inputs.cidrIpv4).toBe("0.0.0.0/0"); // default ingressCidrs
  });

  it("publishes the ALB URL, the instance security group and the initial size", async () => {
    expect(await valueOf(web.endpoints)).toEqual(["http://web-alb.elb.mock.amazonaws.com"]);
    expect(await valueOf(web.securityGroupId)).toMatch(/^web-sg-id-/);
    expect(await valueOf(web.instanceCount)).toBe(3);
  });

  it("leaves desiredCapacity to the scaling policies after creation (ignoreChanges on the group only)", () => {
    expect(childOptions.get("web-asg")?.ignoreChanges).toEqual(["desiredCapacity"]);
    expect(childOptions.get("web-lt")?.ignoreChanges).toBeUndefined();
  });
});

describe("AutoscalingGroup argument validation (aws)", () => {

  it("names the missing aws block", () => {
    expect(errorKeys(() => new AutoscalingGroup("no-aws", { target: "aws", app: {} }))).toEqual(["aws"]);
  });

  it("names bad app fields, ALB subnets and ingress CIDRs", () => {
    expect(errorKeys(() => new AutoscalingGroup("bad-1", { target: "aws", app: { minSize: 5, maxSize: 2 }, aws: network }))).toEqual(["app.maxSize"]);
    expect(errorKeys(() => new AutoscalingGroup("bad-2", { target: "aws", app: { minSize: -1 }, aws: network }))).toEqual(["app.minSize"]);
    expect(errorKeys(() => new AutoscalingGroup("bad-3", { target: "aws", app: {}, aws: { ...network, publicSubnetIds: ["pub-a"] } }))).toEqual(["aws.publicSubnetIds"]);
    expect(errorKeys(() => new AutoscalingGroup("bad-4", { target: "aws", app: {}, aws: { ...network, ingressCidrs: ["everyone"] } }))).toEqual(["aws.ingressCidrs[0]"]);
    expect(errorKeys(() => new AutoscalingGroup("bad-5", { target: "aws", app: {}, env: { PORT: "1" }, aws: network }))).toEqual(["env.PORT"]);
  });

  it("creates nothing for a rejected group", async () => {
    await settle();
    expect(rec.resources.filter((r) => r.name.startsWith("bad-") || r.name.startsWith("no-aws"))).toEqual([]);
  });
});
