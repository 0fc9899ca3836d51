/**
 * `npm run plan` as a user runs it: a child process per stack, offline, no Pulumi CLI. (Here, not
 * under test/unit: every case starts a process that loads the whole program.)
 */
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = join(__dirname, "..", "..", "..");
const tsx = join(root, "node_modules", ".bin", "tsx");

async function plan(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(tsx, ["scripts/plan.ts", ...args], {
      cwd: root,
      env: { ...process.env, PULUMI_CONFIG: undefined },
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** Target resource types each stack must show under its components. */
const EXPECTED: Record<string, string[]> = {
  local: ["docker:index/container:Container", "docker:index/network:Network"],
  localstack: [
    "aws:autoscaling/group:Group",
    "aws:ec2/launchTemplate:LaunchTemplate",
    "aws:rds/instance:Instance",
    "aws:ec2/instance:Instance",
  ],
  k8s: [
    "kubernetes:apps/v1:Deployment",
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    "kubernetes:apps/v1:StatefulSet",
  ],
  prod: [
    "aws:autoscaling/group:Group",
    "aws:rds/instance:Instance",
    "aws:ec2/instance:Instance",
    "aws:lb/loadBalancer:LoadBalancer",
  ],
};

describe("npm run plan", () => {
  it.concurrent.each(Object.keys(EXPECTED))(
    "stack %s: exits 0 and lists the three components with their target resources",
    async (stack) => {
      const r = await plan("--stack", stack);
      expect(r.stderr).not.toContain("plan failed");
      expect(r.code).toBe(0);
      for (const t of [
        "scaleplane:autoscaling:AutoscalingGroup",
        "scaleplane:config:RaftConfigService",
        "scaleplane:database:ShardedDatabase",
        ...EXPECTED[stack],
      ]) {
        expect(r.stdout).toContain(t);
      }
      expect(r.stdout).toMatch(/\d+ {2}total/);
    },
  );

  it("an even etcd member count exits non-zero naming the member-count key, without a stack trace", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sp-plan-"));
    const file = join(dir, "Pulumi.even.yaml");
    writeFileSync(file, "config:\n  scaleplane:target: docker\n  scaleplane:configService:\n    members: 4\n");
    const r = await plan("--stack", "even", "--stack-file", file);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("scaleplane:configService.members");
    expect(r.stderr).toContain("1, 3, 5 or 7");
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("--stack-file alone: the stack name comes from Pulumi.<name>.yaml", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sp-plan-"));
    const file = join(dir, "Pulumi.mine.yaml");
    writeFileSync(file, "config:\n  scaleplane:target: docker\n  scaleplane:app:\n    minSize: 1\n    maxSize: 1\n");
    const r = await plan("--stack-file", file);
    expect(r.stderr).not.toContain("plan failed");
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")[0]).toBe("stack mine (docker)");
    expect(r.stdout).toContain("scaleplane:platform:Platform  sp-mine");
  });

  it("--stack-file whose name gives no stack, and no --stack: exits non-zero saying what to do", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sp-plan-"));
    const file = join(dir, "custom.yaml");
    writeFileSync(file, "config: {}\n");
    const r = await plan("--stack-file", file);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      `--stack-file ${file}: cannot tell the stack name from the file name; name it Pulumi.<stack>.yaml or add --stack <name>`,
    );
    const none = await plan();
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain("--stack <name> is required (or --stack-file <path>/Pulumi.<name>.yaml)");
  });

  it("an unknown stack names the stacks that exist", async () => {
    const r = await plan("--stack", "nope");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("local, localstack, k8s, prod".split(", ").sort().join(", "));
  });
});
