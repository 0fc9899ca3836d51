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
 *
 * Gaps are gaps: a bucket in which nothing was observed (a controller down, a scrape that failed)
 * changes nothing in the model; it only advances the bucket index, so the seasonal phase stays
 * right after an outage of any length. Nothing is ever filled in with the last value.
 *
 * The predictive engine uses the model for the shape of the load (the change it predicts from this
 * bucket to the next ones), the measurement for its level. So its measure of confidence is how well
 * the model predicts the change from one bucket to the next against persistence (no change):
 * `skill` = 1 − E|actual change − predicted change| / E|actual change|, both running means over
 * contiguous buckets only (a gap breaks the pair).
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
  /** Running mean absolute change from one bucket to the next (persistence's error). */
  naiveMae?: number;
  /** Running mean absolute error of the change the seasons predicted from one bucket to the next. */
  changeMae?: number;
  /** The last closed bucket's value and index. */
  last?: number;
  lastN?: number;
  seasons: SeasonState[];
  /** Closed bucket values (null: a gap), oldest first, until every season has joined (then empty). */
  history: (number | null)[];
}

/** Smoothing of the error estimate. */
const ERROR_SMOOTHING = 0.1;
/** Smoothing of the skill's error means (slower: a skill judged over hours, not minutes). */
const SKILL_SMOOTHING = 0.02;
const smooth = (mean: number | undefined, x: number, k: number) => (mean === undefined ? x : mean + k * (x - mean));

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
  let naiveMae = state.naiveMae;
  let changeMae = state.changeMae;
  if (state.last !== undefined && state.lastN === idx - 1) {
    const actual = y - state.last;
    naiveMae = smooth(naiveMae, Math.abs(actual), SKILL_SMOOTHING);
    const predicted = seasonal(seasons, idx) - seasonal(seasons, idx - 1);
    changeMae = smooth(changeMae, Math.abs(actual - predicted), SKILL_SMOOTHING);
  }
  if (level === undefined) level = y;
  else {
    const predicted = level + seasonal(seasons, idx);
    const err = Math.abs(y - predicted);
    mae = smooth(mae, err, ERROR_SMOOTHING);
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
      const seen = window.filter((v): v is number => v !== null);
      // A period that is mostly gaps teaches nothing yet: wait for a fuller one.
      if (seen.length < s.length / 2) return s;
      const mean = seen.reduce((a, b) => a + b, 0) / seen.length;
      level = mean; // the level restarts deseasonalized: the period's mean
      const values = new Array<number>(s.length).fill(0);
      window.forEach((v, k) => {
        const bucket = n - s.length + k;
        if (v !== null) values[bucket % s.length] = v - mean - seasonal(seasons, bucket, i);
      });
      return { ...s, values };
    });
    const longest = Math.max(...seasons.map((s) => s.length));
    if (seasons.every((s) => s.values !== null)) history = [];
    else if (history.length > longest) history = history.slice(history.length - longest);
  }
  return { ...state, n, level, mae, naiveMae, changeMae, last: y, lastN: idx, seasons, history };
}

/** `count` buckets in which nothing was observed: only the bucket index moves (and the history ring notes the gaps). */
export function skipBuckets(state: ForecastState, count: number): ForecastState {
  if (count <= 0) return state;
  const waiting = state.seasons.some((s) => s.values === null);
  if (!waiting) return { ...state, n: state.n + count };
  const longest = Math.max(...state.seasons.map((s) => s.length));
  const gaps = Math.min(count, longest);
  const history = [...state.history, ...new Array<null>(gaps).fill(null)];
  return { ...state, n: state.n + count, history: history.slice(Math.max(0, history.length - longest)) };
}

/**
 * Adds one observation at `tMs`. Time passing closes the open bucket (at the mean of what it saw)
 * and skips the buckets nothing was observed in as gaps. A sample from before the open bucket is
 * folded into it (clocks may jitter).
 */
export function observe(state: ForecastState, tMs: number, value: number): ForecastState {
  let s = state;
  if (s.bucketStartMs === undefined) s = { ...s, bucketStartMs: Math.floor(tMs / s.sampleMs) * s.sampleMs };
  const ahead = Math.floor((tMs - s.bucketStartMs!) / s.sampleMs);
  if (ahead >= 1) {
    s = s.bucketCount > 0 ? updateBucket(s, s.bucketSum / s.bucketCount) : skipBuckets(s, 1);
    s = skipBuckets(s, ahead - 1);
    s = { ...s, bucketStartMs: s.bucketStartMs! + ahead * s.sampleMs, bucketSum: 0, bucketCount: 0 };
  }
  return { ...s, bucketSum: s.bucketSum + value, bucketCount: s.bucketCount + 1 };
}

/**
 * How much better than persistence the model predicts the change to the next bucket:
 * 1 − E|actual − predicted change| / E|actual change| (≤ 1; 0 while no season is active;
 * undefined before two contiguous buckets closed).
 */
export function forecastSkill(state: ForecastState): number | undefined {
  if (state.changeMae === undefined || state.naiveMae === undefined) return undefined;
  if (state.naiveMae <= 0) return state.changeMae <= 0 ? 0 : -Infinity;
  return 1 - state.changeMae / state.naiveMae;
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
