/** Transpile-only ts-jest (types are checked by `npm run typecheck`). */
const transform = { "^.+\\.ts$": ["ts-jest", { diagnostics: false }] };
const common = { testEnvironment: "node", transform, moduleFileExtensions: ["ts", "js", "json"] };

/** @type {import('jest').Config} */
module.exports = {
  // Integration tests start real engines; unit tests finish in milliseconds either way.
  testTimeout: 300000,
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
