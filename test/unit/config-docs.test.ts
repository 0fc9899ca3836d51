/**
 * The config reference is generated from the zod schema (scripts/lib/config-docs.ts): these tests
 * fail when docs/config.md or docs/config.schema.json is stale, when a key has no description, and
 * when the JSON Schema editors apply to stacks/*.yaml disagrees with what the program accepts.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv from "ajv";
import { parse as parseYaml } from "yaml";
import { parsePlatformConfig } from "../../core/config";
import {
  configDocs,
  configReferenceMarkdown,
  platformConfigJsonSchema,
  stackFileJsonSchema,
  type JsonSchema,
} from "../../scripts/lib/config-docs";

const ROOT = join(__dirname, "..", "..");
const STACKS = join(ROOT, "stacks");
const stackFiles = readdirSync(STACKS).filter((f) => /^Pulumi\..+\.yaml$/.test(f));

/** Every key path of the schema (`app.scaling.drainSeconds`, `database.shards[].name`) with its node. */
function leaves(s: JsonSchema, prefix = ""): [string, JsonSchema][] {
  const out: [string, JsonSchema][] = [];
  for (const [k, c] of Object.entries(s.properties ?? {})) {
    const key = prefix ? `${prefix}.${k}` : k;
    out.push([key, c]);
    out.push(...leaves(c, key));
    for (const alt of [c, ...(c.anyOf ?? [])]) if (alt.items) out.push(...leaves(alt.items, `${key}[]`));
  }
  return out;
}

describe("generated config docs", () => {
  it.each(Object.entries(configDocs()))("%s is up to date (run `npm run docs`)", (path, text) => {
    expect(readFileSync(join(ROOT, path), "utf8")).toBe(text);
  });

  it("every key has a description and a row in docs/config.md", () => {
    const md = configReferenceMarkdown();
    const keys = leaves(platformConfigJsonSchema());
    expect(keys.length).toBeGreaterThan(60);
    expect(keys.filter(([, s]) => !s.description).map(([k]) => k)).toEqual([]);
    expect(keys.filter(([k]) => !md.includes(`| \`scaleplane:${k}\` |`)).map(([k]) => k)).toEqual([]);
  });

  it("states each default the schema applies, or says why there is none", () => {
    const md = configReferenceMarkdown();
    expect(md).toContain("| `scaleplane:configService.members` | number | `1`, `3`, `5`, `7` |");
    expect(md).toMatch(
      /\| `scaleplane:database\.weightResolution` \| integer \| 1 to 4096 \| .*Defaults to `150`\. \|/,
    );
    expect(md).toMatch(/\| `scaleplane:app\.desiredSize` \|.*Defaults to minSize\. \|/);
    expect(md).toMatch(/\| `scaleplane:database\.shards\[\]\.name` \|.*Required\. \|/);
  });
});

describe("the stack file JSON Schema", () => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(stackFileJsonSchema());
  const errorsOf = (doc: unknown) =>
    validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);

  it.each(stackFiles)("stacks/%s names the schema and is valid under it", (file) => {
    const text = readFileSync(join(STACKS, file), "utf8");
    expect(text.split("\n")[0]).toBe("# yaml-language-server: $schema=../docs/config.schema.json");
    expect(errorsOf(parseYaml(text))).toEqual([]);
  });

  it("refuses what the program refuses: unknown keys, wrong types, values out of range", () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ "scaleplane:databse": { shards: 2 } }, "/config"],
      [{ "scaleplane:app": { minSise: 2 } }, "/config/scaleplane:app"],
      [{ "scaleplane:configService": { members: 4 } }, "/config/scaleplane:configService/members"],
      [{ "scaleplane:target": "gcp" }, "/config/scaleplane:target"],
      [{ "scaleplane:database": { shards: [{ weight: 1 }] } }, "/config/scaleplane:database/shards"],
      [{ "scaleplane:docker": { appPortBase: 80 } }, "/config/scaleplane:docker/appPortBase"],
    ];
    for (const [config, path] of cases) {
      const errors = errorsOf({ config });
      expect([config, errors.some((e) => e.startsWith(path))]).toEqual([config, true]);
      // The program refuses the same config.
      const raw = Object.fromEntries(Object.entries(config).map(([k, v]) => [k.replace(/^scaleplane:/, ""), v]));
      expect(() => parsePlatformConfig(raw)).toThrow(/invalid configuration/);
    }
  });

  it("lets other namespaces through (aws:region, kubernetes:context)", () => {
    expect(errorsOf({ config: { "aws:region": "eu-west-1", "kubernetes:context": "kind" } })).toEqual([]);
  });
});
