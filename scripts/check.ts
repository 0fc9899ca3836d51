/**
 * `npm run check -- --stack <name>`: runs the stack offline exactly as `npm run plan` does, then
 * puts every recorded resource through the REAL scaleplane-guard analyzer: policies/index.ts runs
 * in a child process (its PolicyPack serves the Analyzer gRPC API and prints its port), each
 * resource goes through Analyze and the whole tree (with parent URNs) through AnalyzeStack, as the
 * Pulumi engine drives a policy pack. Prints a table of violations; exits 1 on any mandatory
 * violation, 2 when the stack cannot be run (bad config: the key is named), 0 otherwise.
 * No Pulumi CLI and no credentials needed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Command } from "commander";
import * as grpc from "@grpc/grpc-js";
import type { RecordedResource } from "./lib/offline";
import { stackOfArgs, type StackSelection } from "./lib/stack";

const analyzerRpc = require("@pulumi/pulumi/proto/analyzer_grpc_pb");
const analyzerPb = require("@pulumi/pulumi/proto/analyzer_pb");
const emptyPb = require("google-protobuf/google/protobuf/empty_pb");
const structPb = require("google-protobuf/google/protobuf/struct_pb");

export const POLICY_PACK_DIR = resolve(__dirname, "..", "policies");

export type Level = "advisory" | "mandatory" | "disabled" | "remediate";
const LEVELS: Level[] = ["advisory", "mandatory", "disabled", "remediate"]; // proto enum order

/** One policy violation as the analyzer reported it. */
export interface Violation {
  policy: string;
  level: Level;
  /** Name of the resource in violation ("" for stack-wide violations). */
  resource: string;
  type: string;
  urn: string;
  /** The policy's specific message (without the policy description the analyzer prepends). */
  message: string;
}

/** What `--policy-config` holds: Pulumi's policy pack config format. */
export type PolicyPackConfig = Record<string, Level | ({ enforcementLevel?: Level } & Record<string, unknown>)>;

interface PolicyInfo {
  name: string;
  level: Level;
  defaults: Record<string, unknown>;
}

type Unary = (req: unknown, cb: (err: grpc.ServiceError | null, resp: unknown) => void) => void;

/** A running scaleplane-guard analyzer (child process) and a gRPC client to it. */
export class Analyzer {
  private constructor(
    private readonly child: ChildProcess,
    private readonly client: Record<string, Unary> & grpc.Client,
  ) {}

