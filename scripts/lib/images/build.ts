/**
 * Building one `images/<name>/Dockerfile`: assemble its context (the image directory, `# context:`
 * paths, the `# bundle:` output), hash it with the base image ids, skip when the tag already
 * carries that hash, otherwise build with host networking and label the result.
 */
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import type Docker from "dockerode";
import { Readable } from "node:stream";
import { pack } from "tar-fs";
import type { ImageSpec } from "./header";
import { progress } from "./progress";

export const HASH_LABEL = "scaleplane.hash";

interface StreamEvent {
  stream?: string;
  status?: string;
  progress?: string;
  error?: string;
  errorDetail?: { message?: string };
}

/**
 * Waits for a build/import progress stream to end; `log` collects its text lines and `onLine`
 * sees each one. Rejects with the last 30 lines when the daemon reports an error.
 */
export function followBuildStream(
  docker: Docker,
  stream: NodeJS.ReadableStream,
  log: string[],
  onLine: (line: string) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let failure: string | undefined;
    let pending = "";
    const emit = (line: string) => {
      // eslint-disable-next-line no-control-regex
      const clean = line.replace(/\u001b\[[0-9;]*m/g, "").trimEnd();
      if (clean.trim() === "") return;
      log.push(clean);
      if (log.length > 400) log.shift();
      onLine(clean);
    };
    docker.modem.followProgress(
      stream,
      (err: Error | null) => {
        if (pending !== "") emit(pending);
        if (err) failure ??= err.message;
        if (failure) reject(new Error(`${failure}\n--- last lines of the build log ---\n${log.slice(-30).join("\n")}`));
        else resolve();
      },
      (ev: StreamEvent) => {
        // build output arrives in chunks that may split lines; status events are whole lines
        if (ev.stream !== undefined) {
          const lines = (pending + ev.stream).split("\n");
          pending = lines.pop() ?? "";
          lines.forEach(emit);
        } else if (ev.status) emit(`${ev.status}${ev.progress ? ` ${ev.progress}` : ""}`);
        if (ev.error) {
          failure = ev.errorDetail?.message ?? ev.error;
          log.push(`ERROR: ${failure}`);
        }
      },
    );
  });
}

/**
 * A tar stream of a directory as a Node stream (tar-fs packs are streamx streams). Device nodes
 * are left out (a debootstrapped /dev has some; Docker provides /dev in containers). Modes are
 * kept exactly (umask 0: /tmp stays 1777).
 */
export function tarDirectory(dir: string): NodeJS.ReadableStream {
  const options = { strict: false, umask: 0 }; // tar-fs 3 options (@types/tar-fs lacks umask)
  return Readable.from(pack(dir, options));
}

/** Every regular file under `dir`, repo-style relative paths, sorted. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(relative(dir, p).split("\\").join("/"));
    }
  };
  walk(dir);
  return out.sort();
}

/** sha256 over the context (paths, exec bits, contents) and the ids of the FROM images. */
export function contextHash(ctx: string, fromIds: readonly string[]): string {
  const h = createHash("sha256");
  for (const f of filesUnder(ctx)) {
    const st = statSync(join(ctx, f));
    h.update(`${f}\0${st.mode & 0o111 ? "x" : "-"}\0${st.size}\0`);
    h.update(readFileSync(join(ctx, f)));
  }
  for (const id of fromIds) h.update(`from\0${id}\0`);
  return h.digest("hex");
}

