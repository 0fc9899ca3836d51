/**
 * The rebalance's range filter (runtime/rebalance/sql.ts) on real PostgreSQL, property-tested: for
 * any set of hash ranges (runs of whole ring partitions, listed as partition numbers; long runs and
 * arbitrary `[start, end)` bounds, in a multirange; both mixed), the rows every statement built on
 * it selects are exactly those whose hash lies in a range, at the edges of ranges and partitions
 * too. With key filters (the range and directory strategies' slices: keys in some ranges, none in
 * others, in code point order), exactly the rows matching both, keys with quotes and backslashes
 * included; and a sweep deletes exactly the rows outside every slice it is given.
 */
import fc from "fast-check";
import { HASH_SPACE, PARTITION_SPAN, type HashRange } from "../../../core/sharding/ring";
import { compareKeys, type KeyRange } from "../../../core/sharding/placement";
import { deleteOutsideSql, rowsSql, sizeSql } from "../../../runtime/rebalance/sql";
import { ENSURE_SCHEMA_SQL, KV_COLUMNS, KV_TABLE } from "../../../runtime/shard-client/sql";
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
        const got = (await pg.query<{ key: string }>(rowsSql(KV_TABLE, { ranges: rs })))
          .map((r) => Number(r.key.slice(1)))
          .sort((a, b) => a - b);
        expect(got).toEqual(inside);
        const [size] = await pg.query<{ rows: string }>(sizeSql(KV_TABLE, { ranges: rs }));
        expect(Number(size.rows)).toBe(inside.length);
      },
    ),
    { numRuns: 60 },
  );
});

/** Keys around the bounds, with characters SQL literals and "C" order must get right. */
const keyArb = fc.oneof(
  fc.constantFrom("a", "a'b", "a\\b", "acme", "acme:", "acme:1", "acme;", "b", "é", "\u{10000}", "\uffff", "z"),
  fc.string({ unit: "grapheme-ascii", maxLength: 4 }).filter((k) => k.length > 0),
);
const keyRangeArb: fc.Arbitrary<KeyRange> = fc
  .tuple(keyArb, fc.option(keyArb, { nil: undefined }))
  .map(([a, b]) => (b === undefined || compareKeys(a, b) >= 0 ? { start: a } : { start: a, end: b }));
const inKeys = (k: string, rs: readonly KeyRange[]) =>
  rs.some((r) => compareKeys(k, r.start) >= 0 && (r.end === undefined || compareKeys(k, r.end) < 0));

it("with key filters, selects exactly the rows whose hash and key match; a sweep deletes exactly the rest", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(keyRangeArb, { minLength: 1, maxLength: 3 }),
      fc.array(keyRangeArb, { maxLength: 2 }),
      fc.uniqueArray(keyArb, { minLength: 1, maxLength: 30 }),
      async (keys, exceptKeys, rowKeys) => {
        await pg.query("TRUNCATE scaleplane_kv");
        await pg.query(
          `INSERT INTO scaleplane_kv (${KV_COLUMNS}) SELECT k, 7, '{}'::jsonb, 1, 0, 't' FROM unnest($1::text[]) AS u(k)`,
          [rowKeys],
        );
        const slice = { ranges: [{ start: 0, end: HASH_SPACE }], keys, exceptKeys };
        const expected = rowKeys.filter((k) => inKeys(k, keys) && !inKeys(k, exceptKeys)).sort(compareKeys);
        const got = (await pg.query<{ key: string }>(rowsSql(KV_TABLE, slice))).map((r) => r.key).sort(compareKeys);
        expect(got).toEqual(expected);
        await pg.query(deleteOutsideSql(KV_TABLE, [slice]));
        const left = (await pg.query<{ key: string }>("SELECT key FROM scaleplane_kv"))
          .map((r) => r.key)
          .sort(compareKeys);
        expect(left).toEqual(expected);
      },
    ),
    { numRuns: 60 },
  );
});
