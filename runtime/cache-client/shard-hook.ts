/**
 * Delete-after-write from the database's own write path: the option ShardClient calls after a
 * write is acknowledged and before `put`/`delete` returns (its `afterWrite` hook). With it, a
 * read through the cache that starts after `put` returned never sees the older value.
 *
 * @example
 * const cache = await CacheClient.connect({ config, cluster: "cache-prod" });
 * const db = await ShardClient.connect({ config, user, password, afterWrite: invalidateAfterWrite(cache) });
 * const item = await cache.get(`orders/17`, () => db.get("orders/17").then((i) => i?.value));
 */
import type { CacheClient } from "./client";

/** A write the database acknowledged (what ShardClient's `afterWrite` receives). */
export interface AcknowledgedWrite {
  op: "put" | "delete";
  key: string;
}

/** The ShardClient `afterWrite` hook that invalidates the written key in `cache`. */
export function invalidateAfterWrite(cache: CacheClient): (w: AcknowledgedWrite) => Promise<void> {
  return (w) => cache.invalidate(w.key);
}
