/**
 * `npm run check` end to end: scripts/check.ts runs in a child process, runs the stack offline,
 * starts the real scaleplane-guard analyzer (policies/index.ts, its own process) and talks gRPC to
 * it. Every shipped stack passes; the bad fixture fails with exactly the seeded violations; bad
 * config fails naming the key; --policy-config reaches the analyzer through Configure.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { listStacks } from "../../../scripts/lib/stack";

const ROOT = resolve(__dirname, "..", "..", "..");
const BAD = join(ROOT, "test", "fixtures", "bad-stack", "Pulumi.bad.yaml");

interface Violation {
  policy: string;
  level: string;
  resource: string;
  type: string;
  message: string;
}

interface CheckRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The `--json` line, when asked for. */
  violations?: Violation[];
}

/** Runs scripts/check.ts in its own process (which starts the analyzer in another). */
function check(...args: string[]): Promise<CheckRun> {
  return new Promise((res, rej) => {
    const child = spawn(
      process.execPath,
      ["--require", require.resolve("tsx/cjs"), join(ROOT, "scripts", "check.ts"), ...args],
      { cwd: ROOT },
    );
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), 240_000);
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", rej);
    child.on("close", (code) => {
      clearTimeout(timer);
      const last = stdout.trim().split("\n").pop() ?? "";
      res({ code, stdout, stderr, violations: last.startsWith("[") ? (JSON.parse(last) as Violation[]) : undefined });
    });
  });
}

/** Runs the checks two at a time (each is two CPU-bound Node processes; other test files run beside them). */
async function checkAll(runs: Record<string, string[]>, parallel = 2): Promise<Record<string, CheckRun>> {
  const out: Record<string, CheckRun> = {};
  const queue = Object.entries(runs);
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) out[next[0]] = await check(...next[1]);
    }),
  );
  return out;
}

const pairs = (vs: Violation[]) => vs.map((v) => `${v.policy} ${v.resource}`).sort();

describe("npm run check", () => {
  const stacks = listStacks(ROOT);
  const dir = mkdtempSync(join(tmpdir(), "scaleplane-check-"));
  const policyConfig = join(dir, "policy-config.json");
  const broken = join(dir, "Pulumi.broken.yaml");
  let runs: Record<string, CheckRun>;

  beforeAll(async () => {
    writeFileSync(
      policyConfig,
      JSON.stringify({
        "db-backup-retention": { minBackupDays: 1 },
        "asg-min-instances-prod": "advisory",
        "etcd-tls-prod": "disabled",
      }),
    );
    writeFileSync(broken, "config:\n  scaleplane:target: aws\n  scaleplane:configService:\n    members: 4\n");
    runs = await checkAll({
      ...Object.fromEntries(stacks.map((s) => [s, ["--stack", s, "--json"]])),
      bad: ["--stack-file", BAD, "--json"],
      configured: ["--stack-file", BAD, "--policy-config", policyConfig, "--json"],
      broken: ["--stack-file", broken],
      none: [],
    });
    // nine checks of ~20-40 s of CPU each, on a machine other test files share
  }, 600_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("finds the shipped stacks", () => {
    expect(stacks).toEqual(expect.arrayContaining(["k8s", "local", "localstack", "prod"]));
  });

  it.each(stacks)("passes the shipped stack %s with no mandatory violation", (stack) => {
    const r = runs[stack];
    expect(r.stderr).toBe("");
    expect(r.violations?.filter((v) => v.level === "mandatory")).toEqual([]);
    expect(r.stdout).toContain(": passed");
    expect(r.code).toBe(0);
  });

  it("fails the bad fixture with exactly the seeded violations, as a table", () => {
    const r = runs.bad;
    expect(r.code).toBe(1);
    expect(pairs(r.violations ?? [])).toEqual(
      [
        "alb-access-logs-prod sp-bad-app-alb",
        "alb-deletion-protection-prod sp-bad-app-alb",
        "alb-https-only sp-bad-app-https",
        "asg-elb-health-check sp-bad-app-asg",
        "asg-min-instances-prod sp-bad-app-asg",
        "db-backup-retention sp-bad-db-shard-0",
        "db-backup-retention sp-bad-db-shard-1",
        "db-consistency-quorum-prod sp-bad-db",
        "db-replication-factor-prod sp-bad-db",
        "ec2-detailed-monitoring-prod sp-bad-config-0",
        "ec2-detailed-monitoring-prod sp-bad-config-1",
        "ec2-detailed-monitoring-prod sp-bad-config-2",
        "etcd-members-across-zones sp-bad-config",
        "etcd-tls-prod sp-bad-config",
        "scaling-cooldowns-set sp-bad-app-cpu",
        "scaling-cooldowns-set sp-bad-app-memory",
      ].sort(),
    );
    const levels = Object.fromEntries((r.violations ?? []).map((v) => [v.policy, v.level]));
    expect(levels["scaling-cooldowns-set"]).toBe("advisory");
    expect(levels["etcd-tls-prod"]).toBe("mandatory");
    expect(levels["alb-https-only"]).toBe("mandatory");
    expect(levels["ec2-detailed-monitoring-prod"]).toBe("advisory");
    expect(r.stdout).toMatch(/^POLICY +LEVEL +RESOURCE +MESSAGE$/m);
    expect(r.stdout).toMatch(
      /^db-backup-retention +mandatory +sp-bad-db-shard-0 \(aws:rds\/instance:Instance\) +RDS instance sp-bad-db-shard-0 keeps backups for 1 day\(s\); set backupRetentionPeriod/m,
    );
    expect(r.stdout).toContain("11 mandatory, 5 advisory violation(s): failed");
  });

  it("passes policy config to the analyzer (thresholds and levels)", () => {
    const r = runs.configured;
    const vs = r.violations ?? [];
    expect(vs.filter((v) => v.policy === "db-backup-retention" || v.policy === "etcd-tls-prod")).toEqual([]);
    expect(vs.find((v) => v.policy === "asg-min-instances-prod")?.level).toBe("advisory");
    expect(vs.filter((v) => v.level === "mandatory").length).toBeGreaterThan(0);
    expect(r.code).toBe(1);
  });

  it("exits non-zero on bad config, naming the key, without a stack trace", () => {
    const r = runs.broken;
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("scaleplane:configService.members");
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it("refuses to run without a stack", () => {
    const r = runs.none;
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--stack <name> is required");
  });
});
