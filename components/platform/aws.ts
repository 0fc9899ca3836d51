/**
 * The Platform's AWS pieces: the provider a program hands it (region, default tags, and the
 * LocalStack endpoints when `aws.endpoint` is set), and the foundation the three components share
 * (the network, or the existing one from config, and the app's security group that the config
 * service and the database admit).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { PlatformConfig } from "../../core/config";
import { createAwsNetwork, type AwsNetwork, type CreatedAwsNetwork } from "../network";

/** Services the LocalStack endpoint serves (every service the platform uses). */
const LOCALSTACK_SERVICES = ["autoscaling", "cloudwatch", "ec2", "elbv2", "iam", "rds", "ssm", "sts", "kms"];

/** Resource tags every AWS resource of the platform carries (the provider's default tags). */
export const platformTags = (name: string, cfg: Pick<PlatformConfig, "environment">): Record<string, string> => ({
  "scaleplane:platform": name,
  "scaleplane:environment": cfg.environment,
});

/**
 * An AWS provider `${name}-aws` for a platform named `name`: the configured region and the
 * platform's default tags; with `aws.endpoint` set (LocalStack) every service goes to that endpoint
 * and credential/account checks are skipped. The program (index.ts) creates it and passes it to
 * the Platform as `providers: { aws }`; a caller with its own provider passes that instead.
 */
export function createPlatformAwsProvider(
  name: string,
  cfg: PlatformConfig,
  opts?: pulumi.CustomResourceOptions,
): aws.Provider {
  const endpoint = cfg.aws.endpoint;
  return new aws.Provider(
    `${name}-aws`,
    {
      region: cfg.aws.region as aws.Region,
      defaultTags: { tags: platformTags(name, cfg) },
      ...(endpoint
        ? {
            accessKey: "test",
            secretKey: pulumi.secret("test"),
            skipCredentialsValidation: true,
            skipRequestingAccountId: true,
            skipMetadataApiCheck: true,
            skipRegionValidation: true,
            s3UsePathStyle: true,
            endpoints: [Object.fromEntries(LOCALSTACK_SERVICES.map((s) => [s, endpoint]))],
          }
        : {}),
    },
    opts,
  );
}

/** What the Platform builds on AWS before its components. */
export interface AwsFoundation {
  network: AwsNetwork;
  /** The network when created here (undefined with `aws.existingNetwork`). */
  createdNetwork?: CreatedAwsNetwork;
  /** The group the app instances carry; the config service and the database admit only it. */
  appSecurityGroup: aws.ec2.SecurityGroup;
}

/** Creates the network (unless an existing one is configured) and the app security group under `parent`. */
export function createAwsFoundation(name: string, cfg: PlatformConfig, parent: pulumi.Resource): AwsFoundation {
  const existing = cfg.aws.existingNetwork;
  let network: AwsNetwork;
  let createdNetwork: CreatedAwsNetwork | undefined;
  if (existing)
    network = {
      vpcId: existing.vpcId,
      publicSubnetIds: existing.publicSubnetIds,
      privateSubnets: existing.privateSubnets,
    };
  else
    network = createdNetwork = createAwsNetwork(
      name,
      { vpcCidr: cfg.aws.vpcCidr, zones: cfg.aws.zones, tags: platformTags(name, cfg) },
      parent,
    );
  const appSecurityGroup = new aws.ec2.SecurityGroup(
    `${name}-app-sg`,
    {
      vpcId: network.vpcId,
      description: `${name} app instances`,
      egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"], description: "outbound" }],
    },
    { parent },
  );
  return { network, createdNetwork, appSecurityGroup };
}
