/**
 * Hot-key detection: a count-min sketch of per-key requests (Cormode & Muthukrishnan, 2005) with
 * conservative update and periodic halving (so counts describe the recent past), plus a small
 * heavy-hitter table for reporting the top keys. Pure and deterministic (hashes are MurmurHash3
 * with per-row seeds).
 *
 * Error bound: with width w and depth d, an estimate exceeds the true (decayed) count by more
 * than (e / w) × total with probability at most e^-d; it never underestimates.
 */
import { hashKey } from "../sharding/ring";

/**
 * Rows hash independently: hashKey's output is xored with the row's seed and finalized (MurmurHash3's
 * fmix32, a bijection). Double hashing (h1 + r·h2) was used before; with it two keys equal in the
 * low bits of h1 and of h2 share a counter in every row (probability 1/w² per pair, not 1/w^d), so
 * the error bound above did not hold for depth > 2 (a property test found such a pair).
 */
const ROW_SEEDS = Array.from({ length: 64 }, (_, r) => Math.imul(r + 1, 0x9e3779b9) >>> 0);
const mix = (h: number): number => {
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
};

export interface SketchOptions {
  /** Counters per row (rounded up to a power of two). @default 2048 */
  width?: number;
  /** Rows. @default 4 */
  depth?: number;
  /** Halve every counter after this many increments. @default 10 × width */
  decayEvery?: number;
}

export class CountMinSketch {
  readonly width: number;
  readonly depth: number;
  readonly decayEvery: number;
  private readonly rows: Uint32Array;
  private readonly mask: number;
  private sinceDecay = 0;
  /** Sum of all (decayed) increments. */
  total = 0;

  constructor(o: SketchOptions = {}) {
    const width = o.width ?? 2048;
    const depth = o.depth ?? 4;
    if (!Number.isInteger(width) || width < 16 || width > 1 << 24)
      throw new RangeError(`CountMinSketch: width must be a whole number from 16 to 2^24; got ${width}`);
    if (!Number.isInteger(depth) || depth < 1 || depth > 16)
      throw new RangeError(`CountMinSketch: depth must be a whole number from 1 to 16; got ${depth}`);
    this.width = 2 ** Math.ceil(Math.log2(width));
    this.depth = depth;
    this.mask = this.width - 1;
    this.decayEvery = o.decayEvery ?? this.width * 10;
    this.rows = new Uint32Array(this.width * depth);
  }

  private index(h: number, row: number): number {
    return row * this.width + (mix((h ^ ROW_SEEDS[row]) >>> 0) & this.mask);
  }

  /** Counts one request of `key` (conservative update); returns the new estimate. */
  add(key: string): number {
    const h = hashKey(key);
    let min = Infinity;
    for (let r = 0; r < this.depth; r++) min = Math.min(min, this.rows[this.index(h, r)]);
    const next = min + 1;
    for (let r = 0; r < this.depth; r++) {
      const i = this.index(h, r);
      if (this.rows[i] < next) this.rows[i] = next;
    }
    this.total++;
    if (++this.sinceDecay >= this.decayEvery) this.decay();
    return next;
  }

  /** The estimated (decayed) count of `key`: never below the true count. */
  estimate(key: string): number {
    const h = hashKey(key);
    let min = Infinity;
    for (let r = 0; r < this.depth; r++) min = Math.min(min, this.rows[this.index(h, r)]);
    return min;
  }

  /** Halves every counter (and the total). */
  decay(): void {
    for (let i = 0; i < this.rows.length; i++) this.rows[i] >>>= 1;
    this.total = Math.floor(this.total / 2);
    this.sinceDecay = 0;
  }
}

/** A key's estimated share of recent requests. */
export interface HotKey {
  key: string;
  /** Estimated recent requests. */
  count: number;
  /** count / total recent requests. */
  share: number;
}

/**
 * Detects hot keys: a key is hot when its estimate is at least `minCount` and at least `minShare`
 * of the recent total. Keeps the `topK` best estimates seen for reporting.
 */
export class HotKeyDetector {
  readonly sketch: CountMinSketch;
  private readonly top = new Map<string, number>();

  constructor(
    readonly options: { minShare: number; minCount: number; topK: number } & SketchOptions = {
      minShare: 0.01,
      minCount: 32,
      topK: 10,
    },
  ) {
    if (!(options.minShare > 0 && options.minShare <= 1))
      throw new RangeError(`HotKeyDetector: minShare must be in (0, 1]; got ${options.minShare}`);
    this.sketch = new CountMinSketch(options);
  }

  /** Counts a request; returns whether the key is hot now. */
  record(key: string): boolean {
    const decayedBefore = this.sketch.total;
    const est = this.sketch.add(key);
    if (this.sketch.total < decayedBefore) for (const [k, v] of this.top) this.top.set(k, v >>> 1);
    this.remember(key, est);
    return est >= this.options.minCount && est >= this.options.minShare * this.sketch.total;
  }

  /** Whether `key` is hot (without counting). */
  isHot(key: string): boolean {
    const est = this.sketch.estimate(key);
    return est >= this.options.minCount && est >= this.options.minShare * this.sketch.total;
  }

  private remember(key: string, est: number): void {
    if (this.top.has(key) || this.top.size < this.options.topK) {
      this.top.set(key, est);
      return;
    }
    let minKey: string | undefined;
    let min = Infinity;
    for (const [k, v] of this.top)
      if (v < min) {
        min = v;
        minKey = k;
      }
    if (minKey !== undefined && est > min) {
      this.top.delete(minKey);
      this.top.set(key, est);
    }
  }

  /** The hottest keys seen, by estimate, highest first. */
  hottest(): HotKey[] {
    const total = Math.max(1, this.sketch.total);
    return [...this.top]
      .map(([key]) => ({ key, count: this.sketch.estimate(key) }))
      .sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : 1))
      .map((h) => ({ ...h, share: h.count / total }));
  }
}
