/**
 * `npm test`: every check, in phases that run side by side where they can, with the time of each
 * phase at the end.
 *
 *   npm test                              # everything
 *   npm test -- unit integration          # only the phases named (no dependencies added)
 *   npm test -- --integration-workers 2
 *
 * Phases and what each waits for (measured on the 2-core CI machine):
 *   images       `npm run images`: the local images the integration files start (cached by a hash
 *                of their inputs, so seconds when nothing changed); mostly Docker and apt I/O.
 *   typecheck    `tsc --noEmit`, one single-threaded process.
 *   lint         eslint, dependency-cruiser, prettier --check, one process at a time.
 *   unit         jest, 2 workers; after typecheck and lint (they share the two cores first).
 *   integration  jest, 3 workers; after images and unit. The files spend most of their time
 *                waiting on engines (etcd elections, PostgreSQL and container starts, drains), so
 *                several run at once: each worker searches its own slice of every test port range
 *                (test/support/ports.ts), and every file names its containers, networks and data
 *                directories after its process id, so files never share a port or a container.
 *   properties   jest, 1 worker, the CPU-bound whole-ring properties; after unit, beside integration.
 *
 * Every phase's output streams live, each line prefixed with the phase's name (a CI log that is cut
 * short still shows what ran), and is also kept whole in a log file per phase. A failed phase does
 * not stop the others (one run reports every failure); the run exits non-zero when any failed.
 * The summary lists each phase's wall time and the slowest integration files (jest's own times).
 */
import { spawn } from "node:child_process";
import { createWriteStream, existsSync, mkdtempSync, readFileSync, type WriteStream } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { createInterface } from "node:readline";
import { Command, InvalidArgumentError } from "commander";

const ROOT = resolve(__dirname, "..");

interface Phase {
  name: string;
  /** Phases that must have ended (passed or not) before this one starts. */
  after: string[];
  /** Commands run one after the other (the phase fails at the first that fails). */
  commands: string[][];
  /** jest --json report of this phase (for the slowest files). */
  report?: string;
}

interface Outcome {
  name: string;
  ok: boolean;
  startedAt: number;
  seconds: number;
  report?: string;
}

const ORDER = ["images", "typecheck", "lint", "unit", "integration", "properties"] as const;

const workerCount = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 8) throw new InvalidArgumentError("a whole number from 1 to 8");
  return n;
};

function phases(logDir: string, integrationWorkers: number): Record<string, Phase> {
  const node = process.execPath;
  const bin = (pkg: string, path: string) => join(ROOT, "node_modules", pkg, path);
  const jest = (project: string, after: string[], args: string[], report?: string): Phase => ({
    name: project,
    after,
    commands: [
      [
        node,
        bin("jest", "bin/jest.js"),
        "--ci",
        "--selectProjects",
        project,
        ...args,
        ...(report ? ["--json", "--outputFile", report] : []),
      ],
    ],
    report,
  });
  return {
    images: { name: "images", after: [], commands: [[node, bin("tsx", "dist/cli.mjs"), "scripts/images.ts"]] },
    typecheck: {
      name: "typecheck",
      after: [],
      commands: [[node, bin("typescript", "bin/tsc"), "--noEmit", "-p", "."]],
    },
    lint: {
      name: "lint",
      after: [],
      commands: [
        [node, bin("eslint", "bin/eslint.js"), "."],
        [
          node,
          bin("dependency-cruiser", "bin/dependency-cruise.mjs"),
          "--config",
          ".dependency-cruiser.cjs",
          "--output-type",
          "err",
          ".",
        ],
        [node, bin("prettier", "bin/prettier.cjs"), "--check", "."],
      ],
    },
    unit: jest("unit", ["typecheck", "lint"], ["--maxWorkers=2"]),
    integration: jest(
      "integration",
      ["images", "unit"],
      [`--maxWorkers=${integrationWorkers}`],
      join(logDir, "integration.json"),
    ),
    properties: jest("properties", ["unit"], ["--maxWorkers=1"]),
  };
}

/** Streams a child's output line by line, prefixed, to stdout and whole to `log`. */
function runCommand(cmd: string[], prefix: string, log: WriteStream): Promise<number> {
  return new Promise((done) => {
    log.write(`$ ${cmd.map((a) => relative(ROOT, a) || a).join(" ")}\n`);
    const child = spawn(cmd[0], cmd.slice(1), { cwd: ROOT, env: process.env, stdio: ["ignore", "pipe", "pipe"] });
    let open = 2;
    let code: number | undefined;
    const end = () => {
      if (open === 0 && code !== undefined) done(code);
    };
    for (const stream of [child.stdout, child.stderr]) {
      const lines = createInterface({ input: stream, crlfDelay: Infinity });
      lines.on("line", (line) => {
        log.write(`${line}\n`);
        process.stdout.write(`${prefix}${line}\n`);
      });
      lines.on("close", () => {
        open--;
        end();
      });
    }
    child.on("error", (e) => {
      process.stdout.write(`${prefix}could not start ${cmd[0]}: ${e.message}\n`);
      code = 127;
      open = 0;
      end();
    });
    child.on("close", (c, signal) => {
      code = c ?? (signal ? 128 : 1);
      end();
    });
  });
}

