/**
 * The scaleplane Pulumi program: one Platform per stack, configured by the stack's `scaleplane:*`
 * config (stacks/Pulumi.<stack>.yaml). `npm run plan -- --stack <name>` runs this file offline.
 *
 * On target aws the program builds the AWS provider (region, default tags, and the LocalStack
 * endpoints when `scaleplane:aws.endpoint` is set) and hands it to the Platform as a resource
 * option; the components never build providers themselves.
 *
 * On target kubernetes the program also reads its own stack's previous outputs (a StackReference
 * to itself, components/platform/previous-deployment.ts) and hands the Platform the
 * `configEndpoints` of the last deployment: the etcd member-count lock of a cluster deployed before
 * the lock existed counts its members there. Other targets create no such reference.
 */
import * as pulumi from "@pulumi/pulumi";
import { Platform, createPlatformAwsProvider, previousDeployment } from "./components/platform";
import { loadPlatformConfig } from "./components/stack-config";
import { TOKENS } from "./core/tokens";

const config = loadPlatformConfig();
const name = `sp-${pulumi.getStack()}`;

// The provider used to be the Platform's child: the alias keeps its URN (no replacement of every
// AWS resource in stacks deployed before the provider moved here).
const providers: Record<string, pulumi.ProviderResource> =
  config.target === "aws"
    ? {
        aws: createPlatformAwsProvider(name, config, {
          aliases: [{ parent: pulumi.createUrn(name, TOKENS.platform) }],
        }),
      }
    : {};
// Kubernetes only (no read on other targets): the `configEndpoints` this stack exported last time
// (the export below), for the etcd member-count lock.
const platform = new Platform(
  name,
  {
    config,
    ...(config.target === "kubernetes"
      ? { deployedConfigEndpoints: previousDeployment(`${name}-previous`).getOutput("configEndpoints") }
      : {}),
  },
  { providers },
);

export const target = config.target;
export const appEndpoints = platform.appEndpoints;
export const configEndpoints = platform.configEndpoints;
export const shardMap = platform.shardMap;
