/**
 * The header convention of `images/<name>/Dockerfile` (pure: parsing and ordering, no I/O).
 *
 * Comment lines at the top of a Dockerfile (before its first instruction) define the build:
 *   # tag: <repo:tag>                 required, exactly once
 *   # context: <path>                 zero or more; a repo-relative file or directory copied into
 *                                     the build context at the same relative path
 *   # bundle: <entry.ts> -> <out.js>  optional, at most once; the entry bundled with esbuild
 *                                     (node18, platform node) into the context root as <out.js>
 * Other comments are allowed and ignored.
 */
import { posix } from "node:path";

export interface ImageBundle {
  /** Repo-relative TypeScript entry point. */
  entry: string;
  /** File name written at the build context root. */
  out: string;
}

export interface ImageSpec {
  /** The directory name under images/. */
  name: string;
  tag: string;
  context: string[];
  bundle?: ImageBundle;
  /** Images named by FROM lines (stage aliases excluded). */
  from: string[];
}

const TAG_RE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** A repo-relative path that cannot escape the repository. */
function repoRelative(file: string, what: string, value: string): string {
  const norm = posix.normalize(value);
  if (value === "" || posix.isAbsolute(value) || norm === ".." || norm.startsWith("../"))
    throw new Error(`${file}: "# ${what}: ${value}" must be a path inside the repository (relative, no "..")`);
  return norm.replace(/\/$/, "");
}

/** Parses the header of one Dockerfile; `file` names it in errors. */
export function parseDockerfileHeader(name: string, file: string, text: string): ImageSpec {
  const lines = text.split(/\r?\n/);
  let tag: string | undefined;
  const context: string[] = [];
  let bundle: ImageBundle | undefined;
  let i = 0;
  for (; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    if (!line.startsWith("#")) break;
    const m = /^#\s*(tag|context|bundle)\s*:\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    const [, key, value] = m;
    if (key === "tag") {
      if (tag !== undefined) throw new Error(`${file}:${i + 1}: "# tag:" given twice`);
      if (!TAG_RE.test(value))
        throw new Error(
          `${file}:${i + 1}: "# tag: ${value}" is not a valid <repo>:<tag> (lower-case repo, explicit tag)`,
        );
      tag = value;
    } else if (key === "context") {
      context.push(repoRelative(file, "context", value));
    } else {
      if (bundle !== undefined) throw new Error(`${file}:${i + 1}: "# bundle:" given twice`);
      const b = /^(\S+)\s*->\s*(\S+)$/.exec(value);
      if (!b) throw new Error(`${file}:${i + 1}: "# bundle: ${value}" must read "<entry.ts> -> <out.js>"`);
      const out = b[2];
      if (out.includes("/") || !out.endsWith(".js"))
        throw new Error(`${file}:${i + 1}: bundle output "${out}" must be a plain file name ending in .js`);
      bundle = { entry: repoRelative(file, "bundle", b[1]), out };
    }
  }
  if (tag === undefined) throw new Error(`${file}: missing the required "# tag: <repo:tag>" header line`);
  const from: string[] = [];
  const stages = new Set<string>();
  for (const raw of lines.slice(i)) {
    const f = /^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/i.exec(raw);
    if (!f) continue;
    if (!stages.has(f[1].toLowerCase())) from.push(f[1]);
    if (f[2]) stages.add(f[2].toLowerCase());
  }
  if (from.length === 0) throw new Error(`${file}: no FROM instruction`);
  return { name, tag, context, ...(bundle ? { bundle } : {}), from };
}

/**
 * Build order: an image whose FROM names another spec's tag is built after it.
 * Throws on duplicate tags and dependency cycles.
 */
export function buildOrder(specs: readonly ImageSpec[]): ImageSpec[] {
  const byTag = new Map<string, ImageSpec>();
  for (const s of specs) {
    const other = byTag.get(s.tag);
    if (other) throw new Error(`images/${s.name} and images/${other.name} both declare tag ${s.tag}`);
    byTag.set(s.tag, s);
  }
  const done = new Set<string>();
  const visiting = new Set<string>();
  const order: ImageSpec[] = [];
  const visit = (s: ImageSpec, path: string[]) => {
    if (done.has(s.name)) return;
    if (visiting.has(s.name)) throw new Error(`image dependency cycle: ${[...path, s.name].join(" -> ")}`);
    visiting.add(s.name);
    for (const f of s.from) {
      const dep = byTag.get(f);
      if (dep) visit(dep, [...path, s.name]);
    }
    visiting.delete(s.name);
    done.add(s.name);
    order.push(s);
  };
  [...specs].sort((a, b) => a.name.localeCompare(b.name)).forEach((s) => visit(s, []));
  return order;
}
