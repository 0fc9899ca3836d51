/**
 * Drives a Pulumi dynamic provider exactly as the engine does: through the SDK's own
 * dynamic-provider host process over gRPC, with the provider serialized by a real (mock-runtime)
 * program run. Proves the provider survives closure serialization and honours the protocol.
 *
 * Usage:
 *   const serialized = await serializeDynamicProvider(() => new EtcdMembership("m", args));  // once per process
 *   const host = await ProviderHost.start();
 *   const checked = await host.check(type, {}, { __provider: serialized, ...inputs });
 *   const { id, outputs } = await host.create(type, checked.inputs);
 *   ...
 *   await host.stop();
 *
 * `serializeDynamicProvider` installs the mock runtime (scripts/lib/offline.ts): call it once per
 * jest file, before other Pulumi programs in that file.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { installMocks, settle } from "../../scripts/lib/offline";

const ROOT = join(__dirname, "..", "..");
const HOST_SCRIPT = join(ROOT, "node_modules", "@pulumi", "pulumi", "cmd", "dynamic-provider", "index.js");

// The SDK's generated gRPC stubs and messages (CommonJS, no types of use here).
const provrpc = require("@pulumi/pulumi/proto/provider_grpc_pb");
const provproto = require("@pulumi/pulumi/proto/provider_pb");
const structproto = require("google-protobuf/google/protobuf/struct_pb");

export type Props = Record<string, unknown>;

/** A CheckFailure as the host returns it. */
export interface CheckFailure {
  property: string;
  reason: string;
}

export interface DiffResult {
  /** "some" | "none" | "unknown" */
  changes: "some" | "none" | "unknown";
  replaces: string[];
  deleteBeforeReplace: boolean;
}

/**
 * Runs `create` (a function that constructs ONE dynamic resource) under the mock runtime and
 * returns the serialized provider (`__provider`) the engine would send. Type must be the dynamic
 * resource's token, e.g. `pulumi-nodejs:dynamic/etcd:EtcdMembership`.
 */
export async function serializeDynamicProvider(
  type: string,
  create: () => unknown,
): Promise<{ provider: string; inputs: Props }> {
  const rec = installMocks({ stack: "provider-host", project: "scaleplane" });
  create();
  await settle();
  const r = rec.one(type);
  const provider = r.inputs.__provider;
  if (typeof provider !== "string" || provider.length === 0)
    throw new Error(`${type} was registered without a serialized __provider`);
  return { provider, inputs: r.inputs };
}

const urnOf = (type: string, name: string) => `urn:pulumi:test::scaleplane::${type}::${name}`;

/** A running dynamic-provider host process and a gRPC client to it. */
export class ProviderHost {
  private constructor(
    private readonly proc: ChildProcess,
    private readonly client: grpc.Client &
      Record<
        string,
        (
          req: unknown,
          md: grpc.Metadata,
          opts: grpc.CallOptions,
          cb: (err: grpc.ServiceError | null, resp: unknown) => void,
        ) => void
      >,
    /** The host's stderr so far (provider console.error output, uncaught errors). */
    readonly stderr: string[],
  ) {}

