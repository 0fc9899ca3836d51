/**
 * A small online Holt-Winters forecaster with several additive seasons (Taylor's multiple-seasonal
 * form, e.g. daily + weekly), written here because no maintained npm package offers multiple
 * seasons with an online, serializable state (the ones that exist refit a single season over the
 * whole history on every call). Pure: every function returns a new state.
 *
 * Samples are averaged into buckets of `sampleMs`. After each closed bucket y:
 *   one-step error e = y − (ℓ + Σ sᵢ),  mae ← mae + ρ(|e| − mae)
 *   ℓ ← α(y − Σ sᵢ) + (1 − α)ℓ
 *   sᵢ ← γ(y − ℓ − Σ_{j≠i} sⱼ) + (1 − γ)sᵢ          (sᵢ = season i at this bucket's phase)
 * A season joins once one full period of history exists (its components start as that period's
 * deviations from its mean, and the level restarts at that mean), so the forecast is level-only at first, then daily, then daily+weekly.
 * The history ring is only kept until every season has joined.
 */

export interface SeasonState {
  /** Period in buckets. */
  length: number;
  /** Component per phase (bucket index mod length), or null until one period has been seen. */
  values: number[] | null;
}

export interface ForecastState {
  sampleMs: number;
  alpha: number;
  gamma: number;
  /** Start of the bucket being filled (ms), and its running sum/count. */
  bucketStartMs?: number;
  bucketSum: number;
  bucketCount: number;
  /** Closed buckets so far (index of the bucket being filled). */
  n: number;
  level?: number;
  /** Running mean absolute one-step error. */
  mae?: number;
  seasons: SeasonState[];
  /** Closed bucket values, oldest first, until every season has joined (then empty). */
  history: number[];
}

/** Smoothing of the error estimate. */
const ERROR_SMOOTHING = 0.1;

export function initForecast(
  sampleSeconds: number,
  seasonLengthsBuckets: readonly number[],
  alpha: number,
  gamma: number,
): ForecastState {
  const lengths = [...new Set(seasonLengthsBuckets.filter((l) => l >= 2))].sort((a, b) => a - b);
  return {
    sampleMs: sampleSeconds * 1000,
    alpha,
    gamma,
    bucketSum: 0,
    bucketCount: 0,
    n: 0,
    seasons: lengths.map((length) => ({ length, values: null })),
    history: [],
  };
}

const seasonal = (seasons: readonly SeasonState[], index: number, except = -1): number =>
  seasons.reduce(
    (s, season, i) => (i === except || season.values === null ? s : s + season.values[index % season.length]),
    0,
  );

/** Folds one closed bucket value into the model. */
export function updateBucket(state: ForecastState, y: number): ForecastState {
  const idx = state.n;
  let seasons = state.seasons;
  let level = state.level;
  let mae = state.mae;
  if (level === undefined) level = y;
  else {
    const predicted = level + seasonal(seasons, idx);
    const err = Math.abs(y - predicted);
    mae = mae === undefined ? err : mae + ERROR_SMOOTHING * (err - mae);
    level = state.alpha * (y - seasonal(seasons, idx)) + (1 - state.alpha) * level;
    seasons = seasons.map((s, i) => {
      if (s.values === null) return s;
      const values = s.values.slice();
      const phase = idx % s.length;
      values[phase] = state.gamma * (y - level! - seasonal(seasons, idx, i)) + (1 - state.gamma) * values[phase];
      return { ...s, values };
    });
  }
  const waiting = seasons.some((s) => s.values === null);
  let history = waiting ? [...state.history, y] : state.history;
  const n = idx + 1;
  // Seasons join (shortest first) once one full period is in the history.
  if (waiting) {
    seasons = seasons.map((s, i) => {
      if (s.values !== null || n < s.length) return s;
      const window = history.slice(history.length - s.length);
      const mean = window.reduce((a, b) => a + b, 0) / s.length;
      level = mean; // the level restarts deseasonalized: the period's mean
      const values = new Array<number>(s.length).fill(0);
      window.forEach((v, k) => {
        const bucket = n - s.length + k;
        values[bucket % s.length] = v - mean - seasonal(seasons, bucket, i);
      });
      return { ...s, values };
    });
    const longest = Math.max(...seasons.map((s) => s.length));
    if (seasons.every((s) => s.values !== null)) history = [];
    else if (history.length > longest) history = history.slice(history.length - longest);
  }
  return { ...state, n, level, mae, seasons, history };
}

/** Adds one observation at `tMs`; closes buckets (carrying the last value over empty ones) as time passes. */
export function observe(state: ForecastState, tMs: number, value: number): ForecastState {
  let s = state;
  if (s.bucketStartMs === undefined) s = { ...s, bucketStartMs: Math.floor(tMs / s.sampleMs) * s.sampleMs };
  let last: number | undefined = s.bucketCount > 0 ? s.bucketSum / s.bucketCount : undefined;
  // After a gap of more than two longest seasons (at least 100 buckets: a controller down for
  // days) carrying the last value over is meaningless: close the open bucket, then jump, keeping
  // the bucket index (the seasonal phase).
  const gap = Math.floor((tMs - s.bucketStartMs!) / s.sampleMs);
  if (gap > Math.max(100, 2 * Math.max(0, ...s.seasons.map((x) => x.length)))) {
    if (s.bucketCount > 0) s = updateBucket(s, s.bucketSum / s.bucketCount);
    else s = { ...s, n: s.n + 1 };
    s = { ...s, n: s.n + gap - 1, bucketStartMs: s.bucketStartMs! + gap * s.sampleMs, bucketSum: 0, bucketCount: 0 };
    last = undefined;
  }
  // A sample from before the current bucket is folded into it (clocks may jitter).
  while (tMs >= s.bucketStartMs! + s.sampleMs) {
    const y = s.bucketCount > 0 ? s.bucketSum / s.bucketCount : (last ?? value);
    last = y;
    s = { ...updateBucket(s, y), bucketStartMs: s.bucketStartMs! + s.sampleMs, bucketSum: 0, bucketCount: 0 };
  }
  return { ...s, bucketSum: s.bucketSum + value, bucketCount: s.bucketCount + 1 };
}

/**
 * The forecast for the bucket containing `tMs` (≥ the current bucket); `undefined` before any bucket
 * closed. `band` adds that many mean absolute errors.
 */
export function forecastAt(state: ForecastState, tMs: number, band = 0): number | undefined {
  if (state.level === undefined || state.bucketStartMs === undefined) return undefined;
  const ahead = Math.max(0, Math.floor((tMs - state.bucketStartMs) / state.sampleMs));
  return state.level + seasonal(state.seasons, state.n + ahead) + band * (state.mae ?? 0);
}

/** Which seasons are active, for reasons: e.g. `["24", "168"]` bucket lengths. */
export const activeSeasons = (state: ForecastState): number[] =>
  state.seasons.filter((s) => s.values !== null).map((s) => s.length);
