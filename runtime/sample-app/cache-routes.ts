/**
 * The sample app's `/items/<key>` routes (./items.ts) from its environment: the config service
 * (SCALEPLANE_CONFIG_ENDPOINTS), the database (SCALEPLANE_DATABASE_USER / _PASSWORD; the shard
 * map is read from etcd) and the cache (SCALEPLANE_CACHE_CLUSTER, _NODES, _SETTINGS, _PASSWORD,
 * _TLS), all set by the Platform when the stack has a `cache` section. Clients
 * are created on the first request (the app starts and passes health checks without them), and
 * the ShardClient's write path invalidates the cache (`afterWrite`).
 */
import type * as http from "node:http";
import type { CacheNodeInput } from "../../core/cache/topology";
import { CacheClient, invalidateAfterWrite, type CacheClientSettings } from "../cache-client";
import { ConfigClient } from "../config-client";
import { ShardClient } from "../shard-client";
import { createItemStore, handleItems, type ItemStore } from "./items";

/** A request handler for `/items/...` (resolves false for other paths), or undefined without cache settings. */
export function itemRoutesFromEnv(
  env: Record<string, string | undefined>,
): ((req: http.IncomingMessage, res: http.ServerResponse) => Promise<boolean>) | undefined {
  const cluster = env.SCALEPLANE_CACHE_CLUSTER;
  const endpoints = (env.SCALEPLANE_CONFIG_ENDPOINTS ?? "").split(",").filter((e) => e.length > 0);
  if (!cluster || endpoints.length === 0) return undefined;
  let store: Promise<ItemStore> | undefined;
  const open = async (): Promise<ItemStore> => {
    const config = ConfigClient.create({ endpoints });
    const settings = JSON.parse(env.SCALEPLANE_CACHE_SETTINGS ?? "{}") as Partial<CacheClientSettings> & {
      replicas?: number;
    };
    const cache = await CacheClient.connect({
      ...settings,
      config,
      cluster,
      ...(env.SCALEPLANE_CACHE_NODES ? { nodes: JSON.parse(env.SCALEPLANE_CACHE_NODES) as CacheNodeInput[] } : {}),
      password: env.SCALEPLANE_CACHE_PASSWORD,
      tls: env.SCALEPLANE_CACHE_TLS === "1",
    });
    const db = await ShardClient.connect({
      config,
      user: env.SCALEPLANE_DATABASE_USER ?? "scaleplane",
      password: env.SCALEPLANE_DATABASE_PASSWORD ?? "",
      afterWrite: invalidateAfterWrite(cache),
    });
    return createItemStore(cache, db);
  };
  return async (req, res) => {
    if (!(req.url ?? "").startsWith("/items/")) return false;
    store ??= open().catch((e: unknown) => {
      store = undefined;
      throw e;
    });
    return handleItems(await store, req, res);
  };
}
