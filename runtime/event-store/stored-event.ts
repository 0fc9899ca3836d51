/**
 * An event as read back: a class, not an object literal with getters, because readers (rebuilds,
 * projections, subscriptions) decode hundreds of thousands of them per second and a literal's
 * getters are new closures per event (measured: a third of a rebuild's CPU went to the garbage
 * collector). Everything costly is computed on first use and kept: the payload (decrypted and
 * upcast), positions and stamps (BigInt and number parsing), causal dependencies, the record time.
 * `toJSON` gives every field, as the literal did.
 */
import { parsePosition, positionOf, type Position, type PositionVector } from "../../core/events/position";
import { applyUpcasts, type UpcastPlan } from "../../core/events/upcast";
import type { Version } from "../../core/sharding/hlc";
import type { EventRow } from "./sql";
import type { RecordedEvent } from "./types";

/** Opens a sealed payload (the store's cipher with the stream's key and associated data). */
export type PayloadOpener = (sealed: Buffer) => unknown;

export class StoredEvent implements RecordedEvent {
  readonly id: string;
  readonly stream: string;
  readonly version: number;
  readonly type: string;
  readonly schemaVersion: number;
  readonly shard: string;
  readonly causationId?: string;
  readonly correlationId?: string;
  readonly #row: EventRow;
  readonly #plan: UpcastPlan;
  readonly #open: PayloadOpener;
  #body?: { d: unknown; m?: Record<string, unknown> };
  #data?: { v: unknown };
  #position?: Position;
  #stamp?: Version;
  #deps?: { v: PositionVector | undefined };

  constructor(shard: string, row: EventRow, plan: UpcastPlan, open: PayloadOpener) {
    this.id = row.id;
    this.stream = row.stream;
    this.version = row.version;
    this.type = plan.type;
    this.schemaVersion = plan.schemaVersion;
    this.shard = shard;
    if (row.causation) this.causationId = row.causation;
    if (row.correlation) this.correlationId = row.correlation;
    this.#row = row;
    this.#plan = plan;
    this.#open = open;
  }

  #opened(): { d: unknown; m?: Record<string, unknown> } {
    return (this.#body ??= this.#open(this.#row.data) as { d: unknown; m?: Record<string, unknown> });
  }

  /** The payload, decrypted and upcast on first read. */
  get data(): unknown {
    return (this.#data ??= { v: applyUpcasts(this.#plan, this.#opened().d) }).v;
  }

  get metadata(): Record<string, unknown> {
    return this.#opened().m ?? {};
  }

  get position(): Position {
    return (this.#position ??= positionOf(this.#row.tx, this.#row.seq));
  }

  get stamp(): Version {
    return (this.#stamp ??= {
      wall: Number(this.#row.hlc_wall),
      logical: this.#row.hlc_logical,
      node: this.#row.hlc_node,
    });
  }

  get deps(): PositionVector | undefined {
    if (!this.#deps) {
      const text = this.#row.deps;
      if (!text) this.#deps = { v: undefined };
      else {
        const raw = JSON.parse(text) as Record<string, string>;
        this.#deps = {
          v: Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, parsePosition(v, `deps.${k}`)])),
        };
      }
    }
    return this.#deps.v;
  }

  get recordedAt(): Date {
    return new Date(Number(this.#row.recorded_ms));
  }

  toJSON(): Record<string, unknown> {
    return {
      id: this.id,
      stream: this.stream,
      version: this.version,
      type: this.type,
      schemaVersion: this.schemaVersion,
      data: this.data,
      metadata: this.metadata,
      ...(this.causationId ? { causationId: this.causationId } : {}),
      ...(this.correlationId ? { correlationId: this.correlationId } : {}),
      stamp: this.stamp,
      shard: this.shard,
      position: this.position,
      ...(this.deps ? { deps: this.deps } : {}),
      recordedAt: this.recordedAt,
    };
  }
}
