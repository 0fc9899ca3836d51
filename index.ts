/**
 * The scaleplane Pulumi program: one Platform per stack, configured by the stack's `scaleplane:*`
 * config (stacks/Pulumi.<stack>.yaml). `npm run plan -- --stack <name>` runs this file offline.
 *
 * On target aws the program builds the AWS provider (region, default tags, and the LocalStack
 * endpoints when `scaleplane:aws.endpoint` is set) and hands it to the Platform as a resource
 * option; the components never build providers themselves.
 */
import * as pulumi from "@pulumi/pulumi";
import { Platform, createPlatformAwsProvider } from "./components/platform";
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
const platform = new Platform(name, { config }, { providers });

export const target = config.target;
export const appEndpoints = platform.appEndpoints;
export const configEndpoints = platform.configEndpoints;
export const shardMap = platform.shardMap;
