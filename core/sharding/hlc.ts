/**
 * Hybrid logical clock (Kulkarni et al., "Logical Physical Clocks", 2014) and the row versions of
 * the sharded database. Pure: the physical time is an argument, never read here.
 *
 * Why not wall-clock alone: two routers' clocks disagree, and one clock can step backwards (NTP,
 * a VM resumed). A version taken from the wall clock alone could then be older than one the same
 * writer handed out before, and last-writer-wins would silently drop the later write. An HLC
 * timestamp `(wall, logical)` stays within the clock's own error of physical time, never goes
 * backwards on one node, and after a node observes a timestamp (a row it read) every timestamp it
 * issues is greater. The writer id (`node`) breaks the remaining ties, so two writers never issue
 * the same version.
 *
 * Versions are compared lexicographically: `wall`, then `logical`, then `node` by UTF-16 code
 * units. Node ids are restricted to ASCII letters, digits and `._-` so that order is also the
 * byte order PostgreSQL uses for the `ver_node` column (`COLLATE "C"`, runtime/shard-client/sql.ts).
 */

/** An HLC timestamp: physical milliseconds and a counter for events within one millisecond. */
export interface HlcTimestamp {
  /** Milliseconds since the epoch (the largest physical time seen). */
  readonly wall: number;
  /** Counter, reset when `wall` advances; 0 ≤ logical ≤ {@link MAX_LOGICAL}. */
  readonly logical: number;
}

/** A row version: an HLC timestamp and the id of the writer that issued it. */
export interface Version extends HlcTimestamp {
  /** Writer id (the final tie-break); see {@link NODE_ID_PATTERN}. */
  readonly node: string;
}

/** Largest counter value: `ver_logical` is a PostgreSQL `integer`. */
export const MAX_LOGICAL = 2 ** 31 - 1;

/** Node ids: 1-64 ASCII letters, digits, `.`, `_` or `-` (JS order = PostgreSQL "C" order). */
export const NODE_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** A bad argument to a clock function; `argument` names it. */
export class HlcError extends Error {
  constructor(
    readonly argument: string,
    message: string,
  ) {
    super(`${argument} ${message}`);
    this.name = "HlcError";
  }
}

/** The clock before any event. */
export const HLC_ZERO: HlcTimestamp = Object.freeze({ wall: 0, logical: 0 });

function checkPhysical(physicalMs: number): void {
  if (!Number.isSafeInteger(physicalMs) || physicalMs < 0)
    throw new HlcError("physicalMs", `must be a whole number of milliseconds ≥ 0; got ${String(physicalMs)}`);
}

function checkTimestamp(argument: string, t: HlcTimestamp): void {
  if (typeof t !== "object" || t === null) throw new HlcError(argument, `must be {wall, logical}; got ${String(t)}`);
  if (!Number.isSafeInteger(t.wall) || t.wall < 0)
    throw new HlcError(`${argument}.wall`, `must be a whole number ≥ 0; got ${String(t.wall)}`);
  if (!Number.isInteger(t.logical) || t.logical < 0 || t.logical > MAX_LOGICAL)
    throw new HlcError(
      `${argument}.logical`,
      `must be a whole number from 0 to ${MAX_LOGICAL}; got ${String(t.logical)}`,
    );
}

/**
 * `(wall, logical + 1)`, or `(wall + 1, 0)` when the counter is full: still strictly greater, and
 * the wall component runs at most one millisecond ahead per 2^31 events.
 */
function bump(wall: number, logical: number): HlcTimestamp {
  return logical >= MAX_LOGICAL ? { wall: wall + 1, logical: 0 } : { wall, logical: logical + 1 };
}

/**
 * The timestamp of a local event (a write) at physical time `physicalMs`, given the clock's last
 * timestamp `last`. Always strictly greater than `last`; equal to `(physicalMs, 0)` whenever the
 * physical clock is ahead of everything seen.
 * @throws HlcError naming `physicalMs` or `last`
 */