  /** Starts the SDK's host on 127.0.0.1 and connects (the port is the first stdout line). */
  /** `env`: extra environment for the host process (e.g. a test-only crash point). */
  /** `projectDir`: run the host of that project's own @pulumi/pulumi, there (default: this repository). */
  /** `engineAddress`: the Engine the host (and `pulumi.log` in providers) reports to (default: none listening). */
  static async start(
    opts: { timeoutMs?: number; env?: Record<string, string>; projectDir?: string; engineAddress?: string } = {},
  ): Promise<ProviderHost> {
    const cwd = opts.projectDir ?? ROOT;
    const script = opts.projectDir
      ? join(opts.projectDir, "node_modules", "@pulumi", "pulumi", "cmd", "dynamic-provider", "index.js")
      : HOST_SCRIPT;
    const proc = spawn(process.execPath, [script, opts.engineAddress ?? "127.0.0.1:0"], {
      cwd,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...opts.env },
    });
    const stderr: string[] = [];
    proc.stderr!.on("data", (d: Buffer) => stderr.push(d.toString()));
    const port = await new Promise<number>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => {
        // never leave the process behind (it would keep jest from exiting)
        proc.kill("SIGKILL");
        reject(
          new Error(
            `dynamic-provider host printed no port within ${opts.timeoutMs ?? 60000} ms; stderr: ${stderr.join("")}`,
          ),
        );
      }, opts.timeoutMs ?? 60000);
      proc.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        const line = out.split("\n")[0];
        if (out.includes("\n") && /^\d+$/.test(line.trim())) {
          clearTimeout(timer);
          resolve(Number(line.trim()));
        }
      });
      proc.once("exit", (code) => {
        clearTimeout(timer);
        reject(
          new Error(`dynamic-provider host exited (${code}) before printing its port; stderr: ${stderr.join("")}`),
        );
      });
    });
    const Client = grpc.makeGenericClientConstructor(provrpc.ResourceProviderService, "ResourceProvider");
    const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      "grpc.max_receive_message_length": 64 * 1024 * 1024,
    });
    return new ProviderHost(proc, client as never, stderr);
  }

  private call<T>(method: string, req: unknown, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      this.client[method](req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, resp) => {
        if (err) reject(new Error(`${method}: ${err.details || err.message}`));
        else resolve(resp as T);
      });
    });
  }

  /** A request message with the resource's URN, type and name set, plus `fields` (setter name → value). */
  private request(message: string, type: string, name: string, fields: Record<string, unknown>): unknown {
    const req = new provproto[message]();
    req.setUrn(urnOf(type, name));
    req.setType(type);
    req.setName(name);
    for (const [setter, value] of Object.entries(fields)) req[setter](value);
    return req;
  }

  private static struct(v: Props): unknown {
    return structproto.Struct.fromJavaScript(v);
  }

  async check(
    type: string,
    olds: Props,
    news: Props,
    name = "test",
    timeoutMs = 30000,
  ): Promise<{ inputs: Props; failures: CheckFailure[] }> {
    const req = this.request("CheckRequest", type, name, {
      setOlds: ProviderHost.struct(olds),
      setNews: ProviderHost.struct(news),
    });
    const resp = await this.call<{
      getInputs(): { toJavaScript(): Props };
      getFailuresList(): { getProperty(): string; getReason(): string }[];
    }>("check", req, timeoutMs);
    return {
      inputs: resp.getInputs().toJavaScript(),
      failures: resp.getFailuresList().map((f) => ({ property: f.getProperty(), reason: f.getReason() })),
    };
  }

  async diff(
    type: string,
    id: string,
    olds: Props,
    news: Props,
    name = "test",
    timeoutMs = 30000,
  ): Promise<DiffResult> {
    const req = this.request("DiffRequest", type, name, {
      setId: id,
      setOlds: ProviderHost.struct(olds),
      setNews: ProviderHost.struct(news),
    });
    const resp = await this.call<{
      getChanges(): number;
      getReplacesList(): string[];
      getDeletebeforereplace(): boolean;
    }>("diff", req, timeoutMs);
    const C = provproto.DiffResponse.DiffChanges;
    const changes = resp.getChanges() === C.DIFF_SOME ? "some" : resp.getChanges() === C.DIFF_NONE ? "none" : "unknown";
    return { changes, replaces: resp.getReplacesList(), deleteBeforeReplace: resp.getDeletebeforereplace() };
  }

  async create(type: string, props: Props, name = "test", timeoutMs = 180000): Promise<{ id: string; outputs: Props }> {
    const req = this.request("CreateRequest", type, name, {
      setProperties: ProviderHost.struct(props),
      setTimeout: timeoutMs / 1000,
    });
    const resp = await this.call<{ getId(): string; getProperties(): { toJavaScript(): Props } }>(
      "create",
      req,
      timeoutMs,
    );
    return { id: resp.getId(), outputs: resp.getProperties().toJavaScript() };
  }

  async update(type: string, id: string, olds: Props, news: Props, name = "test", timeoutMs = 300000): Promise<Props> {
    const req = this.request("UpdateRequest", type, name, {
      setId: id,
      setOlds: ProviderHost.struct(olds),
      setNews: ProviderHost.struct(news),
      setTimeout: timeoutMs / 1000,
    });
    const resp = await this.call<{ getProperties(): { toJavaScript(): Props } }>("update", req, timeoutMs);
    return resp.getProperties().toJavaScript();
  }

  /** Refresh: the provider's read; `id` "" means the resource no longer exists. */
  async read(
    type: string,
    id: string,
    props: Props,
    name = "test",
    timeoutMs = 60000,
  ): Promise<{ id: string; outputs: Props }> {
    const req = this.request("ReadRequest", type, name, { setId: id, setProperties: ProviderHost.struct(props) });
    const resp = await this.call<{ getId(): string; getProperties(): { toJavaScript(): Props } | undefined }>(
      "read",
      req,
      timeoutMs,
    );
    return { id: resp.getId(), outputs: resp.getProperties()?.toJavaScript() ?? {} };
  }

  async delete(type: string, id: string, props: Props, name = "test", timeoutMs = 120000): Promise<void> {
    await this.call(
      "delete",
      this.request("DeleteRequest", type, name, {
        setId: id,
        setProperties: ProviderHost.struct(props),
        setTimeout: timeoutMs / 1000,
      }),
      timeoutMs,
    );
  }

  /** The host process's exit: undefined while it runs, else its exit code or signal. */
  get exit(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.proc.exitCode === null && this.proc.signalCode === null
      ? undefined
      : { code: this.proc.exitCode, signal: this.proc.signalCode };
  }

  /** Kills the host process outright (SIGKILL: a crash, no cleanup), by its own handle. */
  async kill(): Promise<void> {
    if (this.exit !== undefined) return;
    const exited = new Promise((r) => this.proc.once("exit", r));
    this.proc.kill("SIGKILL");
    await exited;
  }

  /** Closes the client and ends the host process (by its own handle). */
  async stop(): Promise<void> {
    this.client.close();
    if (this.exit === undefined) {
      const exited = new Promise((r) => this.proc.once("exit", r));
      this.proc.kill("SIGTERM");
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 3000)))]);
      clearTimeout(timer);
      if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill("SIGKILL");
    }
  }
}
