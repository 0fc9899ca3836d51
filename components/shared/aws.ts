/** AWS helpers shared by the components' AWS builders. */
import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";

/** The trust policy of an EC2 instance role. */
export const EC2_ASSUME_ROLE_POLICY = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
});

/** An EC2 instance role and its instance profile. */
export interface Ec2InstanceRole {
  role: aws.iam.Role;
  profile: aws.iam.InstanceProfile;
}

/**
 * Creates `${name}-role` (assumable by EC2 only) and its instance profile `${name}-profile`.
 * `beforeProfile` runs between the two, so callers can attach policies in the order the
 * resources were always registered.
 */
export function createEc2InstanceRole(
  name: string,
  tags: Record<string, string>,
  opts: pulumi.CustomResourceOptions,
  beforeProfile: (role: aws.iam.Role) => void = () => undefined,
): Ec2InstanceRole {
  const role = new aws.iam.Role(`${name}-role`, { assumeRolePolicy: EC2_ASSUME_ROLE_POLICY, tags }, opts);
  beforeProfile(role);
  const profile = new aws.iam.InstanceProfile(`${name}-profile`, { role: role.name, tags }, opts);
  return { role, profile };
}
