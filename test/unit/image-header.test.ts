import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { buildOrder, parseDockerfileHeader } from "../../scripts/lib/images/header";

const parse = (text: string) => parseDockerfileHeader("x", "images/x/Dockerfile", text);

describe("images/<name>/Dockerfile header", () => {
  it("reads tag, context and bundle, and the FROM images (not stage aliases)", () => {
    const spec = parse(
      "# tag: scaleplane/app:1.2\n# context: runtime/app/\n# bundle: runtime/app/main.ts -> app.js\n# other comment\nFROM scaleplane/debian:bookworm AS build\nFROM build\nRUN true\n",
    );
    expect(spec).toEqual({
      name: "x",
      tag: "scaleplane/app:1.2",
      context: ["runtime/app"],
      bundle: { entry: "runtime/app/main.ts", out: "app.js" },
      from: ["scaleplane/debian:bookworm"],
    });
  });

  it.each([
    ["FROM debian\n", 'missing the required "# tag'],
    ["# tag: scaleplane/app\nFROM x\n", "not a valid <repo>:<tag>"],
    ["# tag: a:1\n# tag: b:1\nFROM x\n", '"# tag:" given twice'],
    ["# tag: a:1\n# context: ../secrets\nFROM x\n", "must be a path inside the repository"],
    ["# tag: a:1\n# context: /etc\nFROM x\n", "must be a path inside the repository"],
    ["# tag: a:1\n# bundle: main.ts\nFROM x\n", 'must read "<entry.ts> -> <out.js>"'],
    ["# tag: a:1\n# bundle: main.ts -> out/app.js\nFROM x\n", "plain file name ending in .js"],
    ["# tag: a:1\n", "no FROM instruction"],
  ])("refuses %j", (text, message) => {
    expect(() => parse(text)).toThrow(message);
  });

  it("builds an image after the image its FROM names", () => {
    const base = parse("# tag: sp/base:1\nFROM debian\n");
    const app = { ...parse("# tag: sp/app:1\nFROM sp/base:1\n"), name: "app" };
    expect(buildOrder([app, { ...base, name: "base" }]).map((s) => s.tag)).toEqual(["sp/base:1", "sp/app:1"]);
  });

  it("parses every shipped Dockerfile", () => {
    const dir = join(__dirname, "..", "..", "images");
    const specs = readdirSync(dir).map((name) =>
      parseDockerfileHeader(name, `images/${name}/Dockerfile`, readFileSync(join(dir, name, "Dockerfile"), "utf8")),
    );
    expect(specs.map((s) => s.tag)).toEqual(
      expect.arrayContaining(["scaleplane/etcd:3.4.23", "scaleplane/sample-app:0.1.0"]),
    );
  });
});
