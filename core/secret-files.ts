/**
 * Secrets as files, pure (no I/O): how a secret reaches a container on the Docker target.
 *
 * Why files: an environment variable is part of a container's configuration, so `docker inspect`
 * (and anything that can read the Docker API, logs of a crash dump, `/proc/<pid>/environ`) shows
 * it. A secret instead travels as a file written into the container before it starts (a Pulumi
 * docker.Container `uploads` entry, or a `putArchive` by the scaling controller), mode 0400 and
 * owned by the container's user, and the program is told only the file's path through
 * `<NAME>_FILE` — the convention of the official postgres image, which the sample app and
 * images/postgres follow.
 */

/** Directory of an app container's secret files (one file per secret variable). */
export const APP_SECRETS_DIR = "/run/secrets/scaleplane";
/** Mode of a secret file: read-only, by its owner only. */
export const SECRET_FILE_MODE = 0o400;
/** The same mode as the Docker provider's `uploads[].permissions` takes it. */
export const SECRET_FILE_PERMISSIONS = "0400";

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The file of secret variable `name` in `dir` (the variable's name: unique, no separators). */
export function secretFilePath(name: string, dir: string = APP_SECRETS_DIR): string {
  if (!ENV_NAME.test(name))
    throw new Error(`secret ${JSON.stringify(name)}: must be an environment variable name (letters, digits, _)`);
  return `${dir}/${name}`;
}

/** Secret variable names → their file paths in `dir`. */
export function secretFiles(names: readonly string[], dir: string = APP_SECRETS_DIR): Record<string, string> {
  return Object.fromEntries([...names].sort().map((n) => [n, secretFilePath(n, dir)]));
}

/** The plain environment that points a program at its secret files: `<NAME>_FILE=<path>`. */
export function secretFileEnv(files: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(files).map(([name, path]) => [`${name}_FILE`, path]));
}

/** One file of a tar archive. */
export interface ArchiveFile {
  /** Absolute path in the container. */
  path: string;
  content: string;
  mode: number;
  uid: number;
  gid: number;
}

/**
 * A ustar archive of `files` for Docker's putArchive at "/": the parent directories (0755,
 * root-owned, as Docker would create them) and the files with their own mode and owner.
 */
export function tarArchive(files: readonly ArchiveFile[]): Buffer {
  const parts: Buffer[] = [];
  const dirs = new Set<string>();
  const mtime = Math.floor(Date.now() / 1000);
  for (const f of files) {
    if (!f.path.startsWith("/")) throw new Error(`tar: ${f.path} is not an absolute path`);
    const segments = f.path.slice(1).split("/");
    for (let i = 1; i < segments.length; i++) {
      const dir = `${segments.slice(0, i).join("/")}/`;
      if (dirs.has(dir)) continue;
      dirs.add(dir);
      parts.push(tarEntry(dir, Buffer.alloc(0), 0o755, 0, 0, "5", mtime));
    }
    parts.push(tarEntry(segments.join("/"), Buffer.from(f.content, "utf8"), f.mode, f.uid, f.gid, "0", mtime));
  }
  return Buffer.concat([...parts, Buffer.alloc(1024)]);
}

function tarEntry(
  name: string,
  data: Buffer,
  mode: number,
  uid: number,
  gid: number,
  type: "0" | "5",
  mtime: number,
): Buffer {
  if (Buffer.byteLength(name) > 99) throw new Error(`tar: entry name too long (max 99 bytes): ${name}`);
  const header = Buffer.alloc(512);
  const put = (value: string, offset: number, length: number) => header.write(value, offset, length, "ascii");
  const octal = (n: number, length: number) => n.toString(8).padStart(length - 1, "0") + "\0";
  put(name, 0, 100);
  put(octal(mode, 8), 100, 8);
  put(octal(uid, 8), 108, 8);
  put(octal(gid, 8), 116, 8);
  put(octal(data.length, 12), 124, 12);
  put(octal(mtime, 12), 136, 12);
  put("        ", 148, 8);
  put(type, 156, 1);
  put("ustar\0", 257, 6);
  put("00", 263, 2);
  let sum = 0;
  for (const b of header) sum += b;
  put(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8);
  return Buffer.concat([header, data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

/** Directory of a scaling controller's copies of its group's secrets (root-only files). */
export const SCALER_SECRETS_DIR = "/run/secrets/scaler";
