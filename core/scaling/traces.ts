/**
 * The seeded generator of the three synthetic traces shipped in traces/ (`npm run traces`). Pure and
 * deterministic: the same seed gives byte-identical files. One row per minute (so with the
 * simulator's default one row = 60 s, simulated time is the trace's own time), demand in requests/s.
 *
 *  - diurnal-noise: 7 days from Monday 2026-01-05. A day curve (night trough at 04:00 of 15 % of the
 *    peak, peak around 14:00, a lunchtime bump), times correlated noise (AR(1), φ = 0.95, σ 4 %) and
 *    per-minute noise (σ 3 %).
 *  - flash-crowd: 5 days, a lower day curve plus a daily scheduled surge at 09:00 (a newsletter or a
 *    sale opening: 3 minutes up to 2–3.5× the base, then half-life 20 minutes), and one unannounced
 *    surge of 3.5× on day 4 at 15:40.
 *  - weekly: 21 days; weekdays follow the day curve, Friday at 85 %, weekends at 40 % with a later,
 *    flatter peak; 1 %/day growth; same noise.
 * Noise is multiplicative and demand never goes below zero. PRNG: mulberry32 with Box-Muller normals.
 */
import type { TracePoint } from "./simulate";

/** mulberry32: a small, well-known 32-bit PRNG, good enough for synthetic noise. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normal(rand: () => number): () => number {
  return () => {
    const u = Math.max(rand(), 1e-12);
    const v = rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

/** 0..1 shape of a working day by hour of day (0..24). */
export function dayCurve(hour: number): number {
  const main = (1 - Math.cos((2 * Math.PI * (hour - 4)) / 24)) / 2; // trough 04:00, peak 16:00
  const lunch = 0.25 * Math.exp(-(((hour - 12.5) / 1.2) ** 2));
  const evening = 0.15 * Math.exp(-(((hour - 20) / 1.5) ** 2));
  return Math.min(1, 0.15 + 0.7 * main + lunch + evening);
}

const START = Date.UTC(2026, 0, 5); // a Monday
const MINUTE = 60_000;

function noisy(seed: number, minutes: number, mean: (minute: number, rand: () => number) => number): TracePoint[] {
  const rand = mulberry32(seed);
  const gauss = normal(rand);
  let ar = 0;
  const out: TracePoint[] = [];
  for (let m = 0; m < minutes; m++) {
    ar = 0.95 * ar + Math.sqrt(1 - 0.95 ** 2) * 0.04 * gauss();
    const factor = Math.exp(ar + 0.03 * gauss());
    out.push({ t: START + m * MINUTE, demand: Math.max(0, Math.round(mean(m, rand) * factor * 10) / 10) });
  }
  return out;
}

export function diurnalNoise(seed: number): TracePoint[] {
  return noisy(seed, 7 * 1440, (m) => 1000 * dayCurve((m % 1440) / 60));
}

export function flashCrowd(seed: number): TracePoint[] {
  const magnitudes = Array.from({ length: 5 }, (_, d) => 2 + ((seed * 7919 + d * 104729) % 1000) / 666); // 2..3.5, deterministic per seed
  const surge = (minutesSince: number, peak: number) =>
    minutesSince < 0
      ? 0
      : minutesSince < 3
        ? (peak - 1) * (minutesSince / 3)
        : (peak - 1) * 0.5 ** ((minutesSince - 3) / 20);
  return noisy(seed, 5 * 1440, (m) => {
    const day = Math.floor(m / 1440);
    const minuteOfDay = m % 1440;
    const base = 400 * (0.3 + 0.7 * dayCurve(minuteOfDay / 60));
    const scheduled = surge(minuteOfDay - 9 * 60, magnitudes[day]);
    const unannounced = day === 3 ? surge(minuteOfDay - (15 * 60 + 40), 3.5) : 0;
    return base * (1 + scheduled + unannounced);
  });
}

export function weekly(seed: number): TracePoint[] {
  return noisy(seed, 21 * 1440, (m) => {
    const day = Math.floor(m / 1440);
    const weekday = day % 7; // 0 = Monday
    const hour = (m % 1440) / 60;
    const growth = 1 + 0.01 * day;
    if (weekday >= 5) return 1000 * growth * 0.4 * dayCurve(Math.max(0, hour - 2));
    return 1000 * growth * (weekday === 4 ? 0.85 : 1) * dayCurve(hour);
  });
}

/** The shipped traces: file name (under traces/) → generator. */
export const SYNTHETIC_TRACES: Record<string, (seed: number) => TracePoint[]> = {
  "diurnal-noise.csv": diurnalNoise,
  "flash-crowd.csv": flashCrowd,
  "weekly.csv": weekly,
};

/** The default seed of `npm run traces`. */
export const DEFAULT_TRACE_SEED = 20260105;

/** `timestamp,demand` CSV with ISO timestamps (UTC). */
export function traceCsv(points: readonly TracePoint[]): string {
  return `timestamp,demand\n${points.map((p) => `${new Date(p.t).toISOString().replace(".000Z", "Z")},${p.demand}`).join("\n")}\n`;
}