export function hlcNow(last: HlcTimestamp, physicalMs: number): HlcTimestamp {
  checkTimestamp("last", last);
  checkPhysical(physicalMs);
  if (physicalMs > last.wall) return { wall: physicalMs, logical: 0 };
  return bump(last.wall, last.logical);
}

/**
 * The clock after observing a remote timestamp `remote` (e.g. a row version read from a shard) at
 * physical time `physicalMs`: strictly greater than both `last` and `remote`, so every later
 * {@link hlcNow} is too.
 * @throws HlcError naming `last`, `remote` or `physicalMs`
 */
export function hlcObserve(last: HlcTimestamp, remote: HlcTimestamp, physicalMs: number): HlcTimestamp {
  checkTimestamp("last", last);
  checkTimestamp("remote", remote);
  checkPhysical(physicalMs);
  const wall = Math.max(last.wall, remote.wall, physicalMs);
  if (wall === last.wall && wall === remote.wall) return bump(wall, Math.max(last.logical, remote.logical));
  if (wall === last.wall) return bump(wall, last.logical);
  if (wall === remote.wall) return bump(wall, remote.logical);
  return { wall, logical: 0 };
}

/** Compares two timestamps: negative, 0 or positive as `a` is older, equal or newer. */
export function compareTimestamps(a: HlcTimestamp, b: HlcTimestamp): number {
  return a.wall !== b.wall
    ? a.wall < b.wall
      ? -1
      : 1
    : a.logical !== b.logical
      ? a.logical < b.logical
        ? -1
        : 1
      : 0;
}

/**
 * Compares two versions lexicographically (`wall`, `logical`, then `node`): negative, 0 or
 * positive as `a` is older, equal or newer. The order PostgreSQL applies in the "apply if newer"
 * upsert.
 */
export function compareVersions(a: Version, b: Version): number {
  const t = compareTimestamps(a, b);
  if (t !== 0) return t;
  return a.node === b.node ? 0 : a.node < b.node ? -1 : 1;
}

/** The newer of two versions (`a` when equal); `undefined` counts as older than any version. */
export function newerVersion<V extends Version>(a: V | undefined, b: V | undefined): V | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareVersions(b, a) > 0 ? b : a;
}

/** Checks a writer id against {@link NODE_ID_PATTERN}. @throws HlcError naming `argument` */
export function checkNodeId(node: string, argument = "nodeId"): string {
  if (typeof node !== "string" || !NODE_ID_PATTERN.test(node))
    throw new HlcError(
      argument,
      `must be 1-64 ASCII letters, digits, '.', '_' or '-' (its order must match PostgreSQL's "C" collation); got ${JSON.stringify(node)}`,
    );
  return node;
}

/** Checks a version read from storage or given by a caller. @throws HlcError naming `argument` */
export function checkVersion(v: Version, argument = "version"): Version {
  checkTimestamp(argument, v);
  checkNodeId(v.node, `${argument}.node`);
  return v;
}

/** The default maximum clock offset between any two nodes (`database.maxClockOffsetMs`), in ms. */
export const DEFAULT_MAX_CLOCK_OFFSET_MS = 500;

/**
 * A timestamp further ahead of this node's physical clock than the maximum clock offset allows
 * (CockroachDB's max-offset rule): either its writer's clock runs ahead, or this node's runs
 * behind. Never ignored: observing it would drag this writer into the future, and not observing
 * it would let this writer issue versions older than ones it has seen.
 */
export class ClockOffsetExceeded extends HlcError {
  constructor(
    /** How far the timestamp is ahead of this node's physical clock, in ms. */
    readonly aheadMs: number,
    /** The maximum offset in force, in ms. */
    readonly maxOffsetMs: number,
  ) {
    super(
      "remote.wall",
      `is ${aheadMs} ms ahead of this node's clock, more than the maximum clock offset (${maxOffsetMs} ms, scaleplane:database.maxClockOffsetMs): a writer's clock runs ahead or this node's runs behind`,
    );
    this.name = "ClockOffsetExceeded";
  }
}

