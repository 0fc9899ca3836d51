/**
 * `npm run bench -- scaling [--real-traces <dir>] [--only <name,...>] [--real-step <seconds>]`
 *
 * The trace simulator (core/scaling/simulate.ts: one model for every engine) on the three shipped
 * synthetic traces (traces/) and the real public traces (traces/public, or SCALEPLANE_TRACES_DIR,
 * used as they are). Every engine runs the behaviour the stack deploys. Reported per trace, never
 * summed: predictive_vs_hpa_violation_ratio and instance_hours_ratio, and
 * predictive_vs_equal_cost_hpa_violation_ratio against an hpa whose CPU target is moved until its
 * instance-hours match predictive's; cost_vs_on_demand_hpa for the cost engine. A ratio of 0 to 0
 * minutes is 0. Engine speed is `decide` calls per second, timed around `decide` alone in this
 * process. Nothing here asserts a figure; the final stdout line is one JSON object.
 *
 * `--only` runs the named traces (file names without .csv). `--real-step` replays the real traces
 * at that many simulated seconds per row instead of their own time scale (reported in each
 * trace's `step`): a daily trace of eight years is 16.7 million controller ticks per engine at
 * its own scale, minutes per run on a busy machine.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { Presets, SingleBar } from "cli-progress";
import { createEngine, parseScalingPolicy, type Engine, type EngineName } from "../core/scaling";
import {
  parseTraceCsv,
  runSimulation,
  SIMULATED_ENGINES,
  ticksFor,
  unitPrice,
  type TraceRun,
} from "../core/scaling/simulate";
import { parsePlatformConfig } from "../core/config";
import { appHpaBehavior } from "../core/scaling/app-policy";
import { figuresJson, GCP_PRICES, printCostReport, printTable, readPrices, runCostReport } from "../scripts/simulate";
import { commitmentCurve, mixTotal, onDemandTotal, type CostReport } from "../core/scaling/cost-report";

const ROOT = resolve(__dirname, "..");

const round = (x: number, digits = 4): number => Number(x.toFixed(digits));

export default async function scalingBench(argv: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({
    args: argv,
    options: { "real-traces": { type: "string" }, only: { type: "string" }, "real-step": { type: "string" } },
    strict: false,
    allowPositionals: true,
  });
  const realDir =
    typeof values["real-traces"] === "string"
      ? values["real-traces"]
      : (process.env.SCALEPLANE_TRACES_DIR ?? resolve(ROOT, "traces/public"));
  const synthetic = readdirSync(join(ROOT, "traces"))
    .filter((f) => f.endsWith(".csv"))
    .sort()
    .map((f) => join(ROOT, "traces", f));
  if (synthetic.length === 0) throw new Error("bench scaling: no traces in traces/ (run `npm run traces`)");
  if (!existsSync(realDir))
    throw new Error(`bench scaling: the real traces are missing: ${realDir} (pass --real-traces <dir>)`);
  const real = readdirSync(realDir)
    .filter((f) => f.endsWith(".csv"))
    .sort()
    .map((f) => join(realDir, f));
  const only = typeof values.only === "string" ? new Set(values.only.split(",").map((x) => x.trim())) : undefined;
  const files = [...synthetic, ...real].filter((f) => !only || only.has(basename(f).replace(/\.csv$/, "")));
  if (files.length === 0) throw new Error(`bench scaling: --only ${String(values.only)} names no trace`);
  const realStep = typeof values["real-step"] === "string" ? Number(values["real-step"]) : undefined;
  if (realStep !== undefined && !(realStep > 0))
    throw new Error(`bench scaling: --real-step must be a number of seconds > 0; got ${String(values["real-step"])}`);
  const prices = readPrices();
  const gcpPrices = readPrices(GCP_PRICES);
  const traces = files.map((f) => ({
    file: f,
    name: basename(f).replace(/\.csv$/, ""),
    kind: synthetic.includes(f) ? "synthetic" : "real",
    points: parseTraceCsv(readFileSync(f, "utf8"), f),
    model: synthetic.includes(f) || realStep === undefined ? {} : { stepSeconds: realStep },
  }));

  const total = traces.reduce((s, t) => s + ticksFor(t.points, t.model), 0);
  const bar = new SingleBar(
    { format: "scaling bench {bar} {percentage}% {trace}", hideCursor: true, stream: process.stderr },
    Presets.shades_classic,
  );
  bar.start(total, 0, { trace: "" });
  let done = 0;
  // decide() time per engine, over every trace.
  const decideNs = new Map<EngineName, bigint>();
  const decideCalls = new Map<EngineName, number>();
  const timed = (engine: Engine): Engine => ({
    name: engine.name,
    init: () => engine.init(),
    applied: (state, change) => engine.applied(state, change),
    decide(state, input) {
      const t0 = process.hrtime.bigint();
      const r = engine.decide(state, input);
      decideNs.set(engine.name, (decideNs.get(engine.name) ?? 0n) + (process.hrtime.bigint() - t0));
      decideCalls.set(engine.name, (decideCalls.get(engine.name) ?? 0) + 1);
      return r;
    },
  });
  // Every engine runs with the behaviour the stack deploys (app.scaling defaults: scale-up
  // stabilization 60 s, up by 100 % or 4 per 15 s, down by 50 % or 1 per 60 s after 300 s).
  const deployed = parsePlatformConfig({}).app;
  const policy = { hpa: { behavior: appHpaBehavior(deployed.scaling) } };
  const results: {
    name: string;
    kind: string;
    run: TraceRun;
    equalCost: EqualCost;
    cost: CostReport;
    heldOut: HeldOutCommitment;
  }[] = [];
  for (const t of traces) {
    bar.update(done, { trace: t.name });
    const run = runSimulation(
      t.points,
      { model: t.model, prices, policy },
      { parsePolicy: (raw) => parseScalingPolicy(raw), createEngine },
      {
        wrap: timed,
        onTick: () => {
          if (++done % 2000 === 0) bar.update(done);
        },
      },
    );
    const predictive = run.runs.find((r) => r.figures.engine === "predictive")!.figures;
    const equalCost = equalCostHpa(t.points, t.model, prices, policy, predictive.instanceHours);
    const cost = runCostReport(run, [
      { cloud: "aws", cost: prices },
      { cloud: "gcp", cost: gcpPrices },
    ]);
    const heldOut = heldOutCommitment(t.points, t.model, prices, policy);
    results.push({ name: t.name, kind: t.kind, run, equalCost, cost, heldOut });
  }
  bar.update(total, { trace: "done" });
  bar.stop();

  for (const r of results) {
    printTable(`${r.name} (${r.kind})`, r.run);
    const f = figuresJson(r.run);
    printCostReport(r.name, r.cost, { hpa: f.hpa.violationMinutes, cost: f.cost.violationMinutes });
  }

  // A ratio of 0 to 0 minutes is 0 (nothing to beat); anything to 0 is Infinity.
  const ratio = (a: number, b: number) => (b === 0 ? (a === 0 ? 0 : Infinity) : a / b);
  const decisionsPerSecond = Object.fromEntries(
    SIMULATED_ENGINES.map((e) => [e, Math.round((decideCalls.get(e) ?? 0) / (Number(decideNs.get(e) ?? 1n) / 1e9))]),
  );
  // Per trace, never summed (real and synthetic traces are different questions).
  const perTrace = Object.fromEntries(
    results.map((r) => {
      const f = figuresJson(r.run);
      const v = ratio(f.predictive.violationMinutes, f.hpa.violationMinutes);
      const h = f.predictive.instanceHours / f.hpa.instanceHours;
      const eq = ratio(f.predictive.violationMinutes, r.equalCost.violationMinutes);
      const onDemandHpa = f.hpa.instanceHours * unitPrice(prices);
      const costRatio = f.cost.cost / onDemandHpa;
      // Per cloud: the mix as configured (no commitment) and with the reserved / savings-plan amount
      // that minimizes the total over this trace (chosen with hindsight: an upper bound on what a
      // commitment bought ahead saves).
      const option = (cloud: string, name: string) =>
        r.cost.options.find((o) => o.cloud === cloud && o.option === name);
      const perCloud = Object.fromEntries(
        ["aws", "gcp"].map((cloud) => [
          cloud,
          {
            on_demand_hpa_per_hour: round(option(cloud, "on-demand hpa")?.perHour ?? 0, 5),
            mix_vs_on_demand_hpa: round(option(cloud, "cost engine mix")?.vsOnDemandHpa ?? 0, 3),
            best_reserved: {
              units: option(cloud, "cost engine + best reserved")?.committedUnits ?? 0,
              vs_on_demand_hpa: round(option(cloud, "cost engine + best reserved")?.vsOnDemandHpa ?? 0, 3),
            },
            best_savings_plan: {
              units: option(cloud, "cost engine + best savings plan")?.committedUnits ?? 0,
              per_hour: round(option(cloud, "cost engine + best savings plan")?.commitmentPerHour ?? 0, 5),
              vs_on_demand_hpa: round(option(cloud, "cost engine + best savings plan")?.vsOnDemandHpa ?? 0, 3),
            },
          },
        ]),
      );
      const bestCommitted = Math.min(
        perCloud.aws.best_reserved.vs_on_demand_hpa,
        perCloud.aws.best_savings_plan.vs_on_demand_hpa,
      );
      return [
        r.name,
        {
          kind: r.kind,
          step: r.run.stepNote,
          capacityPerInstance: round(r.run.model.capacityPerInstance, 3),
          predictive_vs_hpa_violation_ratio: round(v, 3),
          instance_hours_ratio: round(h, 3),
          predictive_vs_equal_cost_hpa_violation_ratio: round(eq, 3),
          equal_cost_hpa: {
            cpuTargetPercent: round(r.equalCost.target, 2),
            instanceHours: round(r.equalCost.instanceHours, 2),
            violationMinutes: round(r.equalCost.violationMinutes, 2),
          },
          cost_vs_on_demand_hpa: round(costRatio, 3),
          cost_violation_minutes_vs_hpa: round(ratio(f.cost.violationMinutes, f.hpa.violationMinutes), 3),
          cost_vs_on_demand_hpa_best_commitment: bestCommitted,
          cost_vs_on_demand_hpa_held_out_commitment: round(r.heldOut.ratio, 3),
          held_out_commitment: {
            kind: r.heldOut.kind,
            units: r.heldOut.units,
            note: "chosen on the first half of the trace, priced on the second half against on-demand hpa there",
          },
          cost_by_cloud: perCloud,
          bars: {
            predictive_vs_equal_cost_hpa: eq <= 0.7,
            predictive_vs_hpa: v <= 0.5 && h <= 1.1,
            cost: costRatio <= 0.8 && f.cost.violationMinutes <= f.hpa.violationMinutes,
            cost_with_best_commitment: bestCommitted <= 0.8 && f.cost.violationMinutes <= f.hpa.violationMinutes,
            cost_with_held_out_commitment: r.heldOut.ratio <= 0.8 && f.cost.violationMinutes <= f.hpa.violationMinutes,
          },
          engines: f,
        },
      ];
    }),
  );
  console.log(
    "\nper trace (predictive against hpa, and against an hpa of equal instance-hours; cost against on-demand hpa)",
  );
  for (const [name, t] of Object.entries(perTrace))
    console.log(
      `${name.padEnd(28)} violations ${String(t.predictive_vs_hpa_violation_ratio).padStart(6)}× hpa at ${String(t.instance_hours_ratio).padStart(5)}× instance-hours; ${String(t.predictive_vs_equal_cost_hpa_violation_ratio).padStart(6)}× equal-cost hpa (target ${t.equal_cost_hpa.cpuTargetPercent} %); cost ${t.cost_vs_on_demand_hpa}× on-demand hpa (${t.cost_vs_on_demand_hpa_best_commitment}× with the best commitment, ${t.cost_vs_on_demand_hpa_held_out_commitment}× with one chosen on the first half; gcp ${t.cost_by_cloud.gcp.mix_vs_on_demand_hpa}×) at ${t.cost_violation_minutes_vs_hpa}× its SLO minutes`,
    );
  return {
    bars: {
      predictiveVsEqualCostHpaMax: 0.7,
      predictiveVsHpaMax: 0.5,
      instanceHoursRatioMax: 1.1,
      costVsOnDemandHpaMax: 0.8,
    },
    model: { ...results[0].run.model, capacityPerInstance: "trace peak / 20 (per trace)" },
    decisions_per_second: decisionsPerSecond,
    traces: perTrace,
  };
}

interface HeldOutCommitment {
  kind: "reserved" | "savingsPlan";
  units: number;
  ratio: number;
}

/**
 * A commitment chosen without hindsight: the amount (and kind) that minimizes the cost engine's
 * total over the first half of the trace, priced over the second half (each half simulated on its
 * own) against on-demand hpa over that second half.
 */
