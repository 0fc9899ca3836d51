/**
 * Policy builders: resource policies limited to some types, and stack policies over the component
 * tree, each handed its config with the schema defaults applied.
 */
import type {
  Policy,
  PolicyConfigSchema,
  ReportViolation,
  ResourceValidation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidation,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { configOf } from "./config";
import type { Props } from "./props";
import { Tree } from "./tree";

/**
 * A resource validation that applies only to `types` (others are reported not applicable), with
 * the policy's config (defaults applied) handed in.
 */
export function onTypes<C extends object>(
  types: readonly string[],
  schema: PolicyConfigSchema | undefined,
  validate: (props: Props, args: ResourceValidationArgs, report: ReportViolation, config: C) => void,
): ResourceValidation {
  return (args, report) => {
    if (!types.includes(args.type)) args.notApplicable(`applies to ${types.join(", ")}`);
    validate(args.props as Props, args, report, configOf<C>(schema, args));
  };
}

/**
 * A resource policy on `types`: `meta` (name, description, level, configSchema) plus a validation
 * that gets the config with the defaults of that same configSchema.
 */
export function resourcePolicy<C extends object = object>(
  meta: Policy,
  types: readonly string[],
  validate: (props: Props, args: ResourceValidationArgs, report: ReportViolation, config: C) => void,
): ResourceValidationPolicy {
  return { ...meta, validateResource: onTypes<C>(types, meta.configSchema, validate) };
}

/**
 * A stack validation with the policy's config (defaults applied) and the component tree.
 */
export function onStack<C extends object>(
  schema: PolicyConfigSchema | undefined,
  validate: (tree: Tree, args: StackValidationArgs, report: ReportViolation, config: C) => void,
): StackValidation {
  return (args, report) => validate(new Tree(args.resources), args, report, configOf<C>(schema, args));
}

/** A stack policy: `meta` plus a validation over the component tree, with the config's defaults applied. */
export function stackPolicy<C extends object = object>(
  meta: Policy,
  validate: (tree: Tree, args: StackValidationArgs, report: ReportViolation, config: C) => void,
): StackValidationPolicy {
  return { ...meta, validateStack: onStack<C>(meta.configSchema, validate) };
}
