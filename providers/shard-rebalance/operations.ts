/**
 * The ShardRebalance provider's operations (see ./index.ts for the resource and what each does).
 * This module is bundled with esbuild into the serialized provider (./index.ts explains why), so
 * it may use zod, the config client and the engine freely; npm packages stay `require`d by name.
 *
 * Progress goes to `pulumi.log.info`: in a dynamic-provider host there is no engine connection, so
 * the SDK writes it to the host's stdout, which the Pulumi CLI shows as the resource's output.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { CONSISTENCY_LEVELS, TARGETS, type Target } from "../../core/config";
import { ShardMemberSchema } from "../../core/sharding/shard-map";
import { PlacementStrategySchema } from "../../core/sharding/placement";
import { RebalanceError } from "../../core/sharding/rebalance";
import { providerConfigClient } from "../config-client";
import * as rebalance from "../../runtime/rebalance";
import { dockerReach } from "./docker-reach";

/** The plain inputs the provider receives (validated by check). */
export const ShardRebalanceInputsSchema = z.object({
  target: z.enum(TARGETS),
  etcdEndpoints: z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, "must be http(s)://host:port")).min(1),
  etcdPrefix: z
    .string()
    .regex(/^\/[A-Za-z0-9._\-/]*\/$/, "must start and end with /")
    .default("/scaleplane/"),
  shardMap: z.object({
    vnodesPerWeight: z.number().int().min(1).max(4096),
    replicationFactor: z.number().int().min(1),
    consistency: z.enum(CONSISTENCY_LEVELS),
    maxClockOffsetMs: z.number().int().min(1).max(60_000).optional(),
    shards: z.array(ShardMemberSchema).min(1),
    strategy: PlacementStrategySchema.optional(),
  }),
  reach: z.record(z.string(), z.string().regex(/^(\[[^\]]+\]|[^:\s]+):\d{1,5}$/, "must be host:port")).default({}),
  username: z.string().min(1),
  password: z.string().min(1),
  parallel: z.number().int().min(1).max(16).default(2),
  maxRowsPerSecond: z.number().int().min(0).default(0),
  leaseTtlSeconds: z.number().int().min(2).max(600).default(10),
  leaseWaitSeconds: z.number().int().min(1).max(3600).default(60),
});
export type ShardRebalanceInputs = z.output<typeof ShardRebalanceInputsSchema>;

/** What the last create/update did. */
export type ShardRebalanceRun = Omit<rebalance.RebalanceReport, "epoch">;

/** Outputs (state): the inputs without the password, the map's epoch and the last run. */
export type ShardRebalanceOutputs = Omit<ShardRebalanceInputs, "password"> & {
  /** Epoch of the stored shard map. */
  epoch: number;
  /** Id of a migration in flight (after a refresh that found one), "" otherwise. */
  migrationInFlight: string;
  lastRun: ShardRebalanceRun;
};

/** Keys whose change is an update. */
const INPUT_KEYS = [
  "target",
  "etcdEndpoints",
  "etcdPrefix",
  "shardMap",
  "reach",
  "username",
  "parallel",
  "maxRowsPerSecond",
  "leaseTtlSeconds",
  "leaseWaitSeconds",
] as const;

/** Why a target is refused (undefined: docker, reachable from here). */
export function unreachableTargetReason(target: Target): string | undefined {
  if (target === "docker") return undefined;
  const where = target === "aws" ? "RDS instances in private subnets" : "StatefulSets inside the cluster";
  return (
    `target ${target}: the shards are ${where}, which \`pulumi up\` cannot reach; the online rebalance must copy from inside that network ` +
    `(a task or Job there), which is not available yet. Refusing rather than timing out: keep scaleplane:database.shards as deployed on ${target}`
  );
}

/** Validates raw inputs; failures name the property. */
export function parseInputs(raw: Record<string, unknown>): {
  inputs?: ShardRebalanceInputs;
  failures: pulumi.dynamic.CheckFailure[];
} {
  const { __provider: _p, ...rest } = raw;
  const shardMap = rest.shardMap as Record<string, unknown> | undefined;
  if (shardMap && typeof shardMap === "object") {
    // A ShardMap output may be passed as is: its epoch (and a migration) are the engine's.
    const { epoch: _e, migration: _m, ...desired } = shardMap;
    rest.shardMap = desired;
  }
  const r = ShardRebalanceInputsSchema.safeParse(rest);
  if (!r.success)
    return { failures: r.error.issues.map((i) => ({ property: i.path.join(".") || "(inputs)", reason: i.message })) };
  return { inputs: r.data, failures: [] };
}

const outputsOf = (i: ShardRebalanceInputs, report: rebalance.RebalanceReport): ShardRebalanceOutputs => {
  const { password: _secret, ...plain } = i;
  const { epoch, ...lastRun } = report;
  return { ...plain, epoch, migrationInFlight: "", lastRun };
};

/**
 * Where this process reaches the shards: the inputs' `reach`, over the previous inputs' (`olds`,
 * on update) for shards the new inputs no longer list. A shrink needs them: the leaving shards
 * are read and cleaned up, and Pulumi deletes their containers only after this update.
 */
