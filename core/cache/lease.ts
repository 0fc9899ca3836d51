/**
 * The lease protocol of one cache node, as a pure model (the memcache paper, NSDI 2013, §3.2.1;
 * near-cache read leases after Gray & Cheriton, SOSP 1989). runtime/cache-client/scripts.ts runs
 * the same steps atomically inside Redis (one Lua script per operation); this model is what the
 * property tests (test/unit/cache/lease.test.ts) drive through every interleaving of readers and
 * writers, and what the integration test compares the scripts with.
 *
 * Per key a node holds a value (with an expiry), at most one fill lease (a token, with an
 * expiry) and a near-cache marker (the latest expiry of copies handed out for client-side
 * caching). Every operation first checks the node's generation: a node whose stored generation
 * differs from the caller's answers `fenced` and changes nothing.
 *
 * - `lookup`: a hit returns the value; a miss grants the caller a lease when none is
 *   outstanding (that caller loads and fills), else answers `wait` (the caller polls: one
 *   loader per key, the waiters get the value it stores).
 * - `fill`: stores the value only if the caller's token is still the outstanding lease.
 * - `invalidate` (after a database write): deletes the value AND the lease, so a loader that
 *   read the database before the write cannot store what it read; returns how long near-cache
 *   copies may still live, which the writer waits out before its write returns.
 */

/** The state of one key on one node. */
export interface KeyState {
  value?: { data: string; expiresAt: number; deltaMs: number };
  lease?: { token: string; expiresAt: number };
  /** Latest expiry of a near-cache copy handed out. */
  nearUntil?: number;
}

/** A node: its generation and its keys. */
export interface NodeModel {
  generation: number | undefined;
  keys: Map<string, KeyState>;
  /**
   * Until when near-cache copies handed out before the node lost its markers (a restart, an
   * admission) may live: set by {@link admit}, counted by every {@link invalidate}.
   */
  nearFloorUntil?: number;
}

export type LookupResult =
  | { kind: "hit"; data: string; ttlMs: number; deltaMs: number }
  | { kind: "lease"; token: string }
  | { kind: "wait" }
  | { kind: "fenced"; stored: number | undefined };

export type FillResult = "stored" | "refused" | "fenced";

export interface InvalidateResult {
  /** The node's generation before the call (undefined: a node that lost its state). */
  stored: number | undefined;
  /** ms a near-cache copy handed out may still live (0: none). */
  nearMs: number;
}

const live = (s: KeyState, now: number): KeyState => {
  if (s.value && s.value.expiresAt <= now) delete s.value;
  if (s.lease && s.lease.expiresAt <= now) delete s.lease;
  if (s.nearUntil !== undefined && s.nearUntil <= now) delete s.nearUntil;
  return s;
};

const stateOf = (n: NodeModel, key: string, now: number): KeyState => {
  let s = n.keys.get(key);
  if (!s) n.keys.set(key, (s = {}));
  return live(s, now);
};

/** A hit, a new lease for `token`, or `wait`. `nearMs > 0` records a near-cache copy on a hit. */
export function lookup(
  n: NodeModel,
  key: string,
  o: { generation: number; token: string; leaseMs: number; nearMs: number; now: number },
): LookupResult {
  if (n.generation !== o.generation) return { kind: "fenced", stored: n.generation };
  const s = stateOf(n, key, o.now);
  if (s.value) {
    if (o.nearMs > 0) s.nearUntil = Math.max(s.nearUntil ?? 0, o.now + o.nearMs);
    return { kind: "hit", data: s.value.data, ttlMs: s.value.expiresAt - o.now, deltaMs: s.value.deltaMs };
  }
  if (s.lease) return { kind: "wait" };
  s.lease = { token: o.token, expiresAt: o.now + o.leaseMs };
  return { kind: "lease", token: o.token };
}

/** A lease for a refresh of a present value (XFetch) or a replica: granted only when none is outstanding. */
export function acquire(
  n: NodeModel,
  key: string,
  o: { generation: number; token: string; leaseMs: number; now: number },
): "granted" | "busy" | "fenced" {
  if (n.generation !== o.generation) return "fenced";
  const s = stateOf(n, key, o.now);
  if (s.lease) return "busy";
  s.lease = { token: o.token, expiresAt: o.now + o.leaseMs };
  return "granted";
}

/** Stores `data` if `token` is the outstanding lease (and releases it). */
export function fill(
  n: NodeModel,
  key: string,
  o: { generation: number; token: string; data: string; ttlMs: number; deltaMs: number; now: number },
): FillResult {
  if (n.generation !== o.generation) return "fenced";
  const s = stateOf(n, key, o.now);
  if (!s.lease || s.lease.token !== o.token) return "refused";
  delete s.lease;
  s.value = { data: o.data, expiresAt: o.now + o.ttlMs, deltaMs: o.deltaMs };
  return "stored";
}

/** The value only (no lease), as the old owner answers a read-through during a resize. */
export function peek(n: NodeModel, key: string, o: { generation: number; now: number }): string | undefined | "fenced" {
  if (n.generation !== o.generation) return "fenced";
  return stateOf(n, key, o.now).value?.data;
}

/** Deletes the value and the lease (whatever the generation); reports the near-cache wait. */
export function invalidate(n: NodeModel, key: string, now: number): InvalidateResult {
  const s = stateOf(n, key, now);
  const nearMs = Math.max(0, (s.nearUntil ?? now) - now, (n.nearFloorUntil ?? now) - now);
  delete s.value;
  delete s.lease;
  return { stored: n.generation, nearMs };
}

/**
 * Admits a node at `generation`: when it holds an older one (or none), everything is dropped
 * first, and since the markers of near-cache copies handed out before are gone with it, every
 * invalidation for the next `nearTtlMs` reports that much wait.
 */
export function admit(
  n: NodeModel,
  generation: number,
  now: number,
  nearTtlMs: number,
): "admitted" | "current" | "newer" {
  if (n.generation === generation) return "current";
  if (n.generation !== undefined && n.generation > generation) return "newer";
  n.keys.clear();
  n.generation = generation;
  n.nearFloorUntil = now + nearTtlMs;
  return "admitted";
}
