/**
 * Where event streams live, and what a move of streams between shards must respect. Pure:
 * schema, validation and routing; no I/O.
 *
 * Streams are placed on the core ring (core/sharding/ring.ts) by stream id: a stream's events
 * all live on one shard, the owner of `hashKey(streamId)`. Not replicated across shards by the
 * router: appends need one serialization point per stream (the expected-version check and the
 * gap-free log are local PostgreSQL transactions); quorum writes over several shards without
 * consensus could diverge. Durability is the shard instance's own (RDS Multi-AZ, the volume).
 *
 * The event placement is its own record in the config service (`events/placement`, with its own
 * epoch), not the key-value shard map: the key-value rebalancer moves only key-value rows, so an
 * event store following the shard map straight would route streams to shards that never received
 * their events. The event placement changes only when streams are moved (the event mover, see
 * docs/design/events.md); a shard added to the shard map takes streams once that happens. A
 * shard of the event placement that left the shard map is refused loudly.
 *
 * A move in flight (`migration`): `shards` is the new set, `migration.from` the old one. A stream
 * whose owner differs between them is moving: appends to it fail with a retryable "moving"
 * error until the move finishes (never land on a shard the mover already copied); reads go to
 * the old owner in phase `copy` and to the new one in `cutover`. Streams that do not move are
 * served as usual.
 */
import { EventArgumentError } from "./errors";
import { z } from "zod";
import { buildRing, ownerOfHash, hashKey, type Ring } from "../sharding/ring";

const ShardEntry = z.strictObject({
  name: z.string().min(1),
  weight: z.number().positive(),
  zone: z.string().min(1).optional(),
});

const PlacementCore = z.strictObject({
  vnodesPerWeight: z.number().int().min(1).max(4096),
  shards: z.array(ShardEntry).min(1),
});

/** The event placement stored under `events/placement`. */
export const EventPlacementSchema = z.strictObject({
  /** Raised by every change; appends carry it and shards refuse older ones (`scaleplane_events_meta`). */
  epoch: z.number().int().min(0),
  vnodesPerWeight: z.number().int().min(1).max(4096),
  shards: z.array(ShardEntry).min(1),
  /** A move of streams in flight (absent otherwise). */
  migration: z
    .strictObject({
      id: z.string().min(1),
      phase: z.enum(["copy", "cutover"]),
      from: PlacementCore,
    })
    .optional(),
});
export type EventPlacement = z.infer<typeof EventPlacementSchema>;

/** A stream id the store refuses; `argument` names it. */
export class StreamIdError extends EventArgumentError {}

/** Longest stream id, in UTF-8 bytes. */
export const MAX_STREAM_ID_BYTES = 512;
const LONE_SURROGATE = /\p{Cs}/u;
const encoder = new TextEncoder();

/** Checks a stream id: non-empty, no NUL, well-formed Unicode, ≤ 512 UTF-8 bytes. @throws StreamIdError */
export function checkStreamId(id: unknown, argument = "streamId"): string {
  if (typeof id !== "string" || id.length === 0)
    throw new StreamIdError(argument, `must be a non-empty string; got ${JSON.stringify(id) ?? String(id)}`);
  if (id.includes("\0")) throw new StreamIdError(argument, "must not contain NUL characters");
  if (LONE_SURROGATE.test(id)) throw new StreamIdError(argument, "must be well-formed Unicode (no lone surrogates)");
  if (encoder.encode(id).length > MAX_STREAM_ID_BYTES)
    throw new StreamIdError(argument, `must be at most ${MAX_STREAM_ID_BYTES} UTF-8 bytes`);
  return id;
}

/** The initial event placement: the shard map's shards and ring settings at epoch 0. */
export function initialEventPlacement(map: {
  vnodesPerWeight: number;
  shards: readonly { name: string; weight: number; zone?: string }[];
}): EventPlacement {
  return EventPlacementSchema.parse({
    epoch: 0,
    vnodesPerWeight: map.vnodesPerWeight,
    shards: map.shards.map((s) => ({ name: s.name, weight: s.weight, ...(s.zone ? { zone: s.zone } : {}) })),
  });
}

/**
 * The shards of the placement that the shard map no longer lists (whose address is therefore
 * unknown). Empty when every placement shard is reachable.
 */
export function missingShards(placement: EventPlacement, mapShards: readonly { name: string }[]): string[] {
  const known = new Set(mapShards.map((s) => s.name));
  const all = [...placement.shards, ...(placement.migration?.from.shards ?? [])].map((s) => s.name);
  return [...new Set(all.filter((n) => !known.has(n)))];
}

/** Where an operation on a stream goes. */
export type StreamRoute =
  | { readonly kind: "owner"; readonly shard: string }
  | { readonly kind: "moving"; readonly from: string; readonly to: string; readonly read: string };

/** Routes stream ids under one placement (rings built once). */
export class StreamRouter {
  readonly #ring: Ring;
  readonly #from?: Ring;

  constructor(readonly placement: EventPlacement) {
    this.#ring = buildRing(placement.shards, placement.vnodesPerWeight);
    if (placement.migration)
      this.#from = buildRing(placement.migration.from.shards, placement.migration.from.vnodesPerWeight);
  }

  /** Every shard a stream may live on under this placement (old and new sets). */
  get shardNames(): string[] {
    return [
      ...new Set([...(this.placement.migration?.from.shards ?? []), ...this.placement.shards].map((s) => s.name)),
    ].sort();
  }

  /** The route of a stream (its ring hash: {@link hashKey}). */
  route(streamId: string): StreamRoute {
    return this.routeHash(hashKey(streamId));
  }

  /** The route of a ring hash. */
  routeHash(h: number): StreamRoute {
    const to = ownerOfHash(this.#ring, h);
    if (!this.#from) return { kind: "owner", shard: to };
    const from = ownerOfHash(this.#from, h);
    if (from === to) return { kind: "owner", shard: to };
    return { kind: "moving", from, to, read: this.placement.migration!.phase === "copy" ? from : to };
  }
}
