/** The shard router an application embeds: see ./client.ts; the shard SQL both it and the rebalancer use: ./sql.ts. */
export {
  ShardClient,
  ShardClientOptionsSchema,
  MAX_KEY_BYTES,
  MAX_SCAN_LIMIT,
  type ShardClientOptions,
  type CallOptions,
  type Item,
  type WriteResult,
  type ScanRange,
  type ScanPage,
} from "./client";
export * from "./errors";
export * as shardSql from "./sql";
export type { RepairStats } from "./repair";
export { ShardDirectorySchema, type ShardDirectory, type PlacementStrategy } from "../../core/sharding/placement";
export type { Version } from "../../core/sharding/hlc";