/**
 * A stateful clock over the pure functions, for one writer: `now()` issues versions, `observe()`
 * takes in versions read elsewhere. The physical time source is injected (tests step it
 * backwards). A remote timestamp more than `maxOffsetMs` ahead of the physical clock is refused
 * with ClockOffsetExceeded (the clocks disagree beyond the bound every node is configured with).
 */
export class HybridClock {
  #last: HlcTimestamp = HLC_ZERO;
  #maxOffsetMs: number;

  /**
   * @param node - this writer's id ({@link NODE_ID_PATTERN})
   * @param physical - physical time in ms. @default Date.now
   * @param maxOffsetMs - largest lead of an observed timestamp over the physical clock. @default DEFAULT_MAX_CLOCK_OFFSET_MS
   */
  constructor(
    readonly node: string,
    private readonly physical: () => number = Date.now,
    maxOffsetMs: number = DEFAULT_MAX_CLOCK_OFFSET_MS,
  ) {
    checkNodeId(node, "node");
    this.#maxOffsetMs = checkOffset(maxOffsetMs);
  }

  /** The last timestamp issued or observed. */
  get last(): HlcTimestamp {
    return this.#last;
  }

  /** The maximum clock offset in force, in ms (the shard map's; changed when a new map is installed). */
  get maxOffsetMs(): number {
    return this.#maxOffsetMs;
  }

  set maxOffsetMs(ms: number) {
    this.#maxOffsetMs = checkOffset(ms);
  }

  /** The physical clock, in whole ms ≥ 0. */
  physicalMs(): number {
    return Math.max(0, Math.floor(this.physical()));
  }

  /** A new version, strictly greater than every version this clock issued or observed. */
  now(): Version {
    this.#last = hlcNow(this.#last, this.physicalMs());
    return { ...this.#last, node: this.node };
  }

  /**
   * Observes a timestamp: every later `now()` is greater.
   * @throws ClockOffsetExceeded when it is more than `maxOffsetMs` ahead of the physical clock (not observed)
   */
  observe(remote: HlcTimestamp): void {
    const physical = this.physicalMs();
    if (remote.wall > physical + this.#maxOffsetMs)
      throw new ClockOffsetExceeded(remote.wall - physical, this.#maxOffsetMs);
    this.#last = hlcObserve(this.#last, remote, physical);
  }
}

function checkOffset(ms: number): number {
  if (!Number.isSafeInteger(ms) || ms < 1)
    throw new HlcError("maxOffsetMs", `must be a whole number of milliseconds ≥ 1; got ${String(ms)}`);
  return ms;
}

/** A stored row's version and its value as the shards return it (JSON text; null is a tombstone). */
export type StoredVersion = Version & { readonly value?: string | null };

/**
 * Compares two stored rows: by version ({@link compareVersions}), then, for equal versions (two
 * writers that shared an id), by value text in code point order (= PostgreSQL's "C" order of
 * `coalesce(value::text, '')`), a tombstone lowest. The order the shards' "apply if newer"
 * upsert, read repair and the rebalance's verification all apply, so replicas that saw the same
 * rows in any order converge to the same one.
 */
export function compareStored(a: StoredVersion, b: StoredVersion): number {
  const v = compareVersions(a, b);
  if (v !== 0) return v;
  const x = a.value ?? "";
  const y = b.value ?? "";
  if (x === y) return 0;
  // Code point order (UTF-16 code units would put U+E000..U+FFFF after the astral planes).
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const cx = x.codePointAt(i)!;
    const cy = y.codePointAt(i)!;
    if (cx !== cy) return cx < cy ? -1 : 1;
    if (cx > 0xffff) i++;
  }
  return x.length - y.length < 0 ? -1 : 1;
}
