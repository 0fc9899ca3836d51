/**
 * The shard map: what the router, the rebalancer and the config service agree on. It is stored in
 * etcd with an epoch and changed only by compare-and-swap on that epoch (runtime/config-client).
 * Pure: schema and builders, no I/O.
 */
import { z } from "zod";
import { CONSISTENCY_LEVELS, shardList, weightResolutionOf, type DatabaseConfig } from "../config";
import { PlacementStrategySchema, directoryIssues, rangeStrategyIssues } from "./placement";
import { LONE_SURROGATE } from "./ring";

export const ShardMemberSchema = z.strictObject({
  /** Stable shard name (ring identity); never reused for another node. Well-formed Unicode: the ring refuses lone UTF-16 surrogates (UTF-8 would turn each into U+FFFD, so two names could hash alike). */
  name: z
    .string()
    .min(1)
    .refine((n) => !LONE_SURROGATE.test(n), {
      error: (iss) => `must be well-formed Unicode (no lone UTF-16 surrogates); got ${JSON.stringify(iss.input)}`,
    }),
  /** Ring weight (> 0); vnodes = round(weight × vnodesPerWeight). */
  weight: z.number().positive(),
  /** Failure domain; replicas prefer distinct zones. */
  zone: z.string().min(1).optional(),
  /** Host the router connects to. */
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  database: z.string().min(1),
});
export type ShardMember = z.infer<typeof ShardMemberSchema>;

/** Where data lives: shards, ring settings and replication (a shard map without epoch or consistency). */
export const ShardPlacementSchema = z.strictObject({
  vnodesPerWeight: z.number().int().min(1).max(4096),
  replicationFactor: z.number().int().min(1),
  shards: z.array(ShardMemberSchema).min(1),
  /**
   * The consistency level writes were acknowledged at under this placement (a migration's `from`
   * records it: the copy reads rf − w + 1 old replicas). Absent in records written before it
   * existed: then every old replica is read (as at `one`).
   */
  consistency: z.enum(CONSISTENCY_LEVELS).optional(),
  /** How keys are placed under this placement (absent: hash). A migration's `from` records the old one. */
  strategy: PlacementStrategySchema.optional(),
});
export type ShardPlacement = z.infer<typeof ShardPlacementSchema>;

/**
 * A migration in flight (docs/design/sharding.md): `shards` is already the NEW set; writes go to
 * the old and the new replicas; reads use the old set in phase `dual-write`, the new one in `cutover`.
 */
export const ShardMigrationSchema = z.strictObject({
  /** Unique per rebalance run (resumes keep it). */
  id: z.string().min(1),
  phase: z.enum(["dual-write", "cutover"]),
  /** The old placement. */
  from: ShardPlacementSchema,
});
export type ShardMigration = z.infer<typeof ShardMigrationSchema>;

export const ShardMapSchema = z
  .strictObject({
    /** Incremented by every change; writers CAS on it. */
    epoch: z.number().int().min(0),
    vnodesPerWeight: z.number().int().min(1).max(4096),
    replicationFactor: z.number().int().min(1),
    consistency: z.enum(CONSISTENCY_LEVELS),
    shards: z.array(ShardMemberSchema).min(1),
    /** Set while a rebalance moves data (absent otherwise). */
    migration: ShardMigrationSchema.optional(),
    /** How keys are placed (core/sharding/placement.ts): hash (the default when absent), range or directory. */
    strategy: PlacementStrategySchema.optional(),
    /** Maximum clock offset between routers and shards, in ms (absent in maps written before it: 500). */
    maxClockOffsetMs: z.number().int().min(1).max(60_000).optional(),
  })
  .superRefine((m, ctx) => {
    if (m.replicationFactor > m.shards.length)
      ctx.addIssue({
        code: "custom",
        path: ["replicationFactor"],
        message: `must be ≤ the shard count (${m.shards.length})`,
      });
    const seen = new Set<string>();
    m.shards.forEach((s, i) => {
      if (seen.has(s.name))
        ctx.addIssue({ code: "custom", path: ["shards", i, "name"], message: `duplicate shard ${s.name}` });
      seen.add(s.name);
    });
    const names = m.shards.map((s) => s.name);
    const issues =
      m.strategy?.kind === "range"
        ? rangeStrategyIssues(m.strategy.ranges, names)
        : m.strategy?.kind === "directory"
          ? directoryIssues(m.strategy.tenants, m.strategy.separator, names)
          : [];
    for (const issue of issues)
      ctx.addIssue({ code: "custom", path: ["strategy", ...issue.path], message: issue.message });
  });
export type ShardMap = z.infer<typeof ShardMapSchema>;

/**
 * The placement to shrink a stored map to: `stored` (a migration's target when one is in flight)
 * without `remove`, at the stored settings. Errors name `argument` (e.g. `--remove`) and what is
 * allowed: an unknown shard, or fewer shards left than the replication factor.
 */
export function withoutShards(
  stored: ShardMap | undefined,
  remove: readonly string[],
  argument: string,
): Pick<
  ShardMap,
  "vnodesPerWeight" | "replicationFactor" | "consistency" | "shards" | "strategy" | "maxClockOffsetMs"
> {
  if (!stored)
    throw new Error(`${argument}: there is no shard map yet (deploy the stack first; \`pulumi up\` publishes it)`);
  const names = stored.shards.map((s) => s.name);
  const unknown = remove.filter((r) => !names.includes(r));
  if (remove.length === 0 || unknown.length > 0)
    throw new Error(
      `${argument}: must name shards of the shard map (${names.join(", ")}); got ${remove.length === 0 ? "none" : unknown.join(", ")}`,
    );
  const shards = stored.shards.filter((s) => !remove.includes(s.name));
  if (shards.length < stored.replicationFactor)
    throw new Error(
      `${argument}: removing ${remove.join(", ")} would leave ${shards.length} shard(s), fewer than replicationFactor ${stored.replicationFactor} (replicas live on distinct shards); add a shard first or lower scaleplane:database.replicationFactor`,
    );
  return {
    vnodesPerWeight: stored.vnodesPerWeight,
    replicationFactor: stored.replicationFactor,
    consistency: stored.consistency,
    shards,
    ...(stored.strategy ? { strategy: stored.strategy } : {}),
    ...(stored.maxClockOffsetMs !== undefined ? { maxClockOffsetMs: stored.maxClockOffsetMs } : {}),
  };
}

/** Where each shard is reached, by shard name. */
export type ShardEndpoints = Record<string, { host: string; port: number }>;

/** The initial shard map (epoch 0) of a database config and its shards' endpoints. */
export function initialShardMap(db: DatabaseConfig, endpoints: ShardEndpoints): ShardMap {
  const shards = shardList(db).map((s) => {
    const ep = endpoints[s.name];
    if (!ep) throw new Error(`initialShardMap: no endpoint for shard ${s.name}`);
    return {
      name: s.name,
      weight: s.weight,
      ...(s.zone ? { zone: s.zone } : {}),
      host: ep.host,
      port: ep.port,
      database: db.databaseName,
    };
  });
  return ShardMapSchema.parse({
    epoch: 0,
    vnodesPerWeight: weightResolutionOf(db),
    replicationFactor: db.replicationFactor,
    consistency: db.consistency,
    maxClockOffsetMs: db.maxClockOffsetMs,
    shards,
    ...(db.strategy === "range" ? { strategy: { kind: "range", ranges: db.ranges ?? [] } } : {}),
    ...(db.strategy === "directory"
      ? { strategy: { kind: "directory", ...(db.directory ?? { separator: ":", tenants: {} }) } }
      : {}),
  });
}
