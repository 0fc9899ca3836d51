/** Errors of the config client: each names the key (or election) and what went wrong. */

/** Base class: something about a config-service call failed. */
export class ConfigClientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A value did not match its key's schema (on write: nothing was written). */
export class ConfigValidationError extends ConfigClientError {
  constructor(
    readonly key: string,
    readonly issues: string[],
    readonly direction: "write" | "read",
  ) {
    super(
      `config key ${key}: ${direction === "write" ? "refusing to write" : "stored value is"} invalid: ${issues.join("; ")}`,
    );
  }
}

/** The call did not complete within its deadline: it may or may not have taken effect. */
export class ConfigDeadlineError extends ConfigClientError {
  constructor(
    readonly operation: string,
    readonly deadlineMs: number,
    cause: unknown,
  ) {
    super(
      `${operation}: no answer within the ${deadlineMs} ms deadline (the operation may or may not have taken effect)`,
      { cause },
    );
  }
}

/** The cluster could not be reached or refused the call (e.g. no leader, connection refused). */
export class ConfigUnavailableError extends ConfigClientError {
  constructor(
    readonly operation: string,
    cause: unknown,
  ) {
    super(`${operation}: config service unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
  }
}

/** A compare-and-swap on the shard map's epoch lost: someone else changed it first. */
export class StaleEpochError extends ConfigClientError {
  constructor(
    readonly expectedEpoch: number,
    readonly actualEpoch: number | undefined,
  ) {
    super(
      actualEpoch === undefined
        ? `shard map update expected epoch ${expectedEpoch} but no shard map is stored`
        : `shard map update expected epoch ${expectedEpoch} but the stored map is at epoch ${actualEpoch}; re-read it and retry`,
    );
  }
}

/** A fenced write was refused: the writer's leadership (fencing token) is no longer current. */
export class FencingError extends ConfigClientError {
  constructor(
    readonly election: string,
    readonly fencingToken: number,
    readonly operation: string,
  ) {
    super(
      `${operation}: refused, leadership of election "${election}" with fencing token ${fencingToken} is no longer held`,
    );
  }
}
