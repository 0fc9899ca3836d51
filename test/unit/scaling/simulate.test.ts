/** The simulator's model, the trace parser's refusals, the chart and the seeded trace generator. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createEngine, parseScalingPolicy } from "../../../core/scaling";
import { simulationSvg } from "../../../core/scaling/chart";
import {
  demandPerSecond,
  parseTraceCsv,
  runSimulation,
  simulationPolicyInput,
  TraceError,
  type TracePoint,
} from "../../../core/scaling/simulate";
import { DEFAULT_TRACE_SEED, SYNTHETIC_TRACES, traceCsv } from "../../../core/scaling/traces";

const prices = parseScalingPolicy({
  cost: JSON.parse(readFileSync(join(__dirname, "../../../core/scaling/prices.json"), "utf8")),
}).cost!;
const deps = { parsePolicy: (raw: unknown) => parseScalingPolicy(raw), createEngine };
const minutes = (demand: number[]): TracePoint[] =>
  demand.map((d, i) => ({ t: Date.UTC(2026, 0, 1) + i * 60_000, demand: d }));

describe("trace parsing", () => {
  test("reads the real traces' format and ISO timestamps", () => {
    expect(parseTraceCsv("ds,y\n2023-04-01 00:00:00,903\n2023-04-01 01:00:00,490\n")).toEqual([
      { t: Date.UTC(2023, 3, 1, 0), demand: 903 },
      { t: Date.UTC(2023, 3, 1, 1), demand: 490 },
    ]);
    expect(parseTraceCsv("timestamp,demand\n2026-01-05T00:00:00Z,1\n2026-01-05T00:01:00Z,2\n")).toHaveLength(2);
    expect(parseTraceCsv("1700000000,5\n1700000060,6\n")[1].t).toBe(1_700_000_060_000);
  });

  test.each([
    ["ds,y\n2023-04-01,1\n2023-04-03,2\n2023-04-02,3\n", /trace:4: .*not after the previous row/],
    ["ds,y\n2023-04-01,1\n2023-04-01,2\n", /trace:3: .*not after/],
    ["ds,y\n2023-04-01,1\n2023-04-02,abc\n", /trace:3: demand "abc" is not a number/],
    ["ds,y\n2023-04-01,1\n2023-04-02,\n", /trace:3: demand "" is not a number/],
    ["ds,y\n2023-04-01,1\nyesterday,2\n", /trace:3: timestamp "yesterday" is not a date/],
    ["ds,y\n2023-04-01,1\n2023-04-02,-4\n", /trace:3: demand -4 is negative/],
    ["ds,y\n2023-04-01,1\n", /needs at least two rows/],
  ])("refuses a bad trace naming the line", (csv, message) => {
    expect(() => parseTraceCsv(csv)).toThrow(TraceError);
    expect(() => parseTraceCsv(csv)).toThrow(message);
  });

  test("the real traces parse as they are", () => {
    for (const f of ["pedestrians-hourly.csv", "wikipedia-pageviews-daily.csv"]) {
      const path = join(__dirname, "../../../traces/public", f);
      expect(parseTraceCsv(readFileSync(path, "utf8"), path).length).toBeGreaterThan(700);
    }
  });
});

describe("model", () => {
  test("linear interpolation between rows, one row = stepSeconds", () => {
    const d = demandPerSecond(minutes([0, 60, 0]), 60);
    expect(d.length).toBe(121);
    expect(d[30]).toBeCloseTo(30);
    expect(d[60]).toBe(60);
    expect(d[90]).toBeCloseTo(30);
    // An hourly trace at 60 s per row: the same 121 simulated seconds.
    const hourly = [0, 60, 0].map((demand, i) => ({ t: i * 3_600_000, demand }));
    expect(demandPerSecond(hourly, 60)[45]).toBeCloseTo(45);
  });

  test("seasons follow the trace's own time: an hourly trace's day is 24 rows", () => {
    const hourly = Array.from({ length: 48 }, (_, i) => ({ t: i * 3_600_000, demand: 1 }));
    const p = simulationPolicyInput({}, hourly, {
      stepSeconds: 60,
      capacityPerInstance: 1,
      warmupSeconds: 180,
      metricLagSeconds: 30,
      periodSeconds: 15,
    });
    expect((p.predictive as { seasons: unknown }).seasons).toEqual([
      { name: "daily", seconds: 24 * 60 },
      { name: "weekly", seconds: 168 * 60 },
    ]);
  });

  test("steady demand within capacity: no violation; instance-hours = instances × time", () => {
    const run = runSimulation(
      minutes(Array(61).fill(140)),
      { model: { capacityPerInstance: 100 }, prices, engines: ["hpa"] },
      deps,
    );
    const f = run.runs[0].figures;
    expect(f.violationMinutes).toBe(0);
    // 140 at 70 % of 100 per instance → 2 instances from the start, for 3601 s.
    expect(f.instanceHours).toBeCloseTo((2 * 3601) / 3600, 6);
    expect(f.cost).toBeCloseTo(f.instanceHours * 0.0208, 6);
  });

  test("a step up: demand above capacity until new instances warm up, the same for every engine's model", () => {
    const demand = [...Array(30).fill(100), ...Array(31).fill(400)];
    const run = runSimulation(
      minutes(demand),
      { model: { capacityPerInstance: 100, warmupSeconds: 120 }, prices },
      deps,
    );
    for (const r of run.runs) {
      // At least lag + warm-up of violation, at most the rest of the trace.
      expect(r.figures.violationMinutes).toBeGreaterThanOrEqual(2);
      expect(r.figures.violationMinutes).toBeLessThan(31);
      expect(r.figures.decisions).toBe(Math.ceil(3601 / 15));
    }
    const svg = simulationSvg("step", "test", run.runs);
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.match(/<polyline /g)).toHaveLength(run.runs.length);
    expect(svg).toContain("hpa");
  });
});

describe("synthetic traces", () => {
  test("the generator is seeded: same seed, same bytes; the shipped files are its output", () => {
    for (const [file, gen] of Object.entries(SYNTHETIC_TRACES)) {
      const a = traceCsv(gen(DEFAULT_TRACE_SEED));
      expect(traceCsv(gen(DEFAULT_TRACE_SEED))).toBe(a);
      expect(traceCsv(gen(DEFAULT_TRACE_SEED + 1))).not.toBe(a);
      expect(readFileSync(join(__dirname, "../../../traces", file), "utf8")).toBe(a);
      expect(parseTraceCsv(a).every((p) => p.demand >= 0)).toBe(true);
    }
  });
});
