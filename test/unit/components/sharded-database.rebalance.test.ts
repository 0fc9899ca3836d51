/**
 * ShardedDatabase wiring of the online rebalance (mock runtime): on docker with
 * `docker.configEndpoints`, one ShardRebalance child gets the shard map as the apps reach the
 * shards, the 127.0.0.1 ports `pulumi up` reaches them on, the user, and the password only as a
 * secret input; it depends on the shard containers. Without config endpoints, or on another
 * target, there is none (elsewhere the shards are not reachable from `pulumi up`).
 */
import { ShardedDatabase } from "../../../components/sharded-database";
import { installMocks, settle, valueOf } from "../../../scripts/lib/offline";
import { TEST_PASSWORD, isSecretInput, plainInputs } from "../../support/inputs";

const rec = installMocks({ stack: "unit-rebalance" });
const REBALANCE = "pulumi-nodejs:dynamic/database:ShardRebalance";

const orders = new ShardedDatabase("orders", {
  target: "docker",
  database: { name: "orders", shards: 3, replicationFactor: 2, consistency: "quorum", virtualNodes: 64 },
  password: TEST_PASSWORD,
  docker: { portBase: 25432, configEndpoints: ["http://127.0.0.1:12379", "http://127.0.0.1:12380"] },
});
new ShardedDatabase("plain", { target: "docker", database: { name: "plain" }, docker: { portBase: 26432 } });

beforeAll(settle);

describe("ShardedDatabase rebalance wiring", () => {
  it("creates one ShardRebalance child on docker with config endpoints, fed the shard map, host ports and user", async () => {
    const found = rec.resources.filter((r) => r.type === REBALANCE);
    expect(found.map((r) => r.name)).toEqual(["orders-rebalance"]);
    const r = found[0];
    expect(rec.parentOf(r)?.name).toBe("orders");
    const inputs = plainInputs(r.inputs);
    const map = await valueOf(orders.shardMap);
    expect(inputs).toMatchObject({
      target: "docker",
      etcdEndpoints: ["http://127.0.0.1:12379", "http://127.0.0.1:12380"],
      username: "scaleplane",
      reach: { "shard-0": "127.0.0.1:25432", "shard-1": "127.0.0.1:25433", "shard-2": "127.0.0.1:25434" },
    });
    expect(inputs.shardMap).toEqual(map);
    expect(map.shards.map((s) => `${s.host}:${s.port}`)).toEqual([
      "orders-unit-rebalance-shard-0:5432",
      "orders-unit-rebalance-shard-1:5432",
      "orders-unit-rebalance-shard-2:5432",
    ]);
    expect(typeof r.inputs.__provider).toBe("string");
  });

  it("passes the password only as a secret input", () => {
    const r = rec.one(REBALANCE, "orders-rebalance");
    expect(isSecretInput(r.inputs.password)).toBe(true);
    expect(plainInputs(r.inputs).password).toBe(TEST_PASSWORD);
    const { password: _p, __provider: _s, ...rest } = r.inputs;
    expect(JSON.stringify(rest)).not.toContain(TEST_PASSWORD);
  });

  it("creates none without config endpoints", () => {
    expect(rec.resources.filter((r) => r.type === REBALANCE && r.name.startsWith("plain"))).toEqual([]);
  });
});
