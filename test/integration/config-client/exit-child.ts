/**
 * Child process of exit.test.ts: campaigns on the etcd at argv[2] with a long lease TTL, then
 * either loses the leadership behind its back ("lost": the lease is revoked by another client and
 * a fenced write is refused) or keeps it ("held"), closes every client and returns from main.
 * Nothing may keep the process alive after that: it must exit by itself.
 */
import pino from "pino";
import { z } from "zod";
import { ConfigClient, FencingError, configKey } from "../../../runtime/config-client";

const [endpoint, mode] = process.argv.slice(2);
if (!endpoint || (mode !== "lost" && mode !== "held")) throw new Error("usage: exit-child <endpoint> lost|held");

/** Far longer than the test waits for the exit: a keepalive loop left running would outlive it. */
const CHILD_TTL_SECONDS = 300;

async function main(): Promise<void> {
  const logger = pino({ level: "silent" });
  const prefix = `/exit-${mode}-${process.pid}/`;
  const a = ConfigClient.create({ endpoints: [endpoint], prefix, logger });
  const admin = ConfigClient.create({ endpoints: [endpoint], prefix, logger });
  const la = await a.campaign("exit", "a", { ttlSeconds: CHILD_TTL_SECONDS, timeoutMs: 10_000 });
  if (mode === "lost") {
    await admin.etcd.leaseClient.leaseRevoke({ ID: la.key.slice(la.key.lastIndexOf("/") + 1) });
    const err = await la.fencedPut(configKey("exit/flag", z.string()), "a").catch((e: unknown) => e);
    if (!(err instanceof FencingError)) throw new Error(`expected a FencingError, got ${String(err)}`);
  }
  a.close();
  admin.close();
  process.stdout.write("closed\n");
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
