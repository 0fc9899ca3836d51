/**
 * What the rebalancer needs to know about a table it moves between shards (the contract for every
 * table kept on the shards: today the router's key-value rows; tomorrow a metrics store's series
 * or an event store's streams). Pure data: runtime/rebalance/sql.ts builds every statement of the
 * copy, the verification and the cleanup from a descriptor, so a table is added by describing it,
 * not by changing the engine (docs/design/sharding.md, "Tables the rebalancer moves").
 *
 * The rules a described table must follow:
 * - Every row has a placement key (text, `keyColumn`) and its ring hash (bigint, `hashColumn` =
 *   core/sharding/ring.ts hashKey of the key): the hash strategy places rows by the hash, the range
 *   and directory strategies by the key. All rows of one key live on the same replicas.
 * - Rows are written idempotently and commute: a copied row, a rewritten one and a router's write
 *   of the same primary key converge whatever their order, by `merge`: `newer` (the row replaces
 *   the held one only when strictly greater in `order`: last writer wins) or `keep` (rows never
 *   change once written, e.g. the samples of a time series; a held row is kept).
 * - Deletes are rows too (tombstones), so a copy never resurrects what a router deleted.
 * - The table exists on a shard before the rebalancer copies into it: `schemaSql` creates it
 *   idempotently. The rebalancer adds its fence trigger (runtime/shard-client/sql.ts) to it.
 */

/** A column of a described table. */
export interface ShardTableColumn {
  /** SQL identifier. */
  readonly name: string;
  /** SQL type, as the copy's parameters are cast (`text`, `bigint`, `integer`, `jsonb`, ...). */
  readonly type: string;
}

/** A table the rebalancer moves. */
export interface ShardTable {
  /** Table name on every shard (an SQL identifier). */
  readonly name: string;
  /** Every column, in the order COPY writes and reads them. */
  readonly columns: readonly ShardTableColumn[];
  /** The text column holding each row's placement key. */
  readonly keyColumn: string;
  /** The bigint column holding the ring hash of the placement key. */
  readonly hashColumn: string;
  /** The primary key (the merge's conflict target, the verification's join), `keyColumn` first. */
  readonly primaryKey: readonly string[];
  /**
   * How a copied row meets a held row of the same primary key: `newer` replaces it only when
   * strictly greater in `order` (SQL expressions over the row, `$` standing for its alias; compared
   * as a row value), `keep` keeps the held one.
   */
  readonly merge: { readonly kind: "newer"; readonly order: readonly string[] } | { readonly kind: "keep" };
  /** Idempotent DDL creating the table on a shard that lacks it ("" when the shard schema does). */
  readonly schemaSql: string;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** A descriptor that breaks the rules above; `argument` names the field. */
export class ShardTableError extends Error {
  constructor(
    readonly argument: string,
    message: string,
  ) {
    super(`${argument} ${message}`);
    this.name = "ShardTableError";
  }
}

/**
 * Checks a descriptor (identifiers, the key and hash columns and the primary key among the
 * columns, the key first in the primary key, an order for `newer`).
 * @throws ShardTableError naming the field
 */
export function checkShardTable(t: ShardTable): ShardTable {
  if (!IDENTIFIER.test(t.name))
    throw new ShardTableError("name", `must be an SQL identifier; got ${JSON.stringify(t.name)}`);
  const names = t.columns.map((c) => c.name);
  t.columns.forEach((c, i) => {
    if (!IDENTIFIER.test(c.name))
      throw new ShardTableError(`columns[${i}].name`, `must be an SQL identifier; got ${JSON.stringify(c.name)}`);
    if (!/^[a-z][a-z0-9_ ]*(\[\])?$/.test(c.type))
      throw new ShardTableError(`columns[${i}].type`, `must be an SQL type name; got ${JSON.stringify(c.type)}`);
  });
  if (new Set(names).size !== names.length) throw new ShardTableError("columns", "must not repeat a column");
  const typeOf = (n: string) => t.columns.find((c) => c.name === n)?.type;
  if (typeOf(t.keyColumn) !== "text")
    throw new ShardTableError("keyColumn", `must name a text column; got ${JSON.stringify(t.keyColumn)}`);
  if (typeOf(t.hashColumn) !== "bigint")
    throw new ShardTableError("hashColumn", `must name a bigint column; got ${JSON.stringify(t.hashColumn)}`);
  if (t.primaryKey[0] !== t.keyColumn || t.primaryKey.some((c) => !names.includes(c)))
    throw new ShardTableError(
      "primaryKey",
      `must be columns of the table, keyColumn (${t.keyColumn}) first; got ${JSON.stringify(t.primaryKey)}`,
    );
  if (t.merge.kind === "newer" && t.merge.order.length === 0)
    throw new ShardTableError("merge.order", "must list at least one expression");
  return t;
}
