/** The event store (docs/design/events.md): streams on the shards, gap-free reads, subscriptions, projections. */
export {
  EventStore,
  EventStoreOptionsSchema,
  EVENT_PLACEMENT_KEY,
  type EventStoreOptions,
  type ReleasedBatch,
  type ReleaseHolder,
} from "./store";
export * from "./errors";
export * from "./types";
export * as eventSql from "./sql";
export { PayloadCipher, parseMasterKey } from "./crypto";
export type { ExpectedVersion } from "../../core/events/append-rules";
export type { Position, PositionVector } from "../../core/events/position";
export type { Upcaster } from "../../core/events/upcast";
export {
  runProjections,
  rebuildProjection,
  ensureProjection,
  projectionStatus,
  ShardProjector,
  applyEvents,
  checkProjection,
  type ProjectionRunners,
  type ShardProjectorOptions,
  type RebuildProgress,
  type RebuildResult,
  type ProjectionShardStatus,
} from "./projector";
export { subscribeAll, type Subscription, type SubscribeAllOptions } from "./subscription";
export { claimMessages, groupFeeder, parkedMessages, replayParked, runGroupFeeders, type GroupMessage } from "./groups";
export { snapshotProjection, loadAggregate, type AggregateDefinition } from "./snapshots";
