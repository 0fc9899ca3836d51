/**
 * Upcasters: events are stored as written, with the schema version of their type; readers see
 * them at the latest version. An upcaster turns a type's version `from` into `from + 1` (and may
 * rename the type); chains run on every read (stream reads, subscriptions, projections,
 * rebuilds), never on the stored rows. Pure: validation and the chain, no I/O.
 */
import { EventArgumentError } from "./errors";

/** An event as upcasters see it. */
export interface UpcastInput {
  readonly type: string;
  readonly schemaVersion: number;
  readonly data: unknown;
}

/** Turns `type` at schema version `from` into schema version `from + 1`. */
export interface Upcaster {
  /** Event type it applies to. */
  readonly type: string;
  /** Schema version it reads (≥ 1); it produces `from + 1`. */
  readonly from: number;
  /** The event at `from + 1`: new data, and a new type name when the type was renamed. */
  upcast(data: unknown): { data: unknown; type?: string };
}

/** A bad upcaster list; `argument` names the entry. */
export class UpcasterError extends EventArgumentError {}

/** Event type names: 1-128 of letters, digits, `._-:/`. */
export const EVENT_TYPE_PATTERN = /^[A-Za-z0-9._:/-]{1,128}$/;

/** Checks an event type name. @throws UpcasterError naming `argument` */
export function checkEventType(type: unknown, argument = "type"): string {
  if (typeof type !== "string" || !EVENT_TYPE_PATTERN.test(type))
    throw new UpcasterError(argument, `must be 1-128 of letters, digits, . _ : / -; got ${JSON.stringify(type)}`);
  return type;
}

/** The upcasters of a store, validated once: one per (type, from). */
export class UpcasterChain {
  readonly #byKey = new Map<string, Upcaster>();
  readonly #latest = new Map<string, number>();

  /** @throws UpcasterError naming `upcasters[i]` for a bad or repeated entry */
  constructor(upcasters: readonly Upcaster[] = []) {
    upcasters.forEach((u, i) => {
      const at = `upcasters[${i}]`;
      checkEventType(u?.type, `${at}.type`);
      if (!Number.isSafeInteger(u.from) || u.from < 1)
        throw new UpcasterError(`${at}.from`, `must be a whole number ≥ 1; got ${JSON.stringify(u.from)}`);
      if (typeof u.upcast !== "function") throw new UpcasterError(`${at}.upcast`, "must be a function");
      const key = `${u.type}\0${u.from}`;
      if (this.#byKey.has(key))
        throw new UpcasterError(at, `repeats the upcaster of ${u.type} version ${u.from} (one per type and version)`);
      this.#byKey.set(key, u);
      this.#latest.set(u.type, Math.max(this.#latest.get(u.type) ?? 1, u.from + 1));
    });
  }

  /** The schema version an event of `type` is written at: the version its upcasters end at (1 without any). */
  latestVersion(type: string): number {
    return this.#latest.get(type) ?? 1;
  }

  /**
   * The event at its latest schema version: applies `(type, v) → v + 1` while an upcaster
   * exists (following renames). Terminates: every step raises the version, and there are finitely
   * many upcasters.
   */
  upcast<E extends UpcastInput>(event: E): E {
    let { type, schemaVersion, data } = event;
    for (;;) {
      const u = this.#byKey.get(`${type}\0${schemaVersion}`);
      if (!u) break;
      const out = u.upcast(data);
      data = out.data;
      if (out.type !== undefined) type = checkEventType(out.type, `upcaster ${u.type}@${u.from} result type`);
      schemaVersion++;
    }
    return schemaVersion === event.schemaVersion ? event : { ...event, type, schemaVersion, data };
  }
}
