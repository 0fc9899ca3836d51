/**
 * A recording Pulumi engine for the rehearsal: the ResourceMonitor and Engine gRPC services a
 * Pulumi program talks to during `pulumi preview`/`up`, served on 127.0.0.1 by the test
 * (`@pulumi/pulumi/proto/resource_grpc_pb`, `engine_grpc_pb`).
 *
 * Every RegisterResource is recorded (type, name, parent, custom, inputs as the program sent them
 * with Pulumi's secret/unknown markers, dependencies). Custom resources go to `create`: in a
 * preview it answers with the inputs (what the engine shows for a create in a preview: outputs
 * not known yet), in an up it creates the resource for real and answers with its outputs, as the
 * engine's step executor does. The program only sends a registration once every Output it reads
 * has resolved, so creation here happens in dependency order. Invokes, reads and calls are
 * refused: the program must not look anything up (scripts/lib/offline.ts refuses them too).
 */
import * as grpc from "@grpc/grpc-js";

const resrpc = require("@pulumi/pulumi/proto/resource_grpc_pb");
const resproto = require("@pulumi/pulumi/proto/resource_pb");
const enginerpc = require("@pulumi/pulumi/proto/engine_grpc_pb");
const engineproto = require("@pulumi/pulumi/proto/engine_pb");
const structproto = require("google-protobuf/google/protobuf/struct_pb");
const emptyproto = require("google-protobuf/google/protobuf/empty_pb");

/** Pulumi's wire markers (sdk/nodejs/runtime/rpc.ts). */
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
export const SPECIAL_SIG_KEY = "4dabf18193072939515e22adb298388d";
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export type Props = Record<string, unknown>;

/** One registration as the program sent it. */
export interface Registration {
  seq: number;
  urn: string;
  type: string;
  name: string;
  parentUrn?: string;
  custom: boolean;
  /** Inputs with Pulumi's markers (secrets `{4dabf…: 1b47…, value}`, unknowns as UNKNOWN). */
  inputs: Props;
  dependencies: string[];
  additionalSecretOutputs: string[];
  provider?: string;
  /** Set once the resource exists (custom resources of an up). */
  id?: string;
  outputs?: Props;
  /** Outputs a component registered with registerOutputs. */
  componentOutputs?: Props;
}

/** Creates a custom resource (or, in a preview, returns what the engine would show). */
export type CreateFn = (r: Registration) => Promise<{ id: string; outputs: Props }>;

export interface LogEntry {
  severity: number;
  message: string;
  urn: string;
}

const isSecret = (v: unknown): v is { value: unknown } =>
  typeof v === "object" && v !== null && (v as Props)[SPECIAL_SIG_KEY] === SECRET_SIG;

/** `v` without secret wrappers (the plain values a provider works with). */
export function unwrapSecrets(v: unknown): unknown {
  if (isSecret(v)) return unwrapSecrets(v.value);
  if (Array.isArray(v)) return v.map(unwrapSecrets);
  if (typeof v === "object" && v !== null)
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapSecrets(x)]));
  return v;
}

/** True when `v` holds a secret anywhere. */
export function containsSecret(v: unknown): boolean {
  if (isSecret(v)) return true;
  if (Array.isArray(v)) return v.some(containsSecret);
  if (typeof v === "object" && v !== null) return Object.values(v).some(containsSecret);
  return false;
}

/** Every secret value (as a string) inside `v`, for leak checks. */
export function secretValues(v: unknown, inside = false): string[] {
  if (isSecret(v)) return secretValues(v.value, true);
  if (Array.isArray(v)) return v.flatMap((x) => secretValues(x, inside));
  if (typeof v === "object" && v !== null) return Object.values(v).flatMap((x) => secretValues(x, inside));
  return inside && typeof v === "string" && v.length > 0 ? [v] : inside && typeof v === "number" ? [String(v)] : [];
}

const dropUndefined = (v: unknown): unknown => {
  if (Array.isArray(v)) return v.map(dropUndefined);
  if (typeof v === "object" && v !== null)
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .map(([k, x]) => [k, dropUndefined(x)]),
    );
  return v;
};

/** The qualified type chain of a URN (`parent$child`), as the engine builds child URNs. */
const qualifiedType = (urn: string) => urn.split("::")[2];

/** The recording engine: start(), hand `monitorAddress`/`engineAddress` to the program, stop(). */
export class RecordingEngine {
  readonly registrations: Registration[] = [];
  readonly logs: LogEntry[] = [];
  rootUrn = "";
  private server = new grpc.Server();
  private port = 0;
  private seq = 0;
  /** The first failure of a create: the engine reports it to the program as the registration's error. */
  readonly failures: { urn: string; error: string }[] = [];

  constructor(
    private readonly opts: { project: string; stack: string; create: CreateFn; onLog?: (e: LogEntry) => void },
  ) {}

  get monitorAddress(): string {
    return `127.0.0.1:${this.port}`;
  }
  /** The same server serves both services. */
  get engineAddress(): string {
    return this.monitorAddress;
  }

  byUrn(urn: string): Registration | undefined {
    return this.registrations.find((r) => r.urn === urn);
  }

