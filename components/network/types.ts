import type * as pulumi from "@pulumi/pulumi";

/** A private subnet: its id, plus its CIDR and zone as plain strings (so fixed IPs can be computed purely). */
export interface AwsSubnet {
  id: pulumi.Input<string>;
  cidr: string;
  zone: string;
}
