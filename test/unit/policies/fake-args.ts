/**
 * A fake of what the analyzer hands a policy: ResourceValidationArgs / StackValidationArgs with
 * `notApplicable`, props, type, name, urn, opts, config and stack tags. Runs a policy and returns
 * the violations it reported (or why it declared itself not applicable).
 */
import { TOKENS } from "../../../core/tokens";
import type {
  PolicyResource,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { parsePlatformConfig, type PlatformConfigInput } from "../../../core/config";

class NotApplicable extends Error {}

export interface Outcome {
  /** Messages reported, in order. */
  messages: string[];
  /** URNs the stack policy reported against (undefined for resource policies). */
  urns: (string | undefined)[];
  /** Set when the policy called notApplicable(reason). */
  notApplicable?: string;
}

const urnOf = (type: string, name: string) => `urn:pulumi:test::scaleplane::${type}::${name}`;

interface Common {
  /** The policy's config as getConfig() returns it (the analyzer returns {} when unconfigured). */
  config?: Record<string, unknown>;
  stackTags?: Record<string, string>;
}

const typeOf = (cls: unknown): string | undefined => (cls as { __pulumiType?: string }).__pulumiType;

/** Runs a resource policy on one resource. */
export async function runResource(
  policy: ResourceValidationPolicy,
  type: string,
  props: Record<string, unknown>,
  opts: Common & { name?: string; parent?: string } = {},
): Promise<Outcome> {
  const name = opts.name ?? "subject";
  const out: Outcome = { messages: [], urns: [] };
  const args: ResourceValidationArgs = {
    type,
    props,
    urn: urnOf(type, name),
    name,
    opts: {
      protect: false,
      ignoreChanges: [],
      aliases: [],
      customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
      additionalSecretOutputs: [],
      parent: opts.parent,
    },
    stackTags: new Map(Object.entries(opts.stackTags ?? {})),
    isType: (cls) => typeOf(cls) === type,
    asType: ((cls: unknown) => (typeOf(cls) === type ? props : undefined)) as ResourceValidationArgs["asType"],
    getConfig: <T extends object>() => (opts.config ?? {}) as T,
    notApplicable: (reason?: string): never => {
      throw new NotApplicable(reason ?? "");
    },
  };
  const validations = Array.isArray(policy.validateResource)
    ? policy.validateResource
    : policy.validateResource
      ? [policy.validateResource]
      : [];
  try {
    for (const v of validations)
      await v(args, (message) => {
        out.messages.push(message);
        out.urns.push(undefined);
      });
  } catch (e) {
    if (!(e instanceof NotApplicable)) throw e;
    out.notApplicable = e.message;
  }
  return out;
}

/** A resource of a fake stack; `parent` links it into the component tree. */
export interface FakeResource {
  type: string;
  name: string;
  props?: Record<string, unknown>;
  parent?: FakeResource;
}

export const urn = (r: FakeResource): string => urnOf(r.type, r.name);

/** Runs a stack policy on the resources (parents linked both as objects and as opts.parent). */
export async function runStack(
  policy: StackValidationPolicy,
  resources: FakeResource[],
  opts: Common = {},
): Promise<Outcome> {
  const out: Outcome = { messages: [], urns: [] };
  const made = new Map<FakeResource, PolicyResource>();
  for (const r of resources) {
    const props = r.props ?? {};
    made.set(r, {
      type: r.type,
      name: r.name,
      urn: urn(r),
      props,
      opts: {
        protect: false,
        ignoreChanges: [],
        aliases: [],
        customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
        additionalSecretOutputs: [],
        parent: r.parent ? urn(r.parent) : undefined,
      },
      dependencies: [],
      propertyDependencies: {},
      isType: (cls) => typeOf(cls) === r.type,
      asType: ((cls: unknown) => (typeOf(cls) === r.type ? props : undefined)) as PolicyResource["asType"],
    });
  }
  for (const [f, p] of made) if (f.parent) p.parent = made.get(f.parent);
  const args: StackValidationArgs = {
    resources: [...made.values()],
    stackTags: new Map(Object.entries(opts.stackTags ?? {})),
    getConfig: <T extends object>() => (opts.config ?? {}) as T,
    notApplicable: (reason?: string): never => {
      throw new NotApplicable(reason ?? "");
    },
  };
  try {
    await policy.validateStack(args, (message, u) => {
      out.messages.push(message);
      out.urns.push(u);
    });
  } catch (e) {
    if (!(e instanceof NotApplicable)) throw e;
    out.notApplicable = e.message;
  }
  return out;
}

/** An ACM certificate ARN for prod configs under test. */
export const TEST_CERTIFICATE_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-test-cert";

/** A Platform component as index.ts registers it: environment and the validated config (JSON). */
export function platform(config: PlatformConfigInput, name = "p"): FakeResource {
  // Prod on aws needs a certificate (core/config.ts); the policies under test never read it.
  const withCert =
    config.target === "aws" && config.environment === "prod" && !config.aws?.loadBalancer?.certificateArn
      ? {
          ...config,
          aws: { ...config.aws, loadBalancer: { ...config.aws?.loadBalancer, certificateArn: TEST_CERTIFICATE_ARN } },
        }
      : config;
  const cfg = parsePlatformConfig(withCert);
  return {
    type: TOKENS.platform,
    name,
    props: { target: cfg.target, environment: cfg.environment, config: JSON.stringify(cfg) },
  };
}

/** A child resource of `parent`. */
export const child = (
  parent: FakeResource | undefined,
  type: string,
  name: string,
  props: Record<string, unknown> = {},
): FakeResource => ({ type, name, props, parent });
