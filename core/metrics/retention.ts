/**
 * Time layout of the metrics store: 2-hour blocks (the unit a series' samples are sealed into one
 * compressed chunk and rolled up), the time partitions of each table, and which partitions a
 * maintenance pass creates ahead and drops by retention. Pure.
 *
 * Every sealed row is keyed by its block's end `e` (the block covers `(e - 2h, e]`, like the
 * rollup buckets). Tables are partitioned by range of `block_end` (PostgreSQL declarative
 * partitioning): raw chunks by day, 1-minute rollups by week, 1-hour rollups by 28 days.
 * Retention drops a whole partition once its newest possible block is older than the
 * resolution's retention: no DELETE, no bloat, no vacuum debt.
 */

/** Block length: samples of one series in one block are sealed into one chunk. */
export const BLOCK_MS = 2 * 3_600_000;
export const DAY_MS = 86_400_000;

/** The tables that are partitioned by time, with their partition width. */
export const PARTITIONED_TABLES = {
  metrics_chunks: { widthMs: DAY_MS, resolution: "raw" },
  metrics_rollup_1m: { widthMs: 7 * DAY_MS, resolution: "1m" },
  metrics_rollup_1h: { widthMs: 28 * DAY_MS, resolution: "1h" },
} as const;
export type PartitionedTable = keyof typeof PARTITIONED_TABLES;

/** Retention per resolution, in days. */
export interface Retention {
  rawDays: number;
  oneMinuteDays: number;
  oneHourDays: number;
}

/** One partition: rows with `from ≤ block_end < to`. */
export interface Partition {
  table: PartitionedTable;
  name: string;
  from: number;
  to: number;
}

/** The end of the block holding timestamp t: `ceil(t / 2h) × 2h`. */
export const blockEndOf = (t: number): number => Math.ceil(t / BLOCK_MS) * BLOCK_MS;

const pad = (n: number) => String(n).padStart(2, "0");

/** The partition of `table` holding block end `e`; its name carries its start date (UTC). */
export function partitionFor(table: PartitionedTable, e: number): Partition {
  const w = PARTITIONED_TABLES[table].widthMs;
  const from = Math.floor(e / w) * w;
  const d = new Date(from);
  const stamp = `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}`;
  return { table, name: `${table}_p${from < 0 ? "m" : ""}${stamp}`, from, to: from + w };
}

const retentionDays = (table: PartitionedTable, r: Retention): number => {
  switch (PARTITIONED_TABLES[table].resolution) {
    case "raw":
      return r.rawDays;
    case "1m":
      return r.oneMinuteDays;
    case "1h":
      return r.oneHourDays;
  }
};

/** The oldest block end a table keeps at `now`. */
export const retentionCutoff = (table: PartitionedTable, now: number, r: Retention): number =>
  now - retentionDays(table, r) * DAY_MS;

/**
 * What a maintenance pass does at `now`: create the partitions of every table from the current
 * one to `aheadMs` ahead (and those `needed` by blocks about to be sealed, if not expired), and
 * drop the existing ones entirely older than the table's retention.
 */
export function planPartitions(
  now: number,
  existing: readonly Pick<Partition, "table" | "name" | "to">[],
  r: Retention,
  options: { aheadMs?: number; neededBlockEnds?: readonly number[] } = {},
): { create: Partition[]; drop: Pick<Partition, "table" | "name">[] } {
  const ahead = options.aheadMs ?? 2 * DAY_MS;
  const have = new Set(existing.map((p) => p.name));
  const create = new Map<string, Partition>();
  for (const table of Object.keys(PARTITIONED_TABLES) as PartitionedTable[]) {
    const w = PARTITIONED_TABLES[table].widthMs;
    const cutoff = retentionCutoff(table, now, r);
    const wanted = (e: number) => {
      const p = partitionFor(table, e);
      if (p.to > cutoff && !have.has(p.name)) create.set(p.name, p);
    };
    for (let e = now; e <= now + ahead + w; e += w) wanted(e);
    for (const e of options.neededBlockEnds ?? []) wanted(e);
  }
  const drop = existing
    .filter((p) => p.to <= retentionCutoff(p.table, now, r))
    .map((p) => ({ table: p.table, name: p.name }));
  return { create: [...create.values()].sort((a, b) => a.from - b.from), drop };
}
