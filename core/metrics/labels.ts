/**
 * Series identity of the metrics store: label sets as Prometheus defines them, their canonical
 * form, the 64-bit series id and the ring hash that places a series on the shards. Pure.
 *
 * - A series is its metric name (`__name__`) plus its other labels, sorted by name. Names follow
 *   Prometheus: metric names `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names `[a-zA-Z_][a-zA-Z0-9_]*`;
 *   names starting with `__` are reserved (only `__name__` is accepted). A label with an empty
 *   value is the same as no label (Prometheus drops it), so it is dropped here too.
 * - Values are UTF-8 text without NUL (PostgreSQL text cannot hold it), at most
 *   {@link MAX_LABEL_VALUE_BYTES} bytes; at most {@link MAX_LABELS} labels per series.
 * - The series id is the first 8 bytes of SHA-256 over the canonical encoding (names and values
 *   separated by NUL, which neither may contain, so the encoding is unambiguous): the same label
 *   set gets the same id in every store process without coordination. Stored as a PostgreSQL
 *   bigint (signed), carried in JS as 16 lower-case hex digits.
 * - The series is placed on the shards' ring by its id: `h = hashKey(<16 hex digits>)`
 *   (core/sharding/ring.ts), the ring-hash column of every metrics table, so a rebalance moves a
 *   hash range of series as rows (runtime/metrics-store/schema.ts).
 */
import { createHash } from "node:crypto";
import { hashKey } from "../sharding/ring";

/** A label set: name → value. */
export type Labels = Readonly<Record<string, string>>;

/** Most labels one series may carry (the metric name included). */
export const MAX_LABELS = 64;
/** Longest label value in UTF-8 bytes. */
export const MAX_LABEL_VALUE_BYTES = 4096;
/** Longest label name. */
export const MAX_LABEL_NAME_LENGTH = 256;

export const METRIC_NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
export const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const LONE_SURROGATE = /\p{Cs}/u;
const encoder = new TextEncoder();

/** A label set the store refuses; `path` says which label (e.g. `labels.job`). */
export class LabelError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path} ${message}`);
    this.name = "LabelError";
  }
}

/** A validated series: sorted labels, its canonical text, id and ring hash. */
export interface Series {
  /** Metric name (`__name__`). */
  readonly metric: string;
  /** Every label including `__name__`, sorted by name; empty values dropped. */
  readonly labels: readonly (readonly [string, string])[];
  /** 16 hex digits: the first 8 bytes of SHA-256 of the canonical encoding. */
  readonly id: string;
  /** The ring hash of the id, `[0, 2^32)`: which shards hold the series. */
  readonly h: number;
}

/**
 * Validates a label list (as remote-write sends it: name/value pairs in any order) and returns
 * the series. `where` prefixes error paths (e.g. `timeseries[3]`).
 * @throws LabelError naming the bad label
 */
export function seriesOf(pairs: Iterable<readonly [string, string]>, where = "labels"): Series {
  const out: [string, string][] = [];
  const seen = new Set<string>();
  for (const [name, value] of pairs) {
    if (typeof name !== "string" || typeof value !== "string")
      throw new LabelError(where, "must be name/value strings");
    if (seen.has(name)) throw new LabelError(`${where}.${name}`, "appears twice in one series");
    seen.add(name);
    if (value === "") continue;
    if (name.length > MAX_LABEL_NAME_LENGTH)
      throw new LabelError(`${where}.${name.slice(0, 40)}…`, `name is longer than ${MAX_LABEL_NAME_LENGTH}`);
    if (!LABEL_NAME_RE.test(name))
      throw new LabelError(`${where}.${JSON.stringify(name)}`, "is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)");
    if (name.startsWith("__") && name !== "__name__")
      throw new LabelError(`${where}.${name}`, "is reserved (label names starting with __ other than __name__)");
    if (value.includes("\0")) throw new LabelError(`${where}.${name}`, "value must not contain NUL");
    if (LONE_SURROGATE.test(value)) throw new LabelError(`${where}.${name}`, "value must be valid UTF-8");
    // UTF-8 takes at most 3 bytes per UTF-16 unit: only long values need encoding to be measured
    if (
      value.length > MAX_LABEL_VALUE_BYTES ||
      (value.length * 3 > MAX_LABEL_VALUE_BYTES && encoder.encode(value).length > MAX_LABEL_VALUE_BYTES)
    )
      throw new LabelError(`${where}.${name}`, `value is longer than ${MAX_LABEL_VALUE_BYTES} bytes`);
    out.push([name, value]);
  }
  const metric = out.find(([n]) => n === "__name__")?.[1];
  if (metric === undefined) throw new LabelError(`${where}.__name__`, "is required (the metric name)");
  if (!METRIC_NAME_RE.test(metric))
    throw new LabelError(`${where}.__name__`, `${JSON.stringify(metric)} is not a valid metric name`);
  if (out.length > MAX_LABELS) throw new LabelError(where, `has ${out.length} labels; at most ${MAX_LABELS}`);
  out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const id = seriesIdOf(out);
  return { metric, labels: out, id, h: hashKey(id) };
}

/** The series of a label record (`{__name__: "up", job: "x"}`). @throws LabelError */
export function seriesOfRecord(labels: Labels, where = "labels"): Series {
  if (typeof labels !== "object" || labels === null) throw new LabelError(where, "must be an object");
  return seriesOf(Object.entries(labels), where);
}

/** The canonical encoding: `name NUL value NUL ...` over labels sorted by name. */
export function canonical(sorted: readonly (readonly [string, string])[]): string {
  let s = "";
  for (const [n, v] of sorted) s += `${n}\0${v}\0`;
  return s;
}

/** The series id (16 hex digits) of sorted labels. */
export function seriesIdOf(sorted: readonly (readonly [string, string])[]): string {
  return createHash("sha256").update(canonical(sorted)).digest("hex").slice(0, 16);
}

/** A series id as PostgreSQL bigint text (two's complement of the 64 bits). */
export function idToBigint(id: string): string {
  return BigInt.asIntN(64, BigInt(`0x${id}`)).toString();
}

/** PostgreSQL bigint text back to the 16-hex-digit series id. */
export function bigintToId(text: string | bigint): string {
  return BigInt.asUintN(64, BigInt(text)).toString(16).padStart(16, "0");
}

/** The label record of a series (for JSON answers). */
export function labelRecord(s: Pick<Series, "labels">): Record<string, string> {
  return Object.fromEntries(s.labels);
}

/** Prometheus' text form: `name{a="x", b="y"}`. */
export function seriesText(labels: Labels): string {
  const { __name__: name, ...rest } = labels;
  const inner = Object.keys(rest)
    .sort()
    .map((k) => `${k}=${JSON.stringify(rest[k])}`)
    .join(", ");
  return `${name ?? ""}{${inner}}`;
}

/** A label record's canonical key (labels sorted by name), for grouping and matching. */
export function labelKey(labels: Labels): string {
  return canonical(Object.entries(labels).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
}