function heldOutCommitment(
  points: Parameters<typeof runSimulation>[0],
  model: Parameters<typeof runSimulation>[1]["model"],
  prices: ReturnType<typeof readPrices>,
  policy: Record<string, unknown>,
): HeldOutCommitment {
  const half = Math.floor(points.length / 2);
  const run = (rows: typeof points) =>
    runSimulation(
      rows,
      { model, prices, policy, engines: ["hpa", "cost"] },
      { parsePolicy: (raw) => parseScalingPolicy(raw), createEngine },
    );
  const first = run(points.slice(0, half + 1));
  const second = run(points.slice(half));
  const occupancy = (r: TraceRun, engine: string) => r.runs.find((x) => x.figures.engine === engine)!.occupancy;
  const warmup = first.policy.predictive.warmupSeconds;
  const base = { ...prices, committedUnits: 0 };
  const picks = (["reserved", "savingsPlan"] as const)
    .map((kind) => ({ kind, curve: commitmentCurve(occupancy(first, "cost"), base, kind, warmup) }))
    .filter((x) => x.curve !== undefined)
    .sort((a, b) => a.curve!.best.total - b.curve!.best.total);
  const pick = picks[0] ?? { kind: "reserved" as const, curve: { best: { units: 0 } } };
  const total = mixTotal(
    occupancy(second, "cost"),
    { ...base, commitment: pick.kind, committedUnits: pick.curve!.best.units },
    warmup,
  );
  return {
    kind: pick.kind,
    units: pick.curve!.best.units,
    ratio: total / onDemandTotal(occupancy(second, "hpa"), base),
  };
}

