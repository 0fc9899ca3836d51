/** Errors of the event store: each says which stream, shard or handler, and what to do. */
import { EventArgumentError } from "../../core/events/errors";

export { EventArgumentError };

/** Base class of the event store's runtime errors. */
export class EventStoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The stream's version did not satisfy the append's expected version (nothing was written). */
export class WrongExpectedVersionError extends EventStoreError {
  constructor(
    readonly stream: string,
    readonly expected: string | number,
    readonly current: number,
  ) {
    super(
      `append to ${JSON.stringify(stream)}: expected version ${String(expected)}, but the stream is at version ${current}`,
    );
  }
}

/** The stream was deleted: it cannot be read, replayed or appended to. */
export class StreamDeletedError extends EventStoreError {
  constructor(readonly stream: string) {
    super(`stream ${JSON.stringify(stream)} was deleted: it cannot be read, replayed or appended to`);
  }
}

/** Some of an append's event ids are already stored, but not as this exact append (ids reused for other events). */
export class EventIdConflictError extends EventStoreError {
  constructor(
    readonly stream: string,
    readonly ids: readonly string[],
  ) {
    super(
      `append to ${JSON.stringify(stream)}: event id(s) ${ids.join(", ")} are already stored as other events (an append is idempotent only when retried whole, with the same ids in the same order)`,
    );
  }
}

/** The stream is being moved to another shard: the append was not written; retry once the move finished. */
export class StreamMovingError extends EventStoreError {
  constructor(
    readonly stream: string,
    readonly from: string,
    readonly to: string,
  ) {
    super(
      `append to ${JSON.stringify(stream)} refused: the stream is moving from shard ${from} to ${to} (nothing was written; retry after the move)`,
    );
  }
}

/** A shard refused the store's event placement epoch (a move went on) and the newer placement did not arrive in time. */
export class EventEpochError extends EventStoreError {
  constructor(
    readonly shard: string,
    readonly epoch: number,
    readonly minEpoch: number,
  ) {
    super(
      `shard ${shard} refuses event placement epoch ${epoch}: its event fence is at ${minEpoch} (streams moved; nothing was written; retry)`,
    );
  }
}

/** A projection or group runner lost its fencing token (another runner took over): its batch was not committed. */
export class RunnerFencedError extends EventStoreError {
  constructor(
    readonly name: string,
    readonly shard: string,
    readonly token: number,
  ) {
    super(
      `${name} on shard ${shard}: fencing token ${token} is no longer current (another runner took over); batch not committed`,
    );
  }
}
