/**
 * Shared vocabulary of the scaleplane-guard policies, one module per seam: resource type tokens
 * (types.ts), policy config with defaults (config.ts), property readers (props.ts), ports and CIDRs
 * (network.ts), the component tree and environments (tree.ts), S3 buckets and their settings
 * (s3.ts), and the policy builders (policy.ts). No PolicyPack here: the pack is created only in policies/index.ts.
 */
export * from "./types";
export * from "./config";
export * from "./props";
export * from "./network";
export * from "./tree";
export * from "./s3";
export * from "./policy";
