import fc from "fast-check";
import {
  BLOCK_MS,
  DAY_MS,
  blockEndOf,
  partitionFor,
  planPartitions,
  PARTITIONED_TABLES,
} from "../../../core/metrics/retention";

const R = { rawDays: 15, oneMinuteDays: 90, oneHourDays: 730 };

describe("retention and partition planning", () => {
  it("creates partitions ahead and never drops one holding a block inside retention", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 100 * DAY_MS, max: 20_000 * DAY_MS }),
        fc.array(fc.integer({ min: 0, max: 3000 }), { maxLength: 40 }),
        (now, ages) => {
          const existing = ages.flatMap((d) =>
            (Object.keys(PARTITIONED_TABLES) as (keyof typeof PARTITIONED_TABLES)[]).map((t) =>
              partitionFor(t, now - d * DAY_MS),
            ),
          );
          const plan = planPartitions(now, existing, R);
          for (const p of plan.drop) {
            const part = existing.find((e) => e.name === p.name)!;
            const days =
              p.table === "metrics_chunks"
                ? R.rawDays
                : p.table === "metrics_rollup_1m"
                  ? R.oneMinuteDays
                  : R.oneHourDays;
            // every block end the partition can hold is older than the cutoff
            expect(part.to).toBeLessThanOrEqual(now - days * DAY_MS);
          }
          // the current block of every table has a partition, existing or planned
          for (const t of Object.keys(PARTITIONED_TABLES) as (keyof typeof PARTITIONED_TABLES)[]) {
            const cur = partitionFor(t, blockEndOf(now));
            expect(existing.some((e) => e.name === cur.name) || plan.create.some((c) => c.name === cur.name)).toBe(
              true,
            );
          }
        },
      ),
    );
  });

  it("names partitions by their first day and aligns blocks to 2 h", () => {
    const p = partitionFor("metrics_chunks", Date.UTC(2026, 11, 7, 13));
    expect(p.name).toBe("metrics_chunks_p20261207");
    expect(p.to - p.from).toBe(DAY_MS);
    expect(blockEndOf(Date.UTC(2026, 11, 7, 13, 5))).toBe(Date.UTC(2026, 11, 7, 14));
    expect(blockEndOf(Date.UTC(2026, 11, 7, 14))).toBe(Date.UTC(2026, 11, 7, 14));
    expect(BLOCK_MS).toBe(7_200_000);
  });
});
