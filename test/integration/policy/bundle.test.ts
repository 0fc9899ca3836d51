/**
 * The policy pack as `pulumi policy publish` ships it: `npm run build:policy` bundles
 * policies/index.ts (and the core/ modules the policies use) into one file beside its own
 * PulumiPolicy.yaml and package.json. Built here into a folder outside the repository whose
 * node_modules holds ONLY the two declared dependencies, then started by the Pulumi SDK's
 * policy-pack host: anything the bundle still required from elsewhere would fail to load.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { allPolicies } from "../../../policies/catalog";
import { scaleplaneGuard } from "../../../policies/guard";
import { buildPolicyPack, POLICY_PACK_DEPENDENCIES } from "../../../scripts/build";
import { Analyzer } from "../../../scripts/check";
import type { RecordedResource } from "../../../scripts/lib/offline";

const ROOT = join(__dirname, "..", "..", "..");

describe("the bundled policy pack (npm run build:policy)", () => {
  const dir = mkdtempSync(join(tmpdir(), "sp-policy-pack-"));
  let analyzer: Analyzer | undefined;

  beforeAll(async () => {
    await buildPolicyPack(dir);
    for (const dep of POLICY_PACK_DEPENDENCIES) {
      mkdirSync(join(dir, "node_modules", dep, ".."), { recursive: true });
      symlinkSync(join(ROOT, "node_modules", dep), join(dir, "node_modules", dep));
    }
    analyzer = await Analyzer.start({ packDir: dir, timeoutMs: 240_000 });
  }, 300_000);

  afterAll(() => {
    analyzer?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("is self-contained: package.json depends on @pulumi/policy and @pulumi/pulumi only, at the pinned versions", () => {
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
      name: string;
      version: string;
      main: string;
      dependencies: Record<string, string>;
    };
    const source = JSON.parse(readFileSync(join(ROOT, "policies", "package.json"), "utf8")) as typeof pkg;
    expect(pkg).toMatchObject({ name: "scaleplane-guard", version: source.version, main: "index.js" });
    expect(pkg.dependencies).toEqual({
      "@pulumi/policy": source.dependencies["@pulumi/policy"],
      "@pulumi/pulumi": source.dependencies["@pulumi/pulumi"],
    });
    const project = parseYaml(readFileSync(join(dir, "PulumiPolicy.yaml"), "utf8")) as Record<string, unknown>;
    expect(project.runtime).toBe("nodejs");
    expect(project.main).toBeUndefined();
    const bundle = readFileSync(join(dir, "index.js"), "utf8");
    const required = [...new Set([...bundle.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]))].filter(
      (m) => !m.startsWith("node:"),
    );
    expect(required.sort()).toEqual(["@pulumi/policy"]);
  });

  it("starts under the SDK's policy-pack host and serves every policy with its level and defaults", async () => {
    const served = await analyzer!.policies();
    expect(served.map((p) => [p.name, p.level]).sort()).toEqual(
      allPolicies.map((p) => [p.name, p.enforcementLevel]).sort(),
    );
    expect(served.find((p) => p.name === "db-backup-retention")?.defaults).toEqual({ minBackupDays: 7 });
  });

  it("analyzes like the source pack (a privileged Docker container is a mandatory violation)", async () => {
    await analyzer!.configure();
    const r: RecordedResource = {
      urn: "urn:pulumi:t::scaleplane::docker:index/container:Container::c",
      type: "docker:index/container:Container",
      name: "c",
      custom: true,
      inputs: { privileged: true },
    };
    const violations = await analyzer!.analyze(r, new Map([[r.urn, r]]));
    expect(violations.filter((v) => v.policy === "no-privileged-containers").map((v) => v.level)).toEqual([
      "mandatory",
    ]);
  });
});

describe("scaleplaneGuard(options): the pack's arguments for a PolicyPack of one's own", () => {
  it("applies levels (all, then per policy) and setting defaults, leaving the catalog untouched", () => {
    const args = scaleplaneGuard({
      all: "mandatory",
      "container-resource-limits": "advisory",
      "db-backup-retention": { minBackupDays: 14 },
    });
    const byName = new Map(args.policies.map((p) => [p.name, p]));
    expect(args.policies).toHaveLength(allPolicies.length);
    expect(
      args.policies
        .filter((p) => p.name !== "container-resource-limits")
        .every((p) => p.enforcementLevel === "mandatory"),
    ).toBe(true);
    expect(byName.get("container-resource-limits")?.enforcementLevel).toBe("advisory");
    expect(byName.get("db-backup-retention")?.configSchema?.properties?.minBackupDays).toMatchObject({ default: 14 });
    expect(
      allPolicies.find((p) => p.name === "db-backup-retention")?.configSchema?.properties?.minBackupDays,
    ).toMatchObject({ default: 7 });
  });

  it("refuses unknown policies, unknown settings, wrong types and unknown levels, naming them", () => {
    expect(() => scaleplaneGuard({ "no-such-policy": "mandatory" })).toThrow(
      /scaleplaneGuard: unknown policy "no-such-policy"; policies: .*db-backup-retention/,
    );
    expect(() => scaleplaneGuard({ "db-backup-retention": { minBackupDayz: 3 } })).toThrow(
      "scaleplaneGuard: db-backup-retention.minBackupDayz: unknown setting; allowed: enforcementLevel, minBackupDays",
    );
    expect(() => scaleplaneGuard({ "db-backup-retention": { minBackupDays: "14" } })).toThrow(
      'scaleplaneGuard: db-backup-retention.minBackupDays: must be of type integer; got "14"',
    );
    expect(() => scaleplaneGuard({ all: "strict" as never })).toThrow(
      'scaleplaneGuard: all: enforcement level must be one of advisory, mandatory, remediate, disabled; got "strict"',
    );
  });
});
