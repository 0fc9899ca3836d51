/** `npm run simulate` end to end on a small trace: the table, the chart file, the final JSON line, refusals. */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(__dirname, "../../..");
const TSX = join(ROOT, "node_modules/.bin/tsx");
const dir = mkdtempSync(join(tmpdir(), "scaleplane-simulate-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("prints every engine's figures, writes the chart it names, ends with one JSON line", () => {
  const trace = join(dir, "step.csv");
  const rows = Array.from(
    { length: 90 },
    (_, i) =>
      `2026-01-05T${String(Math.floor(i / 60)).padStart(2, "0")}:${String(i % 60).padStart(2, "0")}:00Z,${i < 30 ? 100 : 400}`,
  );
  writeFileSync(trace, `timestamp,demand\n${rows.join("\n")}\n`);
  const out = join(dir, "step.svg");
  const stdout = execFileSync(
    TSX,
    ["scripts/simulate.ts", "--trace", trace, "--capacity-per-instance", "50", "--out", out],
    { cwd: ROOT, encoding: "utf8" },
  );
  const lines = stdout.trim().split("\n");
  const last = JSON.parse(lines[lines.length - 1]) as {
    chart: string;
    engines: Record<string, { violationMinutes: number; instanceHours: number; cost: number }>;
  };
  expect(Object.keys(last.engines)).toEqual(["hpa", "threshold", "predictive", "multi-metric", "cost"]);
  for (const f of Object.values(last.engines)) {
    expect(f.violationMinutes).toBeGreaterThan(0); // a 4× step cannot be met before warm-up
    expect(f.instanceHours).toBeGreaterThan(0);
    expect(f.cost).toBeGreaterThan(0);
  }
  expect(stdout).toContain(`chart: ${out}`);
  expect(last.chart).toBe(out);
  expect(existsSync(out) && readFileSync(out, "utf8").startsWith("<svg")).toBe(true);
});

test("--cost: $/h per option and cloud, the best reserved and savings-plan commitments, a cost chart and the JSON", () => {
  const trace = join(dir, "daily.csv");
  const rows = Array.from(
    { length: 96 },
    (_, i) =>
      `${new Date(Date.UTC(2026, 0, 5) + i * 900_000).toISOString()},${Math.round(300 + 250 * Math.sin((2 * Math.PI * i) / 96))}`,
  );
  writeFileSync(trace, `timestamp,demand\n${rows.join("\n")}\n`);
  const out = join(dir, "daily.svg");
  const stdout = execFileSync(
    TSX,
    [
      "scripts/simulate.ts",
      "--trace",
      trace,
      "--capacity-per-instance",
      "40",
      "--engines",
      "hpa",
      "--cost",
      "--out",
      out,
    ],
    { cwd: ROOT, encoding: "utf8" },
  );
  expect(stdout).toMatch(/cost per option over 23\.8 simulated hours/);
  for (const line of [
    /aws us-east-1 +on-demand hpa +0\.\d{4}/,
    /aws us-east-1 +cost engine mix +0\.\d{4}/,
    /aws us-east-1 +cost engine \+ best reserved/,
    /aws us-east-1 +cost engine \+ best savings plan/,
    /gcp us-central1 +on-demand hpa/,
    /gcp us-central1 +cost engine mix/,
  ])
    expect(stdout).toMatch(line);
  const last = JSON.parse(stdout.trim().split("\n").at(-1)!) as {
    engines: Record<string, unknown>;
    cost: { chart: string; options: { cloud: string; option: string; vsOnDemandHpa: number; total: number }[] };
  };
  // --cost adds the cost engine to the engines asked for.
  expect(Object.keys(last.engines)).toEqual(["hpa", "cost"]);
  const mix = last.cost.options.find((o) => o.cloud === "aws us-east-1" && o.option === "cost engine mix")!;
  expect(mix.vsOnDemandHpa).toBeGreaterThan(0);
  expect(mix.vsOnDemandHpa).toBeLessThan(1);
  expect(last.cost.chart).toBe(join(dir, "daily-cost.svg"));
  expect(readFileSync(last.cost.chart, "utf8")).toContain(
    "total $ over the trace against the committed capacity units",
  );
});

test("an unsorted trace is refused naming the line, with a non-zero exit", () => {
  const trace = join(dir, "bad.csv");
  writeFileSync(trace, "ds,y\n2023-04-01,1\n2023-04-03,2\n2023-04-02,3\n");
  const r = spawnSync(TSX, ["scripts/simulate.ts", "--trace", trace], { cwd: ROOT, encoding: "utf8" });
  expect(r.status).toBe(1);
  expect(r.stderr).toContain(`${trace}:4: timestamp 2023-04-02 is not after the previous row's`);
});

test("a bad policy is refused naming the field", () => {
  const trace = join(dir, "ok.csv");
  writeFileSync(trace, "ds,y\n2023-04-01,1\n2023-04-02,3\n");
  const policy = join(dir, "policy.json");
  writeFileSync(policy, JSON.stringify({ threshold: { scaleDownCooldownSeconds: -1 } }));
  const r = spawnSync(TSX, ["scripts/simulate.ts", "--trace", trace, "--policy", policy], {
    cwd: ROOT,
    encoding: "utf8",
  });
  expect(r.status).toBe(1);
  expect(r.stderr).toContain("scaling.threshold.scaleDownCooldownSeconds: must be a whole number from 0");
});
