/**
 * The scaleplane Pulumi program: one Platform per stack, configured by the stack's `scaleplane:*`
 * config (stacks/Pulumi.<stack>.yaml). `npm run plan -- --stack <name>` runs this file offline.
 */
import * as pulumi from "@pulumi/pulumi";
import { Platform } from "./components/platform";
import { loadPlatformConfig } from "./components/stack-config";

const config = loadPlatformConfig();
const platform = new Platform(`sp-${pulumi.getStack()}`, { config });

export const target = config.target;
export const appEndpoints = platform.appEndpoints;
export const configEndpoints = platform.configEndpoints;
export const shardMap = platform.shardMap;
