/**
 * The tables the rebalancer moves between shards, each described by core/sharding/table.ts: the
 * router's key-value rows today. A subsystem keeping its own rows on the shards (a metrics store's
 * series, an event store's streams) adds its descriptor here; the engine copies, verifies and
 * cleans up every listed table for every pair, with statements built from the descriptor
 * (runtime/rebalance/sql.ts), and creates it (with the rebalancer's fence trigger) on shards that
 * lack it. docs/design/sharding.md states the contract a table must keep.
 */
import type { ShardTable } from "../../core/sharding/table";
import { KV_TABLE } from "../shard-client/sql";

/** Every table the rebalancer moves, in the order it moves them. */
export const SHARD_TABLES: readonly ShardTable[] = [KV_TABLE];
