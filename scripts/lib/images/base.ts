/**
 * The Debian base image, built without a registry: `debootstrap --variant=minbase bookworm DIR`,
 * then the directory imported as an image (the `docker import` of a tar stream, via dockerode).
 */
import { createHash } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync, readdirSync, readFileSync } from "node:fs";
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import type Docker from "dockerode";
import { progress } from "./progress";
import { followBuildStream, HASH_LABEL, tarDirectory } from "./build";

export const BASE_IMAGE = "scaleplane/debian:bookworm";
const SUITE = "bookworm";
const MIRROR = "http://deb.debian.org/debian";
/** apt sources of the image: the release plus its updates and security suites (as the hosts have). */
const SOURCES = [
  `deb ${MIRROR} ${SUITE} main`,
  `deb ${MIRROR} ${SUITE}-updates main`,
  `deb http://deb.debian.org/debian-security ${SUITE}-security main`,
].join("\n");
const CMD = 'CMD ["/bin/bash"]';

/** The recipe hash labelled on the base image: changes to the recipe (or its packing) rebuild it. */
export const baseRecipeHash = (): string =>
  createHash("sha256")
    .update(JSON.stringify({ format: 2, variant: "minbase", suite: SUITE, mirror: MIRROR, sources: SOURCES, cmd: CMD }))
    .digest("hex");

/** The label value of an image, or undefined when the image is absent. */
export async function imageLabel(
  docker: Docker,
  tag: string,
  label: string,
): Promise<{ id: string; value?: string } | undefined> {
  try {
    const info = await docker.getImage(tag).inspect();
    return { id: info.Id, value: info.Config?.Labels?.[label] };
  } catch {
    return undefined;
  }
}

/**
 * Unmounts whatever is still mounted under `dir` (debootstrap mounts proc/sys in the target and
 * may leave them behind when interrupted), so removing the directory never reaches the host's.
 */
function unmountUnder(dir: string): void {
  const mounts = readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[1])
    .filter((m): m is string => m !== undefined && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) spawnSync("umount", ["-l", m], { stdio: "ignore" });
}

/** Removes the rootfs only after unmounting anything below it. */
function removeRootfs(dir: string): void {
  unmountUnder(dir);
  rmSync(dir, { recursive: true, force: true });
}

/** Runs debootstrap with a progress bar; resolves when the rootfs is complete. */
function debootstrap(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("debootstrap", ["--variant=minbase", SUITE, dir, MIRROR], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const tail: string[] = [];
    let packages = 90; // estimate until the download list is complete
    let retrieved = 0;
    let done = 0;
    const bar = progress("debootstrap bookworm", packages * 5);
    const onLine = (line: string) => {
      tail.push(line);
      if (tail.length > 40) tail.shift();
      const m = /^I: (Retrieving|Validating|Extracting|Unpacking|Configuring) (\S+)(?: (\S+))?/.exec(line);
      if (!m) return;
      const [, phase, what, version] = m;
      if (phase === "Retrieving" && version) retrieved++;
      if (phase === "Extracting" && retrieved > 0 && packages !== retrieved) {
        packages = retrieved;
        bar.total(packages * 5);
      }
      if (version || phase === "Extracting" || phase === "Unpacking" || phase === "Configuring") {
        done++;
        bar.update(done, `${phase.toLowerCase()} ${what.replace(/\.\.\.$/, "")}`);
      }
    };
    let buf = "";
    const feed = (chunk: Buffer) => {
      buf += chunk.toString();
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      lines.forEach(onLine);
    };
    child.stdout.on("data", feed);
    child.stderr.on("data", feed);
    child.on("error", (e) =>
      reject(new Error(`debootstrap could not start (${e.message}); run scripts/setup-engines.sh`)),
    );
    child.on("close", (code) => {
      if (code === 0) {
        bar.stop("done");
        resolve();
      } else {
        bar.stop(`failed (exit ${code})`);
        let detail = "";
        try {
          detail = `\n--- ${dir}/debootstrap/debootstrap.log (tail) ---\n${readFileSync(join(dir, "debootstrap/debootstrap.log"), "utf8").split("\n").slice(-40).join("\n")}`;
        } catch {
          // no log written
        }
        reject(new Error(`debootstrap exited with ${code}; last output:\n${tail.slice(-10).join("\n")}${detail}`));
      }
    });
  });
}

/**
 * Ensures `scaleplane/debian:bookworm` exists with the current recipe; builds it (root, ~30 s)
 * when absent or when `force`. Returns the image id and whether it was built.
 */
export async function ensureBaseImage(
  docker: Docker,
  workDir: string,
  force: boolean,
): Promise<{ id: string; built: boolean; ms: number }> {
  const recipe = baseRecipeHash();
  const existing = await imageLabel(docker, BASE_IMAGE, HASH_LABEL);
  if (existing && existing.value === recipe && !force) return { id: existing.id, built: false, ms: 0 };
  if (process.getuid?.() !== 0)
    throw new Error(`building ${BASE_IMAGE} needs root (debootstrap); run \`sudo npm run images\``);
  const t0 = Date.now();
  mkdirSync(workDir, { recursive: true });
  const rootfs = join(workDir, `rootfs-${SUITE}-${process.pid}`);
  removeRootfs(rootfs);
  try {
    await debootstrap(rootfs);
    writeFileSync(join(rootfs, "etc/apt/sources.list"), `${SOURCES}\n`);
    // downloaded .debs and apt lists only make the image bigger
    for (const d of ["var/cache/apt/archives", "var/lib/apt/lists"]) {
      for (const f of readdirSync(join(rootfs, d), { withFileTypes: true }))
        if (f.isFile() && f.name !== "lock") rmSync(join(rootfs, d, f.name));
    }
    const bar = progress(`import ${BASE_IMAGE}`, 1);
    bar.update(0, "streaming rootfs");
    const [repo, tag] = BASE_IMAGE.split(":");
    const stream = await docker.importImage(tarDirectory(rootfs), {
      repo,
      tag,
      changes: [CMD, `LABEL ${HASH_LABEL}=${recipe}`],
    } as object);
    await followBuildStream(docker, stream, [], () => undefined);
    bar.stop("imported");
  } finally {
    removeRootfs(rootfs);
  }
  const after = await imageLabel(docker, BASE_IMAGE, HASH_LABEL);
  if (!after) throw new Error(`import of ${BASE_IMAGE} finished but the image is not there`);
  if (existing && existing.id !== after.id)
    await docker
      .getImage(existing.id)
      .remove()
      .catch(() => undefined);
  return { id: after.id, built: true, ms: Date.now() - t0 };
}
