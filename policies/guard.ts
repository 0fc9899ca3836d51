/**
 * `scaleplaneGuard(options)`: the scaleplane-guard policies as PolicyPack arguments, with levels
 * and thresholds chosen by the caller — the awsguard pattern. Creating a PolicyPack starts the
 * analyzer server, so this module never does; the pack's entry file (policies/index.ts, or a
 * user's own pack) does:
 *
 * ```ts
 * import { PolicyPack } from "@pulumi/policy";
 * import { scaleplaneGuard } from "scaleplane/policy";
 *
 * new PolicyPack("my-guard", scaleplaneGuard({ all: "mandatory", "db-backup-retention": { minBackupDays: 14 } }));
 * ```
 */
import type {
  EnforcementLevel,
  Policies,
  Policy,
  PolicyConfigSchema,
  PolicyPackArgs,
  PolicyPackConfig,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { allPolicies } from "./catalog";

/** The name the pack is published under. */
export const PACK_NAME = "scaleplane-guard";

const LEVELS: readonly EnforcementLevel[] = ["advisory", "mandatory", "remediate", "disabled"];

/**
 * Options of {@link scaleplaneGuard}, in the format of Pulumi's policy pack config
 * (`--policy-pack-config`): `all` sets every policy's enforcement level; a policy's name maps to a
 * level, or to `{ enforcementLevel?, ...settings }` whose settings replace the defaults of that
 * policy's config schema (e.g. `{ "db-backup-retention": { minBackupDays: 14 } }`).
 */
export type ScaleplaneGuardOptions = { all?: EnforcementLevel } & PolicyPackConfig;

type SettingSchema = PolicyConfigSchema["properties"][string];
type AnyPolicy = Policy &
  Partial<Pick<ResourceValidationPolicy, "validateResource" | "remediateResource">> &
  Partial<Pick<StackValidationPolicy, "validateStack">>;

const show = (v: unknown) => JSON.stringify(v) ?? String(v);

function checkLevel(where: string, level: unknown): EnforcementLevel {
  if (!LEVELS.includes(level as EnforcementLevel))
    throw new Error(
      `scaleplaneGuard: ${where}: enforcement level must be one of ${LEVELS.join(", ")}; got ${show(level)}`,
    );
  return level as EnforcementLevel;
}

/** JSON Schema `type` of a setting against the JavaScript value given for it. */
function matchesType(type: unknown, v: unknown): boolean {
  switch (type) {
    case "integer":
      return Number.isInteger(v);
    case "number":
      return typeof v === "number" && Number.isFinite(v);
    case "string":
      return typeof v === "string";
    case "boolean":
      return typeof v === "boolean";
    case "array":
      return Array.isArray(v);
    case "object":
      return v !== null && typeof v === "object" && !Array.isArray(v);
    default:
      return true;
  }
}

/** The policy with new defaults in its config schema; its checks see them even when no config is sent. */
function withDefaults(p: AnyPolicy, settings: Record<string, unknown>): AnyPolicy {
  if (Object.keys(settings).length === 0) return p;
  const props = p.configSchema?.properties ?? {};
  for (const [key, value] of Object.entries(settings)) {
    const schema = props[key] as { type?: unknown; enum?: unknown[] } | undefined;
    if (!schema) {
      const allowed = Object.keys(props);
      throw new Error(
        `scaleplaneGuard: ${p.name}.${key}: unknown setting; ${allowed.length > 0 ? `allowed: enforcementLevel, ${allowed.join(", ")}` : "this policy takes only enforcementLevel"}`,
      );
    }
    if (!matchesType(schema.type, value) || (schema.enum && !schema.enum.includes(value)))
      throw new Error(
        `scaleplaneGuard: ${p.name}.${key}: must be ${schema.enum ? `one of ${schema.enum.map(show).join(", ")}` : `of type ${String(schema.type)}`}; got ${show(value)}`,
      );
  }
  const configSchema: PolicyConfigSchema = {
    ...p.configSchema,
    properties: Object.fromEntries(
      Object.entries(props).map(([k, s]) => [
        k,
        k in settings ? { ...s, default: settings[k] as SettingSchema["default"] } : s,
      ]),
    ),
  };
  // The engine sends the configured values (filled from the schema defaults); a bare analyzer sends
  // none, and the checks fall back to the defaults they were defined with: put ours underneath.
  const config = <A extends { getConfig<T extends object>(): T }>(args: A): A => ({
    ...args,
    getConfig: <T extends object>() => ({ ...settings, ...args.getConfig<Record<string, unknown>>() }) as T,
  });
  const out: AnyPolicy = { ...p, configSchema };
  const vr = p.validateResource;
  if (vr) {
    out.validateResource = Array.isArray(vr)
      ? vr.map((f) => (args: ResourceValidationArgs, report: Parameters<typeof f>[1]) => f(config(args), report))
      : (args: ResourceValidationArgs, report: Parameters<typeof vr>[1]) => vr(config(args), report);
  }
  const rr = p.remediateResource;
  if (rr) out.remediateResource = (args: ResourceValidationArgs) => rr(config(args));
  const vs = p.validateStack;
  if (vs) out.validateStack = (args: StackValidationArgs, report: Parameters<typeof vs>[1]) => vs(config(args), report);
  return out;
}

/**
 * The scaleplane-guard pack's arguments for `new PolicyPack(name, args)`: every policy of the
 * catalog, with the enforcement levels and setting defaults of `options` applied. Throws (naming
 * the policy and setting) on an unknown policy, an unknown setting, a value of the wrong type or an
 * unknown enforcement level.
 */
export function scaleplaneGuard(options: ScaleplaneGuardOptions = {}): PolicyPackArgs {
  const names = new Set(allPolicies.map((p) => p.name));
  for (const name of Object.keys(options)) {
    if (name !== "all" && !names.has(name))
      throw new Error(`scaleplaneGuard: unknown policy ${show(name)}; policies: ${[...names].sort().join(", ")}`);
  }
  const all = options.all === undefined ? undefined : checkLevel("all", options.all);
  const policies: Policies = allPolicies.map((policy) => {
    const p = policy as AnyPolicy;
    const o = options[p.name];
    const { enforcementLevel, ...settings } = typeof o === "object" && o !== null ? o : { enforcementLevel: o };
    const level = enforcementLevel !== undefined ? checkLevel(p.name, enforcementLevel) : (all ?? p.enforcementLevel);
    return { ...withDefaults(p, settings), enforcementLevel: level } as Policies[number];
  });
  return {
    description:
      "scaleplane: autoscaling groups, the etcd config service and sharded PostgreSQL kept available, private and recoverable.",
    enforcementLevel: "advisory",
    policies,
  };
}
