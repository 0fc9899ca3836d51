/** The cache section of `npm run status` (scripts/lib/cache-status.ts): parsing redis-cli output, rendering. */
import { parseCacheProbe, renderCacheStatus } from "../../../scripts/lib/cache-status";

const OUTPUT = `# Memory
used_memory:1048576
used_memory_human:1.00M
maxmemory:67108864
# Stats
keyspace_hits:10
evicted_keys:3
--scaleplane--
hits
90
misses
10
--scaleplane--
item-7
120
item-3
45
`;

describe("cache status", () => {
  it("reads hit ratio (from the lease scripts' counters), memory, evictions and hot keys", () => {
    expect(parseCacheProbe(OUTPUT)).toEqual({
      hits: 90,
      misses: 10,
      hitRatio: 0.9,
      usedMemoryBytes: 1048576,
      maxMemoryBytes: 67108864,
      evictedKeys: 3,
      hotKeys: [
        { key: "item-7", count: 120 },
        { key: "item-3", count: 45 },
      ],
    });
  });
  it("renders one row per node, unreachable ones included", () => {
    const text = renderCacheStatus([
      { node: "cache-0", container: "c0", reachable: true, ...parseCacheProbe(OUTPUT) },
      { node: "cache-1", container: "c1", reachable: false, detail: "no such container" },
    ]);
    expect(text.split("\n")).toHaveLength(3);
    expect(text).toContain("90.0 %");
    expect(text).toContain("1.0 / 64.0 MiB");
    expect(text).toContain("item-7 (120), item-3 (45)");
    expect(text).toMatch(/cache-1\s+unreachable\s+no such container/);
  });
});
