/**
 * Client histories of the sharded key-value store (runtime/shard-client) recorded under faults,
 * and the checker the data layer's chaos suite judges them with (issue 15, Jepsen style: record
 * every client's operations with their outcome, check afterwards).
 *
 * Recording: {@link KvHistory} wraps a client's put/delete/get and keeps one {@link KvOp} per call:
 * its invocation and completion times, key, value, the version it was stored under (a write) or
 * read at (a read), and its outcome:
 * - `ok`: acknowledged at the consistency level;
 * - `fail`: certainly without effect: a WriteSupersededError (a newer row won on every replica:
 *   this version is stored nowhere) or a refused argument;
 * - `unknown`: anything else (quorum unavailable, stale epoch, clock offset, a deadline, a killed
 *   connection): the write may or may not have been applied, on some replicas or all, at any time
 *   after its invocation. Its version is unknown too (the errors do not carry it).
 *
 * Checking ({@link checkKvHistory}); versions are the stored (wall, logical, writer) order and a
 * key with no row at all counts as older than any version:
 * 1. durability: every acknowledged write is present at its version (or superseded by a newer
 *    one that some client wrote) on a quorum of the key's final replicas, read raw from the
 *    shards before any read repair; an acknowledged delete whose key is live again on them with
 *    an older version is reported as a deleted key that came back;
 * 2. monotonic reads: no read returns a value older than one a read that completed before it
 *    started returned (any client, same key);
 * 3. read your writes: no read returns a value older than the reader's own acknowledged write;
 * 4. no deleted key comes back: no read that starts after a delete was acknowledged returns a
 *    value older than the delete;
 * 5. no phantom: every value read or stored raw was written by some put (acknowledged or of
 *    unknown outcome, never a superseded one), at the version it was written at when that is known;
 * 6. refusals name the key or a shard: every error message of a failed or unknown operation.
 *
 * A read that found no live value ("absent") does not say which version it saw: a tombstone of
 * one of the deletes invoked before it returned, or no row at all. The checker takes the most
 * lenient explanation consistent with the reads before it (a delete of unknown version may have
 * any version), so it reports only what no interleaving explains.
 *
 * Values are compared as canonical JSON (object keys sorted): the shards return jsonb, which
 * reorders them. Each put's value must be unique per key (the workloads write `client:seq`), so a
 * value read identifies the write that stored it.
 */
import { compareVersions, type Version } from "../../core/sharding/hlc";
import { WriteSupersededError, ShardArgumentError } from "../../runtime/shard-client/errors";

export type KvStatus = "ok" | "fail" | "unknown";

/** One operation of one client. */
export interface KvOp {
  /** Logical client (runs one operation at a time). */
  readonly client: string;
  /** Writer id of the shard client it used (matches a stored row's `ver_node`), when known. */
  readonly node?: string;
  readonly op: "put" | "delete" | "get";
  readonly key: string;
  /** put: the value written; get (ok): the value read, `undefined` = absent. */
  value?: unknown;
  /** put/delete: the version stored under (ok) or refused at (fail); get (ok, live): the version read. */
  version?: Version;
  status: KvStatus;
  /** The error of a failed or unknown operation. */
  error?: string;
  /** Invocation time (monotonic clock). */
  readonly call: number;
  /** Completion time; +∞ while (or when) the outcome is unknown. */
  ret: number;
}

/** What a shard holds for a key, read raw. */
export interface RawRow {
  readonly version: Version;
  /** A tombstone (a delete's row). */
  readonly deleted: boolean;
  /** The value (absent for a tombstone). */
  readonly value?: unknown;
}

/** The final contents of the shards and where each key belongs. */
export interface FinalState {
  /** Shard name → key → raw row (a shard that no longer answers: absent). */
  readonly rows: ReadonlyMap<string, ReadonlyMap<string, RawRow>>;
  /** The key's replicas in the final placement. */
  replicasOf(key: string): readonly string[];
  /** Replicas that must hold each acknowledged write (⌊rf/2⌋ + 1 at quorum). */
  readonly quorum: number;
}

