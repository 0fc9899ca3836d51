/**
 * Transpile-only @swc/jest (types are checked by `npm run typecheck`). ts-jest loaded the
 * TypeScript compiler into every worker and transpiled slowly whenever its cache was cold. Same
 * output as tsconfig.json asks for: ES2022 with define-semantics class fields (`declare` fields
 * emit nothing, so dynamic resources' outputs are not overwritten).
 */
const swc = {
  jsc: { parser: { syntax: "typescript" }, target: "es2022", transform: { useDefineForClassFields: true } },
  module: { type: "commonjs" },
};
const transform = { "^.+\\.ts$": ["@swc/jest", swc] };
const common = {
  testEnvironment: "node",
  transform,
  moduleFileExtensions: ["ts", "js", "json"],
  // The SDK's per-promise debug stacks skip jest's source mapping (see the file's header).
  setupFilesAfterEnv: ["<rootDir>/test/support/pulumi-stacks.ts"],
  // Compiles each module once per worker, not once per test file (see the file's header).
  runtime: "<rootDir>/test/support/jest-runtime.js",
};

/** @type {import('jest').Config} */
module.exports = {
  // Integration tests start real engines; unit tests finish in milliseconds either way.
  testTimeout: 300000,
  // The longest files first (test/durations.json), also on a fresh clone with no timing cache.
  testSequencer: "<rootDir>/test/support/sequencer.js",
  projects: [
    { ...common, displayName: "unit", testMatch: ["<rootDir>/test/unit/**/*.test.ts"] },
    // Whole-ring properties: every run ranks all 2^17 partitions of several rings (minutes of CPU),
    // so they are their own suite, run by `npm test` and CI, not by the quick `npm run test:unit`.
    { ...common, displayName: "properties", testMatch: ["<rootDir>/test/properties/**/*.test.ts"] },
    {
      ...common,
      displayName: "integration",
      testMatch: ["<rootDir>/test/integration/**/*.test.ts", "<rootDir>/test/chaos/**/*.test.ts"],
    },
  ],
};
