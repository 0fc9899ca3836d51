/**
 * Dynamic providers whose operations use zod schemas (or anything else Pulumi's closure
 * serializer cannot capture) travel as an esbuild bundle: the operations module and every module
 * of this repository it imports become one CommonJS text at resource construction, carried in the
 * serialized provider and evaluated once per provider-host process. npm packages stay external
 * and are `require`d by name from the project's node_modules, as for every dynamic provider.
 */

/** Bundles the module at `entry` (an absolute path, e.g. `require.resolve("./operations")`). */
export function bundleOperations(entry: string): string {
  const esbuild = require("esbuild") as typeof import("esbuild");
  const out = esbuild.buildSync({
    entryPoints: [entry],
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    packages: "external",
    write: false,
    logLevel: "silent",
  });
  return out.outputFiles[0].text;
}

/** Evaluates a bundle once per process (cached under `name`) and returns its exports. */
export function loadOperations<T>(name: string, bundle: string | undefined): T {
  const g = globalThis as { __scaleplaneBundles?: Record<string, unknown> };
  g.__scaleplaneBundles ??= {};
  if (!g.__scaleplaneBundles[name]) {
    if (bundle === undefined)
      throw new Error(
        `${name} provider: its operations bundle is missing (the provider was serialized before any resource was constructed)`,
      );
    const mod = { exports: {} as T };
    new Function("require", "module", "exports", bundle)(require, mod, mod.exports);
    g.__scaleplaneBundles[name] = mod.exports;
  }
  return g.__scaleplaneBundles[name] as T;
}