export type KvRule =
  "durability" | "monotonic-reads" | "read-your-writes" | "deleted-came-back" | "phantom" | "unnamed-refusal";

export interface KvViolation {
  readonly rule: KvRule;
  readonly key: string;
  readonly message: string;
}

export interface KvCheckResult {
  readonly violations: KvViolation[];
  /** Operations by kind and outcome, e.g. `put:ok`, `get:unknown`; and `get:absent`. */
  readonly counts: Record<string, number>;
  /** Keys whose durability was checked (keys with an acknowledged write). */
  readonly keysChecked: number;
}

/** The ShardClient calls a history records. */
export interface KvClient {
  readonly nodeId?: string;
  put(key: string, value: unknown): Promise<{ version: Version }>;
  delete(key: string): Promise<{ version: Version }>;
  get(key: string): Promise<{ value: unknown; version: Version } | undefined>;
}

const pub = (v: Version): Version => ({ wall: v.wall, logical: v.logical, node: v.node });

/** Canonical JSON (object keys sorted) of a value. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

const fmtV = (v: Version | null | undefined) =>
  v === null || v === undefined ? "none" : `${v.wall}.${v.logical}@${v.node}`;

/** Outcome of a failed call: `fail` when certainly without effect, else `unknown`. */
function outcomeOf(e: unknown): { status: KvStatus; version?: Version } {
  if (e instanceof WriteSupersededError) return { status: "fail", version: pub(e.version) };
  if (e instanceof ShardArgumentError) return { status: "fail" };
  return { status: "unknown" };
}

/** A recorder of every client's operations (append-only; read `ops` afterwards). */
export class KvHistory {
  readonly ops: KvOp[] = [];
  constructor(private readonly now: () => number = () => performance.now()) {}

  private begin(client: string, node: string | undefined, op: KvOp["op"], key: string, value?: unknown): KvOp {
    const o: KvOp = {
      client,
      ...(node !== undefined ? { node } : {}),
      op,
      key,
      ...(op === "put" ? { value } : {}),
      status: "unknown",
      call: this.now(),
      ret: Number.POSITIVE_INFINITY,
    };
    this.ops.push(o);
    return o;
  }

  private failed(o: KvOp, e: unknown): void {
    const { status, version } = outcomeOf(e);
    o.status = status;
    if (version) o.version = version;
    o.error = e instanceof Error ? e.message : String(e);
    if (status === "fail") o.ret = this.now();
  }

  /** Records `c.put(key, value)`; never throws (the outcome is in the history). */
  put(client: string, c: KvClient, key: string, value: unknown): Promise<KvOp> {
    return this.write(this.begin(client, c.nodeId, "put", key, value), () => c.put(key, value));
  }

  /** Records `c.delete(key)`; never throws. */
  delete(client: string, c: KvClient, key: string): Promise<KvOp> {
    return this.write(this.begin(client, c.nodeId, "delete", key), () => c.delete(key));
  }

  private async write(o: KvOp, call: () => Promise<{ version: Version }>): Promise<KvOp> {
    try {
      o.version = pub((await call()).version);
      o.status = "ok";
      o.ret = this.now();
    } catch (e) {
      this.failed(o, e);
    }
    return o;
  }

  /** Records `c.get(key)`; never throws (a failed read is `fail`: it returned nothing). */
  async get(client: string, c: KvClient, key: string): Promise<KvOp> {
    const o = this.begin(client, c.nodeId, "get", key);
    try {
      const item = await c.get(key);
      if (item) {
        o.value = item.value;
        o.version = pub(item.version);
      }
      o.status = "ok";
      o.ret = this.now();
    } catch (e) {
      o.status = "fail";
      o.error = e instanceof Error ? e.message : String(e);
      o.ret = this.now();
    }
    return o;
  }
}

/** Versions with `null` = no row (older than any version). */
const cmp = (a: Version | null, b: Version | null): number =>
  a === null ? (b === null ? 0 : -1) : b === null ? 1 : compareVersions(a, b);
const maxV = (a: Version | null, b: Version | null) => (cmp(a, b) >= 0 ? a : b);

