/** Errors of the shard client: each says which operation, which shards, and why. */
import type { ConsistencyLevel } from "../../core/config";

/** Base class of every shard-client error. */
export class ShardClientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Why one shard did not answer an operation. */
export interface ShardFailure {
  /** Shard name. */
  readonly shard: string;
  /** What went wrong (connection refused, deadline, SQL error, stale epoch, ...). */
  readonly reason: string;
  /** SQLSTATE or Node error code, when there is one. */
  readonly code?: string;
}

/** A replica set that did not reach its required replies. */
export interface UnmetGroup {
  readonly shards: readonly string[];
  readonly required: number;
  readonly acked: number;
}

/**
 * Not enough replicas answered to meet the consistency level. For a write this does NOT mean the
 * write was not stored: replicas that answered applied it, and it may surface in later reads
 * (read repair spreads it). Retrying the same call is safe (the retry carries a newer version).
 */
export class QuorumUnavailableError extends ShardClientError {
  constructor(
    readonly operation: "put" | "delete" | "get" | "scan",
    readonly key: string | undefined,
    readonly level: ConsistencyLevel,
    readonly unmet: readonly UnmetGroup[],
    readonly failures: readonly ShardFailure[],
  ) {
    const sets = unmet.map((g) => `${g.acked}/${g.required} of [${g.shards.join(", ")}]`).join("; ");
    const why = failures.map((f) => `${f.shard}: ${f.reason}`).join("; ");
    super(
      `${operation}${key === undefined ? "" : ` ${JSON.stringify(key)}`} at consistency "${level}": quorum unavailable (${sets}); failed shards: ${why || "none (deadline)"}`,
    );
  }
  /** Names of the shards that failed. */
  get failedShards(): string[] {
    return this.failures.map((f) => f.shard);
  }
}

/**
 * A shard refused the router's write because the router's shard map is older than the shard's
 * fence (`min_epoch`): a rebalance moved on. The router reloads the map and retries once; this
 * error surfaces only when the map did not catch up.
 */
export class StaleEpochError extends ShardClientError {
  constructor(
    readonly shard: string,
    readonly routerEpoch: number,
    readonly minEpoch: number,
  ) {
    super(
      `shard ${shard} refuses shard-map epoch ${routerEpoch}: its fence is at epoch ${minEpoch} (the shard map moved on; reload it and retry)`,
    );
  }
}

/** A key, value, option or argument the client refuses; `argument` names it. */
export class ShardArgumentError extends ShardClientError {
  constructor(
    readonly argument: string,
    message: string,
  ) {
    super(`${argument} ${message}`);
  }
}
