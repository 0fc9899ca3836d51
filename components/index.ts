/** The public components of scaleplane. */
export { AutoscalingGroup, type AutoscalingGroupArgs } from "./autoscaling-group";
export { RaftConfigService, type RaftConfigServiceArgs } from "./raft-config-service";
export { ShardedDatabase, type ShardedDatabaseArgs } from "./sharded-database";
export { Platform, type PlatformArgs } from "./platform";
