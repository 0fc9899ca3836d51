/**
 * The rebalance's range filter (runtime/rebalance/sql.ts) on real PostgreSQL, property-tested: for
 * any set of hash ranges (runs of whole ring partitions, listed as partition numbers; long runs and
 * arbitrary `[start, end)` bounds, in a multirange; both mixed), the rows every statement built on
 * it selects are exactly those whose hash lies in a range, at the edges of ranges and partitions
 * too.
 */
import fc from "fast-check";
import { HASH_SPACE, PARTITION_SPAN, type HashRange } from "../../../core/sharding/ring";
import { keyVersionsSql, sizeSql } from "../../../runtime/rebalance/sql";
import { ENSURE_SCHEMA_SQL, KV_COLUMNS } from "../../../runtime/shard-client/sql";
import { startPgCluster, type PgCluster, type PgInstance } from "../../support/pg-cluster";

const PARTITIONS = HASH_SPACE / PARTITION_SPAN;

let cluster: PgCluster;
let pg: PgInstance;

beforeAll(async () => {
  cluster = await startPgCluster(1, { namePrefix: "rbsql" });
  [pg] = cluster.instances;
  await pg.query(ENSURE_SCHEMA_SQL);
}, 60_000);

afterAll(async () => {
  await cluster?.cleanup();
});

/** A run of whole partitions (short: listed; long: multirange). */
const run = fc
  .tuple(fc.integer({ min: 0, max: PARTITIONS - 1 }), fc.integer({ min: 1, max: 200 }))
  .map(([p, n]) => ({ start: p * PARTITION_SPAN, end: Math.min(PARTITIONS, p + n) * PARTITION_SPAN }));
/** Any range, mostly not partition-aligned. */
const any = fc
  .tuple(fc.integer({ min: 0, max: HASH_SPACE - 1 }), fc.integer({ min: 1, max: 64 * PARTITION_SPAN }))
  .map(([start, len]) => ({ start, end: Math.min(HASH_SPACE, start + len) }));
const ranges = fc.array(fc.oneof(run, run, any), { minLength: 1, maxLength: 12 });

/** Hashes at and around every edge of the ranges and of their partitions, plus random ones. */
function probes(rs: readonly HashRange[], extra: readonly number[]): number[] {
  const hs = new Set<number>(extra);
  for (const r of rs)
    for (const edge of [
      r.start,
      r.end,
      Math.ceil(r.start / PARTITION_SPAN) * PARTITION_SPAN,
      Math.floor(r.end / PARTITION_SPAN) * PARTITION_SPAN,
    ])
      for (const h of [edge - 1, edge, edge + 1]) if (h >= 0 && h < HASH_SPACE) hs.add(h);
  return [...hs];
}

it("selects exactly the rows whose hash lies in one of the ranges", async () => {
  await fc.assert(
    fc.asyncProperty(
      ranges,
      fc.array(fc.integer({ min: 0, max: HASH_SPACE - 1 }), { maxLength: 40 }),
      async (rs, extra) => {
        const hs = probes(rs, extra);
        await pg.query("TRUNCATE scaleplane_kv");
        await pg.query(
          `INSERT INTO scaleplane_kv (${KV_COLUMNS}) SELECT 'h' || h, h, '{}'::jsonb, 1, 0, 't' FROM unnest($1::bigint[]) AS u(h)`,
          [hs],
        );
        const inside = hs.filter((h) => rs.some((r) => h >= r.start && h < r.end)).sort((a, b) => a - b);
        const got = (await pg.query<{ key: string }>(keyVersionsSql(rs)))
          .map((r) => Number(r.key.slice(1)))
          .sort((a, b) => a - b);
        expect(got).toEqual(inside);
        const [size] = await pg.query<{ rows: string }>(sizeSql(rs));
        expect(Number(size.rows)).toBe(inside.length);
      },
    ),
    { numRuns: 60 },
  );
});
