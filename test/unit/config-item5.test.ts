/**
 * Config defects of issue 9 item 5: "quorum" at replication factor 2 (a quorum of 2 of 2 is
 * "all") is refused in prod and warned about elsewhere; shard names the ring refuses (lone UTF-16
 * surrogates) are refused by the shard-map schema, naming the field.
 */
import { ConfigError, configWarnings, parsePlatformConfig } from "../../core/config";
import { ShardMapSchema, ShardMemberSchema } from "../../core/sharding/shard-map";
import { buildRing } from "../../core/sharding/ring";

const quorumOf2 = { database: { shards: 3, replicationFactor: 2, consistency: "quorum" as const } };

describe("quorum at replication factor 2", () => {
  it("is refused in prod, naming scaleplane:database.consistency and what to do", () => {
    let err: ConfigError | undefined;
    try {
      parsePlatformConfig({ environment: "prod", ...quorumOf2 });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const hit = err!.problems.find((p) => p.key === "scaleplane:database.consistency");
    expect(hit?.message).toMatch(/quorum of 2 of 2, i\.e\. "all".*replicationFactor 3/);
  });

  it("is accepted with a warning naming the key in dev and staging", () => {
    for (const environment of ["dev", "staging"] as const) {
      const c = parsePlatformConfig({ environment, ...quorumOf2 });
      expect(configWarnings(c)).toEqual([
        { key: "scaleplane:database.consistency", message: expect.stringMatching(/quorum of 2 of 2/) },
      ]);
    }
  });

  it("quorum at 3 and all at 2 draw no warning", () => {
    expect(
      configWarnings(parsePlatformConfig({ database: { shards: 3, replicationFactor: 3, consistency: "quorum" } })),
    ).toEqual([]);
    expect(
      configWarnings(parsePlatformConfig({ database: { shards: 3, replicationFactor: 2, consistency: "all" } })),
    ).toEqual([]);
  });
});

describe("shard names the ring refuses", () => {
  const member = (name: string) => ({ name, weight: 1, host: "h", port: 5432, database: "app" });

  it("a lone surrogate is refused by the schema, naming the field", () => {
    for (const bad of ["\uD800", "shard-\uDC00", "a\uDBFFb"]) {
      const r = ShardMemberSchema.safeParse(member(bad));
      expect(r.success).toBe(false);
      expect(r.error!.issues[0].path).toEqual(["name"]);
      expect(r.error!.issues[0].message).toMatch(/well-formed Unicode/);
      const map = ShardMapSchema.safeParse({
        epoch: 0,
        vnodesPerWeight: 4,
        replicationFactor: 1,
        consistency: "one",
        shards: [member("ok"), member(bad)],
      });
      expect(map.success).toBe(false);
      expect(map.error!.issues[0].path).toEqual(["shards", 1, "name"]);
    }
  });

  it("whatever the schema accepts, the ring accepts (well-formed names, surrogate pairs included)", () => {
    const names = ["shard-0", "😀", "ünïcode", "a\uD83D\uDE00b"];
    for (const n of names) expect(ShardMemberSchema.safeParse(member(n)).success).toBe(true);
    expect(() =>
      buildRing(
        names.map((name) => ({ name, weight: 1 })),
        4,
      ),
    ).not.toThrow();
  });
});
