/**
 * `npm run bench -- scaling [--real-traces <dir>]`
 *
 * The trace simulator (core/scaling/simulate.ts: one model for every engine) on the three shipped
 * synthetic traces (traces/) and the real public traces (../shared/traces, used as they are). The
 * reference is the hpa engine with Kubernetes' documented defaults; the headline figures are the
 * predictive engine's SLO-violation minutes and instance-hours over the hpa's, each summed over all
 * traces. Engine speed is `decide` calls per second, timed around `decide` alone in this process.
 * Nothing here asserts a figure; the final stdout line is one JSON object.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { Presets, SingleBar } from "cli-progress";
import { createEngine, parseScalingPolicy, type Engine, type EngineName } from "../core/scaling";
import { parseTraceCsv, runSimulation, SIMULATED_ENGINES, ticksFor, type TraceRun } from "../core/scaling/simulate";
import { figuresJson, printTable, readPrices } from "../scripts/simulate";

const ROOT = resolve(__dirname, "..");

const round = (x: number, digits = 4): number => Number(x.toFixed(digits));

export default async function scalingBench(argv: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({
    args: argv,
    options: { "real-traces": { type: "string" } },
    strict: false,
    allowPositionals: true,
  });
  const realDir = typeof values["real-traces"] === "string" ? values["real-traces"] : resolve(ROOT, "../shared/traces");
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
  const files = [...synthetic, ...real];
  const prices = readPrices();
  const traces = files.map((f) => ({
    file: f,
    name: basename(f).replace(/\.csv$/, ""),
    kind: synthetic.includes(f) ? "synthetic" : "real",
    points: parseTraceCsv(readFileSync(f, "utf8"), f),
  }));

  const total = traces.reduce((s, t) => s + ticksFor(t.points, {}), 0);
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
  const results: { name: string; kind: string; run: TraceRun }[] = [];
  for (const t of traces) {
    bar.update(done, { trace: t.name });
    const run = runSimulation(
      t.points,
      { model: {}, prices },
      { parsePolicy: (raw) => parseScalingPolicy(raw), createEngine },
      {
        wrap: timed,
        onTick: () => {
          if (++done % 2000 === 0) bar.update(done);
        },
      },
    );
    results.push({ name: t.name, kind: t.kind, run });
  }
  bar.update(total, { trace: "done" });
  bar.stop();

  for (const r of results) printTable(`${r.name} (${r.kind})`, r.run);

  const sum = (engine: EngineName, key: "violationMinutes" | "instanceHours" | "cost") =>
    results.reduce((s, r) => s + (r.run.runs.find((x) => x.figures.engine === engine)?.figures[key] ?? 0), 0);
  const totals = Object.fromEntries(
    SIMULATED_ENGINES.map((e) => [
      e,
      {
        violationMinutes: round(sum(e, "violationMinutes"), 2),
        instanceHours: round(sum(e, "instanceHours"), 2),
        cost: round(sum(e, "cost"), 3),
      },
    ]),
  );
  const ratio = (a: number, b: number) => (b === 0 ? (a === 0 ? 1 : Infinity) : a / b);
  const violationRatio = ratio(sum("predictive", "violationMinutes"), sum("hpa", "violationMinutes"));
  const hoursRatio = ratio(sum("predictive", "instanceHours"), sum("hpa", "instanceHours"));
  const decisionsPerSecond = Object.fromEntries(
    SIMULATED_ENGINES.map((e) => [e, Math.round((decideCalls.get(e) ?? 0) / (Number(decideNs.get(e) ?? 1n) / 1e9))]),
  );

  console.log("\nall traces (sums)");
  for (const e of SIMULATED_ENGINES) {
    const t = totals[e];
    console.log(
      `${e.padEnd(13)} violation ${t.violationMinutes.toFixed(1).padStart(8)} min (${ratio(t.violationMinutes, totals.hpa.violationMinutes).toFixed(2)}× hpa)  instance-hours ${t.instanceHours.toFixed(1).padStart(9)} (${ratio(t.instanceHours, totals.hpa.instanceHours).toFixed(2)}× hpa)  cost $${t.cost.toFixed(2).padStart(8)}  ${decisionsPerSecond[e]} decisions/s`,
    );
  }
  const perTrace = Object.fromEntries(
    results.map((r) => {
      const f = figuresJson(r.run);
      return [
        r.name,
        {
          kind: r.kind,
          step: r.run.stepNote,
          capacityPerInstance: round(r.run.model.capacityPerInstance, 3),
          predictive_vs_hpa_violation_ratio: round(ratio(f.predictive.violationMinutes, f.hpa.violationMinutes), 3),
          predictive_vs_hpa_instance_hours_ratio: round(ratio(f.predictive.instanceHours, f.hpa.instanceHours), 3),
          engines: f,
        },
      ];
    }),
  );
  return {
    predictive_vs_hpa_violation_ratio: round(violationRatio, 4),
    predictive_vs_hpa_instance_hours_ratio: round(hoursRatio, 4),
    acceptance: { violationRatioMax: 0.5, instanceHoursRatioMax: 1.1, met: violationRatio <= 0.5 && hoursRatio <= 1.1 },
    model: { ...results[0].run.model, capacityPerInstance: "trace peak / 20 (per trace)" },
    engines: totals,
    decisions_per_second: decisionsPerSecond,
    traces: perTrace,
  };
}