  async start(): Promise<void> {
    const refuse = (what: string) => (_call: unknown, cb: grpc.sendUnaryData<unknown>) =>
      cb(
        {
          code: grpc.status.FAILED_PRECONDITION,
          details: `rehearsal engine: ${what} is refused (the program must not look anything up at deploy time)`,
        } as grpc.ServiceError,
        null,
      );
    this.server.addService(resrpc.ResourceMonitorService, {
      supportsFeature: (call: grpc.ServerUnaryCall<{ getId(): string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        // What the CLI's engine supports, minus output values (the mock monitor's choice too, so
        // both runs serialize inputs alike) and the hook/transform callbacks this engine lacks.
        const id = call.request.getId();
        const resp = new resproto.SupportsFeatureResponse();
        resp.setHassupport(["secrets", "resourceReferences", "deletedWith", "aliasSpecs"].includes(id));
        cb(null, resp);
      },
      registerResource: (call: grpc.ServerUnaryCall<RegisterRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        this.register(call.request).then(
          (resp) => cb(null, resp),
          (e: Error) => cb({ code: grpc.status.UNKNOWN, details: e.message } as grpc.ServiceError, null),
        );
      },
      registerResourceOutputs: (
        call: grpc.ServerUnaryCall<{ getUrn(): string; getOutputs(): { toJavaScript(): Props } | undefined }, unknown>,
        cb: grpc.sendUnaryData<unknown>,
      ) => {
        const r = this.byUrn(call.request.getUrn());
        if (r) r.componentOutputs = call.request.getOutputs()?.toJavaScript() ?? {};
        cb(null, new emptyproto.Empty());
      },
      invoke: refuse("Invoke"),
      call: refuse("Call"),
      readResource: refuse("ReadResource"),
      registerPackage: refuse("RegisterPackage"),
      signalAndWaitForShutdown: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, new emptyproto.Empty()),
    });
    this.server.addService(enginerpc.EngineService, {
      log: (
        call: grpc.ServerUnaryCall<{ getSeverity(): number; getMessage(): string; getUrn(): string }, unknown>,
        cb: grpc.sendUnaryData<unknown>,
      ) => {
        const e = {
          severity: call.request.getSeverity(),
          message: call.request.getMessage(),
          urn: call.request.getUrn(),
        };
        this.logs.push(e);
        this.opts.onLog?.(e);
        cb(null, new emptyproto.Empty());
      },
      getRootResource: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
        const resp = new engineproto.GetRootResourceResponse();
        resp.setUrn(this.rootUrn);
        cb(null, resp);
      },
      setRootResource: (call: grpc.ServerUnaryCall<{ getUrn(): string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        this.rootUrn = call.request.getUrn();
        cb(null, new engineproto.SetRootResourceResponse());
      },
      requirePulumiVersion: (_call: unknown, cb: grpc.sendUnaryData<unknown>) =>
        cb(null, new engineproto.RequirePulumiVersionResponse()),
    });
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) =>
        err ? reject(err) : resolve(port),
      ),
    );
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
  }

  private async register(req: RegisterRequest): Promise<unknown> {
    const type = req.getType();
    const name = req.getName();
    const parentUrn = req.getParent() || undefined;
    const parentType =
      parentUrn && qualifiedType(parentUrn) !== "pulumi:pulumi:Stack" ? `${qualifiedType(parentUrn)}$` : "";
    const urn = `urn:pulumi:${this.opts.stack}::${this.opts.project}::${parentType}${type}::${name}`;
    if (this.byUrn(urn)) throw new Error(`duplicate resource URN ${urn}`);
    const reg: Registration = {
      seq: this.seq++,
      urn,
      type,
      name,
      parentUrn,
      custom: req.getCustom(),
      inputs: req.getObject()?.toJavaScript() ?? {},
      dependencies: req.getDependenciesList(),
      additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
      provider: req.getProvider() || undefined,
    };
    this.registrations.push(reg);
    const resp = new resproto.RegisterResourceResponse();
    resp.setUrn(urn);
    if (!reg.custom) {
      resp.setObject(structproto.Struct.fromJavaScript({}));
      return resp;
    }
    let created: { id: string; outputs: Props };
    try {
      created = await this.opts.create(reg);
    } catch (e) {
      this.failures.push({ urn, error: (e as Error).message });
      throw new Error(`creating ${type} ${name}: ${(e as Error).message}`);
    }
    reg.id = created.id;
    reg.outputs = created.outputs;
    // The engine keeps secret what was secret in, and what the program asked to be secret.
    const outs: Props = {};
    for (const [k, v] of Object.entries(created.outputs)) {
      const secret = containsSecret(reg.inputs[k]) || reg.additionalSecretOutputs.includes(k);
      outs[k] = secret && !isSecret(v) ? { [SPECIAL_SIG_KEY]: SECRET_SIG, value: v } : v;
    }
    resp.setId(created.id);
    resp.setObject(structproto.Struct.fromJavaScript(dropUndefined(outs)));
    return resp;
  }
}

interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getObject(): { toJavaScript(): Props } | undefined;
  getDependenciesList(): string[];
  getAdditionalsecretoutputsList(): string[];
  getProvider(): string;
}
