/**
 * The sample app's item store: reads go read-through the cache (scaleplane/cache-client) in front
 * of the sharded database, writes go to the database, whose write path invalidates the key before
 * the write returns (ShardClient `afterWrite` = invalidateAfterWrite). This is the code path the
 * cache's chaos test drives, and the one `GET/PUT /items/<key>` serve.
 */
import type * as http from "node:http";
import type { CacheClient } from "../cache-client";
import type { ShardClient } from "../shard-client";

export interface ItemStore {
  /** The item's value (undefined when absent), through the cache. */
  read<T = unknown>(key: string): Promise<T | undefined>;
  /** Writes the item to the database; resolves once it is acknowledged and invalidated in the cache. */
  write(key: string, value: unknown): Promise<void>;
  /** Deletes the item (a tombstone in the database), invalidated likewise. */
  remove(key: string): Promise<void>;
}

/** The store over a cache and a ShardClient created with `afterWrite: invalidateAfterWrite(cache)`. */
export function createItemStore(cache: CacheClient, db: ShardClient): ItemStore {
  return {
    read: <T>(key: string) => cache.get<T>(key, async () => (await db.get<T>(key))?.value),
    write: async (key, value) => {
      await db.put(key, value);
    },
    remove: async (key) => {
      await db.delete(key);
    },
  };
}

/** `GET /items/<key>` and `PUT /items/<key>` (JSON body); false when the request is not for /items. */
export async function handleItems(
  store: ItemStore,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<boolean> {
  const url = new URL(req.url ?? "/", "http://localhost");
  if (!url.pathname.startsWith("/items/")) return false;
  const key = decodeURIComponent(url.pathname.slice("/items/".length));
  const send = (status: number, body: unknown) => {
    res.statusCode = status;
    res.setHeader("content-type", "application/json");
    res.end(`${JSON.stringify(body)}\n`);
  };
  if (key.length === 0) return (send(400, { error: "missing key" }), true);
  if (req.method === "GET") {
    const value = await store.read(key);
    return (value === undefined ? send(404, { key }) : send(200, { key, value }), true);
  }
  if (req.method === "PUT") {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let value: unknown;
    try {
      value = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      return (send(400, { error: "body must be JSON" }), true);
    }
    await store.write(key, value);
    return (send(200, { key }), true);
  }
  if (req.method === "DELETE") return (await store.remove(key), send(200, { key }), true);
  return (send(405, { error: `no ${req.method} on /items` }), true);
}
