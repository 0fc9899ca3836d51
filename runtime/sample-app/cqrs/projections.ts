/**
 * The sample app's query side: the `sample_accounts` read model (owner, balance, status, version
 * per account, in its own table on each shard beside the account streams) and the accounts'
 * snapshots. `npm run events -- status|replay|rebuild <projection>` works on these.
 */
import { snapshotProjection, type AggregateDefinition } from "../../event-store/snapshots";
import type { ProjectionDefinition, RecordedEvent } from "../../event-store";
import { ACCOUNT_VERSION, evolveAccount, initialAccount, type AccountState } from "./account";

/** Stream ids of accounts: `account-<id>`. */
export const accountStream = (id: string): string => `account-${id}`;

export const accountAggregate: AggregateDefinition<AccountState> = {
  version: ACCOUNT_VERSION,
  initial: initialAccount,
  evolve: (s, e) => evolveAccount(s, e),
};

export const ACCOUNTS_TABLE = "sample_accounts";

/** The accounts read model. */
export const accountsProjection: ProjectionDefinition = {
  name: "sample_accounts",
  version: 1,
  tables: [
    {
      name: ACCOUNTS_TABLE,
      ddl: (t) => `CREATE TABLE "${t}" (
        stream text COLLATE "C" PRIMARY KEY, owner text NOT NULL, balance bigint NOT NULL,
        status text NOT NULL, version integer NOT NULL, updated_at timestamptz NOT NULL)`,
    },
  ],
  async apply(ctx, events: readonly RecordedEvent[]) {
    const t = ctx.table(ACCOUNTS_TABLE);
    const rows = new Map<string, { s: AccountState; version: number; at: Date }>();
    const streams = [...new Set(events.filter((e) => e.stream.startsWith("account-")).map((e) => e.stream))];
    if (streams.length === 0) return;
    const cur = await ctx.client.query<{
      stream: string;
      owner: string;
      balance: string;
      status: string;
      version: number;
    }>(`SELECT stream, owner, balance::text AS balance, status, version FROM ${t} WHERE stream = ANY($1)`, [streams]);
    for (const r of cur.rows)
      rows.set(r.stream, {
        s: { status: r.status as AccountState["status"], owner: r.owner, balance: Number(r.balance) },
        version: r.version,
        at: new Date(0),
      });
    for (const e of events) {
      if (!e.stream.startsWith("account-")) continue;
      const row = rows.get(e.stream) ?? { s: initialAccount(), version: 0, at: e.recordedAt };
      if (e.version <= row.version) continue;
      rows.set(e.stream, { s: evolveAccount(row.s, e), version: e.version, at: e.recordedAt });
    }
    const list = [...rows.entries()].filter(([, r]) => r.s.status !== "none");
    await ctx.client.query(
      `INSERT INTO ${t} AS a (stream, owner, balance, status, version, updated_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::int[], $6::timestamptz[])
       ON CONFLICT (stream) DO UPDATE SET owner = excluded.owner, balance = excluded.balance, status = excluded.status,
         version = excluded.version, updated_at = excluded.updated_at`,
      [
        list.map(([s]) => s),
        list.map(([, r]) => r.s.owner ?? ""),
        list.map(([, r]) => r.s.balance),
        list.map(([, r]) => r.s.status),
        list.map(([, r]) => r.version),
        list.map(([, r]) => r.at.toISOString()),
      ],
    );
  },
  async purge(ctx, streams) {
    await ctx.client.query(`DELETE FROM ${ctx.table(ACCOUNTS_TABLE)} WHERE stream = ANY($1)`, [streams]);
  },
};

/** The accounts' snapshots (every `every` events). */
export const accountSnapshots = (every: number): ProjectionDefinition =>
  snapshotProjection("sample_account_snapshots", accountAggregate, every);

/** Every projection of the sample app (what the CLI and the app run). */
export const sampleProjections = (snapshotEvery = 100): ProjectionDefinition[] => [
  accountsProjection,
  accountSnapshots(snapshotEvery),
];
