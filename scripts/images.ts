/**
 * `npm run images [-- <name>...] [--force] [--list]`: builds the local images (there is no registry).
 *
 * 1. `scaleplane/debian:bookworm` when absent: debootstrap --variant=minbase bookworm, imported
 *    as an image with CMD ["/bin/bash"] (needs root, ~30 s).
 * 2. Every `images/<name>/Dockerfile` (or only the named ones), in FROM-dependency order. Header
 *    lines define each build (see scripts/lib/images/header.ts):
 *      # tag: <repo:tag>                 (required)
 *      # context: <repo-relative path>   (zero or more; copied into the context at the same path)
 *      # bundle: <entry.ts> -> <out.js>  (optional; esbuild, node18, into the context root)
 *    Builds use host networking (apt inside builds) and are cached by content hash: the label
 *    `scaleplane.hash` = sha256(Dockerfile + context files + bundle output + FROM image ids); a
 *    tag already carrying that hash is not rebuilt.
 * Exits non-zero with the tail of the build log when a build fails.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Command } from "commander";
import Docker from "dockerode";
import { BASE_IMAGE, ensureBaseImage } from "./lib/images/base";
import { buildImage } from "./lib/images/build";
import { lockImages } from "./lib/images/lock";
import { buildOrder, parseDockerfileHeader, type ImageSpec } from "./lib/images/header";

const REPO = resolve(__dirname, "..");

/** Every image spec under images/ (directories holding a Dockerfile). */
export function readSpecs(repo: string): ImageSpec[] {
  const dir = join(repo, "images");
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, "Dockerfile")))
    .map((d) =>
      parseDockerfileHeader(
        d.name,
        `images/${d.name}/Dockerfile`,
        readFileSync(join(dir, d.name, "Dockerfile"), "utf8"),
      ),
    );
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function main(): Promise<void> {
  const program = new Command()
    .name("npm run images --")
    .description("build scaleplane's local Docker images (base image, then images/<name>/Dockerfile)")
    .argument("[names...]", "image directories under images/ to build (default: all)")
    .option("--force", "rebuild even when the content hash matches", false)
    .option("--list", "print the image specs and exit", false)
    .parse(process.argv);
  const opts = program.opts<{ force: boolean; list: boolean }>();
  const names = program.args;

  const specs = buildOrder(readSpecs(REPO));
  if (opts.list) {
    for (const s of specs)
      console.log(
        `${s.name}\t${s.tag}\tfrom ${s.from.join(",")}${s.context.length ? `\tcontext ${s.context.join(",")}` : ""}${s.bundle ? `\tbundle ${s.bundle.entry} -> ${s.bundle.out}` : ""}`,
      );
    return;
  }
  const unknown = names.filter((n) => !specs.some((s) => s.name === n));
  if (unknown.length > 0)
    throw new Error(
      `unknown image(s): ${unknown.join(", ")}; available: ${specs.map((s) => s.name).join(", ") || "(none)"}`,
    );
  const selected = names.length > 0 ? specs.filter((s) => names.includes(s.name)) : specs;

  const docker = new Docker();
  try {
    await docker.ping();
  } catch (e) {
    throw new Error(
      `the Docker daemon does not answer (${e instanceof Error ? e.message : String(e)}); run scripts/setup-engines.sh`,
    );
  }

  const release = await lockImages(join(REPO, ".images"));
  try {
    await buildAll(docker, selected, opts.force, names.length === 0);
  } finally {
    release();
  }
}

async function buildAll(docker: Docker, selected: ImageSpec[], force: boolean, all: boolean): Promise<void> {
  const t0 = Date.now();
  const base = await ensureBaseImage(docker, join(REPO, ".images"), force && all);
  const rows: Array<[string, string, string]> = [[BASE_IMAGE, base.built ? "built" : "cached", secs(base.ms)]];
  for (const spec of selected) {
    const r = await buildImage(docker, REPO, spec, force);
    rows.push([r.tag, r.built ? "built" : "cached", secs(r.ms)]);
  }
  const w = Math.max(...rows.map((r) => r[0].length));
  console.log(`${"image".padEnd(w)}  status  time`);
  for (const [tag, status, t] of rows) console.log(`${tag.padEnd(w)}  ${status.padEnd(6)}  ${t}`);
  console.log(`total ${secs(Date.now() - t0)}`);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  });
}
