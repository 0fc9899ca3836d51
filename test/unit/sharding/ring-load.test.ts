/**
 * Replica load with zones and weights (issue 15 point 8): the load each shard carries at rf > 1
 * is measured on the ring, and a layout that loads a shard past 1.25× its weight's share is
 * warned about (refused in prod) naming the zone layout; `virtualNodes` is honestly named.
 */
import { ConfigError, configWarnings, parsePlatformConfig, weightResolutionOf } from "../../../core/config";
import { initialShardMap } from "../../../core/sharding/shard-map";
import {
  MAX_REPLICA_LOAD_RATIO,
  buildRing,
  ownership,
  replicaLoad,
  replicaLoadReport,
  replicaLoadWarning,
} from "../../../core/sharding/ring";

const zone = (n: number, z: string, from: number) =>
  Array.from({ length: n }, (_, i) => ({ name: `shard-${from + i}`, weight: 1, zone: z }));
/** Zones a, b, c of 3, 3 and 1 shards. */
const THIN = [...zone(3, "a", 0), ...zone(3, "b", 3), ...zone(1, "c", 6)];

describe("replica load", () => {
  it("sums to 1 and equals ownership at one replica", () => {
    const ring = buildRing(THIN);
    const one = replicaLoad(ring, 1);
    for (const [name, share] of ownership(ring)) expect(one.get(name)).toBeCloseTo(share, 12);
    const three = replicaLoad(ring, 3);
    expect([...three.values()].reduce((s, x) => s + x, 0)).toBeCloseTo(1, 12);
  });

  it("a lone shard in its zone carries a third of all replicas at rf 3: 2.33× its share", () => {
    const r = replicaLoadReport(buildRing(THIN), 3);
    expect(r.worst).toBe("shard-6");
    expect(r.ratio).toBeCloseTo(7 / 3, 2);
    expect(r.zones.get("c")).toEqual(["shard-6"]);
  });

  it("balanced layouts stay within 1.05 of their fair share; weights the replica count cannot honour are not overload", () => {
    for (const nodes of [
      [...zone(2, "a", 0), ...zone(2, "b", 2), ...zone(2, "c", 4)],
      Array.from({ length: 8 }, (_, i) => ({ name: `shard-${i}`, weight: 1 })),
      // rf = shard count: every shard holds every key whatever its weight
      [
        { name: "a", weight: 1 },
        { name: "b", weight: 2 },
        { name: "c", weight: 1 },
      ],
    ])
      expect(replicaLoadReport(buildRing(nodes), 3).ratio).toBeLessThan(1.05);
  });

  it("warns naming the shard, its ratio and the zone layout; a balanced list is not warned about", () => {
    const w = replicaLoadWarning(THIN, 150, 3);
    expect(w).toMatch(/^shard-6 would hold 2\.3\d× its share of the replicas .* at replicationFactor 3/);
    expect(w).toContain("a: 3 shard(s), weight 3; b: 3 shard(s), weight 3; c: 1 shard(s), weight 1");
    expect(w).toContain(`more than ${MAX_REPLICA_LOAD_RATIO}×`);
    expect(replicaLoadWarning(THIN, 150, 1)).toBeUndefined();
    expect(replicaLoadWarning([...zone(2, "a", 0), ...zone(2, "b", 2), ...zone(2, "c", 4)], 150, 3)).toBeUndefined();
  });
});

describe("database config", () => {
  const db = { shards: THIN, replicationFactor: 3, consistency: "quorum" as const };

  it("warns about a thin zone outside prod, naming database.shards", () => {
    const c = parsePlatformConfig({ database: db });
    expect(configWarnings(c)).toEqual([
      expect.objectContaining({ key: "scaleplane:database.shards", message: expect.stringContaining("shard-6") }),
    ]);
  });

  it("refuses it in prod, naming the key and the zone layout", () => {
    expect(() =>
      parsePlatformConfig({
        environment: "prod",
        configService: { members: 3 },
        database: db,
      }),
    ).toThrow(ConfigError);
    try {
      parsePlatformConfig({ environment: "prod", configService: { members: 3 }, database: db });
    } catch (e) {
      const p = (e as ConfigError).problems.find((x) => x.key === "scaleplane:database.shards");
      expect(p?.message).toMatch(/is refused in prod: shard-6 would hold .* Zones: a: 3 shard/);
    }
  });

  it("weightResolution is the ring setting; virtualNodes is still read, with a deprecation warning", () => {
    const now = parsePlatformConfig({ database: { weightResolution: 64 } });
    expect(weightResolutionOf(now.database)).toBe(64);
    expect(configWarnings(now)).toEqual([]);
    const old = parsePlatformConfig({ database: { virtualNodes: 32 } });
    expect(weightResolutionOf(old.database)).toBe(32);
    expect(configWarnings(old)).toEqual([
      {
        key: "scaleplane:database.virtualNodes",
        message: expect.stringMatching(/is deprecated: .*write database\.weightResolution: 32/),
      },
    ]);
    const endpoints = Object.fromEntries(
      [0, 1, 2].map((i) => [`shard-${i}`, { host: `h${i}`, port: 5432, database: "app" }]),
    );
    expect(initialShardMap(old.database, endpoints).vnodesPerWeight).toBe(32);
    expect(() => parsePlatformConfig({ database: { virtualNodes: 32, weightResolution: 64 } })).toThrow(
      /scaleplane:database\.virtualNodes.*set only weightResolution/s,
    );
  });
});
