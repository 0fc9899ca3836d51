/** The online shard rebalance (engine, progress records, data path), shared by the provider and the CLI. */
export {
  runRebalance,
  previewRebalance,
  placementOf,
  samePlacement,
  copyPairs,
  releasedSlices,
  RebalanceRefusedError,
  RebalanceBusyError,
  RebalanceDeposedError,
  REBALANCE_ELECTION,
  type DesiredShardMap,
  type RebalanceEvent,
  type RebalanceOptions,
  type RebalanceReport,
  type RebalancePreview,
  type PlannedCopy,
} from "./engine";
export { planMigration, type MigrationPlan } from "./plan";
export { ACTIVE_KEY, SWEEP_KEY, progressKey, type ActiveMigration, type Placement, type Progress } from "./progress";
export { RebalanceConnections, parseHostPort, type ShardCredentials, type ShardReach } from "./shards";
export {
  copySlice,
  verifySlice,
  deleteSlice,
  sliceChecksum,
  sliceSize,
  type CopyResult,
  type VerifyResult,
} from "./copy";
export { SHARD_TABLES } from "./tables";
export { FAILPOINTS, type Failpoint } from "./failpoint";
