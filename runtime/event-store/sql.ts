/**
 * The SQL of the event store on every shard (docs/design/events.md is the contract): its tables
 * beside the key-value ones, the append function, and the gap-free release query. One module, so
 * the store, the projectors, the CLI, the bench and a future mover share it.
 *
 * Tables (created idempotently under an advisory lock, like runtime/shard-client/sql.ts):
 * - `scaleplane_event_streams`: one row per stream: its ring hash `h` (a mover selects streams
 *   by hash range), version, the last stamp, the last writer transaction, the wrapped data key
 *   and its fingerprint (crypto-shredding deletes the key), `deleted_at`.
 * - `scaleplane_events`: append-only; primary key `(tx, seq)` (the log order, see
 *   core/events/position.ts), unique `(stream, version)` and unique `id` (idempotency).
 *   `data` is AES-256-GCM ciphertext of the payload and user metadata under the stream's key.
 * - `scaleplane_events_meta`: the shard's event fence (`min_epoch`, the event placement epoch).
 * - `scaleplane_event_checkpoints`: projection / subscription / group checkpoints, with the
 *   fencing token of their runner and the live generation of a projection.
 * - `scaleplane_event_rebuilds`: a projection rebuild in progress (its shadow generation and
 *   checkpoint), so a rebuild resumes after a crash.
 * - `scaleplane_event_group_queue` / `_parked`: persistent subscription groups.
 */

/** Advisory lock (first key) of per-stream append locks: `(EVENTS_LOCK_CLASS, ring hash as int4)`. */
export const EVENTS_LOCK_CLASS = 0x5ca1e02;
/** Advisory lock serialising the schema creation (shared with nobody else). */
export const EVENTS_SCHEMA_LOCK = 0x5ca1e_0002;
/** LISTEN/NOTIFY channel an append signals at commit (payload: empty). */
export const EVENTS_CHANNEL = "scaleplane_events";
/** Argument types of the append function (the schema check looks for exactly this one). */
const APPEND_SIGNATURE =
  "bigint,text,bigint,integer,bytea,bytea,bigint,integer,text,text,uuid[],text[],integer[],uuid[],uuid[],bytea,integer[],boolean";

