/**
 * Issue 9 item 5: Jest exits promptly after the integration run. A ConfigClient user that closes
 * its clients must let its process exit: a leadership lost behind its back (lease revoked, fenced
 * write refused) or still held when the client closes must not leave etcd3's lease keepalive
 * retrying every 100 ms until twice the TTL has passed (that kept the config-client suite alive
 * ~10 s after it passed). Each case runs in a fresh Node process against a local etcd; the lease
 * TTL (300 s) is far longer than the bound on the exit, so a leftover loop cannot go unnoticed.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { startLocalEtcd, type LocalEtcd } from "../../support/etcd-cluster";

const CHILD = join(__dirname, "exit-child.ts");
/** Bound on the exit after the child closed its clients (the lease TTL is 300 s). */
const EXIT_BOUND_MS = 30_000;

let etcd: LocalEtcd;
beforeAll(async () => {
  etcd = await startLocalEtcd("sp-config-client-exit");
});
afterAll(async () => {
  await etcd?.stop();
});

/** Runs the child; resolves with its exit code and whether it exited within the bound after "closed". */
function runChild(
  mode: "lost" | "held",
): Promise<{ code: number | null; closed: boolean; exited: boolean; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, etcd.endpoint, mode], {
      cwd: join(__dirname, "..", "..", ".."),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let bound: NodeJS.Timeout | undefined;
    let exited = false;
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (!bound && stdout.includes("closed\n"))
        bound = setTimeout(() => {
          if (!exited) child.kill("SIGKILL");
        }, EXIT_BOUND_MS);
    });
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      exited = signal === null;
      if (bound) clearTimeout(bound);
      resolve({ code, closed: stdout.includes("closed\n"), exited, stderr });
    });
  });
}

it.each(["lost", "held"] as const)(
  "a process whose leadership was %s exits by itself once its clients are closed",
  async (mode) => {
    const r = await runChild(mode);
    expect(r.stderr).toBe("");
    expect(r.closed).toBe(true);
    // killed at the bound: something (a lease keepalive loop) kept the event loop alive
    expect({ exitedByItself: r.exited, code: r.code }).toEqual({ exitedByItself: true, code: 0 });
  },
);
