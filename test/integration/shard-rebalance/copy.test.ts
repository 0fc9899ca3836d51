/**
 * The rebalance's copy of a pair (runtime/rebalance/copy.ts) on two real PostgreSQL instances:
 * rows of keys the target lacks are COPYed straight into its table, rows of keys it holds are
 * merged by version (a newer row on the target is never replaced, an older one is), across many
 * chunks and both target connections, with keys COPY text has to escape; only the ranges asked
 * for move; a second copy changes nothing; and a writer upserting the keys on the target while
 * they are copied always keeps its newer rows. Verification compares counts and checksums per
 * bucket of hashes and checks key by key only the buckets that differ: it finds a row missing or
 * older on the target there, and accepts a newer one.
 */
import { to as copyTo } from "pg-copy-streams";
import { hashKey } from "../../../core/sharding/ring";
import {
  CHUNK_BYTES,
  copyColumns,
  copyRowKey,
  copySlice,
  rangesInBuckets,
  verifySlice,
} from "../../../runtime/rebalance/copy";
import { COPY_LANES, RebalanceConnections } from "../../../runtime/rebalance/shards";
import { heldKeysSql } from "../../../runtime/rebalance/sql";
import { APPLY_IF_NEWER, ENSURE_SCHEMA_SQL, KV_COLUMNS, KV_TABLE } from "../../../runtime/shard-client/sql";
import { startPgCluster, type PgCluster, type PgInstance } from "../../support/pg-cluster";

let cluster: PgCluster;
let source: PgInstance;
let target: PgInstance;
let pools: RebalanceConnections;

/** Keys PostgreSQL's COPY text escapes (and multi-byte ones). */
const ODD_KEYS = [
  "tab\there",
  "new\nline",
  "back\\slash",
  "cr\rkey",
  "bs\bff\fvt\v",
  "ünïcødé-ключ-鍵",
  "q'uo\"te",
  "\\t",
];
const ROWS = 12_000;
const keyOf = (i: number) => (i < ODD_KEYS.length ? ODD_KEYS[i] : `copy-${i}`);

interface Version {
  wall: number;
  value: string;
}

async function put(inst: PgInstance, rows: readonly { key: string; wall: number; value: string }[]): Promise<void> {
  await inst.query(
    `INSERT INTO scaleplane_kv AS t (${KV_COLUMNS})
     SELECT k, h, jsonb_build_object('v', v, 'pad', repeat('x', 48)), w, 0, 'test' FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[]) AS u(k, h, v, w)
     ${APPLY_IF_NEWER}`,
    [rows.map((r) => r.key), rows.map((r) => hashKey(r.key)), rows.map((r) => r.value), rows.map((r) => r.wall)],
  );
}

async function contents(inst: PgInstance): Promise<Map<string, Version>> {
  const rows = await inst.query<{ key: string; wall: string; value: string }>(
    "SELECT key, ver_wall::text AS wall, value->>'v' AS value FROM scaleplane_kv",
  );
  return new Map(rows.map((r) => [r.key, { wall: Number(r.wall), value: r.value }]));
}

beforeAll(async () => {
  cluster = await startPgCluster(2, { namePrefix: "rbcopy" });
  [source, target] = cluster.instances;
  await Promise.all([source.query(ENSURE_SCHEMA_SQL), target.query(ENSURE_SCHEMA_SQL)]);
  pools = new RebalanceConnections({ user: cluster.user, password: cluster.password });
  pools.add(cluster.members());
}, 60_000);

afterAll(async () => {
  await pools?.close();
  await cluster?.cleanup();
});

beforeEach(async () => {
  await Promise.all([source.query("TRUNCATE scaleplane_kv"), target.query("TRUNCATE scaleplane_kv")]);
});

