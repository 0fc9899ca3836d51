/**
 * A test projection that detects any duplicated, skipped or foreign effect by itself: per stream
 * it keeps the event count, the last version and the sum of the events' counters, and a batch
 * that does not continue exactly where the row stands makes the statement fail (so a double
 * application cannot go unnoticed, and a skipped one shows in the final comparison).
 */
import type { ProjectionDefinition, RecordedEvent } from "../../../runtime/event-store";
import { counterOf } from "./support";

export const accProjection = (name = "acc"): ProjectionDefinition => ({
  name,
  version: 1,
  tables: [
    {
      name,
      ddl: (t) =>
        `CREATE TABLE "${t}" (stream text COLLATE "C" PRIMARY KEY, n integer NOT NULL, last_version integer NOT NULL, total bigint NOT NULL)`,
    },
  ],
  async apply(ctx, events: readonly RecordedEvent[]) {
    const per = new Map<string, { first: number; last: number; n: number; total: number }>();
    for (const e of events) {
      const counter = counterOf(e.id);
      const p = per.get(e.stream);
      if (!p) per.set(e.stream, { first: e.version, last: e.version, n: 1, total: counter });
      else {
        if (e.version !== p.last + 1)
          throw new Error(`acc: ${e.stream} version ${e.version} after ${p.last} in one batch`);
        p.last = e.version;
        p.n++;
        p.total += counter;
      }
    }
    const rows = [...per.entries()];
    const t = ctx.table(name);
    const r = await ctx.client.query(
      `INSERT INTO ${t} AS a (stream, n, last_version, total)
       SELECT s, n, last, total FROM unnest($1::text[], $2::int[], $3::int[], $4::int[], $5::bigint[]) AS u(s, first, last, n, total)
       WHERE first = 1
       ON CONFLICT (stream) DO NOTHING`,
      [
        rows.map(([s]) => s),
        rows.map(([, p]) => p.first),
        rows.map(([, p]) => p.last),
        rows.map(([, p]) => p.n),
        rows.map(([, p]) => p.total),
      ],
    );
    const u = await ctx.client.query(
      `UPDATE ${t} AS a SET n = a.n + u.n, last_version = u.last, total = a.total + u.total
       FROM unnest($1::text[], $2::int[], $3::int[], $4::int[], $5::bigint[]) AS u(s, first, last, n, total)
       WHERE a.stream = u.s AND u.first > 1 AND a.last_version = u.first - 1`,
      [
        rows.map(([s]) => s),
        rows.map(([, p]) => p.first),
        rows.map(([, p]) => p.last),
        rows.map(([, p]) => p.n),
        rows.map(([, p]) => p.total),
      ],
    );
    const applied = (r.rowCount ?? 0) + (u.rowCount ?? 0);
    if (applied !== rows.length)
      throw new Error(`acc: ${rows.length - applied} stream(s) of the batch do not continue where their row stands`);
  },
  async purge(ctx, streams) {
    await ctx.client.query(`DELETE FROM ${ctx.table(name)} WHERE stream = ANY($1)`, [streams]);
  },
});
