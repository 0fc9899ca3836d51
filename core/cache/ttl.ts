/**
 * Expiry decisions of the cache client: TTL jitter (so keys filled together do not expire
 * together) and XFetch probabilistic early recomputation (Vattani, Chierichetti & Lowenstein,
 * "Optimal Probabilistic Cache Stampede Prevention", VLDB 2015). Pure: randomness comes in as a
 * number in (0, 1].
 */

/**
 * A TTL with jitter: `ttlMs × (1 − jitter × u)`, `u ∈ [0, 1)`, at least 1 ms. With jitter 0.1 the
 * expiries of keys filled at once spread over the last 10 % of the TTL.
 */
export function jitteredTtl(ttlMs: number, jitter: number, u: number): number {
  if (!(ttlMs >= 1)) throw new RangeError(`ttlMs must be ≥ 1; got ${ttlMs}`);
  if (!(jitter >= 0 && jitter < 1)) throw new RangeError(`jitter must be in [0, 1); got ${jitter}`);
  return Math.max(1, Math.round(ttlMs * (1 - jitter * Math.min(Math.max(u, 0), 1))));
}

/**
 * XFetch: refresh now, before expiry, when `Δ × β × −ln(u) ≥ ttlLeft`, where Δ is how long the
 * last recomputation took, β ≥ 0 tunes eagerness (1 is the paper's optimum; 0 never refreshes
 * early) and `u ∈ (0, 1]` is uniform. The probability grows as the expiry nears, and one reader
 * (of many) refreshes first, with no coordination.
 */
export function xfetchShouldRefresh(ttlLeftMs: number, deltaMs: number, beta: number, u: number): boolean {
  if (beta <= 0 || deltaMs <= 0) return false;
  if (ttlLeftMs <= 0) return true;
  const r = Math.min(Math.max(u, Number.MIN_VALUE), 1);
  return deltaMs * beta * -Math.log(r) >= ttlLeftMs;
}

/** The probability that {@link xfetchShouldRefresh} answers true: `exp(−ttlLeft / (Δ β))`. */
export function xfetchProbability(ttlLeftMs: number, deltaMs: number, beta: number): number {
  if (beta <= 0 || deltaMs <= 0) return 0;
  if (ttlLeftMs <= 0) return 1;
  return Math.exp(-ttlLeftMs / (deltaMs * beta));
}
