/**
 * Shared vocabulary of the scaleplane-guard policies: resource type tokens, policy config with
 * defaults, the environment a resource belongs to, the component tree (for stack policies) and
 * small property readers. No PolicyPack here: the pack is created only in policies/index.ts.
 */
import type {
  Policy,
  PolicyConfigSchema,
  PolicyResource,
  ReportViolation,
  ResourceValidation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidation,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import {
  AppSchema,
  ConfigServiceSchema,
  DatabaseSchema,
  ENVIRONMENTS,
  shardList,
  type AppConfig,
  type ConfigServiceConfig,
  type DatabaseConfig,
  type Environment,
} from "../core/config";

/** Type tokens the policies look at. */
export const T = {
  platform: "scaleplane:platform:Platform",
  autoscalingGroup: "scaleplane:autoscaling:AutoscalingGroup",
  configService: "scaleplane:config:RaftConfigService",
  database: "scaleplane:database:ShardedDatabase",
  awsAsg: "aws:autoscaling/group:Group",
  awsScalingPolicy: "aws:autoscaling/policy:Policy",
  awsLaunchTemplate: "aws:ec2/launchTemplate:LaunchTemplate",
  awsInstance: "aws:ec2/instance:Instance",
  awsTargetGroup: "aws:lb/targetGroup:TargetGroup",
  awsRds: "aws:rds/instance:Instance",
  awsSecurityGroup: "aws:ec2/securityGroup:SecurityGroup",
  awsSgRule: "aws:ec2/securityGroupRule:SecurityGroupRule",
  awsSgIngressRule: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
  awsSsmParameter: "aws:ssm/parameter:Parameter",
  k8sDeployment: "kubernetes:apps/v1:Deployment",
  k8sStatefulSet: "kubernetes:apps/v1:StatefulSet",
  k8sHpa: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
  k8sService: "kubernetes:core/v1:Service",
  dockerContainer: "docker:index/container:Container",
} as const;

/** Kubernetes workload types whose pod template the container policies read. */
export const K8S_WORKLOADS: readonly string[] = [T.k8sDeployment, T.k8sStatefulSet];

// ------------------------------------------------------------------------------------------------
// Policy configuration
// ------------------------------------------------------------------------------------------------

/**
 * `environment` in a policy's config forces the environment the policy assumes (e.g. run the prod
 * rules against a staging stack); unset, it is read from the stack (see {@link environmentOf}).
 */
export const environmentSchema: PolicyConfigSchema["properties"] = {
  environment: {
    type: "string",
    enum: [...ENVIRONMENTS],
    description: "Force the environment this policy assumes; by default it is read from the scaleplane components (or the stack tag scaleplane:environment).",
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
export function configOf<C extends object>(schema: PolicyConfigSchema | undefined, args: { getConfig<X extends object>(): X }): C {
  const defaults: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema?.properties ?? {})) {
    if (v && typeof v === "object" && "default" in v) defaults[k] = (v as { default: unknown }).default;
  }
  return { ...defaults, ...args.getConfig<Record<string, unknown>>() } as C;
}

// ------------------------------------------------------------------------------------------------
// Property readers (inputs arrive as plain JSON-like values)
// ------------------------------------------------------------------------------------------------

export type Props = Record<string, unknown>;

export const obj = (v: unknown): Props | undefined => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Props) : undefined);
export const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
export const num = (v: unknown): number | undefined => {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  return undefined;
};
export const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** Pod-template containers (init containers included) of a Deployment or StatefulSet. */
export function podContainers(props: Props): Props[] {
  const pod = obj(obj(obj(props.spec)?.template)?.spec);
  return [...arr(pod?.containers), ...arr(pod?.initContainers)].map(obj).filter((c): c is Props => c !== undefined);
}

/** Only the long-running containers (probes do not apply to init containers). */
export function mainContainers(props: Props): Props[] {
  const pod = obj(obj(obj(props.spec)?.template)?.spec);
  return arr(pod?.containers).map(obj).filter((c): c is Props => c !== undefined);
}

export const containerName = (c: Props, i: number): string => str(c.name) ?? `#${i}`;

// ------------------------------------------------------------------------------------------------
// Ports and CIDRs
// ------------------------------------------------------------------------------------------------

export const WORLD_CIDRS = ["0.0.0.0/0", "::/0"];

