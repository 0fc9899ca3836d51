/**
 * `npm run simulate -- --trace <csv> [options]`: replays a (timestamp, demand) trace through every
 * scaling engine under the one model documented in core/scaling/simulate.ts, prints per engine the
 * SLO-violation minutes, instance-hours and cost, writes an SVG chart of demand against each
 * engine's capacity (its path is printed), and ends with one JSON line of the figures.
 *
 * `npm run traces [-- --seed N --dir traces]`: (re)writes the three seeded synthetic traces
 * (core/scaling/traces.ts documents the generator).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { Presets, SingleBar } from "cli-progress";
import {
  ConfigError,
  createEngine,
  ENGINE_NAMES,
  parseScalingPolicy,
  type EngineName,
  type ScalingPolicy,
} from "../core/scaling";
import { costSvg, simulationSvg } from "../core/scaling/chart";
import { costReport, type CostReport } from "../core/scaling/cost-report";
import {
  parseTraceCsv,
  runSimulation,
  ticksFor,
  TraceError,
  type EngineFigures,
  type TraceRun,
} from "../core/scaling/simulate";
import { DEFAULT_TRACE_SEED, SYNTHETIC_TRACES, traceCsv } from "../core/scaling/traces";
import { DEFAULT_STORE_QUERY, storeTraceFile } from "./lib/store-trace";

const ROOT = resolve(__dirname, "..");
export const DEFAULT_PRICES = join(ROOT, "core/scaling/prices.json");
/** The second cloud's table, for the `--cost` comparison. */
export const GCP_PRICES = join(ROOT, "core/scaling/prices-gcp.json");

const positiveNumber =
  (flag: string) =>
  (raw: string): number => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0)
      throw new InvalidArgumentError(`${flag} must be a number > 0; got ${JSON.stringify(raw)}`);
    return n;
  };
const wholeNumber =
  (flag: string, min: number) =>
  (raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`${flag} must be a whole number ≥ ${min}; got ${JSON.stringify(raw)}`);
    return n;
  };