/** SQLSTATE the append raises when a transaction already had its id before taking the stream's lock. */
export const ORDER_GUARD_SQLSTATE = "SPE01";

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS scaleplane_events_meta (
  id        integer PRIMARY KEY CHECK (id = 1),
  min_epoch bigint  NOT NULL
);
INSERT INTO scaleplane_events_meta VALUES (1, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS scaleplane_event_streams (
  stream       text COLLATE "C" PRIMARY KEY,
  h            bigint  NOT NULL,
  version      integer NOT NULL,
  last_tx      xid8,
  last_wall    bigint  NOT NULL DEFAULT 0,
  last_logical integer NOT NULL DEFAULT 0,
  key_id       bytea   NOT NULL,
  data_key     bytea,
  deleted_at   timestamptz
);
CREATE INDEX IF NOT EXISTS scaleplane_event_streams_h ON scaleplane_event_streams (h);
CREATE SEQUENCE IF NOT EXISTS scaleplane_events_seq;
CREATE TABLE IF NOT EXISTS scaleplane_events (
  tx             xid8    NOT NULL,
  seq            bigint  NOT NULL,
  stream         text COLLATE "C" NOT NULL,
  version        integer NOT NULL,
  id             uuid    NOT NULL,
  type           text    NOT NULL,
  schema_version integer NOT NULL,
  hlc_wall       bigint  NOT NULL,
  hlc_logical    integer NOT NULL,
  hlc_node       text COLLATE "C" NOT NULL,
  causation      uuid,
  correlation    uuid,
  deps           text,
  data           bytea   NOT NULL,
  recorded_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tx, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS scaleplane_events_stream_version ON scaleplane_events (stream, version);
CREATE UNIQUE INDEX IF NOT EXISTS scaleplane_events_id ON scaleplane_events (id);
CREATE TABLE IF NOT EXISTS scaleplane_event_checkpoints (
  name       text PRIMARY KEY,
  generation integer NOT NULL DEFAULT 1,
  version    integer,
  tx         xid8    NOT NULL DEFAULT '0',
  seq        bigint  NOT NULL DEFAULT 0,
  fence      bigint  NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS scaleplane_event_rebuilds (
  name       text PRIMARY KEY,
  generation integer NOT NULL,
  version    integer NOT NULL,
  tx         xid8    NOT NULL DEFAULT '0',
  seq        bigint  NOT NULL DEFAULT 0,
  started_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS scaleplane_event_group_queue (
  grp         text    NOT NULL,
  tx          xid8    NOT NULL,
  seq         bigint  NOT NULL,
  stream      text COLLATE "C" NOT NULL,
  version     integer NOT NULL,
  attempts    integer NOT NULL DEFAULT 0,
  lease_until timestamptz NOT NULL DEFAULT '-infinity',
  lease_owner text,
  last_error  text,
  PRIMARY KEY (grp, tx, seq)
);
CREATE INDEX IF NOT EXISTS scaleplane_event_group_queue_due ON scaleplane_event_group_queue (grp, lease_until);
CREATE TABLE IF NOT EXISTS scaleplane_event_group_parked (
  grp        text    NOT NULL,
  tx         xid8    NOT NULL,
  seq        bigint  NOT NULL,
  stream     text COLLATE "C" NOT NULL,
  version    integer NOT NULL,
  attempts   integer NOT NULL,
  last_error text,
  parked_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (grp, tx, seq)
);
DROP FUNCTION IF EXISTS scaleplane_events_append(bigint,text,bigint,integer,bytea,bytea,bigint,integer,text,text,uuid[],text[],integer[],uuid[],uuid[],bytea[]);
${appendFunctionSql()}`;

/**
 * The append, atomic in one call (one round trip, its own statement). In order:
 * 1. the stream's advisory lock, BEFORE the transaction has an id: a later append to the stream
 *    gets a larger transaction id, so the log order `(tx, seq)` follows the versions (the order
 *    guard below refuses, with SQLSTATE SPE01, a transaction that already had an id);
 * 2. `ROW EXCLUSIVE` on the streams table, then the event fence: a mover raises the fence and
 *    then takes `EXCLUSIVE` on that table, which waits for every append that may have read the
 *    old fence (docs/design/events.md);
 * 3. the stream row and the stored ids of the append, the decision of core/events/append-rules.ts
 *    (deleted, idempotent retry, wrong version, id conflict, or append);
 * 4. the stamps (core/events/order.ts `appendStamps`), the events and the stream row; with
 *    `p_notify`, `pg_notify` wakes live subscribers at commit.
 *
 * The payloads come as ONE bytea (binary over the wire: no hex encoding either side) cut by
 * `p_lengths`. Notifying is optional because NOTIFY is the costliest part of an append: at commit
 * PostgreSQL serialises every notifying transaction of the database on one lock and queues the
 * message (measured: ~70 of ~120 µs of server CPU per event, growing as the queue grows). The
 * store's own appends (autocommit) notify after they committed, coalesced per shard (store.ts);
 * appends inside a caller's transaction notify here, at that transaction's commit.
 *
 * `SET enable_seqscan = off`: every statement in here is a keyed lookup, and PL/pgSQL caches
 * each statement's plan per connection. Planned while the events table was small (a new shard, a
 * bench), the id check `id = ANY(p_ids)` got a sequential scan, kept as the table grew until an
 * autoanalyze happened to invalidate it: measured 1.2 ms of the append's 2.8 ms (20 events, ~30 000
 * rows), against 0.15 ms through the id index. An index path never loses here.
 *
 * Returns one row: `status` (appended | duplicate | wrong_version | id_conflict | deleted |
 * stale_epoch | key_mismatch) and what the caller needs for each.
 */
function appendFunctionSql(): string {
  return `
CREATE OR REPLACE FUNCTION scaleplane_events_append(
  p_epoch bigint, p_stream text, p_h bigint, p_expected integer, p_key_id bytea, p_key bytea,
  p_wall bigint, p_logical integer, p_node text, p_deps text,
  p_ids uuid[], p_types text[], p_schemas integer[], p_causation uuid[], p_correlation uuid[], p_data bytea,
  p_lengths integer[], p_notify boolean)
RETURNS TABLE (status text, first_version integer, cur_version integer, tx xid8, first_seq bigint, last_seq bigint,
               stamp_wall bigint, stamp_logical integer, detail text)
LANGUAGE plpgsql SET enable_seqscan = off AS $fn$
DECLARE
  s scaleplane_event_streams%ROWTYPE;
  fence bigint;
  n integer := cardinality(p_ids);
  cur integer;
  f_count integer; f_first integer; f_ok boolean;
  w bigint; l integer;
  me xid8;
  s1 bigint; s2 bigint;
BEGIN
  IF cardinality(p_lengths) <> n OR (SELECT sum(x) FROM unnest(p_lengths) x) <> length(p_data) THEN
    RAISE EXCEPTION 'scaleplane_events_append: % payload length(s) for % event(s) and % byte(s)', cardinality(p_lengths), n, length(p_data)
      USING ERRCODE = '22023';
  END IF;
  PERFORM pg_advisory_xact_lock(${EVENTS_LOCK_CLASS}, (p_h - 2147483648)::integer);
  LOCK TABLE scaleplane_event_streams IN ROW EXCLUSIVE MODE;
  SELECT m.min_epoch INTO fence FROM scaleplane_events_meta m WHERE m.id = 1;
  IF fence > p_epoch THEN
    RETURN QUERY SELECT 'stale_epoch'::text, NULL::integer, NULL::integer, NULL::xid8, NULL::bigint, NULL::bigint,
      NULL::bigint, NULL::integer, fence::text;
    RETURN;
  END IF;
  SELECT * INTO s FROM scaleplane_event_streams x WHERE x.stream = p_stream;
  cur := COALESCE(s.version, 0);
  IF s.deleted_at IS NOT NULL THEN
    RETURN QUERY SELECT 'deleted'::text, NULL::integer, cur, NULL::xid8, NULL::bigint, NULL::bigint, NULL::bigint, NULL::integer, NULL::text;
    RETURN;
  END IF;
  SELECT count(*)::integer, min(e.version) INTO f_count, f_first FROM scaleplane_events e WHERE e.id = ANY(p_ids);
  IF f_count > 0 THEN
    SELECT count(*) = n INTO f_ok FROM unnest(p_ids) WITH ORDINALITY AS u(id, o)
      JOIN scaleplane_events e ON e.id = u.id WHERE e.stream = p_stream AND e.version = f_first + u.o - 1;
    IF f_count <> n OR NOT f_ok THEN
      RETURN QUERY SELECT 'id_conflict'::text, NULL::integer, cur, NULL::xid8, NULL::bigint, NULL::bigint, NULL::bigint, NULL::integer,
        (SELECT string_agg(e.id::text, ',') FROM scaleplane_events e WHERE e.id = ANY(p_ids));
      RETURN;
    END IF;
    IF p_expected = -1 OR (p_expected = -2 AND f_first = 1) OR (p_expected = -3 AND f_first > 1) OR p_expected = f_first - 1 THEN
      RETURN QUERY SELECT 'duplicate'::text, f_first, cur, NULL::xid8, NULL::bigint, NULL::bigint, NULL::bigint, NULL::integer, NULL::text;
    ELSE
      RETURN QUERY SELECT 'wrong_version'::text, NULL::integer, cur, NULL::xid8, NULL::bigint, NULL::bigint, NULL::bigint, NULL::integer, NULL::text;
    END IF;
    RETURN;
  END IF;
  IF NOT (p_expected = -1 OR (p_expected = -2 AND cur = 0) OR (p_expected = -3 AND cur > 0) OR p_expected = cur) THEN
    RETURN QUERY SELECT 'wrong_version'::text, NULL::integer, cur, NULL::xid8, NULL::bigint, NULL::bigint, NULL::bigint, NULL::integer, NULL::text;
    RETURN;
  END IF;
  IF s.stream IS NOT NULL AND s.key_id <> p_key_id THEN
    RETURN QUERY SELECT 'key_mismatch'::text, NULL::integer, cur, NULL::xid8, NULL::bigint, NULL::bigint, NULL::bigint, NULL::integer,
      encode(s.data_key, 'base64');
    RETURN;
  END IF;
  me := pg_current_xact_id();
  IF s.last_tx IS NOT NULL AND s.last_tx >= me THEN
    RAISE EXCEPTION 'append to % in a transaction (%) older than the stream''s last append (%): take the stream''s lock before the transaction writes anything; retry', p_stream, me, s.last_tx
      USING ERRCODE = '${ORDER_GUARD_SQLSTATE}';
  END IF;
  IF s.stream IS NULL OR (p_wall, p_logical) > (s.last_wall, s.last_logical) THEN
    w := p_wall; l := p_logical;
  ELSIF s.last_logical >= 2147483647 THEN
    w := s.last_wall + 1; l := 0;
  ELSE
    w := s.last_wall; l := s.last_logical + 1;
  END IF;
  IF l::bigint + n - 1 > 2147483647 THEN w := w + 1; l := 0; END IF;
  WITH ins AS (
    INSERT INTO scaleplane_events (tx, seq, stream, version, id, type, schema_version, hlc_wall, hlc_logical, hlc_node,
                                   causation, correlation, deps, data)
    SELECT me, nextval('scaleplane_events_seq'), p_stream, cur + o, id, typ, sv, w, l + o - 1, p_node, cau, cor, p_deps,
           substring(p_data FROM (fin - len + 1)::integer FOR len)
      FROM (SELECT u.*, sum(u.len) OVER (ORDER BY u.o) AS fin
              FROM unnest(p_ids, p_types, p_schemas, p_causation, p_correlation, p_lengths)
                   WITH ORDINALITY AS u(id, typ, sv, cau, cor, len, o)) AS ordered
     ORDER BY o
    RETURNING seq
  ) SELECT min(ins.seq), max(ins.seq) INTO s1, s2 FROM ins;
  IF s.stream IS NULL THEN
    INSERT INTO scaleplane_event_streams (stream, h, version, last_tx, last_wall, last_logical, key_id, data_key)
      VALUES (p_stream, p_h, cur + n, me, w, l + n - 1, p_key_id, p_key);
  ELSE
    UPDATE scaleplane_event_streams x SET version = cur + n, last_tx = me, last_wall = w, last_logical = l + n - 1
      WHERE x.stream = p_stream;
  END IF;
  IF p_notify THEN
    PERFORM pg_notify('${EVENTS_CHANNEL}', '');
  END IF;
  RETURN QUERY SELECT 'appended'::text, cur + 1, cur + n, me, s1, s2, w, l + n - 1, NULL::text;
END
$fn$;`;
}

/** {@link SCHEMA_SQL} in one transaction under an advisory lock (simple-query protocol: no parameters). */
export const ENSURE_SCHEMA_SQL = `BEGIN; SELECT pg_advisory_xact_lock(${EVENTS_SCHEMA_LOCK}); ${SCHEMA_SQL} COMMIT;`;

/** Whether the schema (this version of it: the append function with its settings) is in place. */
export const SCHEMA_PRESENT_SQL = `SELECT to_regclass('scaleplane_event_group_parked') IS NOT NULL
  AND COALESCE((SELECT 'enable_seqscan=off' = ANY(proconfig) FROM pg_proc
                  WHERE oid = to_regprocedure('scaleplane_events_append(${APPEND_SIGNATURE})')), false) AS present`;

/** The append call (parameters in the function's order). */
export const APPEND_SQL = `SELECT status, first_version, cur_version, tx::text AS tx, first_seq::text AS first_seq, last_seq::text AS last_seq,
  stamp_wall::text AS stamp_wall, stamp_logical, detail
FROM scaleplane_events_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`;

/** Name of the append's prepared statement (parsed once per connection). */
export const APPEND_STATEMENT = "scaleplane_events_append_v2";

/** A NOTIFY on the append channel (the client's coalesced wake-up after its appends committed). */
export const NOTIFY_SQL = `SELECT pg_notify('${EVENTS_CHANNEL}', '')`;

/** The wrapped data keys of live streams among `$1` (deleted streams have none). */
export const STREAM_KEYS_SQL = `SELECT stream, data_key FROM scaleplane_event_streams
WHERE stream = ANY($1::text[]) AND data_key IS NOT NULL AND deleted_at IS NULL`;

/** The wrapped data key and fingerprint of a stream, and whether it was deleted (`$1` stream). */
export const STREAM_KEY_SQL = `SELECT key_id, data_key, deleted_at IS NOT NULL AS deleted, version FROM scaleplane_event_streams WHERE stream = $1`;

/**
 * The columns every event read returns, with the stream's deletion flag (true also when the
 * stream row or its key is missing). Not the wrapped key: it never changes while the stream
 * lives, so readers fetch it once per stream ({@link STREAM_KEYS_SQL}) and cache it.
 */
const EVENT_COLUMNS = `e.tx::text AS tx, e.seq::text AS seq, e.stream, e.version, e.id::text AS id, e.type, e.schema_version,
  e.hlc_wall::text AS hlc_wall, e.hlc_logical, e.hlc_node, e.causation::text AS causation, e.correlation::text AS correlation,
  e.deps, e.data, (extract(epoch FROM e.recorded_at) * 1000)::bigint::text AS recorded_ms,
  COALESCE(s.deleted_at IS NOT NULL OR s.data_key IS NULL, true) AS deleted`;

/**
 * The gap-free release (core/events/position.ts): rows after `($1 tx, $2 seq)` with `tx` below the
 * snapshot's xmin, in log order, at most `$3`; xmin and the rows come from ONE statement, hence
 * one snapshot. Always at least one row: `xmin` on every row, the event columns NULL when none
 * was released.
 */
export const RELEASE_SQL = `
SELECT b.xmin::text AS xmin, ${EVENT_COLUMNS}
FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) b
LEFT JOIN LATERAL (
  SELECT * FROM scaleplane_events x
   WHERE (x.tx, x.seq) > ($1::xid8, $2::bigint) AND x.tx < b.xmin
   ORDER BY x.tx, x.seq LIMIT $3
) e ON true
LEFT JOIN scaleplane_event_streams s ON s.stream = e.stream
ORDER BY e.tx, e.seq`;

/**
 * Replay up to a fixed position (rebuilds): rows after `($1, $2)` and at or before `($3, $4)`,
 * at most `$5`. Everything at or before a checkpoint the live projection reached was released,
 * so no visibility bound is needed.
 */
export const REPLAY_SQL = `
SELECT ${EVENT_COLUMNS}
FROM (SELECT * FROM scaleplane_events x
       WHERE (x.tx, x.seq) > ($1::xid8, $2::bigint) AND (x.tx, x.seq) <= ($3::xid8, $4::bigint)
       ORDER BY x.tx, x.seq LIMIT $5) e
LEFT JOIN scaleplane_event_streams s ON s.stream = e.stream
ORDER BY e.tx, e.seq`;

/** A stream's events after version `$2`, at most `$3`, with the stream row (always one row; event columns NULL past the end). */
export const READ_STREAM_SQL = `
SELECT st.version AS stream_version, st.deleted_at IS NOT NULL AS stream_deleted, ${EVENT_COLUMNS}
FROM (SELECT $1::text AS stream) q
LEFT JOIN scaleplane_event_streams st ON st.stream = q.stream
LEFT JOIN LATERAL (SELECT * FROM scaleplane_events x WHERE x.stream = q.stream AND x.version > $2 ORDER BY x.version LIMIT $3) e ON true
LEFT JOIN scaleplane_event_streams s ON s.stream = e.stream
ORDER BY e.version`;

/** Events of given positions (`$1` tx[], `$2` seq[]), for persistent subscription consumers. */
export const EVENTS_AT_SQL = `
SELECT ${EVENT_COLUMNS}
FROM unnest($1::xid8[], $2::bigint[]) AS p(tx, seq)
JOIN scaleplane_events e ON e.tx = p.tx AND e.seq = p.seq
LEFT JOIN scaleplane_event_streams s ON s.stream = e.stream`;

/** Raises the event fence to `$1` (never lowers it); a mover then takes EXCLUSIVE on the streams table. */
export const RAISE_EVENT_FENCE_SQL = "UPDATE scaleplane_events_meta SET min_epoch = $1 WHERE id = 1 AND min_epoch < $1";

/** A shard's release bound and the oldest running transaction's age (status and lag figures). */
export const SHARD_STATUS_SQL = `
SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin,
  (SELECT count(*) FROM scaleplane_event_streams)::text AS streams,
  (SELECT max(seq) FROM scaleplane_events)::text AS max_seq,
  (SELECT extract(epoch FROM now() - min(xact_start)) FROM pg_stat_activity
     WHERE backend_xid IS NOT NULL AND datname = current_database())::float8 AS oldest_writer_s,
  (SELECT min_epoch::text FROM scaleplane_events_meta WHERE id = 1) AS min_epoch`;

/**
 * Who holds a shard's release bound `$1` (a snapshot xmin, xid8): the session whose transaction
 * has that id, or a prepared transaction (two-phase commit) that has it. No row when none does
 * (the bound is then the next id to be assigned: nothing is held). Diagnostics only: readers wait
 * for that transaction however long it takes.
 */
export const RELEASE_HOLDER_SQL = `
SELECT a.pid, NULL::text AS gid, a.state, a.application_name AS application, a.client_addr::text AS client,
       extract(epoch FROM now() - a.xact_start)::float8 AS open_s, left(a.query, 200) AS query
  FROM pg_stat_activity a WHERE a.backend_xid = xid($1::xid8)
UNION ALL
SELECT NULL, p.gid, 'prepared', p.owner::text, NULL, extract(epoch FROM now() - p.prepared)::float8, NULL
  FROM pg_prepared_xacts p WHERE p.transaction = xid($1::xid8)`;

/** A row as the event reads return it. */
export interface EventRow {
  tx: string;
  seq: string;
  stream: string;
  version: number;
  id: string;
  type: string;
  schema_version: number;
  hlc_wall: string;
  hlc_logical: number;
  hlc_node: string;
  causation: string | null;
  correlation: string | null;
  deps: string | null;
  data: Buffer;
  /** Milliseconds since the epoch, as text (cheaper to read than a timestamptz). */
  recorded_ms: string;
  /** The stream was deleted (or has no key): the row is skipped, never decrypted. */
  deleted: boolean;
}

/** A quoted SQL identifier (projection tables are validated names; this also doubles quotes). */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
