import { TOKENS } from "../../../core/tokens";
import { allPolicies, policyAreas } from "../../../policies/catalog";
import { environmentOf, Tree } from "../../../policies/lib";
import { child, platform } from "./fake-args";

describe("the scaleplane-guard catalog", () => {
  it("has at least 20 policies with unique kebab-case names", () => {
    const names = allPolicies.map((p) => p.name);
    expect(names.length).toBeGreaterThanOrEqual(20);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(n).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
  });

  it("gives every policy a description and an explicit mandatory or advisory level", () => {
    for (const p of allPolicies) {
      expect(p.description.length).toBeGreaterThan(20);
      expect(["mandatory", "advisory"]).toContain(p.enforcementLevel);
    }
  });

  it("covers every area the issue names", () => {
    expect(Object.keys(policyAreas)).toEqual(
      expect.arrayContaining(["autoscaling", "config-service", "database", "network", "secrets", "stack"]),
    );
    for (const ps of Object.values(policyAreas)) expect(ps.length).toBeGreaterThan(0);
  });

  it("declares a default for every numeric threshold in configSchema", () => {
    for (const p of allPolicies)
      for (const [k, s] of Object.entries(p.configSchema?.properties ?? {}))
        if (s.type === "integer" || s.type === "array") expect([p.name, k, "default" in s]).toEqual([p.name, k, true]);
  });
});

describe("environmentOf", () => {
  it("prefers the forced environment, then components, then the resource's tag, then the stack tag", () => {
    const prod = platform({ environment: "prod" });
    const c = child(prod, TOKENS.configService, "c");
    const toPolicy = (r: typeof c) =>
      ({ type: r.type, name: r.name, urn: r.name, props: r.props ?? {}, opts: { parent: r.parent?.name } }) as never;
    const resources = [toPolicy(prod), toPolicy(c)];
    const tree = new Tree(resources);
    const args = (tags: Record<string, string>) => ({ stackTags: new Map(Object.entries(tags)) });
    expect(environmentOf(resources[1], tree, args({}))).toBe("prod");
    expect(environmentOf(resources[1], tree, args({}), "staging")).toBe("staging");
    const lone = new Tree([toPolicy({ type: "aws:rds/instance:Instance", name: "x" })]);
    expect(environmentOf(lone.resources[0], lone, args({ "scaleplane:environment": "prod" }))).toBe("prod");
    expect(environmentOf(lone.resources[0], lone, args({}))).toBe("dev");
    const tagged = new Tree([
      toPolicy({
        type: "aws:autoscaling/group:Group",
        name: "g",
        props: { tags: [{ key: "scaleplane:environment", value: "prod" }] },
      }),
    ]);
    expect(environmentOf(tagged.resources[0], tagged, args({ "scaleplane:environment": "dev" }))).toBe("prod");
  });
});

describe("unit-test coverage of the catalog", () => {
  it("has a describe block named after every policy in test/unit/policies", () => {
    const { readdirSync, readFileSync } = require("node:fs") as typeof import("node:fs");
    const text = readdirSync(__dirname)
      .filter((f) => f.endsWith(".test.ts"))
      .map((f) => readFileSync(`${__dirname}/${f}`, "utf8"))
      .join("\n");
    const untested = allPolicies.map((p) => p.name).filter((n) => !text.includes(`describe("${n}"`));
    expect(untested).toEqual([]);
  });
});
