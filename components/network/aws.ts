/**
 * The AWS network a platform runs in: a VPC with one public and one private subnet per zone, an
 * internet gateway for the public subnets and a NAT gateway for the private ones. Layout from
 * core/net.ts.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { layoutSubnets } from "../../core/net";
import type { AwsSubnet } from "./types";

export interface AwsNetwork {
  vpcId: pulumi.Input<string>;
  publicSubnetIds: pulumi.Input<string>[];
  /** Private subnets with their CIDR and zone (fixed member IPs are computed from them). */
  privateSubnets: AwsSubnet[];
}

/** The network created by {@link createAwsNetwork}: the shape above plus the resources to extend. */
export interface CreatedAwsNetwork extends AwsNetwork {
  vpc: aws.ec2.Vpc;
  natGateway: aws.ec2.NatGateway;
}

/** Creates the network under `parent` (the AWS provider comes from the parent). */
export function createAwsNetwork(
  name: string,
  args: { vpcCidr: string; zones: string[]; tags: Record<string, string> },
  parent: pulumi.Resource,
): CreatedAwsNetwork {
  const opts = { parent };
  const tags = (suffix: string) => ({ ...args.tags, Name: `${name}-${suffix}` });
  const vpc = new aws.ec2.Vpc(
    `${name}-vpc`,
    { cidrBlock: args.vpcCidr, enableDnsHostnames: true, enableDnsSupport: true, tags: tags("vpc") },
    opts,
  );
  const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags: tags("igw") }, opts);
  const publicRt = new aws.ec2.RouteTable(
    `${name}-public-rt`,
    { vpcId: vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }], tags: tags("public") },
    opts,
  );

  const layout = layoutSubnets(args.vpcCidr, args.zones);
  const publics = layout.map((z, i) => {
    const subnet = new aws.ec2.Subnet(
      `${name}-public-${i}`,
      {
        vpcId: vpc.id,
        cidrBlock: z.publicCidr,
        availabilityZone: z.zone,
        mapPublicIpOnLaunch: false,
        tags: { ...tags(`public-${z.zone}`), tier: "public" },
      },
      opts,
    );
    new aws.ec2.RouteTableAssociation(`${name}-public-${i}`, { subnetId: subnet.id, routeTableId: publicRt.id }, opts);
    return subnet;
  });

  // One NAT gateway (in the first zone) for the private subnets' egress (package installs, image pulls).
  const eip = new aws.ec2.Eip(`${name}-nat`, { domain: "vpc", tags: tags("nat") }, opts);
  const nat = new aws.ec2.NatGateway(
    `${name}-nat`,
    { allocationId: eip.id, subnetId: publics[0].id, tags: tags("nat") },
    { ...opts, dependsOn: [igw] },
  );
  const privateRt = new aws.ec2.RouteTable(
    `${name}-private-rt`,
    { vpcId: vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", natGatewayId: nat.id }], tags: tags("private") },
    opts,
  );

  const privateSubnets = layout.map((z, i) => {
    const subnet = new aws.ec2.Subnet(
      `${name}-private-${i}`,
      {
        vpcId: vpc.id,
        cidrBlock: z.privateCidr,
        availabilityZone: z.zone,
        tags: { ...tags(`private-${z.zone}`), tier: "private" },
      },
      opts,
    );
    new aws.ec2.RouteTableAssociation(
      `${name}-private-${i}`,
      { subnetId: subnet.id, routeTableId: privateRt.id },
      opts,
    );
    return { id: subnet.id, cidr: z.privateCidr, zone: z.zone };
  });
  return { vpcId: vpc.id, publicSubnetIds: publics.map((s) => s.id), privateSubnets, vpc, natGateway: nat };
}