/** Creates the build context of `spec` in a temporary directory (the caller removes it). */
export async function assembleContext(repo: string, spec: ImageSpec): Promise<string> {
  const ctx = mkdtempSync(join(tmpdir(), `scaleplane-image-${spec.name}-`));
  try {
    cpSync(join(repo, "images", spec.name), ctx, { recursive: true });
    for (const p of spec.context) {
      const src = join(repo, p);
      if (!existsSync(src))
        throw new Error(`images/${spec.name}/Dockerfile: "# context: ${p}" does not exist in the repository`);
      // node_modules below a context directory are left out; a path that names files inside
      // node_modules itself (e.g. a package's .proto files a bundle loads at run time) is copied.
      cpSync(src, join(ctx, p), {
        recursive: true,
        filter: (s) => !relative(src, s).split("/").includes("node_modules"),
      });
    }
    if (spec.bundle) {
      const entry = join(repo, spec.bundle.entry);
      if (!existsSync(entry))
        throw new Error(`images/${spec.name}/Dockerfile: bundle entry ${spec.bundle.entry} does not exist`);
      const esbuild = await import("esbuild");
      const res = await esbuild.build({
        entryPoints: [entry],
        outfile: join(ctx, spec.bundle.out),
        bundle: true,
        platform: "node",
        target: "node18",
        format: "cjs",
        legalComments: "none",
        // Native addons cannot be bundled; the optional ones (ssh2's crypto, cpu-features, loaded
        // by dockerode's ssh transport inside try/catch) fall back to JavaScript when absent.
        external: ["*.node"],
        logLevel: "silent",
        absWorkingDir: repo,
      });
      if (res.errors.length > 0)
        throw new Error(`bundling ${spec.bundle.entry} failed: ${res.errors.map((e) => e.text).join("; ")}`);
    }
    return ctx;
  } catch (e) {
    rmSync(ctx, { recursive: true, force: true });
    throw e;
  }
}

export interface BuildResult {
  name: string;
  tag: string;
  id: string;
  hash: string;
  built: boolean;
  ms: number;
}

/** Builds `spec` unless its tag already carries the content hash (or `force`). */
export async function buildImage(docker: Docker, repo: string, spec: ImageSpec, force: boolean): Promise<BuildResult> {
  const t0 = Date.now();
  const fromIds: string[] = [];
  for (const f of spec.from) {
    try {
      fromIds.push((await docker.getImage(f).inspect()).Id);
    } catch {
      throw new Error(
        `images/${spec.name}/Dockerfile: FROM ${f} is not present locally (there is no registry: build it first, e.g. \`npm run images\`)`,
      );
    }
  }
  const ctx = await assembleContext(repo, spec);
  try {
    const hash = contextHash(ctx, fromIds);
    let previous: string | undefined;
    try {
      const info = await docker.getImage(spec.tag).inspect();
      previous = info.Id;
      if (!force && info.Config?.Labels?.[HASH_LABEL] === hash)
        return { name: spec.name, tag: spec.tag, id: info.Id, hash, built: false, ms: Date.now() - t0 };
    } catch {
      // not built yet
    }
    const bar = progress(`build ${spec.tag}`, 1);
    const log: string[] = [];
    const stream = await docker.buildImage(tarDirectory(ctx), {
      t: spec.tag,
      labels: { [HASH_LABEL]: hash, "scaleplane.image": spec.name },
      networkmode: "host",
      rm: true,
      forcerm: true,
    });
    await followBuildStream(docker, stream, log, (line) => {
      const m = /^Step (\d+)\/(\d+) : (.*)$/.exec(line);
      if (m) {
        bar.total(Number(m[2]));
        bar.update(Number(m[1]) - 1, m[3]);
      }
    }).catch((e: Error) => {
      bar.stop("failed");
      throw new Error(`build of ${spec.tag} (images/${spec.name}) failed: ${e.message}`);
    });
    bar.stop("built");
    const info = await docker.getImage(spec.tag).inspect();
    if (info.Config?.Labels?.[HASH_LABEL] !== hash)
      throw new Error(`build of ${spec.tag} finished but the image does not carry hash ${hash}`);
    // the replaced image is now untagged: drop it unless a container still uses it
    if (previous && previous !== info.Id)
      await docker
        .getImage(previous)
        .remove()
        .catch(() => undefined);
    return { name: spec.name, tag: spec.tag, id: info.Id, hash, built: true, ms: Date.now() - t0 };
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
}
