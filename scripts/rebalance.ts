/**
 * `npm run rebalance -- --stack <name> [--dry-run]`: the online shard rebalance outside
 * `pulumi up`, for operators. It runs the stack's program offline (as `npm run plan` does) and
 * takes the inputs of its ShardRebalance resource, so it moves the data to exactly the shard map
 * `pulumi up` would, with the same engine (runtime/rebalance): fenced lease, dual-write, COPY
 * batches, verification, cutover, cleanup; resumable (a killed run is finished by the next).
 *
 * - `--dry-run` prints the plan: the (source → target) copies per batch with their range counts,
 *   share of the hash space, and rows/bytes counted on the source shards; nothing is written.
 * - `--remove <shard>[,<shard>…]` shrinks the running stack: the target is the stored shard map
 *   (the one the routers follow) without those shards, at its own settings. The planner's rule
 *   applies as under `up` (a shard that does not answer is skipped only where enough old replicas
 *   answer; otherwise the change is refused, naming them). Pulumi still owns the containers: the
 *   command says which stack config key to change so that the next `up` does not add them back.
 * - Otherwise a progress bar follows the batches while they are copied and verified (a line per
 *   second when the output is not a terminal).
 *
 * The database password is read from an environment variable (never from the command line):
 * `--password-env` (default SCALEPLANE_DATABASE_PASSWORD, the variable the app gets).
 */
import { Command, InvalidArgumentError } from "commander";
import { SingleBar, Presets } from "cli-progress";
import pino from "pino";
import { ConfigClient } from "../runtime/config-client";
import { withoutShards } from "../core/sharding/shard-map";
import { previewRebalance, runRebalance, type RebalancePreview } from "../runtime/rebalance";
import {
  ShardRebalanceInputsSchema,
  unreachableTargetReason,
  type ShardRebalanceInputs,
} from "../providers/shard-rebalance/operations";
import { dockerReach } from "../providers/shard-rebalance/docker-reach";
import { listStacks, runStackOffline } from "./lib/stack";

const REBALANCE_TYPE = "pulumi-nodejs:dynamic/database:ShardRebalance";

const positiveInt = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError(`${name} must be a whole number ≥ 0; got ${JSON.stringify(v)}`);
  return n;
};

