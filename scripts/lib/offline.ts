/**
 * Offline runs of Pulumi programs under the SDK's mock runtime: used by `npm run plan`,
 * `npm run check` and the unit tests. Records every registered resource with its parent, type,
 * name and inputs. Invokes are refused loudly, except the few lookups a component needs at deploy
 * time, answered as in an empty account ({@link OFFLINE_INVOKES}); any other lookup is a bug here
 * (take the value as an argument instead). Tests pass their own answers (`invokes`).
 *
 * A StackReference to the stack itself (the program reads its previous deployment's outputs on
 * kubernetes) is answered with `stackOutputs` (default: none, a stack never deployed); a reference
 * to any other stack is refused, like an unexpected invoke. Reads are recorded apart
 * (`Recording.reads`): they create nothing, and the engine does not hand them to policy packs.
 */
import * as pulumi from "@pulumi/pulumi";

/** One resource as the program registered it. */
export interface RecordedResource {
  urn: string;
  type: string;
  name: string;
  /** URN of the parent (undefined for top-level resources). */
  parentUrn?: string;
  /** false for ComponentResources. */
  custom: boolean;
  /** Inputs as the provider would receive them (Outputs resolved; secret values keep Pulumi's secret marker `{"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value}`). */
  inputs: Record<string, unknown>;
  /** Provider reference (`urn::id`) when one was set explicitly. */
  provider?: string;
}

/** One invoke (data-source lookup) as the program made it. */
export interface RecordedInvoke {
  token: string;
  inputs: Record<string, unknown>;
  /** Provider reference (`urn::id`) the invoke went through, when not the default provider. */
  provider?: string;
}

/** The resources of one offline run. */
export class Recording {
  readonly resources: RecordedResource[] = [];
  /** The invokes of the run, in order. */
  readonly invokes: RecordedInvoke[] = [];
  /** Resources read (not managed) by the run, e.g. StackReferences; `inputs` are the read's inputs. */
  readonly reads: RecordedResource[] = [];

  /** All resources of a type token. */
  ofType(type: string): RecordedResource[] {
    return this.resources.filter((r) => r.type === type);
  }

  /** Exactly one resource of `type` (optionally with `name`), or a descriptive error. */
  one(type: string, name?: string): RecordedResource {
    const found = this.ofType(type).filter((r) => name === undefined || r.name === name);
    if (found.length !== 1) {
      const have = this.resources.map((r) => `${r.type} ${r.name}`).join("\n  ");
      throw new Error(
        `expected exactly one ${type}${name ? ` named ${name}` : ""}, found ${found.length}; resources:\n  ${have}`,
      );
    }
    return found[0];
  }

  /** Direct children of a resource. */
  childrenOf(parent: RecordedResource): RecordedResource[] {
    return this.resources.filter((r) => r.parentUrn === parent.urn);
  }

  /** The parent of a resource, if any. */
  parentOf(r: RecordedResource): RecordedResource | undefined {
    return this.resources.find((p) => p.urn === r.parentUrn);
  }

  /** Count of resources per type, sorted by type. */
  countByType(): [string, number][] {
    const m = new Map<string, number>();
    for (const r of this.resources) m.set(r.type, (m.get(r.type) ?? 0) + 1);
    return [...m.entries()].sort(([a], [b]) => a.localeCompare(b));
  }
}

/** Outputs a provider would compute that programs commonly read (ids, ARNs, addresses). */
function computedOutputs(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (type.startsWith("aws:")) {
    out.arn = `arn:aws:mock:us-east-1:000000000000:${name}`;
    if (type === "aws:lb/loadBalancer:LoadBalancer") out.dnsName = `${name}.elb.mock.amazonaws.com`;
    if (type === "aws:lb/targetGroup:TargetGroup") out.arnSuffix = `targetgroup/${name}/0`;
    if (type === "aws:lb/loadBalancer:LoadBalancer") out.arnSuffix = `app/${name}/0`;
    if (type === "aws:rds/instance:Instance") {
      out.address = `${name}.mock.rds.amazonaws.com`;
      out.endpoint = `${name}.mock.rds.amazonaws.com:${inputs.port ?? 5432}`;
    }
    if (type === "aws:ec2/launchTemplate:LaunchTemplate") out.latestVersion = 1;
    // The provider names an unnamed bucket at check time (Pulumi's autonaming: the name is known
    // in a preview); the logical name stands in for `<name>-<random suffix>`.
    if (type === "aws:s3/bucket:Bucket" && inputs.bucket === undefined) out.bucket = name;
  }
  if (type.startsWith("docker:") && inputs.name === undefined) out.name = name;
  // A deterministic stand-in of the generated value, so wiring of `result` can be asserted.
  if (type === "random:index/randomPassword:RandomPassword")
    out.result = `mock-${name}-${"x".repeat(Math.max(0, Number(inputs.length ?? 16) - name.length - 5))}`;
  if (type.startsWith("kubernetes:") && inputs.metadata && typeof inputs.metadata === "object") {
    const md = inputs.metadata as Record<string, unknown>;
    out.metadata = { ...md, name: md.name ?? name };
  }
  return out;
}

/** Answers an invoke as the provider would. */
export type InvokeAnswer = (args: pulumi.runtime.MockCallArgs) => Record<string, unknown>;