  /**
   * Starts the pack in a child process and connects once it prints its port. `runner` "tsx" runs
   * policies/index.ts with tsx (fast); "pulumi" runs the pack directory with the Pulumi SDK's own
   * policy-pack host (`@pulumi/pulumi/cmd/run-policy-pack`, ts-node with type checking), exactly
   * as `pulumi preview --policy-pack policies` does. With `packDir`, that pack folder under the
   * Pulumi host of its own node_modules.
   */
  static async start(
    opts: { runner?: "tsx" | "pulumi"; timeoutMs?: number; packDir?: string } = {},
  ): Promise<Analyzer> {
    const timeoutMs = opts.timeoutMs ?? 60_000;
    // `packDir`: another pack folder (e.g. the bundled dist/policy-pack), run by its own SDK's host.
    const packDir = opts.packDir ?? POLICY_PACK_DIR;
    const host = opts.packDir
      ? join(opts.packDir, "node_modules", "@pulumi", "pulumi", "cmd", "run-policy-pack")
      : require.resolve("@pulumi/pulumi/cmd/run-policy-pack");
    const argv =
      opts.runner === "pulumi" || opts.packDir
        ? [host, "127.0.0.1:0", "."]
        : ["--require", require.resolve("tsx/cjs"), join(POLICY_PACK_DIR, "index.ts")];
    const child = spawn(process.execPath, argv, {
      cwd: packDir, // the PolicyPack reads its version from ./package.json
      stdio: ["ignore", "pipe", "pipe"],
    });
    const port = await new Promise<number>((res, rej) => {
      let out = "";
      let err = "";
      const timer = setTimeout(
        () => fail(new Error(`the policy pack did not print its port within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const fail = (e: Error) => {
        clearTimeout(timer);
        child.kill("SIGKILL");
        rej(e);
      };
      child.stdout?.on("data", (d: Buffer) => {
        out += d.toString();
        const line = out.split("\n")[0];
        if (out.includes("\n") && /^\d+$/.test(line.trim())) {
          clearTimeout(timer);
          res(Number(line.trim()));
        }
      });
      child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
      child.on("exit", (code) => fail(new Error(`the policy pack exited (${code}) before serving:\n${err || out}`)));
    });
    // Never leave the analyzer behind, whatever ends this process.
    process.once("exit", () => {
      if (child.exitCode === null) child.kill("SIGKILL");
    });
    const client = new analyzerRpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      "grpc.max_receive_message_length": 400 * 1024 * 1024,
      "grpc.max_send_message_length": 400 * 1024 * 1024,
    });
    return new Analyzer(child, client);
  }

  private call<T>(method: string, req: unknown): Promise<T> {
    return new Promise((res, rej) =>
      this.client[method].call(this.client, req, (err, resp) => (err ? rej(err) : res(resp as T))),
    );
  }

  /** The pack's policies with their enforcement levels and config defaults (GetAnalyzerInfo). */
  async policies(): Promise<PolicyInfo[]> {
    const info = await this.call<{ getPoliciesList(): PolicyInfoPb[] }>("getAnalyzerInfo", new emptyPb.Empty());
    return info.getPoliciesList().map((p) => {
      const props = (p.getConfigschema()?.getProperties()?.toJavaScript() ?? {}) as Record<
        string,
        { default?: unknown }
      >;
      const defaults = Object.fromEntries(
        Object.entries(props)
          .filter(([, s]) => s && "default" in s)
          .map(([k, s]) => [k, s.default]),
      );
      return { name: p.getName(), level: LEVELS[p.getEnforcementlevel()], defaults };
    });
  }

  /** Configures every policy as the CLI does: its level and its config (schema defaults + overrides). */
  async configure(overrides: PolicyPackConfig = {}): Promise<void> {
    const req = new analyzerPb.ConfigureAnalyzerRequest();
    const map = req.getPolicyconfigMap();
    const all = overrides.all;
    for (const p of await this.policies()) {
      const o = overrides[p.name];
      const props: Record<string, unknown> = { ...p.defaults, ...(typeof o === "object" ? o : {}) };
      delete props.enforcementLevel;
      const level =
        (typeof o === "string" ? o : o?.enforcementLevel) ?? (typeof all === "string" ? all : undefined) ?? p.level;
      if (!LEVELS.includes(level))
        throw new Error(
          `--policy-config: ${p.name}: enforcement level must be one of ${LEVELS.join(", ")}; got ${JSON.stringify(level)}`,
        );
      const pc = new analyzerPb.PolicyConfig();
      pc.setEnforcementlevel(LEVELS.indexOf(level));
      pc.setProperties(structPb.Struct.fromJavaScript(props));
      map.set(p.name, pc);
    }
    for (const name of Object.keys(overrides)) {
      if (name !== "all" && !map.has(name)) throw new Error(`--policy-config: unknown policy ${JSON.stringify(name)}`);
    }
    await this.call("configure", req);
  }

  /** Stack identity (the CLI sends it before analyzing). */
  async configureStack(project: string, stack: string): Promise<void> {
    const req = new analyzerPb.AnalyzerStackConfigureRequest();
    req.setProject(project);
    req.setStack(stack);
    req.setDryRun(true);
    await this.call("configureStack", req);
  }

  /** Analyze of one resource (its inputs), as the engine calls it before a step. */
  async analyze(r: RecordedResource, all: Map<string, RecordedResource>): Promise<Violation[]> {
    const req = fillResource(new analyzerPb.AnalyzeRequest(), r, all);
    const resp = await this.call<AnalyzeResponsePb>("analyze", req);
    return violations(resp, all, r);
  }

  /** AnalyzeStack over every resource, parents linked, as the engine calls it after a preview. */
  async analyzeStack(resources: RecordedResource[], all: Map<string, RecordedResource>): Promise<Violation[]> {
    const req = new analyzerPb.AnalyzeStackRequest();
    req.setResourcesList(
      resources.map((r) => {
        const ar = fillResource(new analyzerPb.AnalyzerResource(), r, all);
        if (r.parentUrn) ar.setParent(r.parentUrn);
        return ar;
      }),
    );
    const resp = await this.call<AnalyzeResponsePb>("analyzeStack", req);
    return violations(resp, all);
  }

  /** Stops the analyzer process. */
  close(): void {
    this.client.close();
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
  }
}

interface PolicyInfoPb {
  getName(): string;
  getEnforcementlevel(): number;
  getConfigschema(): { getProperties(): { toJavaScript(): unknown } | undefined } | undefined;
}
interface DiagnosticPb {
  getPolicyname(): string;
  getDescription(): string;
  getMessage(): string;
  getEnforcementlevel(): number;
  getUrn(): string;
}
interface AnalyzeResponsePb {
  getDiagnosticsList(): DiagnosticPb[];
}

/** The fields AnalyzeRequest and AnalyzerResource share: type, name, URN, inputs, options, provider. */
interface ResourceMessage {
  setType(v: string): void;
  setName(v: string): void;
  setUrn(v: string): void;
  setProperties(v: unknown): void;
  setOptions(v: unknown): void;
  setProvider(v: unknown): void;
  setParent?(v: string): void;
}

function fillResource<M extends ResourceMessage>(m: M, r: RecordedResource, all: Map<string, RecordedResource>): M {
  m.setType(r.type);
  m.setName(r.name);
  m.setUrn(r.urn);
  m.setProperties(toStruct(r.inputs));
  m.setOptions(resourceOptions(r));
  const provider = providerOf(r, all);
  if (provider) m.setProvider(provider);
  return m;
}

/** Plain JSON (drops undefined, functions; resources' inputs are already resolved values). */
function toStruct(inputs: Record<string, unknown>): unknown {
  return structPb.Struct.fromJavaScript(JSON.parse(JSON.stringify(inputs ?? {})));
}

function resourceOptions(r: RecordedResource): unknown {
  const opts = new analyzerPb.AnalyzerResourceOptions();
  if (r.parentUrn) opts.setParent(r.parentUrn);
  return opts;
}

/** The explicit provider (`urn::id`) of a resource as an AnalyzerProviderResource. */
function providerOf(r: RecordedResource, all: Map<string, RecordedResource>): unknown {
  if (!r.provider) return undefined;
  const urn = r.provider.split("::").slice(0, -1).join("::");
  const p = all.get(urn);
  if (!p) return undefined;
  const pr = new analyzerPb.AnalyzerProviderResource();
  pr.setType(p.type);
  pr.setName(p.name);
  pr.setUrn(p.urn);
  pr.setProperties(toStruct(p.inputs));
  return pr;
}

function violations(
  resp: AnalyzeResponsePb,
  all: Map<string, RecordedResource>,
  subject?: RecordedResource,
): Violation[] {
  return resp.getDiagnosticsList().map((d) => {
    const r = subject ?? all.get(d.getUrn());
    const prefix = `${d.getDescription()}\n`;
    const message = d.getMessage().startsWith(prefix) ? d.getMessage().slice(prefix.length) : d.getMessage();
    return {
      policy: d.getPolicyname(),
      level: LEVELS[d.getEnforcementlevel()],
      resource: r?.name ?? "",
      type: r?.type ?? "",
      urn: r?.urn ?? d.getUrn(),
      message,
    };
  });
}

/** Runs the whole pack over a recording: Analyze per resource, then AnalyzeStack. */
export async function analyzeResources(
  resources: RecordedResource[],
  opts: { project: string; stack: string; policyConfig?: PolicyPackConfig },
): Promise<Violation[]> {
  const analyzer = await Analyzer.start();
  try {
    await analyzer.configure(opts.policyConfig);
    await analyzer.configureStack(opts.project, opts.stack);
    const registered = resources.filter((r) => r.urn !== "");
    const all = new Map(registered.map((r) => [r.urn, r]));
    const perResource = await Promise.all(registered.map((r) => analyzer.analyze(r, all)));
    const stack = await analyzer.analyzeStack(registered, all);
    return [...perResource.flat(), ...stack];
  } finally {
    analyzer.close();
  }
}

/** The violations as a table: policy, level, resource, message. */
export function formatTable(vs: Violation[]): string {
  const rows = vs.map((v) => [v.policy, v.level, v.resource ? `${v.resource} (${v.type})` : "(stack)", v.message]);
  const head = ["POLICY", "LEVEL", "RESOURCE", "MESSAGE"];
  const widths = [0, 1, 2].map((i) => Math.max(head[i].length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c)).join("  ");
  return [line(head), line(widths.map((w) => "-".repeat(w)).concat("-------")), ...rows.map(line)].join("\n");
}

const levelOrder = (l: Level) => (l === "mandatory" ? 0 : 1);

async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name("check")
    .description("Run a stack offline and check it with the scaleplane-guard policy pack through the real analyzer.")
    .option("--stack <name>", "stack to check (stacks/Pulumi.<name>.yaml)")
    .option(
      "--stack-file <path>",
      "check this stack file instead (e.g. a fixture); the stack name defaults to Pulumi.<name>.yaml's <name>",
    )
    .option(
      "--policy-config <path>",
      "policy pack config (JSON, as for pulumi --policy-pack-config): levels and thresholds per policy",
    )
    .option("--json", "print the violations as one JSON line after the table")
    .exitOverride();
  try {
    program.parse(argv);
  } catch (e) {
    return (e as { exitCode?: number }).exitCode ?? 2;
  }
  const o = program.opts<{ stack?: string; stackFile?: string; policyConfig?: string; json?: boolean }>();
  let selection: StackSelection;
  try {
    selection = stackOfArgs(o);
  } catch (e) {
    console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
    return 2;
  }
  const { stack, stackFile } = selection;

  let violationsFound: Violation[];
  try {
    const policyConfig = o.policyConfig
      ? (JSON.parse(readFileSync(o.policyConfig, "utf8")) as PolicyPackConfig)
      : undefined;
    // Loaded here, not at the top: it brings the Pulumi runtime and the program only when checking.
    const { runStackOffline } = require("./lib/stack") as typeof import("./lib/stack");
    const run = await runStackOffline(stack, { stackFile });
    console.log(`stack ${stack}: ${run.recording.resources.length} resources; checking with scaleplane-guard`);
    violationsFound = await analyzeResources(run.recording.resources, { project: "scaleplane", stack, policyConfig });
  } catch (e) {
    console.error(`check failed: ${e instanceof Error ? e.message : String(e)}`);
    return 2;
  }

  violationsFound.sort(
    (a, b) =>
      levelOrder(a.level) - levelOrder(b.level) ||
      a.policy.localeCompare(b.policy) ||
      a.resource.localeCompare(b.resource),
  );
  const mandatory = violationsFound.filter((v) => v.level === "mandatory").length;
  if (violationsFound.length > 0) console.log(formatTable(violationsFound));
  console.log(
    `${mandatory} mandatory, ${violationsFound.length - mandatory} advisory violation(s)${mandatory > 0 ? ": failed" : ": passed"}`,
  );
  if (o.json) console.log(JSON.stringify(violationsFound));
  return mandatory > 0 ? 1 : 0;
}

if (require.main === module) {
  // Resource registrations of the offline run fail asynchronously (e.g. a dynamic provider that does
  // not serialize): report them like any other failure, without a stack trace.
  process.on("unhandledRejection", (e) => {
    console.error(`check failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(2);
  });
  main(process.argv).then(
    // Exit only once stdout is flushed: a long table or --json piped to another program would be cut.
    (code) => process.stdout.write("", () => process.exit(code)),
    (e) => {
      console.error(`check failed: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(2);
    },
  );
}
