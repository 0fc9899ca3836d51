/**
 * Consistency-level math of the sharded database router: how many replica acknowledgements a read
 * or write needs, and whether reads are guaranteed to see the latest acknowledged write. Pure.
 *
 * A quorum is a strict majority, ⌊rf/2⌋ + 1 (the same majority as Raft's, `quorum` in ./etcd):
 * for rf = 4 that is 3, not 2 — two sets of 2 out of 4 replicas can miss each other.
 */
import { CONSISTENCY_LEVELS, type ConsistencyLevel } from "../config";
import { quorum } from "../etcd/spec";

/** Largest replication factor `database.replicationFactor` allows. */
export const MAX_REPLICATION_FACTOR = 16;

function checkReplicationFactor(fn: string, replicationFactor: number): void {
  if (
    typeof replicationFactor !== "number" ||
    !Number.isInteger(replicationFactor) ||
    replicationFactor < 1 ||
    replicationFactor > MAX_REPLICATION_FACTOR
  )
    throw new RangeError(
      `${fn}: replicationFactor must be a whole number from 1 to ${MAX_REPLICATION_FACTOR}; got ${JSON.stringify(replicationFactor) ?? String(replicationFactor)}`,
    );
}

function checkAcks(fn: string, argument: string, acks: number, replicationFactor: number): void {
  if (typeof acks !== "number" || !Number.isInteger(acks) || acks < 1 || acks > replicationFactor)
    throw new RangeError(
      `${fn}: ${argument} must be a whole number from 1 to replicationFactor (${replicationFactor}); got ${JSON.stringify(acks) ?? String(acks)}`,
    );
}

/**
 * Replica acknowledgements an operation at `level` needs: `one` → 1, `quorum` → ⌊rf/2⌋ + 1,
 * `all` → rf.
 *
 * @param level - `"one"`, `"quorum"` or `"all"`
 * @param replicationFactor - replicas per key, a whole number from 1 to 16
 * @throws RangeError naming `level` or `replicationFactor`
 */
export function requiredAcks(level: ConsistencyLevel, replicationFactor: number): number {
  checkReplicationFactor("requiredAcks", replicationFactor);
  switch (level) {
    case "one":
      return 1;
    case "quorum":
      return quorum(replicationFactor);
    case "all":
      return replicationFactor;
    default:
      throw new RangeError(
        `requiredAcks: level must be one of ${CONSISTENCY_LEVELS.join(", ")}; got ${JSON.stringify(level) ?? String(level)}`,
      );
  }
}

/**
 * Replicas that may be unavailable with operations at `level` still succeeding:
 * `rf − requiredAcks(level, rf)`.
 * @throws RangeError as {@link requiredAcks}
 */
export function toleratedFailures(level: ConsistencyLevel, replicationFactor: number): number {
  return replicationFactor - requiredAcks(level, replicationFactor);
}

/**
 * Whether every read set of `readAcks` replicas intersects every write set of `writeAcks`
 * replicas out of `replicationFactor`, i.e. `R + W > rf`: then a read sees the latest
 * acknowledged write.
 *
 * @param readAcks - R, a whole number from 1 to rf
 * @param writeAcks - W, a whole number from 1 to rf
 * @param replicationFactor - rf, a whole number from 1 to 16
 * @throws RangeError naming `readAcks`, `writeAcks` or `replicationFactor`
 */
export function quorumsOverlap(readAcks: number, writeAcks: number, replicationFactor: number): boolean {
  checkReplicationFactor("quorumsOverlap", replicationFactor);
  checkAcks("quorumsOverlap", "readAcks", readAcks, replicationFactor);
  checkAcks("quorumsOverlap", "writeAcks", writeAcks, replicationFactor);
  return readAcks + writeAcks > replicationFactor;
}

/**
 * {@link quorumsOverlap} for consistency levels: whether reads at `read` are guaranteed to see
 * writes acknowledged at `write` (e.g. quorum/quorum and one/all do, one/one with rf ≥ 2 does not).
 * @throws RangeError as {@link requiredAcks}
 */
export function levelsOverlap(read: ConsistencyLevel, write: ConsistencyLevel, replicationFactor: number): boolean {
  return quorumsOverlap(
    requiredAcks(read, replicationFactor),
    requiredAcks(write, replicationFactor),
    replicationFactor,
  );
}