it("reads each row's key, and every column, from COPY text as PostgreSQL wrote it", async () => {
  await put(
    source,
    ODD_KEYS.map((key) => ({ key, wall: 1, value: key })),
  );
  // A tombstone (SQL NULL value), which COPY writes as \N.
  await source.query(`INSERT INTO scaleplane_kv (${KV_COLUMNS}) VALUES ('tomb\\N', 7, NULL, 2, 3, 'node\ttab')`);
  const c = await source.connect();
  try {
    const chunks: Buffer[] = [];
    for await (const b of c.query(copyTo(`COPY (SELECT ${KV_COLUMNS} FROM scaleplane_kv ORDER BY key) TO STDOUT`)))
      chunks.push(b as Buffer);
    const text = Buffer.concat(chunks);
    const keys: string[] = [];
    for (let at = 0; at < text.length; at = text.indexOf(0x0a, at) + 1) keys.push(copyRowKey(text, at));
    const stored = await source.query<Record<string, string | null>>(
      `SELECT key, h::text, value::text, ver_wall::text, ver_logical::text, ver_node FROM scaleplane_kv ORDER BY key`,
    );
    expect(keys).toEqual(stored.map((r) => r.key));
    expect(keys).toEqual([...ODD_KEYS, "tomb\\N"].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    // Column by column, as the merge's upsert takes them: the same values PostgreSQL returns.
    const columns = copyColumns([text], 6);
    expect(columns).toEqual(
      ["key", "h", "value", "ver_wall", "ver_logical", "ver_node"].map((col) => stored.map((r) => r[col])),
    );
    expect(columns[2]).toContain(null);
  } finally {
    await c.end();
  }
});

it("inserts the keys the target lacks and merges the ones it holds by version, in many chunks", async () => {
  await put(
    source,
    Array.from({ length: ROWS }, (_, i) => ({ key: keyOf(i), wall: 10, value: `src-${i}` })),
  );
  // The target holds some keys already: every 7th newer (kept), every 11th older (replaced).
  const held = Array.from({ length: ROWS }, (_, i) => i).filter((i) => i % 7 === 0 || i % 11 === 0);
  await put(
    target,
    held.map((i) => ({ key: keyOf(i), wall: i % 7 === 0 ? 20 : 5, value: `dst-${i}` })),
  );

  const whole = [{ start: 0, end: 2 ** 32 }];
  const first = await copySlice(pools, KV_TABLE, source.name, target.name, { ranges: whole });
  expect(first.rows).toBe(ROWS);
  expect(first.bytes).toBeGreaterThan(4 * CHUNK_BYTES);
  const newer = held.filter((i) => i % 7 === 0).length;
  expect(first.applied).toBe(ROWS - newer);

  const got = await contents(target);
  expect(got.size).toBe(ROWS);
  for (let i = 0; i < ROWS; i++)
    expect([keyOf(i), got.get(keyOf(i))]).toEqual([
      keyOf(i),
      i % 7 === 0 ? { wall: 20, value: `dst-${i}` } : { wall: 10, value: `src-${i}` },
    ]);

  // Copying again (a rerun after a crash) applies nothing: every key is held now, at the same or a
  // newer version. The first chunk's unique violation makes the copy learn every key the target
  // holds in the ranges at once, so later chunks are merged straight away instead of each failing
  // first (counted: the unique violations, each followed by a lookup of the chunk's held keys; only
  // the chunks already being written on the other lanes fail too, while there are more than 4).
  const conflicts = await countingConflicts(target.name, () =>
    copySlice(pools, KV_TABLE, source.name, target.name, { ranges: whole }),
  );
  expect(conflicts.result).toMatchObject({ rows: ROWS, applied: 0 });
  expect(conflicts.count).toBeGreaterThanOrEqual(1);
  expect(conflicts.count).toBeLessThanOrEqual(COPY_LANES);
  expect(await contents(target)).toEqual(got);
});

/** Runs `fn` counting the chunks' unique violations on `shard` (the held-key lookups that follow each). */
async function countingConflicts<T>(shard: string, fn: () => Promise<T>): Promise<{ result: T; count: number }> {
  let count = 0;
  const client = pools.client.bind(pools);
  const restore: (() => void)[] = [];
  const spy = jest.spyOn(pools, "client").mockImplementation(async (name: string) => {
    const c = await client(name);
    if (name === shard) {
      const query = c.query;
      c.query = ((...args: unknown[]) => {
        if (args[0] === heldKeysSql(KV_TABLE)) count++;
        return (query as (...a: unknown[]) => unknown).apply(c, args);
      }) as typeof c.query;
      restore.push(() => (c.query = query));
    }
    return c;
  });
  try {
    return { result: await fn(), count };
  } finally {
    spy.mockRestore();
    for (const r of restore) r();
  }
}

it("moves only the rows of the ranges asked for", async () => {
  await put(
    source,
    Array.from({ length: 2000 }, (_, i) => ({ key: keyOf(i), wall: 1, value: `v${i}` })),
  );
  const ranges = [
    { start: 0, end: 2 ** 30 },
    { start: 2 ** 31, end: 2 ** 31 + 2 ** 29 },
  ];
  const inRanges = (h: number) => ranges.some((r) => h >= r.start && h < r.end);
  const expected = Array.from({ length: 2000 }, (_, i) => keyOf(i)).filter((k) => inRanges(hashKey(k)));
  const r = await copySlice(pools, KV_TABLE, source.name, target.name, { ranges: ranges });
  expect(r).toMatchObject({ rows: expected.length, applied: expected.length });
  expect([...(await contents(target)).keys()].sort()).toEqual(expected.sort());
});

it("never replaces a row a writer upserts on the target while it is copied", async () => {
  await put(
    source,
    Array.from({ length: ROWS }, (_, i) => ({ key: keyOf(i), wall: 10, value: `src-${i}` })),
  );
  // The writer upserts (newer) every 3rd key on the target, one key per statement, in reverse
  // order, while the copy runs: some before the copy reaches them (the copy must merge them),
  // some after (the writer's upsert must win over the copied row).
  const written = Array.from({ length: ROWS }, (_, i) => i).filter((i) => i % 3 === 0);
  const writer = await target.connect();
  const acknowledged = new Set<string>();
  let stop = false;
  const writing = (async () => {
    for (let j = written.length - 1; j >= 0 && !stop; j--) {
      const i = written[j];
      await writer.query(
        `INSERT INTO scaleplane_kv AS t (${KV_COLUMNS}) VALUES ($1, $2, '{"v": "w"}', 30, 0, 'writer') ${APPLY_IF_NEWER}`,
        [keyOf(i), hashKey(keyOf(i))],
      );
      acknowledged.add(keyOf(i));
    }
  })();
  try {
    const r = await copySlice(pools, KV_TABLE, source.name, target.name, { ranges: [{ start: 0, end: 2 ** 32 }] });
    expect(r.rows).toBe(ROWS);
  } finally {
    stop = true;
    await writing;
    await writer.end();
  }
  const got = await contents(target);
  expect(got.size).toBe(ROWS);
  const wrong: string[] = [];
  for (let i = 0; i < ROWS; i++) {
    const v = got.get(keyOf(i));
    if (v?.wall === 30) continue; // the writer's row: newer than the copy's
    if (v?.wall !== 10 || v.value !== `src-${i}`) wrong.push(`${keyOf(i)}: ${JSON.stringify(v)}`);
  }
  expect(wrong).toEqual([]);
  // Every write the writer got acknowledged is still there, whenever the copy reached its key.
  expect(acknowledged.size).toBeGreaterThan(0);
  expect([...acknowledged].filter((k) => got.get(k)?.wall !== 30 || got.get(k)?.value !== "w")).toEqual([]);
});

it("a target that fails mid-copy is reported by name and leaves the pools usable", async () => {
  await put(
    source,
    Array.from({ length: 3000 }, (_, i) => ({ key: keyOf(i), wall: 1, value: `v${i}` })),
  );
  await target.query("ALTER TABLE scaleplane_kv ADD CONSTRAINT rbcopy_no_copy CHECK (ver_node <> 'test')");
  try {
    await expect(
      copySlice(pools, KV_TABLE, source.name, target.name, { ranges: [{ start: 0, end: 2 ** 32 }] }),
    ).rejects.toThrow(new RegExp(`^shard ${target.name} \\(127\\.0\\.0\\.1:${target.port}\\): .*rbcopy_no_copy`));
  } finally {
    await target.query("ALTER TABLE scaleplane_kv DROP CONSTRAINT rbcopy_no_copy");
  }
  const r = await copySlice(pools, KV_TABLE, source.name, target.name, { ranges: [{ start: 0, end: 2 ** 32 }] });
  expect(r).toMatchObject({ rows: 3000, applied: 3000 });
});

it("cuts ranges to the verification buckets that differ", () => {
  const b = 2 ** 20;
  expect(
    rangesInBuckets(
      [
        { start: 5 * b, end: 5 * b + 10 },
        { start: 0, end: 3 * b + 5 },
      ],
      [7, 5, 1, 3],
    ),
  ).toEqual([
    { start: b, end: 2 * b },
    { start: 3 * b, end: 3 * b + 5 },
    { start: 5 * b, end: 5 * b + 10 },
  ]);
  expect(rangesInBuckets([{ start: 0, end: 2 ** 32 }], [4095])).toEqual([{ start: 4095 * b, end: 2 ** 32 }]);
});

it("verification finds a row missing or older on the target and accepts a newer one", async () => {
  await put(
    source,
    Array.from({ length: 3000 }, (_, i) => ({ key: keyOf(i), wall: 10, value: `v${i}` })),
  );
  const whole = [{ start: 0, end: 2 ** 32 }];
  await copySlice(pools, KV_TABLE, source.name, target.name, { ranges: whole });
  expect(await verifySlice(pools, KV_TABLE, source.name, target.name, { ranges: whole })).toMatchObject({
    clean: true,
    checksumsMatch: true,
    source: { rows: 3000 },
    target: { rows: 3000 },
  });

  // A newer row on the target (a dual-write after the copy): the bucket differs, the key-level pass accepts it.
  await target.query("UPDATE scaleplane_kv SET ver_wall = 99 WHERE key = $1", [keyOf(100)]);
  expect(await verifySlice(pools, KV_TABLE, source.name, target.name, { ranges: whole })).toMatchObject({
    clean: true,
    checksumsMatch: false,
    missing: 0,
    older: 0,
  });

  // One row missing and one older on the target: found, and named.
  await target.query("DELETE FROM scaleplane_kv WHERE key = $1", [keyOf(200)]);
  await target.query("UPDATE scaleplane_kv SET ver_wall = 1 WHERE key = $1", [keyOf(300)]);
  const v = await verifySlice(pools, KV_TABLE, source.name, target.name, { ranges: whole });
  expect(v).toMatchObject({ clean: false, checksumsMatch: false, missing: 1, older: 1, target: { rows: 2999 } });
  expect(v.sample.sort()).toEqual([keyOf(200), keyOf(300)].sort());
});

it("verification covers the value: an equal version with a lower value on the target is found; the copy converges it", async () => {
  const rows = Array.from({ length: 500 }, (_, i) => ({ key: keyOf(i), wall: 10, value: `v${i}` }));
  await put(source, rows);
  await put(target, rows);
  const whole = [{ start: 0, end: 2 ** 32 }];
  expect(await verifySlice(pools, KV_TABLE, source.name, target.name, { ranges: whole })).toMatchObject({
    clean: true,
    checksumsMatch: true,
  });
  // Same key and version, another value (two writers that shared an id): the source's sorts higher.
  await source.query(`UPDATE scaleplane_kv SET value = '{"v": "zz"}' WHERE key = $1`, [keyOf(7)]);
  const v = await verifySlice(pools, KV_TABLE, source.name, target.name, { ranges: whole });
  expect(v).toMatchObject({ clean: false, checksumsMatch: false, missing: 0, older: 1, sample: [keyOf(7)] });
  // The merge breaks the tie by value: the target takes the higher one, and they verify equal.
  await copySlice(pools, KV_TABLE, source.name, target.name, { ranges: whole });
  expect(await verifySlice(pools, KV_TABLE, source.name, target.name, { ranges: whole })).toMatchObject({
    clean: true,
    checksumsMatch: true,
  });
  expect((await contents(target)).get(keyOf(7))?.value).toBe("zz");
});
