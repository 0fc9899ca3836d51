/**
 * Policy configuration: the forced-environment setting every prod rule takes, schemas with
 * defaults, and reading a policy's config with those defaults applied.
 */
import type { PolicyConfigSchema } from "@pulumi/policy";
import { ENVIRONMENTS, type Environment } from "../../core/config";

/**
 * `environment` in a policy's config forces the environment the policy assumes (e.g. run the prod
 * rules against a staging stack); unset, it is read from the stack (see {@link environmentOf}).
 */
export const environmentSchema: PolicyConfigSchema["properties"] = {
  environment: {
    type: "string",
    enum: [...ENVIRONMENTS],
    description:
      "Force the environment this policy assumes; by default it is read from the scaleplane components (or the stack tag scaleplane:environment).",
  },
};

/** Config of a policy whose only setting is the forced environment. */
export const prodSchema: PolicyConfigSchema = { properties: { ...environmentSchema } };

/** Config of a prod rule with one integer minimum (`key`, default `min`) and the forced environment. */
export const prodMinimumSchema = (key: string, min: number, description: string): PolicyConfigSchema => ({
  properties: { [key]: { type: "integer", minimum: 1, default: min, description }, ...environmentSchema },
});

/**
 * The policy's config with the schema defaults applied. The Pulumi CLI sends the defaults itself;
 * an analyzer that was never configured returns `{}`, so the defaults are applied here as well.
 */
export function configOf<C extends object>(
  schema: PolicyConfigSchema | undefined,
  args: { getConfig<X extends object>(): X },
): C {
  const defaults: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema?.properties ?? {})) {
    if (v && typeof v === "object" && "default" in v) defaults[k] = (v as { default: unknown }).default;
  }
  return { ...defaults, ...args.getConfig<Record<string, unknown>>() } as C;
}

/** Environment-dependent config shared by the prod rules. */
export interface EnvConfig {
  environment?: Environment;
}
