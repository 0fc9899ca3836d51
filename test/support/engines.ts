/**
 * Engine preconditions for integration and chaos tests. Integration tests are never skipped:
 * when an engine is missing they fail at once with what is missing and how to get it.
 */
import { accessSync, constants, existsSync } from "node:fs";
import { execFileSync } from "node:child_process";
import Docker from "dockerode";

const HOW =
  "run `sudo scripts/setup-engines.sh` (installs docker.io, etcd-server, etcd-client, postgresql, debootstrap, openssl and starts dockerd)";

/** Thrown when a test's engine is not available. */
export class EngineMissingError extends Error {
  constructor(what: string, detail?: string) {
    super(`${what} is required by this test but is not available${detail ? ` (${detail})` : ""}; ${HOW}`);
    this.name = "EngineMissingError";
  }
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The etcd server binary. */
export const ETCD_BIN = "/usr/bin/etcd";
/** The etcdctl binary. */
export const ETCDCTL_BIN = "/usr/bin/etcdctl";
/** PostgreSQL 15 server binaries (not on PATH on Debian). */
export const PG_BIN_DIR = "/usr/lib/postgresql/15/bin";

/** Asserts the etcd server binary is installed; returns its path. */
export function requireEtcdBinary(): string {
  if (!executable(ETCD_BIN)) throw new EngineMissingError("the etcd server binary", `${ETCD_BIN} not found`);
  return ETCD_BIN;
}

/** Asserts etcdctl is installed; returns its path. */
export function requireEtcdctl(): string {
  if (!executable(ETCDCTL_BIN)) throw new EngineMissingError("etcdctl", `${ETCDCTL_BIN} not found`);
  return ETCDCTL_BIN;
}

/** Asserts the PostgreSQL 15 server binaries are installed; returns their directory. */
export function requirePostgresBinaries(): string {
  for (const b of ["initdb", "postgres", "pg_ctl"]) {
    if (!executable(`${PG_BIN_DIR}/${b}`))
      throw new EngineMissingError("PostgreSQL 15", `${PG_BIN_DIR}/${b} not found`);
  }
  return PG_BIN_DIR;
}

/** Asserts openssl is on PATH. */
export function requireOpenssl(): void {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
  } catch {
    throw new EngineMissingError("openssl", "`openssl version` failed");
  }
}

/** Asserts the Docker daemon answers; returns a client. */
export async function requireDocker(): Promise<Docker> {
  const socket = process.env.DOCKER_HOST ? undefined : "/var/run/docker.sock";
  if (socket && !existsSync(socket)) throw new EngineMissingError("the Docker daemon", `${socket} does not exist`);
  const docker = new Docker();
  try {
    await docker.ping();
  } catch (e) {
    throw new EngineMissingError("the Docker daemon", `ping failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  return docker;
}

/** Asserts a local image exists (built by `npm run images`); returns the Docker client. */
export async function requireImage(tag: string): Promise<Docker> {
  const docker = await requireDocker();
  try {
    await docker.getImage(tag).inspect();
  } catch {
    throw new Error(
      `image ${tag} is required by this test but is not built; run \`npm run images\` (after scripts/setup-engines.sh)`,
    );
  }
  return docker;
}
