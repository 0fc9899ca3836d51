/** The public components of scaleplane: the classes and their arguments. */
export {
  AutoscalingGroup,
  type AutoscalingGroupArgs,
  type AutoscalingGroupAwsArgs,
  type AutoscalingGroupCommonArgs,
  type AutoscalingGroupDockerArgs,
  type AutoscalingGroupKubernetesArgs,
} from "./autoscaling-group";
export {
  RaftConfigService,
  type EtcdTlsOutputs,
  type RaftConfigServiceArgs,
  type RaftConfigServiceAwsArgs,
  type RaftConfigServiceCommonArgs,
  type RaftConfigServiceDockerArgs,
  type RaftConfigServiceKubernetesArgs,
} from "./raft-config-service";
export {
  ShardedDatabase,
  type ShardedDatabaseArgs,
  type ShardedDatabaseAwsArgs,
  type ShardedDatabaseCommonArgs,
  type ShardedDatabaseDockerArgs,
  type ShardedDatabaseKubernetesArgs,
} from "./sharded-database";
export {
  CacheCluster,
  type CacheClusterArgs,
  type CacheClusterAwsArgs,
  type CacheClusterCommonArgs,
  type CacheClusterDockerArgs,
  type CacheClusterKubernetesArgs,
} from "./cache-cluster";
export {
  MetricsStore,
  type MetricsStoreArgs,
  type MetricsStoreAwsArgs,
  type MetricsStoreCommonArgs,
  type MetricsStoreDockerArgs,
  type MetricsStoreKubernetesArgs,
} from "./metrics-store";
export {
  EventStore,
  type EventStoreArgs,
  type EventStoreAwsArgs,
  type EventStoreCommonArgs,
  type EventStoreKubernetesArgs,
} from "./event-store";
export { Platform, createPlatformAwsProvider, platformTags, previousDeployment, type PlatformArgs } from "./platform";
export type { AwsNetwork, AwsSubnet, CreatedAwsNetwork } from "./network";
