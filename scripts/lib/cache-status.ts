/**
 * `npm run status`'s cache section: per CacheCluster node of a local (Docker) stack, the hit ratio
 * (the lease scripts count hits and misses in `sp:stats`), memory used of maxmemory, evictions,
 * and the hot keys clients report to the node (`sp:hot`, from their count-min sketches). Read
 * with redis-cli inside each node's container (the password stays in the container).
 */
import type Docker from "dockerode";
import { execIn } from "../../providers/etcd-membership/docker-observe";
import type { Recording } from "./offline";

export interface CacheNodeRef {
  node: string;
  container: string;
  hostPort?: number;
}

export interface CacheNodeStatus extends CacheNodeRef {
  reachable: boolean;
  detail?: string;
  hits?: number;
  misses?: number;
  hitRatio?: number;
  usedMemoryBytes?: number;
  maxMemoryBytes?: number;
  evictedKeys?: number;
  hotKeys?: { key: string; count: number }[];
}

const CONTAINER = "docker:index/container:Container";

/** The cache node containers the program registers (label `scaleplane.io/cache-node`). */
export function cacheNodesOf(rec: Recording): CacheNodeRef[] {
  return rec.ofType(CONTAINER).flatMap((r) => {
    const inputs = r.inputs as {
      name?: string;
      labels?: { label: string; value: string }[];
      ports?: { ip?: string; external?: number }[];
    };
    const node = inputs.labels?.find((l) => l.label === "scaleplane.io/cache-node")?.value;
    if (!node || !inputs.name) return [];
    const hostPort = inputs.ports?.find((p) => p.ip === "127.0.0.1")?.external;
    return [{ node, container: inputs.name, ...(hostPort ? { hostPort } : {}) }];
  });
}

const MARK = "--scaleplane--";

/** The shell run in a node: INFO, the lease scripts' counters, the reported hot keys. */
export const CACHE_PROBE = [
  "sh",
  "-c",
  `export REDISCLI_AUTH="$(cat /etc/redis/generated/cli-auth 2>/dev/null)"; redis-cli INFO memory; redis-cli INFO stats; echo ${MARK}; redis-cli HGETALL sp:stats; echo ${MARK}; redis-cli ZREVRANGE sp:hot 0 4 WITHSCORES`,
];

/** Parses {@link CACHE_PROBE}'s output. */
export function parseCacheProbe(text: string): Omit<CacheNodeStatus, keyof CacheNodeRef | "reachable"> {
  const [info = "", stats = "", hot = ""] = text.split(MARK);
  const field = (name: string) => {
    const m = new RegExp(`^${name}:(\\d+)`, "m").exec(info);
    return m ? Number(m[1]) : undefined;
  };
  const s = stats
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  const counters: Record<string, number> = {};
  for (let i = 0; i + 1 < s.length; i += 2) counters[s[i]] = Number(s[i + 1]);
  const h = hot
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  const hotKeys: { key: string; count: number }[] = [];
  for (let i = 0; i + 1 < h.length; i += 2) hotKeys.push({ key: h[i], count: Number(h[i + 1]) });
  const hits = counters.hits ?? 0;
  const misses = counters.misses ?? 0;
  return {
    hits,
    misses,
    ...(hits + misses > 0 ? { hitRatio: hits / (hits + misses) } : {}),
    usedMemoryBytes: field("used_memory"),
    maxMemoryBytes: field("maxmemory"),
    evictedKeys: field("evicted_keys"),
    hotKeys,
  };
}

/** Reads every node (in parallel); a node that does not answer is reported, not thrown. */
export async function collectCacheStatus(docker: Docker, nodes: readonly CacheNodeRef[]): Promise<CacheNodeStatus[]> {
  return Promise.all(
    nodes.map(async (n) => {
      try {
        return { ...n, reachable: true, ...parseCacheProbe(await execIn(docker, n.container, CACHE_PROBE, 5000)) };
      } catch (e) {
        return { ...n, reachable: false, detail: e instanceof Error ? e.message : String(e) };
      }
    }),
  );
}

const mib = (b?: number) => (b === undefined ? "?" : `${(b / 2 ** 20).toFixed(1)}`);

/** The cache section as text. */
export function renderCacheStatus(nodes: readonly CacheNodeStatus[]): string {
  const rows = nodes.map((n) =>
    n.reachable
      ? [
          n.node,
          n.hitRatio === undefined ? "-" : `${(n.hitRatio * 100).toFixed(1)} %`,
          `${mib(n.usedMemoryBytes)} / ${mib(n.maxMemoryBytes)} MiB`,
          String(n.evictedKeys ?? "?"),
          (n.hotKeys ?? []).map((h) => `${h.key} (${h.count})`).join(", ") || "-",
        ]
      : [n.node, "unreachable", n.detail ?? "", "", ""],
  );
  const head = ["cache node", "hit ratio", "memory", "evictions", "hot keys"];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [head, ...rows]
    .map((r) =>
      r
        .map((c, i) => c.padEnd(w[i]))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}
