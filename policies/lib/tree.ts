/**
 * The component tree of a stack (stack policies): parents and descendants, the environment a
 * resource belongs to, and a component's validated settings.
 */
import type { PolicyResource, StackValidationArgs } from "@pulumi/policy";
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
} from "../../core/config";
import { arr, num, obj, str, type Props } from "./props";
import { T } from "./types";

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

const isEnvironment = (v: unknown): v is Environment =>
  typeof v === "string" && (ENVIRONMENTS as readonly string[]).includes(v);

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
  const entry = arr(props.tags)
    .map(obj)
    .find((t) => t?.key === key);
  return str(entry?.value);
}

/**
 * The environment a resource belongs to, first found of: the policy's `environment` config; the
 * `environment` input of its nearest scaleplane component ancestor (the Platform's validated
 * config included); its own `scaleplane:environment` tag; the stack tag `scaleplane:environment`;
 * else `dev`.
 */
export function environmentOf(
  r: PolicyResource,
  tree: Tree,
  args: Pick<StackValidationArgs, "stackTags">,
  forced?: unknown,
): Environment {
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
export function inProd(
  tree: Tree,
  type: string,
  args: Pick<StackValidationArgs, "stackTags">,
  forced?: unknown,
): PolicyResource[] {
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
export function componentSettings<S extends Section>(
  component: PolicyResource,
  tree: Tree,
  section: S,
): SectionConfig[S] | undefined {
  const own = component.props[section];
  const candidates = [
    own,
    ...tree.ancestors(component).map((a) => (a.type === T.platform ? platformConfig(a)?.[section] : undefined)),
  ];
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
  if (settings)
    return {
      replicationFactor: settings.replicationFactor,
      consistency: settings.consistency,
      shards: shardList(settings).length,
    };
  for (const r of [db, ...tree.ancestors(db)]) {
    const map = obj(r.props.shardMap);
    const rf = num(map?.replicationFactor);
    const consistency = str(map?.consistency);
    if (map && rf !== undefined && consistency)
      return { replicationFactor: rf, consistency, shards: arr(map.shards).length };
  }
  return undefined;
}
