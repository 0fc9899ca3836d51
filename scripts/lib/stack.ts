/**
 * Stack config as Pulumi would hand it to the program: `Pulumi.yaml`'s `config:` defaults merged
 * with `stacks/Pulumi.<stack>.yaml` (stackConfigDir), flattened to `namespace:key` → string.
 * Then the program (index.ts) runs offline under the mock runtime.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
// Only types at load time: the Pulumi runtime (./offline) is required when a stack is run, so
// commands can parse their arguments (stackOfArgs) without loading it.
import type { Recording } from "./offline";

export const REPO_ROOT = resolve(__dirname, "..", "..");

interface ProjectFile {
  name: string;
  stackConfigDir?: string;
  config?: Record<string, unknown>;
}

function readYaml(path: string): unknown {
  return parseYaml(readFileSync(path, "utf8"));
}

function projectFile(root: string): ProjectFile {
  const p = readYaml(join(root, "Pulumi.yaml")) as ProjectFile;
  if (!p || typeof p.name !== "string") throw new Error(`${join(root, "Pulumi.yaml")}: missing project name`);
  return p;
}

/** Stack names that have a `Pulumi.<stack>.yaml` in the stack config dir. */
export function listStacks(root = REPO_ROOT): string[] {
  const dir = join(root, projectFile(root).stackConfigDir ?? ".");
  return readdirSync(dir)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
}

/** The stack a command works on (`--stack`, `--stack-file`) and the stack file to read, if not the default. */
export interface StackSelection {
  stack: string;
  /** Absolute path of the stack file when given; else stacks/Pulumi.<stack>.yaml is read. */
  stackFile?: string;
}

/** Thrown for command-line arguments that name no stack; `message` is what to print. */
export class StackArgumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StackArgumentError";
  }
}

/**
 * `--stack <name>` and/or `--stack-file <path>` → the stack. Without `--stack` the name comes from
 * the file name (`Pulumi.<name>.yaml`, as Pulumi names stack files). Shared by plan and check.
 */
export function stackOfArgs(opts: { stack?: string; stackFile?: string }): StackSelection {
  const stackFile = opts.stackFile ? resolve(opts.stackFile) : undefined;
  if (opts.stack) return { stack: opts.stack, stackFile };
  if (!stackFile)
    throw new StackArgumentError("--stack <name> is required (or --stack-file <path>/Pulumi.<name>.yaml)");
  const stack = /^Pulumi\.(.+)\.ya?ml$/.exec(basename(stackFile))?.[1];
  if (!stack)
    throw new StackArgumentError(
      `--stack-file ${opts.stackFile}: cannot tell the stack name from the file name; name it Pulumi.<stack>.yaml or add --stack <name>`,
    );
  return { stack, stackFile };
}

/** Pulumi passes every config value to programs as a string; objects and arrays as JSON. */
const asConfigString = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v));

/** `key` in the project namespace unless it names one (`aws:region`). */
const qualify = (project: string, key: string) => (key.includes(":") ? key : `${project}:${key}`);

/**
 * The config of `stack` as `namespace:key` → string: project defaults first, then the stack file.
 * `stackFile` overrides the path of the stack file (used for fixtures).
 */
export function loadStackConfig(
  stack: string,
  opts: { root?: string; stackFile?: string } = {},
): Record<string, string> {
  const root = opts.root ?? REPO_ROOT;
  const project = projectFile(root);
  const out: Record<string, string> = {};
  for (const [key, decl] of Object.entries(project.config ?? {})) {
    // Long form `{type, default | value, description}` or the short form `key: value`.
    const d = decl as Record<string, unknown> | null;
    const isLong =
      d !== null &&
      typeof d === "object" &&
      !Array.isArray(d) &&
      ("type" in d || "default" in d || "value" in d || "description" in d);
    const value = isLong ? (d.value ?? d.default) : decl;
    if (value !== undefined) out[qualify(project.name, key)] = asConfigString(value);
  }
  const file = opts.stackFile ?? join(root, project.stackConfigDir ?? ".", `Pulumi.${stack}.yaml`);
  if (!existsSync(file)) {
    throw new Error(`no stack file for stack "${stack}" (${file}); stacks: ${listStacks(root).join(", ")}`);
  }
  const doc = (readYaml(file) ?? {}) as { config?: Record<string, unknown> };
  for (const [key, value] of Object.entries(doc.config ?? {})) {
    if (value && typeof value === "object" && "secure" in (value as object)) {
      throw new Error(
        `${file}: ${key} is an encrypted secret; offline runs cannot decrypt it (set it with an environment variable in CI instead)`,
      );
    }
    out[qualify(project.name, key)] = asConfigString(value);
  }
  return out;
}

/**
 * Waits for every registration, or rejects with the first asynchronous failure (a failed
 * registration never settles; the interval also keeps the event loop alive until one happens).
 */
async function settleOrFail(failure: () => unknown): Promise<void> {
  const { settle } = require("./offline") as typeof import("./offline");
  let timer: NodeJS.Timeout | undefined;
  const failed = new Promise<never>((_, reject) => {
    timer = setInterval(() => failure() !== undefined && reject(failure()), 20);
  });
  try {
    await Promise.race([settle(), failed]);
  } finally {
    clearInterval(timer);
  }
  if (failure() !== undefined) throw failure();
}

export interface OfflineStackRun {
  stack: string;
  config: Record<string, string>;
  recording: Recording;
  /** The program's exports (stack outputs), resolved. */
  outputs: Record<string, unknown>;
}

/**
 * Runs the program (index.ts) for `stack` under the mock runtime and returns every resource it
 * registered. Throws the program's error (e.g. ConfigError) unchanged. One run per process: the
 * Pulumi runtime is global.
 */
export async function runStackOffline(
  stack: string,
  opts: {
    root?: string;
    stackFile?: string;
    preview?: boolean;
    /** The stack's previous deployment's outputs (see `OfflineOptions.stackOutputs`). @default {} */
    stackOutputs?: Record<string, unknown>;
  } = {},
): Promise<OfflineStackRun> {
  const root = opts.root ?? REPO_ROOT;
  const config = loadStackConfig(stack, opts);
  const { installMocks } = require("./offline") as typeof import("./offline");
  const recording = installMocks({
    project: projectFile(root).name,
    stack,
    config,
    preview: opts.preview,
    stackOutputs: opts.stackOutputs,
  });
  // A resource whose registration fails (e.g. a dynamic provider that cannot be serialized)
  // rejects asynchronously: surface the first such error as the run's error.
  let failure: unknown;
  const onRejection = (e: unknown) => (failure ??= e);
  process.on("unhandledRejection", onRejection);
  try {
    return await runProgram(stack, root, config, recording, () => failure);
  } finally {
    process.off("unhandledRejection", onRejection);
  }
}

async function runProgram(
  stack: string,
  root: string,
  config: Record<string, string>,
  recording: Recording,
  failure: () => unknown,
): Promise<OfflineStackRun> {
  const program = require(join(root, "index")) as Record<string, unknown>;
  await settleOrFail(failure);
  const pulumi = await import("@pulumi/pulumi");
  const outputs: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(program)) {
    if (pulumi.Output.isInstance(v)) {
      outputs[k] = await new Promise((res) => (v as import("@pulumi/pulumi").Output<unknown>).apply((x) => res(x)));
    } else if (typeof v !== "function") outputs[k] = v;
  }
  await settleOrFail(failure);
  return { stack, config, recording, outputs };
}
