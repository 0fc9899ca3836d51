/**
 * scaleplane as a published library, used the way a new user would: `npm pack` (which builds dist/
 * through `prepack`), the tarball installed with npm into a fresh project outside this repository,
 * a TypeScript program there that imports every public entry point type-checked with the settings
 * of Pulumi's TypeScript template, then compiled and run under Pulumi's mock runtime.
 *
 * Proves what no in-repo test can: the `files` whitelist ships everything the compiled code
 * requires, `exports`/`typesVersions` resolve for both old (`node`) and `node16` module resolution,
 * the `.d.ts` files stand on their own, and importing the library creates no resource (index.ts,
 * the Pulumi program, is not part of it).
 *
 * Dependencies come from the npm cache where present (`--prefer-offline`); nothing but the npm
 * registry is contacted. TypeScript and @types/node are the repo's own (tools, not dependencies).
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ProviderHost } from "../../support/provider-host";

const run = promisify(execFile);
const ROOT = join(__dirname, "..", "..", "..");
const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  name: string;
  version: string;
  exports: Record<string, unknown>;
};

async function sh(cmd: string, args: string[], cwd: string, timeout = 600_000): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, {
      cwd,
      timeout,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, npm_config_yes: "true" },
    });
    return stdout;
  } catch (e) {
    const err = e as Error & { stdout?: string; stderr?: string };
    throw new Error(
      `${cmd} ${args.join(" ")} (in ${cwd}) failed: ${err.message}\n${err.stdout ?? ""}\n${err.stderr ?? ""}`,
    );
  }
}

/** The consumer's program: every public entry point, and a Platform on Docker. */
const PROGRAM = `import * as pulumi from "@pulumi/pulumi";
import { Platform, type PlatformArgs } from "scaleplane";
import { parsePlatformConfig, ConfigError, type PlatformConfigInput } from "scaleplane/config";
import { buildRing, ownerOf } from "scaleplane/ring";
import type { ConfigClientOptions } from "scaleplane/config-client";
import type { ShardClientOptions } from "scaleplane/shard-client";
import { scaleplaneGuard } from "scaleplane/policy";

const input: PlatformConfigInput = {
  target: "docker",
  app: { name: "shop", minSize: 2, maxSize: 2 },
  configService: { members: 3 },
  database: { shards: 2, replicationFactor: 2, consistency: "quorum" },
};
const args: PlatformArgs = { config: input };
const platform = new Platform("shop", args);

export const appEndpoints: pulumi.Output<string[]> = platform.appEndpoints;
export const configEndpoints = platform.configEndpoints;
export const shardCount = platform.shardMap.apply((m) => m.shards.length);
export const replication = parsePlatformConfig(input).database.replicationFactor;
export const owner = ownerOf(buildRing([{ name: "a", weight: 1 }, { name: "b", weight: 2 }]), "user:42");
export const guardPolicies = scaleplaneGuard({ all: "mandatory" }).policies.length;
export const configErrorName = new ConfigError([]).name;
export type Clients = [ConfigClientOptions, ShardClientOptions];
`;

/** Runs the compiled program (or only `require("scaleplane")`) under the mock runtime; prints JSON. */
const RUNNER = `const pulumi = require("@pulumi/pulumi");
const registered = [];
pulumi.runtime.setMocks(
  {
    newResource: (a) => {
      const dynamic = a.type.startsWith("pulumi-nodejs:dynamic/");
      registered.push({ type: a.type, name: a.name, custom: a.custom !== false, inputs: dynamic ? a.inputs : undefined });
      return { id: a.custom === false ? undefined : a.name + "-id", state: a.inputs };
    },
    call: (a) => {
      throw new Error("unexpected invoke " + a.token);
    },
  },
  "consumer",
  "dev",
  false,
);
process.on("unhandledRejection", (e) => {
  console.error(e);
  process.exit(1);
});
const settle = () => require("@pulumi/pulumi/runtime/settings").waitForRPCs();
(async () => {
  const program = require(process.argv[2] === "import-only" ? "scaleplane" : "./bin/index.js");
  await settle();
  const outputs = {};
  for (const [k, v] of Object.entries(program)) {
    if (pulumi.Output.isInstance(v)) outputs[k] = await new Promise((r) => v.apply(r));
    else if (typeof v !== "function") outputs[k] = v;
  }
  await settle();
  process.stdout.write(JSON.stringify({ registered, outputs, exports: Object.keys(program) }), () => process.exit(0));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
`;

/** Pulumi's TypeScript template settings (\`pulumi new typescript\`), plus where @types/node is. */
const tsconfig = (moduleResolution: "node" | "node16") => ({
  compilerOptions: {
    strict: true,
    outDir: "bin",
    target: "es2020",
    module: moduleResolution === "node" ? "commonjs" : "node16",
    moduleResolution,
    sourceMap: true,
    experimentalDecorators: true,
    pretty: false,
    noFallthroughCasesInSwitch: true,
    noImplicitReturns: true,
    forceConsistentCasingInFileNames: true,
    skipLibCheck: true,
    typeRoots: [join(ROOT, "node_modules", "@types")],
    types: ["node"],
  },
  files: ["index.ts"],
});

interface PackResult {
  filename: string;
  files: { path: string }[];
}

