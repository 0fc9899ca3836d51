/** The cache client: read-through with leases over Redis nodes on the ring, invalidated by database writes. */
export { CacheClient, type CacheClientOptions, type CacheClientSettings, type CacheClientStats } from "./client";
export { invalidateAfterWrite, type AcknowledgedWrite } from "./shard-hook";
export { resizeCache, type ResizeOptions } from "./resize";
export { cacheTopologyKey, initTopology, readTopology, updateTopology, TopologyView } from "./topology-store";
export { GEN_KEY, HOT_KEY, STATS_KEY, INVALIDATION_CHANNEL } from "./scripts";
