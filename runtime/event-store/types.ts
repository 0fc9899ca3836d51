/** Types shared by the event store's modules (the store, projections, subscriptions). */
import type { PoolClient } from "pg";
import type { Version } from "../../core/sharding/hlc";
import type { Position, PositionVector } from "../../core/events/position";

/** An event to append. */
export interface NewEvent {
  /** Idempotency key (a lower-case UUID). @default a random UUID */
  id?: string;
  /** Event type (1-128 of letters, digits, `._:/-`). */
  type: string;
  /** The payload (any JSON value); stored encrypted under the stream's key. */
  data: unknown;
  /** User metadata (JSON object); stored encrypted with the payload. */
  metadata?: Record<string, unknown>;
  /** The event (or command) id that caused this one. */
  causationId?: string;
  /** The id correlating a whole flow of events. */
  correlationId?: string;
  /** Schema version of `data`. @default the type's latest version (its upcasters' end) */
  schemaVersion?: number;
}

/** An event as read back (upcast to its latest schema version). */
export interface RecordedEvent<T = unknown> {
  readonly id: string;
  readonly stream: string;
  /** 1-based version in its stream. */
  readonly version: number;
  readonly type: string;
  readonly schemaVersion: number;
  readonly data: T;
  readonly metadata: Record<string, unknown>;
  readonly causationId?: string;
  readonly correlationId?: string;
  /** The HLC stamp (core/events/order.ts). */
  readonly stamp: Version;
  /** The shard holding the stream. */
  readonly shard: string;
  /** The position in that shard's log. */
  readonly position: Position;
  /** The appending client's earlier appends on other shards (causal dependencies). */
  readonly deps?: PositionVector;
  readonly recordedAt: Date;
}

/** The result of an append. */
export interface AppendResult {
  /** The stream's version after the append (the last event's version). */
  readonly version: number;
  /** Version of the first event of this append. */
  readonly firstVersion: number;
  /** True when this was a retry of an append already stored (nothing written). */
  readonly duplicate: boolean;
  /** The shard holding the stream. */
  readonly shard: string;
  /** Position of the last appended event (absent for a duplicate). */
  readonly position?: Position;
}

/** A transaction on one shard, for projection handlers. */
export interface ShardTx {
  readonly shard: string;
  /** The connection (inside the batch's transaction). */
  readonly client: PoolClient;
}

/** A table of a projection: its DDL, given the physical name (live or a rebuild generation). */
export interface ProjectionTable {
  /** Logical name readers use (a lowercase identifier without `__`). */
  readonly name: string;
  /** `CREATE TABLE` (and index) statements for the physical table name given (quoted identifier). */
  ddl(table: string): string;
}

/** What a projection handler gets for each batch. */
export interface ProjectionContext extends ShardTx {
  /** The quoted physical name of a logical table in the generation being written (live or a rebuild's shadow). */
  table(name: string): string;
  /** True while a rebuild writes a shadow generation. */
  readonly rebuilding: boolean;
  /** A stream's events with versions in (`after`, `upTo`], read in this transaction (the stream lives on this shard). */
  streamEvents(stream: string, after: number, upTo: number): Promise<RecordedEvent[]>;
}

/**
 * A projection: a read model kept in tables on each shard beside the streams it reads (CQRS
 * query side). Its handler runs in the same transaction as the checkpoint (exactly-once effect).
 */
export interface ProjectionDefinition {
  /** Lowercase identifier. */
  readonly name: string;
  /** Code version: a change means the live tables are stale and need a rebuild (`status` shows it). @default 1 */
  readonly version?: number;
  readonly tables: readonly ProjectionTable[];
  /** Applies a batch of events (in log order, deleted streams left out) inside the batch's transaction. */
  apply(ctx: ProjectionContext, events: readonly RecordedEvent[]): Promise<void>;
  /** Removes every row derived from the streams (privacy deletion), in the deletion's transaction. */
  purge(ctx: ProjectionContext, streams: readonly string[]): Promise<void>;
}