/**
 * The lookups components make at deploy time, answered as in an account where nothing of the
 * stack is deployed yet: RaftConfigService on aws counts its member instances (none).
 */
export const OFFLINE_INVOKES: Readonly<Record<string, InvokeAnswer>> = {
  "aws:ec2/getInstances:getInstances": ({ inputs }) => ({
    id: "us-east-1",
    region: "us-east-1",
    ids: [],
    privateIps: [],
    publicIps: [],
    ipv6Addresses: [],
    instanceTags: inputs.instanceTags ?? {},
  }),
};

const KNOWN_PACKAGES = ["aws", "kubernetes", "docker", "scaleplane", "pulumi-nodejs", "pulumi", "tls", "random"];

/** The builtin resource a `pulumi.StackReference` reads. */
export const STACK_REFERENCE_TYPE = "pulumi:pulumi:StackReference";

export interface OfflineOptions {
  project?: string;
  stack: string;
  /** Full config keys (`scaleplane:target`) to string values, as Pulumi passes them to programs. */
  config?: Record<string, string>;
  /** Run as a preview (outputs of unknown values stay unknown). @default false */
  preview?: boolean;
  /** Answers to invokes by token, over {@link OFFLINE_INVOKES}. @default {} */
  invokes?: Record<string, InvokeAnswer>;
  /**
   * Organization of the stack (`pulumi.getOrganization()`).
   * @default "organization" (the fixed organization of Pulumi's self-managed backends)
   */
  organization?: string;
  /**
   * The outputs of this stack's previous deployment, as a StackReference to the stack itself
   * (`<organization>/<project>/<stack>`) reads them.
   * @default {} (the stack was never deployed)
   */
  stackOutputs?: Record<string, unknown>;
}

/**
 * Installs the mock runtime and returns the recording it fills. Call it BEFORE requiring any
 * module that creates resources at load time.
 */
export function installMocks(opts: OfflineOptions): Recording {
  const rec = new Recording();
  const pending = new Map<string, RecordedResource>();
  let seq = 0;
  const project = opts.project ?? "scaleplane";
  const organization = opts.organization ?? "organization";
  const self = `${organization}/${project}/${opts.stack}`;
  pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs) {
        const pkg = args.type.split(":")[0];
        if (!KNOWN_PACKAGES.includes(pkg))
          throw new Error(`offline run: unexpected resource type ${args.type} (${args.name})`);
        if (args.type === STACK_REFERENCE_TYPE) {
          // A read: `id` is the referenced stack's name; the engine answers from the backend.
          if (args.inputs.name !== self)
            throw new Error(
              `offline run: unexpected StackReference ${args.name} to ${JSON.stringify(args.inputs.name)}; only this stack (${self}) has known outputs`,
            );
          pending.set(`${args.type}::${args.name}`, {
            urn: "",
            type: args.type,
            name: args.name,
            custom: true,
            inputs: args.inputs,
          });
          return {
            id: args.id,
            state: { name: self, outputs: opts.stackOutputs ?? {}, secretOutputNames: [] },
          };
        }
        const key = `${args.type}::${args.name}`;
        pending.set(key, {
          urn: "",
          type: args.type,
          name: args.name,
          custom: args.custom !== false,
          inputs: args.inputs,
          provider: args.provider,
        });
        return {
          id: args.custom === false ? undefined : `${args.name}-id-${seq++}`,
          state: { ...args.inputs, ...computedOutputs(args.type, args.name, args.inputs) },
        };
      },
      call(args: pulumi.runtime.MockCallArgs) {
        const answer = opts.invokes?.[args.token] ?? OFFLINE_INVOKES[args.token];
        if (answer) {
          rec.invokes.push({ token: args.token, inputs: args.inputs, provider: args.provider || undefined });
          return answer(args);
        }
        throw new Error(
          `offline run: unexpected invoke ${args.token}(${JSON.stringify(args.inputs)}); components must not look anything up at plan time`,
        );
      },
    },
    project,
    opts.stack,
    opts.preview ?? false,
    organization,
  );
  // The mock monitor does not pass the parent to newResource: observe registrations to keep it.
  type Rpc = (req: RegisterRequest, cb: (err: unknown, resp: { getUrn(): string }) => void) => void;
  const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource: Rpc; readResource: Rpc };
  const observe =
    (rpc: Rpc, into: RecordedResource[]): Rpc =>
    (req, cb) =>
      rpc(req, (err, resp) => {
        if (!err) {
          const r = pending.get(`${req.getType()}::${req.getName()}`);
          if (r) {
            r.urn = resp.getUrn();
            r.parentUrn = req.getParent() || undefined;
            into.push(r);
          }
        }
        cb(err, resp);
      });
  monitor.registerResource = observe(monitor.registerResource.bind(monitor), rec.resources);
  monitor.readResource = observe(monitor.readResource.bind(monitor), rec.reads);
  for (const [k, v] of Object.entries(opts.config ?? {})) pulumi.runtime.setConfig(k, v);
  return rec;
}

interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
}

/** Waits until every outstanding registration of the program has finished. */
export async function settle(): Promise<void> {
  const settings = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> };
  await settings.waitForRPCs();
}

/** Resolves an Output (or plain value) to its value in a test or an offline run. */
export function valueOf<T>(o: pulumi.Input<T>): Promise<T> {
  return new Promise((resolve) => pulumi.output(o).apply((v) => resolve(v as T)));
}