/** True when a rule with this protocol and port range admits TCP traffic to `port`. */
export function coversPort(protocol: unknown, fromPort: unknown, toPort: unknown, port: number): boolean {
  const p = String(protocol ?? "tcp").toLowerCase();
  if (p === "-1" || p === "all") return true;
  if (p !== "tcp" && p !== "6") return false;
  const from = num(fromPort);
  const to = num(toPort) ?? from;
  if (from === undefined || to === undefined) return false;
  return from <= port && port <= to;
}

/** A security-group ingress entry normalised across the three ways AWS lets you write one. */
export interface IngressEntry {
  protocol: unknown;
  fromPort: unknown;
  toPort: unknown;
  cidrs: string[];
}

/** Ingress entries of an inline SecurityGroup, a SecurityGroupRule or a SecurityGroupIngressRule. */
export function ingressEntries(type: string, props: Props): IngressEntry[] {
  const cidrsOf = (...vs: unknown[]) => vs.flatMap((v) => (typeof v === "string" ? [v] : arr(v).filter((x): x is string => typeof x === "string")));
  if (type === T.awsSecurityGroup) {
    return arr(props.ingress)
      .map(obj)
      .filter((r): r is Props => r !== undefined)
      .map((r) => ({ protocol: r.protocol, fromPort: r.fromPort, toPort: r.toPort, cidrs: cidrsOf(r.cidrBlocks, r.ipv6CidrBlocks) }));
  }
  if (type === T.awsSgRule) {
    if (props.type !== "ingress") return [];
    return [{ protocol: props.protocol, fromPort: props.fromPort, toPort: props.toPort, cidrs: cidrsOf(props.cidrBlocks, props.ipv6CidrBlocks) }];
  }
  if (type === T.awsSgIngressRule) {
    return [{ protocol: props.ipProtocol, fromPort: props.fromPort, toPort: props.toPort, cidrs: cidrsOf(props.cidrIpv4, props.cidrIpv6) }];
  }
  return [];
}

export const SG_TYPES: readonly string[] = [T.awsSecurityGroup, T.awsSgRule, T.awsSgIngressRule];

// ------------------------------------------------------------------------------------------------
// Resource policies limited to some types
// ------------------------------------------------------------------------------------------------

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

// ------------------------------------------------------------------------------------------------
// The component tree (stack policies)
// ------------------------------------------------------------------------------------------------

/** Parent lookup that works whether the analyzer linked `parent` objects or only `opts.parent` URNs. */
export class Tree {
  private readonly byUrn = new Map<string, PolicyResource>();
  private readonly children = new Map<string, PolicyResource[]>();

  constructor(readonly resources: readonly PolicyResource[]) {
    for (const r of resources) this.byUrn.set(r.urn, r);
    for (const r of resources) {
      const p = this.parentUrn(r);
      if (p) this.children.set(p, [...(this.children.get(p) ?? []), r]);
    }
  }

  parentUrn(r: PolicyResource): string | undefined {
    return r.parent?.urn ?? r.opts?.parent ?? undefined;
  }

  parent(r: PolicyResource): PolicyResource | undefined {
    const p = this.parentUrn(r);
    return p ? this.byUrn.get(p) : undefined;
  }

  /** The resource's ancestors, nearest first. */
  ancestors(r: PolicyResource): PolicyResource[] {
    const out: PolicyResource[] = [];
    const seen = new Set<string>([r.urn]);
    for (let p = this.parent(r); p && !seen.has(p.urn); p = this.parent(p)) {
      out.push(p);
      seen.add(p.urn);
    }
    return out;
  }

  /** Every resource below `r`. */
  descendants(r: PolicyResource): PolicyResource[] {
    const out: PolicyResource[] = [];
    const stack = [...(this.children.get(r.urn) ?? [])];
    while (stack.length > 0) {
      const c = stack.pop() as PolicyResource;
      out.push(c);
      stack.push(...(this.children.get(c.urn) ?? []));
    }
    return out;
  }

  ofType(type: string): PolicyResource[] {
    return this.resources.filter((r) => r.type === type);
  }

  /** The nearest enclosing component of `type` (or `r` itself). */
  enclosing(r: PolicyResource, type: string): PolicyResource | undefined {
    return r.type === type ? r : this.ancestors(r).find((a) => a.type === type);
  }
}

const isEnvironment = (v: unknown): v is Environment => typeof v === "string" && (ENVIRONMENTS as readonly string[]).includes(v);

