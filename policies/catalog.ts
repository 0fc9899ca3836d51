/**
 * Every policy of the scaleplane-guard pack, by area. No PolicyPack here (creating one starts the
 * analyzer server): the pack is created only in policies/index.ts.
 */
import type { Policies } from "@pulumi/policy";
import { autoscalingPolicies } from "./autoscaling";
import { cachePolicies } from "./cache";
import { configServicePolicies } from "./config-service";
import { containerPolicies } from "./containers";
import { databasePolicies } from "./database";
import { eventPolicies } from "./events";
import { loadBalancerPolicies } from "./load-balancer";
import { metricsPolicies } from "./metrics";
import { networkPolicies } from "./network";
import { secretsPolicies } from "./secrets";
import { stackPolicies } from "./stack";
import { storagePolicies } from "./storage";

/** Policies by area (the area names the module they live in). */
export const policyAreas = {
  autoscaling: autoscalingPolicies,
  "config-service": configServicePolicies,
  database: databasePolicies,
  cache: cachePolicies,
  "load-balancer": loadBalancerPolicies,
  network: networkPolicies,
  secrets: secretsPolicies,
  storage: storagePolicies,
  containers: containerPolicies,
  stack: stackPolicies,
  metrics: metricsPolicies,
  events: eventPolicies,
} satisfies Record<string, Policies>;

export const allPolicies: Policies = Object.values(policyAreas).flat();