describe("the packed library in a fresh consumer project", () => {
  const dir = mkdtempSync(join(tmpdir(), "sp-consumer-"));
  let packed: PackResult;

  beforeAll(async () => {
    // `prepack` runs `npm run build`: the tarball is what `npm publish` would upload.
    const out = await sh("npm", ["pack", "--json", "--pack-destination", dir], ROOT);
    // The prepack build's own output comes first on stdout; npm's JSON report is the rest.
    packed = (JSON.parse(out.slice(out.search(/^\[/m))) as PackResult[])[0];
    writeFileSync(
      join(dir, "package.json"),
      JSON.stringify(
        {
          name: "consumer",
          version: "1.0.0",
          private: true,
          dependencies: { [pkg.name]: `file:./${packed.filename}` },
        },
        null,
        2,
      ),
    );
    writeFileSync(join(dir, "index.ts"), PROGRAM);
    writeFileSync(join(dir, "run.js"), RUNNER);
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(tsconfig("node"), null, 2));
    writeFileSync(
      join(dir, "tsconfig.node16.json"),
      JSON.stringify(
        { ...tsconfig("node16"), compilerOptions: { ...tsconfig("node16").compilerOptions, noEmit: true } },
        null,
        2,
      ),
    );
    await sh("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"], dir);
  }, 1_200_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("the tarball holds compiled JS and .d.ts for every export, and no sources, tests or scripts", () => {
    const files = packed.files.map((f) => f.path);
    for (const [sub, target] of Object.entries(pkg.exports)) {
      if (typeof target === "string") continue; // ./package.json
      const t = target as { types: string; default: string };
      expect([sub, files.includes(t.default.replace(/^\.\//, ""))]).toEqual([sub, true]);
      expect([sub, files.includes(t.types.replace(/^\.\//, ""))]).toEqual([sub, true]);
    }
    const js = files.filter((f) => f.endsWith(".js"));
    expect(js.length).toBeGreaterThan(20);
    // Every module ships its declarations.
    expect(js.filter((f) => !files.includes(f.replace(/\.js$/, ".d.ts")))).toEqual([]);
    expect(files.filter((f) => /\.ts$/.test(f) && !f.endsWith(".d.ts"))).toEqual([]);
    expect(
      files.filter(
        (f) =>
          /^(test|scripts|bench|stacks|images|dist\/policy-pack|dist\/index\.)/.test(f) || f.startsWith("dist/test"),
      ),
    ).toEqual([]);
  });

  it("type-checks a program using Platform and every subpath export (node and node16 resolution)", async () => {
    await Promise.all([
      sh(process.execPath, [TSC, "-p", "tsconfig.json"], dir),
      sh(process.execPath, [TSC, "-p", "tsconfig.node16.json"], dir),
    ]);
  }, 900_000);

  it("importing the library registers nothing", async () => {
    const out = JSON.parse(await sh(process.execPath, ["run.js", "import-only"], dir)) as {
      registered: unknown[];
      exports: string[];
    };
    expect(out.registered).toEqual([]);
    expect(out.exports).toEqual(
      expect.arrayContaining(["Platform", "AutoscalingGroup", "RaftConfigService", "ShardedDatabase"]),
    );
  });

  type Registered = { type: string; name: string; custom: boolean; inputs?: Record<string, unknown> };
  let registered: Registered[] = [];

  it("runs the program under Pulumi mocks: the Platform and its Docker resources are registered", async () => {
    const out = JSON.parse(await sh(process.execPath, ["run.js"], dir)) as {
      registered: Registered[];
      outputs: Record<string, unknown>;
    };
    registered = out.registered;
    const types = out.registered.map((r) => r.type);
    expect(out.registered.filter((r) => r.type === "scaleplane:platform:Platform").map((r) => r.name)).toEqual([
      "shop",
    ]);
    for (const t of [
      "scaleplane:autoscaling:AutoscalingGroup",
      "scaleplane:config:RaftConfigService",
      "scaleplane:database:ShardedDatabase",
      "docker:index/container:Container",
    ]) {
      expect([t, types.includes(t)]).toEqual([t, true]);
    }
    expect(out.outputs.shardCount).toBe(2);
    expect(out.outputs.replication).toBe(2);
    expect(["a", "b"]).toContain(out.outputs.owner);
    expect(out.outputs.guardPolicies).toBeGreaterThan(20);
    expect(out.outputs.configErrorName).toBe("ConfigError");
    // Loopback only (one per instance, or the group's load balancer: the Docker builder decides).
    const endpoints = out.outputs.appEndpoints as string[];
    expect(endpoints.length).toBeGreaterThan(0);
    expect(endpoints.filter((e) => !/^http:\/\/127\.0\.0\.1:\d+$/.test(e))).toEqual([]);
  });

  // A dynamic provider defined in an installed package is serialized as require()s of the package's
  // compiled modules (package.json exports "./dist/*.js" for that): the consumer's own
  // dynamic-provider host must load it, as `pulumi up` in that project would.
  it("its serialized dynamic provider loads in the consumer's dynamic-provider host (Check over gRPC)", async () => {
    const membership = registered.find((r) => r.type === "pulumi-nodejs:dynamic/etcd:EtcdMembership");
    expect(membership?.inputs?.__provider).toEqual(expect.stringContaining('require("scaleplane/dist/'));
    const host = await ProviderHost.start({ projectDir: dir, timeoutMs: 60_000 });
    try {
      const checked = await host.check(membership!.type, {}, membership!.inputs!, membership!.name);
      expect(checked.failures).toEqual([]);
      expect(checked.inputs.clusterName).toBe(membership!.inputs!.clusterName);
    } finally {
      await host.stop();
    }
  });
});