interface EqualCost {
  target: number;
  instanceHours: number;
  violationMinutes: number;
}

/**
 * The hpa whose CPU target is moved (lowered, or raised when predictive is the cheaper) until its
 * instance-hours match `hours` within 0.5 % (bisection, at most 12 runs): the baseline that buys the
 * same capacity without a forecast.
 */
function equalCostHpa(
  points: Parameters<typeof runSimulation>[0],
  model: Parameters<typeof runSimulation>[1]["model"],
  prices: ReturnType<typeof readPrices>,
  policy: Record<string, unknown>,
  hours: number,
): EqualCost {
  const run = (target: number): EqualCost => {
    const r = runSimulation(
      points,
      { model, prices, policy: { ...policy, targets: { cpuPercent: target } }, engines: ["hpa"] },
      { parsePolicy: (raw) => parseScalingPolicy(raw), createEngine },
    ).runs[0].figures;
    return { target, instanceHours: r.instanceHours, violationMinutes: r.violationMinutes };
  };
  let lo = 5; // more capacity
  let hi = 99; // less capacity
  let best = run(70);
  for (let i = 0; i < 12 && Math.abs(best.instanceHours / hours - 1) > 0.005; i++) {
    if (best.instanceHours > hours) lo = best.target;
    else hi = best.target;
    best = run((lo + hi) / 2);
  }
  return best;
}
