/**
 * A projection runner in its own process, for events-faults.test.ts: runs the `acc` projection on
 * every shard; on its `KILL_AT_BATCH`-th batch it prints "mid-batch" from inside the batch's
 * transaction (after the handler wrote, before the commit) and waits there to be killed.
 */
import pino from "pino";
import { ConfigClient } from "../../runtime/config-client";
import { EventStore, runProjections } from "../../runtime/event-store";
import { accProjection } from "../integration/events/acc-projection";

async function main(): Promise<void> {
  const env = process.env;
  const config = ConfigClient.create({
    endpoints: [env.ETCD!],
    prefix: env.PREFIX!,
    logger: pino({ level: "silent" }),
  });
  const store = await EventStore.connect({
    config,
    user: env.PGUSER!,
    password: env.PGPASSWORD!,
    masterKey: env.MASTER_KEY!,
    logger: pino({ level: "silent" }),
  });
  let batches = 0;
  runProjections(store, [accProjection(env.PROJECTION)], {
    config,
    candidateId: `child-${process.pid}`,
    ttlSeconds: 2,
    batchSize: 200,
    idleMs: 100,
    beforeCommit: async ({ events }) => {
      if (events > 0 && ++batches === Number(env.KILL_AT_BATCH)) {
        process.stdout.write("mid-batch\n");
        await new Promise(() => undefined);
      }
    },
  });
}

main().catch((e: unknown) => {
  process.stderr.write(`${String(e)}\n`);
  process.exit(1);
});
