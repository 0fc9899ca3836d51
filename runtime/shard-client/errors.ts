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

/**
 * A clock is off by more than the maximum clock offset (`scaleplane:database.maxClockOffsetMs`,
 * CockroachDB's max-offset rule). Either a shard refused this router's write because its version
 * is further ahead of the shard's clock than the bound (this router's clock runs ahead), or a
 * shard's clock reading, or a row version read, shows this router's clock further behind. The
 * router refuses the operation rather than let a fast clock win over everyone's writes or a slow
 * one issue versions that lose: fix the clock synchronisation of this host. A write refused this
 * way may have been applied nowhere; retrying it once the clock is fixed is safe.
 */
export class ClockOffsetError extends ShardClientError {
  constructor(
    readonly operation: "put" | "delete" | "get" | "scan",
    readonly key: string | undefined,
    /** The shard whose clock disagrees (undefined: a row version read was too far ahead). */
    readonly shard: string | undefined,
    /** How far this router's clock is ahead of the shard's (negative: behind), at least, in ms. */
    readonly offsetMs: number,
    readonly maxOffsetMs: number,
  ) {
    const what = `${operation}${key === undefined ? "" : ` ${JSON.stringify(key)}`}`;
    const off = Math.abs(Math.round(offsetMs));
    super(
      shard === undefined
        ? `${what}: read a row version ${off} ms ahead of this router's clock, more than the maximum clock offset ${maxOffsetMs} ms (scaleplane:database.maxClockOffsetMs): a writer's clock ran ahead or this router's runs behind; refused (check the hosts' clock synchronisation)`
        : `${what}: this router's clock is ${off} ms ${offsetMs >= 0 ? "ahead of" : "behind"} shard ${shard}, more than the maximum clock offset ${maxOffsetMs} ms (scaleplane:database.maxClockOffsetMs): refused; fix this host's clock synchronisation`,
    );
  }
}

/**
 * The write reached its replicas but lost on every one of them to a newer row (by version): it is
 * not the key's value anywhere and never will be. Not a plain success: a router whose clock runs
 * behind, or a racing writer, wrote a newer version first. `winner` is the version that won,
 * when a replica reported it; this client's clock has observed it, so a retry is newer.
 */
export class WriteSupersededError extends ShardClientError {
  constructor(
    readonly operation: "put" | "delete",
    readonly key: string,
    readonly version: { wall: number; logical: number; node: string },
    readonly winner: { wall: number; logical: number; node: string } | undefined,
  ) {
    super(
      `${operation} ${JSON.stringify(key)} at version ${version.wall}.${version.logical}@${version.node} was superseded on every replica${winner ? ` by version ${winner.wall}.${winner.logical}@${winner.node}` : ""}: it is not stored (retry to write it again with a newer version)`,
    );
  }
}

/**
 * This client's writer id lease is lost (etcd unreachable beyond its TTL): another client may hold
 * the id now, so this one refuses to write until it claims it again (it keeps trying).
 */
export class NodeIdLostError extends ShardClientError {
  constructor(
    readonly nodeId: string,
    reason: string,
  ) {
    super(
      `writer id ${JSON.stringify(nodeId)} is not held by this client (its lease was lost: ${reason}); writes are refused until it is claimed again`,
    );
  }
}