function readJson(path: string, flag: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new Error(`${flag} ${path}: not readable JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new Error(`${flag} ${path}: must be a JSON object`);
  return raw as Record<string, unknown>;
}

/** Reads the prices file, validated through the policy schema (errors name `prices.<field>`). */
export function readPrices(path = DEFAULT_PRICES): NonNullable<ScalingPolicy["cost"]> {
  const raw = readJson(path, "--prices");
  const cost = parseScalingPolicy({ cost: raw }, "prices").cost;
  if (!cost) throw new Error(`${path}: no prices`);
  return cost;
}

/** Loads and runs one trace with a progress bar on long traces. */
export function simulateFile(path: string, options: Parameters<typeof runSimulation>[1], progress = true): TraceRun {
  const points = parseTraceCsv(readFileSync(path, "utf8"), path);
  const total = ticksFor(points, options.model, options.engines?.length);
  const bar =
    progress && total > 20_000
      ? new SingleBar(
          {
            format: `simulate ${basename(path)} {bar} {percentage}% {value}/{total} controller ticks`,
            hideCursor: true,
            stream: process.stderr,
          },
          Presets.shades_classic,
        )
      : undefined;
  bar?.start(total, 0);
  let done = 0;
  try {
    return runSimulation(
      points,
      options,
      { parsePolicy: (raw) => parseScalingPolicy(raw), createEngine },
      { onTick: bar ? () => ++done % 500 === 0 && bar.update(done) : undefined },
    );
  } finally {
    bar?.update(total);
    bar?.stop();
  }
}

/** The per-engine table. */
export function printTable(name: string, run: TraceRun): void {
  const rows = run.runs.map((r) => r.figures);
  const hpa = rows.find((f) => f.engine === "hpa");
  const header = [
    "engine",
    "SLO violation min",
    "vs hpa",
    "instance-hours",
    "vs hpa",
    "cost $",
    "max inst.",
    "scale events",
    "spot interruptions",
  ];
  const ratio = (a: number, b: number | undefined) =>
    b === undefined ? "" : b === 0 ? (a === 0 ? "1.00" : "∞") : (a / b).toFixed(2);
  const table = rows.map((f: EngineFigures) => [
    f.engine,
    f.violationMinutes.toFixed(1),
    ratio(f.violationMinutes, hpa?.violationMinutes),
    f.instanceHours.toFixed(2),
    ratio(f.instanceHours, hpa?.instanceHours),
    f.cost.toFixed(3),
    String(f.maxInstances),
    String(f.scaleEvents),
    String(f.interruptions),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...table.map((r) => r[c].length)));
  console.log(
    `\n${name}: ${(run.seconds / 3600).toFixed(1)} simulated hours; ${run.stepNote}; capacity ${run.model.capacityPerInstance.toFixed(2)} req/s per instance, warm-up ${run.model.warmupSeconds} s, metric lag ${run.model.metricLagSeconds} s, period ${run.model.periodSeconds} s`,
  );
  console.log(header.map((h, c) => h.padEnd(widths[c])).join("  "));
  for (const r of table) console.log(r.map((cell, c) => cell.padEnd(widths[c])).join("  "));
}

export const figuresJson = (run: TraceRun): Record<string, Omit<EngineFigures, "engine">> =>
  Object.fromEntries(
    run.runs.map(({ figures: { engine, ...rest } }) => [
      engine,
      Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, Number(v.toFixed(4))])) as Omit<
        EngineFigures,
        "engine"
      >,
    ]),
  );

/** Prices the run's hpa and cost engine counts under each table (core/scaling/cost-report.ts). */
export function runCostReport(
  run: TraceRun,
  tables: readonly { cloud: string; cost: NonNullable<ScalingPolicy["cost"]> }[],
): CostReport {
  const occupancy = (engine: EngineName) => {
    const r = run.runs.find((x) => x.figures.engine === engine);
    if (!r) throw new Error(`--cost needs the ${engine} engine in --engines`);
    return r.occupancy;
  };
  return costReport(occupancy("hpa"), occupancy("cost"), tables, run.policy.predictive.warmupSeconds);
}

/** The `--cost` table: $/hour per option and cloud. */
export function printCostReport(name: string, report: CostReport, violations: { hpa: number; cost: number }): void {
  console.log(
    `\n${name}: cost per option over ${report.hours.toFixed(1)} simulated hours (SLO violation minutes: on-demand hpa ${violations.hpa.toFixed(1)}, cost engine ${violations.cost.toFixed(1)}; a commitment changes what is paid, not the capacity)`,
  );
  const header = [
    "cloud",
    "option",
    "$/h",
    "total $",
    "vs on-demand hpa",
    "committed units",
    "commitment $/h",
    "expected spot interruptions",
  ];
  const rows = report.options.map((o) => [
    o.cloud,
    o.option,
    o.perHour.toFixed(4),
    o.total.toFixed(2),
    o.vsOnDemandHpa.toFixed(3),
    o.commitment ? String(o.committedUnits) : "",
    o.commitment ? o.commitmentPerHour.toFixed(4) : "",
    o.option === "on-demand hpa" ? "" : o.expectedInterruptions.toFixed(2),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  console.log(header.map((h, c) => h.padEnd(widths[c])).join("  "));
  for (const r of rows) console.log(r.map((cell, c) => cell.padEnd(widths[c])).join("  "));
}

function generateTraces(seed: number, dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const [file, gen] of Object.entries(SYNTHETIC_TRACES)) {
    const path = join(dir, file);
    const points = gen(seed);
    writeFileSync(path, traceCsv(points));
    console.log(`${path}: ${points.length} rows (seed ${seed})`);
  }
}

async function main(): Promise<void> {
  const program = new Command()
    .name("simulate")
    .description("Replay a (timestamp, demand) trace through every scaling engine (model: core/scaling/simulate.ts)")
    .option("--trace <csv>", "trace file: timestamp,demand rows (header optional)")
    .option("--from-store <url>", "read the trace from the MetricsStore at this URL instead (--query, --hours)")
    .option("--query <promql>", `with --from-store: the demand (default ${DEFAULT_STORE_QUERY})`)
    .option("--hours <n>", "with --from-store: how far back (default 24)", positiveNumber("--hours"))
    .option(
      "--step-seconds <n>",
      "simulated seconds one trace row stands for (default 60)",
      positiveNumber("--step-seconds"),
    )
    .option(
      "--capacity-per-instance <n>",
      "requests/s one instance serves at 100 % CPU (default: trace peak / 20)",
      positiveNumber("--capacity-per-instance"),
    )
    .option(
      "--warmup-seconds <n>",
      "seconds from launch until an instance serves (default 180)",
      wholeNumber("--warmup-seconds", 0),
    )
    .option("--lag-seconds <n>", "age of the metrics the controller sees (default 30)", wholeNumber("--lag-seconds", 0))
    .option(
      "--period-seconds <n>",
      "seconds between controller decisions (default 15)",
      wholeNumber("--period-seconds", 1),
    )
    .option("--min-size <n>", "policy minSize (default 1)", wholeNumber("--min-size", 0))
    .option("--max-size <n>", "policy maxSize (default 1000)", wholeNumber("--max-size", 1))
    .option("--policy <json>", "a scaling policy file (JSON) shared by every engine")
    .option("--prices <json>", "instance prices (default core/scaling/prices.json)")
    .option("--engines <list>", `comma-separated subset of ${ENGINE_NAMES.join(",")}`)
    .option(
      "--cost",
      "price the hpa and cost engines per cloud: $/h per option and the commitment that minimizes the total (chart simulations/<trace>-cost.svg)",
    )
    .option(
      "--compare-prices <json>",
      "the second cloud's price table for --cost (default core/scaling/prices-gcp.json)",
    )
    .option("--out <svg>", "chart path (default: simulations/<trace>.svg)")
    .option("--generate-traces", "write the synthetic traces instead (npm run traces)")
    .option("--seed <n>", "seed of the synthetic traces", wholeNumber("--seed", 0))
    .option("--dir <dir>", "directory of the synthetic traces", join(ROOT, "traces"));
  program.parse(
    process.argv.slice(2).filter((a) => a !== "--"),
    { from: "user" },
  );
  const o = program.opts<Record<string, string | number | boolean | undefined>>();
  if (o.generateTraces) return generateTraces((o.seed as number | undefined) ?? DEFAULT_TRACE_SEED, o.dir as string);
  if (typeof o.fromStore === "string")
    o.trace = await storeTraceFile(
      o.fromStore,
      typeof o.query === "string" ? o.query : DEFAULT_STORE_QUERY,
      (o.hours as number | undefined) ?? 24,
      (o.stepSeconds as number | undefined) ?? 60,
    );
  if (typeof o.trace !== "string")
    throw new Error("--trace <csv> or --from-store <url> is required (or --generate-traces)");
  const engines = typeof o.engines === "string" ? o.engines.split(",").map((e) => e.trim()) : undefined;
  const unknown = engines?.filter((e) => !(ENGINE_NAMES as readonly string[]).includes(e));
  if (unknown && unknown.length > 0)
    throw new Error(`--engines: unknown engine(s) ${unknown.join(", ")}; allowed: ${ENGINE_NAMES.join(", ")}`);
  if (o.cost && engines) for (const e of ["hpa", "cost"]) if (!engines.includes(e)) engines.push(e);
  const policy = typeof o.policy === "string" ? readJson(o.policy, "--policy") : {};
  if (o.minSize !== undefined) policy.minSize = o.minSize;
  if (o.maxSize !== undefined) policy.maxSize = o.maxSize;
  const prices = readPrices(typeof o.prices === "string" ? o.prices : undefined);
  const run = simulateFile(o.trace, {
    model: {
      stepSeconds: o.stepSeconds as number | undefined,
      capacityPerInstance: o.capacityPerInstance as number | undefined,
      warmupSeconds: o.warmupSeconds as number | undefined,
      metricLagSeconds: o.lagSeconds as number | undefined,
      periodSeconds: o.periodSeconds as number | undefined,
    },
    policy,
    prices,
    engines: engines as EngineName[] | undefined,
  });
  const name = basename(o.trace).replace(/\.csv$/, "");
  printTable(name, run);
  const out = typeof o.out === "string" ? o.out : join(process.cwd(), "simulations", `${name}.svg`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    simulationSvg(
      `${name}: demand vs capacity per engine`,
      `${run.stepNote}; warm-up ${run.model.warmupSeconds} s, metric lag ${run.model.metricLagSeconds} s, period ${run.model.periodSeconds} s`,
      run.runs,
    ),
  );
  console.log(`chart: ${out}`);
  let cost: Record<string, unknown> | undefined;
  if (o.cost) {
    const second = readPrices(typeof o.comparePrices === "string" ? o.comparePrices : GCP_PRICES);
    const report = runCostReport(run, [
      { cloud: prices.cloud ?? "prices", cost: prices },
      { cloud: second.cloud ?? "compared", cost: second },
    ]);
    const f = figuresJson(run);
    printCostReport(name, report, { hpa: f.hpa.violationMinutes, cost: f.cost.violationMinutes });
    const costOut = out.replace(/\.svg$/, "") + "-cost.svg";
    writeFileSync(
      costOut,
      costSvg(
        `${name}: $/hour per option and cloud`,
        `prices as of ${prices.pricesAsOf} (${prices.cloud ?? "--prices"}) and ${second.pricesAsOf} (${second.cloud ?? "--compare-prices"}); ${run.stepNote}`,
        report,
      ),
    );
    console.log(`cost chart: ${costOut}`);
    cost = {
      chart: costOut,
      hours: Number(report.hours.toFixed(2)),
      options: report.options.map((x) => ({
        ...x,
        perHour: Number(x.perHour.toFixed(5)),
        total: Number(x.total.toFixed(3)),
        vsOnDemandHpa: Number(x.vsOnDemandHpa.toFixed(4)),
        commitmentPerHour: Number(x.commitmentPerHour.toFixed(5)),
        expectedInterruptions: Number(x.expectedInterruptions.toFixed(3)),
      })),
    };
  }
  console.log(
    JSON.stringify({
      trace: o.trace,
      stepNote: run.stepNote,
      model: run.model,
      chart: out,
      engines: figuresJson(run),
      ...(cost ? { cost } : {}),
    }),
  );
}

if (require.main === module)
  main().catch((e: unknown) => {
    console.error(
      e instanceof ConfigError || e instanceof TraceError || e instanceof InvalidArgumentError
        ? e.message
        : e instanceof Error
          ? e.message
          : e,
    );
    process.exit(1);
  });
