/**
 * Import rules checked by `npm run lint` (dependency-cruiser). No cycles anywhere: a component's
 * class imports its target builders, the builders import only the shared args/types module, and
 * core/ never imports the shell (components, providers, runtime). Type-only imports count too
 * (tsPreCompilationDeps), so a cycle cannot hide behind `import type`.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "Import cycles make load order matter and couple modules both ways; split the shared part out instead.",
      from: {},
      to: { circular: true },
    },
    {
      name: "core-is-pure",
      severity: "error",
      comment: "core/ is the functional core: no Pulumi and no imports from the imperative shell.",
      from: { path: "^core/" },
      to: { path: ["^components/", "^providers/", "^runtime/", "^scripts/", "^node_modules/@pulumi/"] },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: ["^node_modules", "^dist/", "^bin/", "^coverage/", "^\\.images/"] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    moduleSystems: ["cjs", "es6"],
  },
};
