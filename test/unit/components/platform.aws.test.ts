/** Platform on aws: network, provider and security wiring (offline mock runtime). */
import { Platform, createPlatformAwsProvider } from "../../../components/platform";
import { parsePlatformConfig, type PlatformConfigInput } from "../../../core/config";
import { installMocks, settle } from "../../../scripts/lib/offline";

const rec = installMocks({ stack: "unit-platform-aws" });

const config: PlatformConfigInput = {
  target: "aws",
  environment: "prod",
  aws: {
    zones: ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
    region: "eu-west-1",
    endpoint: "http://localhost:4566",
    loadBalancer: { certificateArn: "arn:aws:acm:eu-west-1:000000000000:certificate/unit-test" },
  },
  configService: { members: 3 },
  database: { shards: 3, replicationFactor: 3, consistency: "quorum" },
};
// The provider as the program (index.ts) builds it, handed over as a resource option.
const aws = createPlatformAwsProvider("sp", parsePlatformConfig(config));
const platform = new Platform("sp", { config }, { providers: { aws } });

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const SG = "aws:ec2/securityGroup:SecurityGroup";

beforeAll(settle);

describe("Platform on aws", () => {
  it("creates a VPC with a public and a private subnet per zone", () => {
    const subnets = rec.ofType("aws:ec2/subnet:Subnet");
    expect(subnets.map((s) => [s.inputs.availabilityZone, (s.inputs.tags as Obj).tier]).sort()).toEqual(
      ["eu-west-1a", "eu-west-1b", "eu-west-1c"].flatMap((z) => [
        [z, "private"],
        [z, "public"],
      ]),
    );
    expect(rec.one("aws:ec2/natGateway:NatGateway")).toBeDefined();
  });

  it("points an explicit provider at the LocalStack endpoint with credential checks skipped", () => {
    const p = rec.one("pulumi:providers:aws").inputs;
    expect(p.region).toBe("eu-west-1");
    expect(p.skipCredentialsValidation).toBe("true");
    expect(p.skipRequestingAccountId).toBe("true");
    const endpoints = JSON.parse(p.endpoints as string) as Obj[];
    expect(endpoints[0].rds).toBe("http://localhost:4566");
    expect(endpoints[0].ec2).toBe("http://localhost:4566");
    // Every AWS resource goes through that provider: the Platform keeps the caller's provider.
    for (const r of rec.resources.filter((x) => x.type.startsWith("aws:")))
      expect(r.provider).toMatch(/pulumi:providers:aws::sp-aws::/);
    expect(rec.ofType("pulumi:providers:aws")).toHaveLength(1);
  });

  it("exposes the network and the app security group", () => {
    expect(platform.vpc).toBeDefined();
    expect(platform.appSecurityGroup).toBeDefined();
    expect(platform.network?.privateSubnets).toHaveLength(3);
    expect(platform.namespace).toBeUndefined();
  });

  it("admits only the app's security group to the etcd client port and the database port", () => {
    const appSg = rec.one(SG, "sp-app-sg");
    const appSgId = `${appSg.name}-id`;
    const ingressFrom = (name: string, port: number) =>
      ((rec.one(SG, name).inputs.ingress ?? []) as Obj[]).filter((r) => r.fromPort <= port && port <= r.toPort);
    for (const [name, port] of [
      ["sp-config-sg", 2379],
      ["sp-db-sg", 5432],
    ] as const) {
      const rules = ingressFrom(name, port);
      expect(rules.length).toBeGreaterThan(0);
      for (const r of rules) {
        expect(r.cidrBlocks ?? []).toEqual([]);
        expect(r.securityGroups ?? [r.self ? "self" : undefined]).toEqual(
          expect.arrayContaining([expect.stringMatching(new RegExp(`^${appSgId}|^sp-config-sg|self`))]),
        );
      }
      expect(rules.some((r) => (r.securityGroups ?? []).some((g: string) => g.startsWith(appSgId)))).toBe(true);
    }
    const lt = rec.one("aws:ec2/launchTemplate:LaunchTemplate", "sp-app-lt").inputs;
    const ltGroups = JSON.stringify(lt.vpcSecurityGroupIds ?? lt.networkInterfaces);
    expect(ltGroups).toContain(appSgId);
  });
});
