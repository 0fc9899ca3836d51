/**
 * Starts the Pulumi program the way the CLI's nodejs language host does
 * (pulumi-language-nodejs `constructArguments`/`constructEnv`): the SDK's program runner
 * `node <project>/node_modules/@pulumi/pulumi/cmd/run` with `--monitor --engine --project --stack
 * --pwd --parallel [--dry-run] <entry point>`, the stack config in `PULUMI_CONFIG` (JSON of
 * `namespace:key` → string) and `PULUMI_CONFIG_SECRET_KEYS`, and Pulumi.yaml's nodejs runtime
 * options as the host turns them into environment (`typescript` → PULUMI_NODEJS_TYPESCRIPT,
 * `tsconfig` → PULUMI_NODEJS_TSCONFIG_PATH, `nodeargs` → node's own arguments). The entry point is
 * Pulumi.yaml's `main` (else "."), run in the project directory.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";

export interface ProgramRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

interface ProjectYaml {
  name: string;
  main?: string;
  runtime: string | { name: string; options?: Record<string, unknown> };
}

/** Pulumi.yaml's project name, entry point and nodejs runtime options. */
export function projectSettings(root: string): { name: string; entryPoint: string; options: Record<string, unknown> } {
  const p = parseYaml(readFileSync(join(root, "Pulumi.yaml"), "utf8")) as ProjectYaml;
  const runtime = typeof p.runtime === "string" ? { name: p.runtime } : p.runtime;
  if (runtime.name !== "nodejs") throw new Error(`Pulumi.yaml: runtime ${runtime.name} is not nodejs`);
  const options = runtime.options ?? {};
  const known = ["typescript", "tsconfig", "nodeargs", "packagemanager"];
  for (const k of Object.keys(options))
    if (!known.includes(k))
      throw new Error(`Pulumi.yaml: runtime option ${k} is not one the rehearsal maps (${known.join(", ")})`);
  return { name: p.name, entryPoint: p.main ?? ".", options };
}

/**
 * Runs the program once against `monitorAddress`/`engineAddress`. Resolves when the process
 * exits (never rejects on a non-zero exit: the caller asserts on it, with stderr).
 */
export function runProgram(opts: {
  root: string;
  stack: string;
  config: Record<string, string>;
  secretKeys?: string[];
  monitorAddress: string;
  engineAddress: string;
  dryRun: boolean;
  parallel?: number;
  /** Extra environment (e.g. PULUMI_NODEJS_TRANSPILE_ONLY, which users set in their shell). */
  env?: Record<string, string>;
  timeoutMs: number;
  onOutput?: (line: string) => void;
}): Promise<ProgramRun> {
  const project = projectSettings(opts.root);
  const runner = join(opts.root, "node_modules", "@pulumi", "pulumi", "cmd", "run");
  const nodeArgs =
    typeof project.options.nodeargs === "string"
      ? project.options.nodeargs.split(/\s+/).filter((a) => a.length > 0)
      : [];
  const args = [
    ...nodeArgs,
    runner,
    `--monitor=${opts.monitorAddress}`,
    `--engine=${opts.engineAddress}`,
    `--project=${project.name}`,
    `--stack=${opts.stack}`,
    `--pwd=${opts.root}`,
    `--parallel=${opts.parallel ?? 16}`,
    ...(opts.dryRun ? ["--dry-run"] : []),
    project.entryPoint,
  ];
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    PULUMI_CONFIG: JSON.stringify(opts.config),
    PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(opts.secretKeys ?? []),
    ...(project.options.typescript !== undefined
      ? { PULUMI_NODEJS_TYPESCRIPT: String(project.options.typescript) }
      : {}),
    ...(typeof project.options.tsconfig === "string" ? { PULUMI_NODEJS_TSCONFIG_PATH: project.options.tsconfig } : {}),
    ...opts.env,
  };
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, args, { cwd: opts.root, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    proc.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      opts.onOutput?.(d.toString());
    });
    proc.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      opts.onOutput?.(d.toString());
    });
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`the program did not finish within ${opts.timeoutMs} ms; stderr:\n${stderr}`));
    }, opts.timeoutMs);
    proc.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    proc.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}