async function runPhase(p: Phase, logDir: string, width: number, t0: number): Promise<Outcome> {
  const startedAt = Date.now();
  const prefix = `[${p.name.padEnd(width)}] `;
  const log = createWriteStream(join(logDir, `${p.name}.log`));
  process.stdout.write(`${prefix}=== started (+${((startedAt - t0) / 1000).toFixed(0)} s)\n`);
  let ok = true;
  for (const cmd of p.commands) {
    if ((await runCommand(cmd, prefix, log)) !== 0) {
      ok = false;
      break;
    }
  }
  await new Promise<void>((r) => log.end(r));
  const seconds = (Date.now() - startedAt) / 1000;
  process.stdout.write(`${prefix}=== ${ok ? "passed" : "FAILED"} in ${seconds.toFixed(0)} s\n`);
  return { name: p.name, ok, startedAt, seconds, report: p.report };
}

/** The slowest test files of a jest --json report. */
function slowest(report: string, n: number): string[] {
  if (!existsSync(report)) return [];
  const r = JSON.parse(readFileSync(report, "utf8")) as {
    testResults: { name: string; startTime: number; endTime: number; status: string }[];
  };
  return r.testResults
    .map((t) => ({ file: relative(ROOT, t.name), s: (t.endTime - t.startTime) / 1000, status: t.status }))
    .sort((a, b) => b.s - a.s)
    .slice(0, n)
    .map((t) => `  ${t.s.toFixed(0).padStart(5)} s  ${t.file}${t.status === "passed" ? "" : `  (${t.status})`}`);
}

async function main(): Promise<void> {
  const program = new Command()
    .name("npm test --")
    .argument("[phases...]", `phases to run (default all): ${ORDER.join(", ")}`)
    .option("--integration-workers <n>", "jest workers for the integration files (1-8)", workerCount, 3)
    .parse(process.argv);
  const opts = program.opts<{ integrationWorkers: number }>();
  for (const w of program.args)
    if (!(ORDER as readonly string[]).includes(w))
      throw new InvalidArgumentError(`unknown phase "${w}"; phases: ${ORDER.join(", ")}`);
  const wanted = new Set(program.args.length > 0 ? program.args : ORDER);
  const logDir = mkdtempSync(join(tmpdir(), "scaleplane-test-"));
  const all = phases(logDir, opts.integrationWorkers);
  const width = Math.max(...[...wanted].map((w) => w.length));

  // Start each phase once every wanted phase it waits for has ended.
  const t0 = Date.now();
  const ended = new Map<string, Promise<Outcome>>();
  const start = (name: string): Promise<Outcome> => {
    let p = ended.get(name);
    if (!p) {
      const deps = all[name].after.filter((d) => wanted.has(d));
      p = Promise.all(deps.map(start)).then(() => runPhase(all[name], logDir, width, t0));
      ended.set(name, p);
    }
    return p;
  };
  const outcomes = await Promise.all(ORDER.filter((n) => wanted.has(n)).map(start));
  const total = (Date.now() - t0) / 1000;

  const lines = ["", "=== npm test: time per phase (start offset, wall time)"];
  for (const o of outcomes)
    lines.push(
      `  ${o.name.padEnd(width)}  +${((o.startedAt - t0) / 1000).toFixed(0).padStart(4)} s  ${o.seconds.toFixed(0).padStart(5)} s  ${o.ok ? "ok" : "FAILED"}`,
    );
  lines.push(`  ${"total".padEnd(width)}          ${total.toFixed(0).padStart(5)} s   (logs: ${logDir})`);
  for (const o of outcomes)
    if (o.report) {
      const s = slowest(o.report, 12);
      if (s.length > 0) lines.push(`=== slowest ${o.name} files (several run at once)`, ...s);
    }
  process.stdout.write(`${lines.join("\n")}\n`);
  const failed = outcomes.filter((o) => !o.ok).map((o) => o.name);
  if (failed.length > 0) {
    process.stdout.write(`npm test FAILED: ${failed.join(", ")}\n`);
    process.exitCode = 1;
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`npm test: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 2;
});
