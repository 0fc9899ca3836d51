/**
 * The two publishable artifacts, built from the same sources the program and tests use:
 *
 * - `npm run build` (`library`): `tsc -p tsconfig.build.json` into dist/ — compiled JS and `.d.ts`
 *   for the components, core, providers, runtime clients and the policies, laid out as the sources
 *   are (package.json `exports` point into it). dist/ is emptied first (except the policy pack):
 *   a module that moved must not leave its old compiled file behind, where `require` would still
 *   find it.
 * - `npm run build:policy` (`policy-pack`): policies/index.ts bundled with esbuild into
 *   dist/policy-pack/ beside its own PulumiPolicy.yaml and package.json, whose only dependencies are
 *   @pulumi/policy and @pulumi/pulumi: a folder `pulumi policy publish` can publish as is (the
 *   policies import core/, which the bundle carries).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";

const ROOT = resolve(__dirname, "..");
const POLICY_SRC = join(ROOT, "policies");
/** The only packages the bundled pack leaves to `npm install`; everything else is inside the bundle. */
export const POLICY_PACK_DEPENDENCIES = ["@pulumi/policy", "@pulumi/pulumi"] as const;

/** Compiles the library into `outDir` (default dist/). */
export function buildLibrary(outDir = join(ROOT, "dist")): void {
  if (existsSync(outDir)) {
    for (const entry of readdirSync(outDir))
      if (entry !== "policy-pack") rmSync(join(outDir, entry), { recursive: true, force: true });
  }
  try {
    execFileSync(
      process.execPath,
      [require.resolve("typescript/bin/tsc"), "-p", join(ROOT, "tsconfig.build.json"), "--outDir", outDir],
      {
        cwd: ROOT,
        stdio: "inherit",
      },
    );
  } catch {
    throw new Error("tsc -p tsconfig.build.json reported the errors above");
  }
}

/**
 * Bundles the policy pack into `outDir` (default dist/policy-pack/) with its PulumiPolicy.yaml and
 * package.json. Returns the bundle's inputs outside node_modules (for a summary).
 */
export async function buildPolicyPack(outDir = join(ROOT, "dist", "policy-pack")): Promise<string[]> {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const pkg = JSON.parse(readFileSync(join(POLICY_SRC, "package.json"), "utf8")) as Record<string, unknown> & {
    dependencies?: Record<string, string>;
  };
  const deps = pkg.dependencies ?? {};
  const missing = POLICY_PACK_DEPENDENCIES.filter((d) => !deps[d]);
  if (missing.length > 0) throw new Error(`policies/package.json: dependencies must pin ${missing.join(", ")}`);

  const result = await build({
    entryPoints: [join(POLICY_SRC, "index.ts")],
    outfile: join(outDir, "index.js"),
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    // The engine's @pulumi/policy must be the one the pack registers with: never bundle these.
    external: [...POLICY_PACK_DEPENDENCIES, ...POLICY_PACK_DEPENDENCIES.map((d) => `${d}/*`)],
    sourcemap: false,
    legalComments: "inline",
    metafile: true,
    logLevel: "warning",
  });

  const { private: _private, main: _main, devDependencies: _dev, scripts: _scripts, ...rest } = pkg;
  const packageJson = {
    ...rest,
    main: "index.js",
    dependencies: Object.fromEntries(POLICY_PACK_DEPENDENCIES.map((d) => [d, deps[d]])),
  };
  writeFileSync(join(outDir, "package.json"), `${JSON.stringify(packageJson, null, 2)}\n`);

  const project = parseYaml(readFileSync(join(POLICY_SRC, "PulumiPolicy.yaml"), "utf8")) as Record<string, unknown>;
  // Plain JavaScript now: no TypeScript runtime option, and the entry is package.json's main.
  const { main: _m, ...projectRest } = project;
  const runtime =
    typeof project.runtime === "object" && project.runtime !== null
      ? (project.runtime as { name: string }).name
      : project.runtime;
  writeFileSync(join(outDir, "PulumiPolicy.yaml"), stringifyYaml({ ...projectRest, runtime }, { lineWidth: 0 }));

  return Object.keys(result.metafile.inputs).filter((f) => !f.includes("node_modules"));
}

async function main(): Promise<void> {
  const what = process.argv[2];
  if (what === "library") {
    buildLibrary();
    console.log("built dist/ (compiled JS and .d.ts)");
  } else if (what === "policy-pack") {
    const inputs = await buildPolicyPack();
    console.log(
      `built dist/policy-pack/ (index.js bundles ${inputs.length} source files; dependencies: ${POLICY_PACK_DEPENDENCIES.join(", ")})`,
    );
  } else {
    throw new Error(`usage: tsx scripts/build.ts library|policy-pack; got ${JSON.stringify(what)}`);
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(`build failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