export function reachOf(inputs: ShardRebalanceInputs, olds?: Record<string, unknown>): Record<string, string> {
  const before = olds && typeof olds === "object" ? (olds.reach as Record<string, unknown> | undefined) : undefined;
  const kept: Record<string, string> = {};
  for (const [name, hostPort] of Object.entries(before ?? {}))
    if (typeof hostPort === "string" && /^(\[[^\]]+\]|[^:\s]+):\d{1,5}$/.test(hostPort)) kept[name] = hostPort;
  return { ...kept, ...inputs.reach };
}

/**
 * Runs the rebalance to the inputs' shard map, reporting progress through Pulumi's log. `olds`
 * (update) are the previous inputs: they say where the shards being removed are reached.
 */
export async function apply(
  raw: Record<string, unknown>,
  olds?: Record<string, unknown>,
): Promise<ShardRebalanceOutputs> {
  const { inputs, failures } = parseInputs(raw);
  if (!inputs)
    throw new Error(`ShardRebalance: invalid inputs: ${failures.map((f) => `${f.property}: ${f.reason}`).join("; ")}`);
  const refused = unreachableTargetReason(inputs.target);
  if (refused) throw new Error(`ShardRebalance: ${refused}`);
  const config = providerConfigClient(inputs);
  let lastCopyLog = 0;
  try {
    const report = await rebalance.runRebalance({
      config,
      desired: inputs.shardMap,
      credentials: { user: inputs.username, password: inputs.password },
      reach: reachOf(inputs, olds),
      resolveReach: inputs.target === "docker" ? (shards) => dockerReach(shards) : undefined,
      parallel: inputs.parallel,
      maxRowsPerSecond: inputs.maxRowsPerSecond,
      leaseTtlSeconds: inputs.leaseTtlSeconds,
      leaseWaitMs: inputs.leaseWaitSeconds * 1000,
      onEvent: (e) => {
        if (e.kind === "info") void pulumi.log.info(`shard rebalance: ${e.message}`);
        else if (e.batchesDone === e.batchesTotal || Date.now() - lastCopyLog > 2000) {
          lastCopyLog = Date.now();
          void pulumi.log.info(
            `shard rebalance ${e.migrationId}: ${e.batchesDone}/${e.batchesTotal} batches copied and verified, ${e.rowsCopied} rows, ${(e.bytesCopied / 1048576).toFixed(1)} MiB`,
          );
        }
      },
    });
    void pulumi.log.info(
      `shard rebalance: ${report.action} at epoch ${report.epoch}` +
        (report.action === "migrated"
          ? ` (${report.ranges} ranges, ${report.rowsCopied} rows copied, ${report.verifiedPairs} pairs verified, ${report.rowsDeleted} old rows deleted)`
          : ""),
    );
    return outputsOf(inputs, report);
  } finally {
    config.close();
  }
}

/** check: inputs valid; target reachable; the change is one core/sharding/rebalance accepts. */
export async function check(
  olds: Record<string, unknown>,
  news: Record<string, unknown>,
): Promise<pulumi.dynamic.CheckResult> {
  const { inputs, failures } = parseInputs(news);
  if (!inputs) return { inputs: news, failures };
  const refused = unreachableTargetReason(inputs.target);
  if (refused) return { inputs: news, failures: [{ property: "target", reason: refused }] };
  const before =
    olds && typeof olds === "object" && Object.keys(olds).length > 0 ? parseInputs(olds).inputs : undefined;
  if (before && !rebalance.samePlacement(before.shardMap, inputs.shardMap)) {
    try {
      rebalance.planMigration(rebalance.placementOf(before.shardMap), rebalance.placementOf(inputs.shardMap));
    } catch (e) {
      if (!(e instanceof RebalanceError)) throw e;
      // core/sharding/rebalance names the argument as after.<path>: here that is shardMap.<path>.
      return {
        inputs: news,
        failures: [
          {
            property: e.argument.replace(/^after\b/, "shardMap").replace(/^before\b/, "(previous) shardMap"),
            reason: `shard change refused before anything moved: ${e.message}`,
          },
        ],
      };
    }
  }
  return { inputs: news, failures: [] };
}

/** diff: the changed inputs (shard order alone is none); never a replacement. */
export async function diff(
  olds: ShardRebalanceOutputs,
  news: Record<string, unknown>,
): Promise<pulumi.dynamic.DiffResult> {
  const { inputs } = parseInputs(news);
  if (!inputs) return { changes: true, replaces: [], deleteBeforeReplace: false };
  const sameData =
    olds.shardMap !== undefined &&
    rebalance.samePlacement(olds.shardMap, inputs.shardMap) &&
    olds.shardMap.consistency === inputs.shardMap.consistency;
  const changed = INPUT_KEYS.filter((k) =>
    k === "shardMap" ? !sameData : JSON.stringify(olds[k]) !== JSON.stringify(inputs[k]),
  );
  return { changes: changed.length > 0, replaces: [], deleteBeforeReplace: false };
}

/** read: the stored map's epoch and any migration in flight; no map means the resource is gone. */
export async function read(id: string, props: ShardRebalanceOutputs): Promise<pulumi.dynamic.ReadResult> {
  const config = providerConfigClient(props);
  try {
    const map = await config.getShardMap();
    if (!map) return { id: "", props: {} };
    return { id, props: { ...props, epoch: map.epoch, migrationInFlight: map.migration?.id ?? "" } };
  } finally {
    config.close();
  }
}