/** The Platform component's validated config (its `config` input, JSON) if it has one. */
export function platformConfig(platform: PolicyResource | undefined): Props | undefined {
  const raw = platform?.props.config;
  if (typeof raw === "string") {
    try {
      return obj(JSON.parse(raw));
    } catch {
      return undefined;
    }
  }
  return obj(raw);
}

/** The tag (AWS tags map or Auto Scaling tag list) and stack tag naming the environment. */
export const ENV_TAG = "scaleplane:environment";

/** A tag value from a `tags` map (`{k: v}`) or an Auto Scaling group's tag list (`[{key, value}]`). */
export function resourceTag(props: Props, key: string): string | undefined {
  const map = obj(props.tags);
  if (map) return str(map[key]);
  const entry = arr(props.tags).map(obj).find((t) => t?.key === key);
  return str(entry?.value);
}

/**
 * The environment a resource belongs to, first found of: the policy's `environment` config; the
 * `environment` input of its nearest scaleplane component ancestor (the Platform's validated
 * config included); its own `scaleplane:environment` tag; the stack tag `scaleplane:environment`;
 * else `dev`.
 */
export function environmentOf(r: PolicyResource, tree: Tree, args: Pick<StackValidationArgs, "stackTags">, forced?: unknown): Environment {
  if (isEnvironment(forced)) return forced;
  for (const a of [r, ...tree.ancestors(r)]) {
    if (!a.type.startsWith("scaleplane:")) continue;
    if (isEnvironment(a.props.environment)) return a.props.environment;
    const cfgEnv = platformConfig(a)?.environment;
    if (isEnvironment(cfgEnv)) return cfgEnv;
  }
  const own = resourceTag(r.props, ENV_TAG);
  if (isEnvironment(own)) return own;
  const tag = args.stackTags?.get(ENV_TAG);
  return isEnvironment(tag) ? tag : "dev";
}

/** Resources of `type` that belong to prod (see {@link environmentOf}). */
export function inProd(tree: Tree, type: string, args: Pick<StackValidationArgs, "stackTags">, forced?: unknown): PolicyResource[] {
  return tree.ofType(type).filter((r) => environmentOf(r, tree, args, forced) === "prod");
}

type Section = "app" | "configService" | "database";
const SECTION_SCHEMAS = { app: AppSchema, configService: ConfigServiceSchema, database: DatabaseSchema } as const;
interface SectionConfig {
  app: AppConfig;
  configService: ConfigServiceConfig;
  database: DatabaseConfig;
}

/**
 * A component's settings for `section` with defaults applied: its own `<section>` input (as the
 * component received it), else the enclosing Platform's validated config. undefined if neither
 * is recorded or the recorded value does not validate.
 */
export function componentSettings<S extends Section>(component: PolicyResource, tree: Tree, section: S): SectionConfig[S] | undefined {
  const own = component.props[section];
  const candidates = [own, ...tree.ancestors(component).map((a) => (a.type === T.platform ? platformConfig(a)?.[section] : undefined))];
  for (const c of candidates) {
    if (!obj(c)) continue;
    const parsed = SECTION_SCHEMAS[section].safeParse(c);
    if (parsed.success) return parsed.data as SectionConfig[S];
  }
  return undefined;
}

/** Replication of a sharded database, as its settings or its published shard map state it. */
export interface Replication {
  replicationFactor: number;
  consistency: string;
  shards: number;
}

/**
 * The replication settings of a ShardedDatabase: from its settings (see {@link componentSettings}),
 * else from the `shardMap` it (or its Platform) publishes as an output, which is what the Pulumi
 * engine hands AnalyzeStack for components.
 */
export function replicationOf(db: PolicyResource, tree: Tree): Replication | undefined {
  const settings = componentSettings(db, tree, "database");
  if (settings) return { replicationFactor: settings.replicationFactor, consistency: settings.consistency, shards: shardList(settings).length };
  for (const r of [db, ...tree.ancestors(db)]) {
    const map = obj(r.props.shardMap);
    const rf = num(map?.replicationFactor);
    const consistency = str(map?.consistency);
    if (map && rf !== undefined && consistency) return { replicationFactor: rf, consistency, shards: arr(map.shards).length };
  }
  return undefined;
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

/** Environment-dependent config shared by the prod rules. */
export interface EnvConfig {
  environment?: Environment;
}
