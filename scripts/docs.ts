/**
 * `npm run docs`: writes the configuration reference (docs/config.md) and the stack file JSON
 * Schema (docs/config.schema.json) from the zod schema in core/config.ts. `--check` writes
 * nothing and exits 1 naming the stale files (test/unit/config-docs.test.ts checks the same).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { configDocs } from "./lib/config-docs";

const ROOT = resolve(__dirname, "..");

function main(): number {
  const check = process.argv.includes("--check");
  const stale: string[] = [];
  for (const [path, text] of Object.entries(configDocs())) {
    const file = join(ROOT, path);
    if (existsSync(file) && readFileSync(file, "utf8") === text) continue;
    stale.push(path);
    if (!check) {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, text);
    }
  }
  if (check && stale.length > 0) {
    console.error(`stale: ${stale.join(", ")}; run \`npm run docs\``);
    return 1;
  }
  console.log(stale.length === 0 ? "config docs are up to date" : `wrote ${stale.join(", ")}`);
  return 0;
}

process.exitCode = main();
