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
  /**
   * The type's new name from `from + 1` on, when the type was renamed. Static (not computed from
   * the data) so readers know an event's type without decrypting its payload.
   */
  readonly renameTo?: string;
  /** The data at `from + 1`. */
  upcast(data: unknown): unknown;
}

/** The upcasters an event of a stored (type, schema version) goes through, and where it ends. */
export interface UpcastPlan {
  readonly type: string;
  readonly schemaVersion: number;
  readonly steps: readonly Upcaster[];
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
  readonly #plans = new Map<string, UpcastPlan>();

  /** @throws UpcasterError naming `upcasters[i]` for a bad or repeated entry */
  constructor(upcasters: readonly Upcaster[] = []) {
    upcasters.forEach((u, i) => {
      const at = `upcasters[${i}]`;
      checkEventType(u?.type, `${at}.type`);
      if (!Number.isSafeInteger(u.from) || u.from < 1)
        throw new UpcasterError(`${at}.from`, `must be a whole number ≥ 1; got ${JSON.stringify(u.from)}`);
      if (typeof u.upcast !== "function") throw new UpcasterError(`${at}.upcast`, "must be a function");
      if (u.renameTo !== undefined) checkEventType(u.renameTo, `${at}.renameTo`);
      const key = `${u.type}\0${u.from}`;
      if (this.#byKey.has(key))
        throw new UpcasterError(at, `repeats the upcaster of ${u.type} version ${u.from} (one per type and version)`);
      this.#byKey.set(key, u);
      this.#latest.set(u.type, Math.max(this.#latest.get(u.type) ?? 1, u.from + 1));
      if (u.renameTo !== undefined)
        this.#latest.set(u.renameTo, Math.max(this.#latest.get(u.renameTo) ?? 1, u.from + 1));
    });
  }

  /** The schema version an event of `type` is written at: the version its upcasters end at (1 without any). */
  latestVersion(type: string): number {
    return this.#latest.get(type) ?? 1;
  }

  /**
   * Where an event stored as (`type`, `schemaVersion`) ends: the upcasters `(type, v) → v + 1`
   * that apply in turn (following renames), and the final type and version. Terminates: every
   * step raises the version, and there are finitely many upcasters. Cached per stored pair.
   */
  plan(type: string, schemaVersion: number): UpcastPlan {
    const key = `${type}\0${schemaVersion}`;
    let p = this.#plans.get(key);
    if (!p) {
      const steps: Upcaster[] = [];
      let t = type;
      let v = schemaVersion;
      for (let u = this.#byKey.get(`${t}\0${v}`); u; u = this.#byKey.get(`${t}\0${v}`)) {
        steps.push(u);
        if (u.renameTo !== undefined) t = u.renameTo;
        v++;
      }
      p = { type: t, schemaVersion: v, steps };
      this.#plans.set(key, p);
    }
    return p;
  }

  /** The event at its latest schema version (see {@link plan}). */
  upcast<E extends UpcastInput>(event: E): E {
    const p = this.plan(event.type, event.schemaVersion);
    if (p.steps.length === 0) return event;
    return { ...event, type: p.type, schemaVersion: p.schemaVersion, data: applyUpcasts(p, event.data) };
  }
}

/** Runs a plan's upcasters over stored data. */
export function applyUpcasts(plan: UpcastPlan, data: unknown): unknown {
  let d = data;
  for (const u of plan.steps) d = u.upcast(d);
  return d;
}