/** The ShardRebalance inputs of the stack, as `pulumi up` would pass them (password from the environment). */
async function stackInputs(
  stack: string,
  stackFile: string | undefined,
  passwordEnv: string,
  etcd: string[] | undefined,
): Promise<ShardRebalanceInputs> {
  const run = await runStackOffline(stack, { stackFile });
  const target = (run.config["scaleplane:target"] ?? "docker") as ShardRebalanceInputs["target"];
  const refused = unreachableTargetReason(target);
  if (refused) throw new Error(`stack ${stack}: ${refused}`);
  const found = run.recording.resources.filter((r) => r.type === REBALANCE_TYPE);
  if (found.length !== 1)
    throw new Error(`stack ${stack}: expected one ShardRebalance resource in the program, found ${found.length}`);
  const password = process.env[passwordEnv];
  if (!password)
    throw new Error(`--password-env: environment variable ${passwordEnv} is not set (the shards' database password)`);
  const { __provider: _p, ...inputs } = found[0].inputs;
  const shardMap = inputs.shardMap as Record<string, unknown>;
  const { epoch: _e, migration: _m, ...desired } = shardMap ?? {};
  // The config service's published endpoints are known only to a deployed stack (the offline run cannot resolve them).
  const etcdEndpoints = etcd ?? inputs.etcdEndpoints;
  if (!Array.isArray(etcdEndpoints) || etcdEndpoints.length === 0)
    throw new Error(
      `--etcd: stack ${stack}'s config-service endpoints are only known once deployed; pass them (e.g. --etcd http://127.0.0.1:12379,http://127.0.0.1:12380)`,
    );
  const parsed = ShardRebalanceInputsSchema.safeParse({ ...inputs, etcdEndpoints, shardMap: desired, password });
  if (!parsed.success)
    throw new Error(
      `stack ${stack}: ShardRebalance inputs invalid: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  return parsed.data;
}

function printPlan(stack: string, p: RebalancePreview): void {
  const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
  console.log(
    `stack ${stack}: ${p.action}${p.epoch !== undefined ? ` (shard map epoch ${p.epoch})` : ""}${p.migrationId ? `, migration ${p.migrationId} in flight` : ""}`,
  );
  if (p.from)
    console.log(
      `  from: ${p.from.shards.map((s) => `${s.name}(w${s.weight})`).join(" ")}  rf ${p.from.replicationFactor}, vnodes ${p.from.vnodesPerWeight}`,
    );
  console.log(
    `  to:   ${p.to.shards.map((s) => `${s.name}(w${s.weight})`).join(" ")}  rf ${p.to.replicationFactor}, vnodes ${p.to.vnodesPerWeight}`,
  );
  if (p.copies.length === 0) return;
  console.log(`\n  batch  source -> target         ranges  share     rows        bytes`);
  for (const c of p.copies)
    console.log(
      `  ${String(c.batch).padStart(5)}  ${`${c.source} -> ${c.target}`.padEnd(22)} ${String(c.ranges).padStart(6)}  ${(c.share * 100).toFixed(2).padStart(6)}%  ${String(c.rows).padStart(9)}  ${mib(c.bytes).padStart(11)}`,
    );
  console.log(
    `\n  ${p.batches} batch(es), ${p.copies.length} copies, ${p.rows} rows, ${mib(p.bytes)} estimated from the source shards`,
  );
}

async function main(): Promise<void> {
  const program = new Command("rebalance")
    .description(
      "Move the sharded database online to the stack's shards and weights (the ShardRebalance of `pulumi up`)",
    )
    .requiredOption("-s, --stack <name>", `stack name (${listStacks().join(", ")})`)
    .option("--stack-file <path>", "use this stack file instead of stacks/Pulumi.<stack>.yaml")
    .option("--dry-run", "print the plan (ranges, rows, bytes estimated from the source shards); change nothing")
    .option(
      "--etcd <urls>",
      "config-service client URLs as this host reaches them, comma separated (default: the stack's)",
      (v: string) =>
        v
          .split(",")
          .map((x) => x.trim())
          .filter(Boolean),
    )
    .option(
      "--password-env <name>",
      "environment variable holding the shards' database password",
      "SCALEPLANE_DATABASE_PASSWORD",
    )
    .option("--parallel <n>", "(source, target) pairs copied at once", positiveInt("--parallel"))
    .option("--max-rows-per-second <n>", "copy throttle (0 = unthrottled)", positiveInt("--max-rows-per-second"))
    .option(
      "--remove <shards>",
      "remove these shards (comma separated) from the stored shard map: shrink the running stack",
      (v: string) =>
        v
          .split(",")
          .map((x) => x.trim())
          .filter(Boolean),
    )
    .option("--json", "print the final report as JSON")
    .parse();
  const opts = program.opts<{
    stack: string;
    stackFile?: string;
    dryRun?: boolean;
    etcd?: string[];
    passwordEnv: string;
    parallel?: number;
    maxRowsPerSecond?: number;
    remove?: string[];
    json?: boolean;
  }>();
  const inputs = await stackInputs(opts.stack, opts.stackFile, opts.passwordEnv, opts.etcd);
  const config = ConfigClient.create({
    endpoints: inputs.etcdEndpoints,
    prefix: inputs.etcdPrefix,
    deadlineMs: 5000,
    logger: pino({ level: "warn" }, pino.destination(2)),
  });
  try {
    const desired = opts.remove ? withoutShards(await config.getShardMap(), opts.remove, "--remove") : inputs.shardMap;
    const common = {
      config,
      desired,
      credentials: { user: inputs.username, password: inputs.password },
      reach: inputs.reach,
      resolveReach: inputs.target === "docker" ? dockerReach : undefined,
    };
    if (opts.dryRun) {
      const p = await previewRebalance(common);
      if (opts.json) console.log(JSON.stringify(p));
      else printPlan(opts.stack, p);
      return;
    }
    const bar = new SingleBar(
      {
        format: "copy [{bar}] {value}/{total} batches | {rows} rows | {mib} MiB | {eta_formatted}",
        hideCursor: true,
        // Not a terminal (CI, a pipe): a line per second instead of nothing.
        noTTYOutput: true,
        notTTYSchedule: 1000,
      },
      Presets.shades_classic,
    );
    let barOn = false;
    const report = await runRebalance({
      ...common,
      parallel: opts.parallel ?? inputs.parallel,
      maxRowsPerSecond: opts.maxRowsPerSecond ?? inputs.maxRowsPerSecond,
      leaseTtlSeconds: inputs.leaseTtlSeconds,
      leaseWaitMs: inputs.leaseWaitSeconds * 1000,
      onEvent: (e) => {
        if (e.kind === "info") {
          if (barOn) bar.stop();
          barOn = false;
          console.log(e.message);
          return;
        }
        const payload = { rows: e.rowsCopied, mib: (e.bytesCopied / 1048576).toFixed(1) };
        if (!barOn) {
          bar.start(e.batchesTotal, e.batchesDone, payload);
          barOn = true;
        } else bar.update(e.batchesDone, payload);
        if (e.batchesDone === e.batchesTotal) {
          bar.stop();
          barOn = false;
        }
      },
    });
    if (barOn) bar.stop();
    console.log(
      opts.json
        ? JSON.stringify(report)
        : `done: ${report.action} at epoch ${report.epoch}; ${report.rowsCopied} rows copied, ${report.verifiedPairs} pairs verified, ${report.rowsDeleted} old rows deleted` +
            (report.skippedCleanups.length > 0
              ? `; cleanup skipped on ${report.skippedCleanups.join(", ")} (not answering)`
              : ""),
    );
    if (opts.remove)
      console.error(
        `removed ${opts.remove.join(", ")} from the shard map. Pulumi still lists ${opts.remove.length === 1 ? "it" : "them"}: set scaleplane:database.shards in stack ${opts.stack} to the remaining shards (${desired.shards.map((s) => s.name).join(", ")}), or the next \`pulumi up\` adds ${opts.remove.length === 1 ? "it" : "them"} back`,
      );
  } finally {
    config.close();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`rebalance: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
