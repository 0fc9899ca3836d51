/** The AWS network of a platform (aws.ts) and the subnet shape the components take (types.ts). */
export { createAwsNetwork, type AwsNetwork, type CreatedAwsNetwork } from "./aws";
export type { AwsSubnet } from "./types";
