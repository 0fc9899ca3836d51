/**
 * A rebalancer in its own process, for the data layer's chaos tests (./shard-chaos.ts): runs
 * runtime/rebalance's engine once to the desired shard map in `DESIRED` (JSON) and exits 0, or 1
 * with `error <name>: <message>` on stderr. Every progress event is a JSON line on stdout, the
 * report a last line `report <json>`. `SCALEPLANE_FAILPOINTS` (set by the test) kills it at a
 * failpoint; the test may also SIGSTOP/SIGCONT or SIGKILL it. Node runs this file itself
 * (`--import tsx`), so the PID the test signals is the rebalancer's own.
 */
import pino from "pino";
import { ConfigClient } from "../../runtime/config-client";
import { runRebalance, type DesiredShardMap } from "../../runtime/rebalance";

async function main(): Promise<void> {
  const env = process.env;
  const config = ConfigClient.create({
    endpoints: [env.ETCD!],
    prefix: env.PREFIX!,
    deadlineMs: 10_000,
    logger: pino({ level: "silent" }),
  });
  try {
    const report = await runRebalance({
      config,
      desired: JSON.parse(env.DESIRED!) as DesiredShardMap,
      credentials: { user: env.PGUSER!, password: env.PGPASSWORD! },
      candidateId: `child-${process.pid}`,
      leaseTtlSeconds: Number(env.LEASE_TTL ?? 10),
      leaseWaitMs: Number(env.LEASE_WAIT_MS ?? 60_000),
      maxRowsPerSecond: Number(env.MAX_ROWS_PER_SECOND ?? 0),
      onEvent: (e) => process.stdout.write(`${JSON.stringify(e)}\n`),
    });
    process.stdout.write(`report ${JSON.stringify(report)}\n`);
  } finally {
    config.close();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`error ${(e as Error).name}: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