function describe(o: KvOp): string {
  const what =
    o.op === "put"
      ? `put(${canonical(o.value)})`
      : o.op === "delete"
        ? "delete"
        : `get → ${o.status !== "ok" ? o.status : o.value === undefined ? "absent" : `${canonical(o.value)} @ ${fmtV(o.version)}`}`;
  const end = Number.isFinite(o.ret) ? o.ret.toFixed(1) : "∞";
  const ver = o.op !== "get" && o.version ? ` @ ${fmtV(o.version)}` : "";
  return `${o.client}: ${what}${o.op !== "get" ? ` → ${o.status}${ver}` : ""} [${o.call.toFixed(1)}, ${end}]`;
}

/**
 * Checks a history (and, when given, the final raw contents of the shards) against the rules in
 * this module's header. `shards` are the names a refusal may name (with the key).
 */
export function checkKvHistory(
  ops: readonly KvOp[],
  options: { final?: FinalState; shards?: readonly string[] } = {},
): KvCheckResult {
  const violations: KvViolation[] = [];
  const counts: Record<string, number> = {};
  const byKey = new Map<string, KvOp[]>();
  for (const o of ops) {
    const kind = `${o.op}:${o.status}`;
    counts[kind] = (counts[kind] ?? 0) + 1;
    if (o.op === "get" && o.status === "ok" && o.value === undefined)
      counts["get:absent"] = (counts["get:absent"] ?? 0) + 1;
    let list = byKey.get(o.key);
    if (!list) byKey.set(o.key, (list = []));
    list.push(o);
  }

  // 6. refusals name the key or a shard
  const shards = options.shards ?? [];
  for (const o of ops)
    if (o.status !== "ok" && o.error !== undefined) {
      const named =
        o.error.includes(JSON.stringify(o.key)) || o.error.includes(o.key) || shards.some((s) => o.error!.includes(s));
      if (!named)
        violations.push({
          rule: "unnamed-refusal",
          key: o.key,
          message: `${describe(o)}: the error names neither the key nor a shard: ${o.error}`,
        });
    }

  for (const [key, list] of byKey) {
    const puts = new Map<string, KvOp>();
    for (const o of list)
      if (o.op === "put") {
        const c = canonical(o.value);
        if (puts.has(c))
          throw new Error(`kv-history: two puts of ${key} write the same value ${c}; values must be unique per key`);
        puts.set(c, o);
      }
    const deletes = list.filter((o) => o.op === "delete" && o.status !== "fail");
    /** A live value read or stored at `v`: the put that wrote it, or why none did. */
    const phantom = (value: unknown, v: Version): string | undefined => {
      const w = puts.get(canonical(value));
      if (!w) return `value ${canonical(value)} @ ${fmtV(v)} was written by no put`;
      if (w.status === "fail") return `value ${canonical(value)} @ ${fmtV(v)} is of a superseded put (${describe(w)})`;
      if (w.version && compareVersions(w.version, v) !== 0)
        return `value ${canonical(value)} is at version ${fmtV(v)}, but ${describe(w)} stored it at ${fmtV(w.version)}`;
      return undefined;
    };

    const reads = list.filter((o) => o.op === "get" && o.status === "ok").sort((a, b) => a.call - b.call);
    /** Reads already judged, with the version each is taken to have returned. */
    const judged: { op: KvOp; lo: Version | null }[] = [];
    for (const r of reads) {
      // The floor set by reads that completed before this one started.
      let floor: Version | null = null;
      let floorBy: KvOp | undefined;
      for (const j of judged)
        if (j.op.ret < r.call && cmp(j.lo, floor) > 0) {
          floor = j.lo;
          floorBy = j.op;
        }
      // The reader's own acknowledged writes before it.
      let own: Version | null = null;
      let ownBy: KvOp | undefined;
      for (const w of list)
        if (
          w.client === r.client &&
          w.op !== "get" &&
          w.status === "ok" &&
          w.ret < r.call &&
          cmp(w.version!, own) > 0
        ) {
          own = w.version!;
          ownBy = w;
        }
      let lo: Version | null;
      if (r.value !== undefined) {
        const v = r.version!;
        lo = v;
        const why = phantom(r.value, v);
        if (why) violations.push({ rule: "phantom", key, message: `${describe(r)}: ${why}` });
        if (cmp(v, floor) < 0)
          violations.push({
            rule: "monotonic-reads",
            key,
            message: `${describe(r)} is older than ${describe(floorBy!)}, which completed before it started`,
          });
        if (cmp(v, own) < 0)
          violations.push({
            rule: "read-your-writes",
            key,
            message: `${describe(r)} is older than the reader's own ${describe(ownBy!)}`,
          });
        for (const d of list)
          if (d.op === "delete" && d.status === "ok" && d.ret < r.call && compareVersions(v, d.version!) < 0)
            violations.push({
              rule: "deleted-came-back",
              key,
              message: `${describe(r)} is older than ${describe(d)}, acknowledged before it started`,
            });
      } else {
        // Absent: no row, or the tombstone of a delete invoked before the read returned.
        const known: Version[] = [];
        let wildcard = false;
        for (const d of deletes)
          if (d.call < r.ret) {
            if (d.version) known.push(d.version);
            else wildcard = true;
          }
        const need = maxV(floor, own);
        const fits = [null, ...known].filter((c) => cmp(c, need) >= 0).sort(cmp);
        if (fits.length > 0) lo = fits[0];
        else {
          lo = need;
          if (!wildcard) {
            const rule: KvRule = cmp(own, floor) > 0 ? "read-your-writes" : "monotonic-reads";
            const by = rule === "read-your-writes" ? ownBy! : floorBy!;
            violations.push({
              rule,
              key,
              message: `${describe(r)}: no delete explains it after ${describe(by)}${rule === "monotonic-reads" ? ", which completed before it started" : " (the reader's own)"}`,
            });
          }
        }
      }
      judged.push({ op: r, lo });
    }

    // 1. durability (and 5. for the raw rows)
    const final = options.final;
    if (!final) continue;
    let latest: KvOp | undefined;
    for (const w of list)
      if (w.op !== "get" && w.status === "ok" && (!latest || compareVersions(w.version!, latest.version!) > 0))
        latest = w;
    const replicas = final.replicasOf(key);
    const holders: string[] = [];
    const olderLive: string[] = [];
    for (const s of replicas) {
      const row = final.rows.get(s)?.get(key);
      if (!row) continue;
      if (!row.deleted) {
        const why = phantom(row.value, row.version);
        if (why) violations.push({ rule: "phantom", key, message: `raw row on ${s}: ${why}` });
      } else if (
        !deletes.some((d) => (d.version ? compareVersions(d.version, row.version) === 0 : d.node === row.version.node))
      )
        violations.push({
          rule: "phantom",
          key,
          message: `raw tombstone on ${s} @ ${fmtV(row.version)} was written by no delete`,
        });
      if (latest && compareVersions(row.version, latest.version!) >= 0) holders.push(s);
      else if (latest && !row.deleted) olderLive.push(`${s} @ ${fmtV(row.version)}`);
    }
    if (latest && holders.length < final.quorum)
      violations.push({
        rule: latest.op === "delete" && olderLive.length > 0 ? "deleted-came-back" : "durability",
        key,
        message: `${describe(latest)} is held at its version or newer by ${holders.length} of the final replicas [${replicas.join(", ")}] (${holders.join(", ") || "none"}), fewer than ${final.quorum}${olderLive.length > 0 ? `; older live rows on ${olderLive.join(", ")}` : ""}`,
      });
  }
  const keysChecked = options.final
    ? [...byKey.values()].filter((l) => l.some((o) => o.op !== "get" && o.status === "ok")).length
    : 0;
  return { violations, counts, keysChecked };
}

/** The first violations of a result, one per line (for assertion messages). */
export function formatViolations(r: KvCheckResult, max = 10): string {
  return r.violations
    .slice(0, max)
    .map((v) => `[${v.rule}] ${v.key}: ${v.message}`)
    .join("\n");
}
