/**
 * ShardedDatabase on Docker under the mock runtime: private network, one volume + postgres
 * container per shard, ports on 127.0.0.1 only, healthcheck, the shard map as the app reaches it,
 * and the password only in secret inputs.
 */
import { TOKENS } from "../../../core/tokens";
import * as pulumiSdk from "@pulumi/pulumi";
import { ShardedDatabase } from "../../../components/sharded-database";
import { installMocks, settle, valueOf } from "../../../scripts/lib/offline";
import { TEST_PASSWORD, isSecretInput, plainInputs, whereFound } from "../../support/inputs";

const rec = installMocks({ stack: "unit-docker" });

const CONTAINER = "docker:index/container:Container";
const VOLUME = "docker:index/volume:Volume";
const NETWORK = "docker:index/network:Network";
const COMPONENT = TOKENS.database;

const orders = new ShardedDatabase("orders", {
  target: "docker",
  database: {
    name: "orders",
    shards: [
      { name: "a", weight: 2 },
      { name: "b", weight: 1 },
      { name: "c", weight: 0.5, zone: "rack-3" },
    ],
    virtualNodes: 64,
    replicationFactor: 2,
    consistency: "quorum",
  },
  password: TEST_PASSWORD,
  resources: { cpu: 0.5, memoryMb: 256 },
  docker: { portBase: 25432 },
});
// Defaults: 3 shards, generated password, an existing network, a non-default port.
const plain = new ShardedDatabase("plain", {
  target: "docker",
  database: { name: "plain", port: 6543 },
  docker: { portBase: 26432, network: "shared-net" },
});

beforeAll(settle);

const containerOf = (name: string) => plainInputs(rec.one(CONTAINER, name).inputs);

describe("ShardedDatabase on docker", () => {
  it("creates a private network, and a volume and a container per shard, all children of the component", () => {
    const component = rec.one(COMPONENT, "orders");
    const children = rec
      .childrenOf(component)
      .map((r) => `${r.type} ${r.name}`)
      .sort();
    expect(children).toEqual(
      [
        `${NETWORK} orders-net`,
        ...["a", "b", "c"].flatMap((s) => [`${CONTAINER} orders-${s}`, `${VOLUME} orders-${s}-data`]),
      ].sort(),
    );
    expect(rec.one(NETWORK, "orders-net").inputs).toMatchObject({ name: "orders-unit-docker-net", driver: "bridge" });
    expect(rec.one(NETWORK, "orders-net").inputs.internal).not.toBe(true); // published ports need a non-internal network
  });

  it("publishes each shard's port on 127.0.0.1 only, at portBase + i", () => {
    ["a", "b", "c"].forEach((s, i) => {
      expect(containerOf(`orders-${s}`).ports).toEqual([
        { internal: 5432, external: 25432 + i, ip: "127.0.0.1", protocol: "tcp" },
      ]);
    });
  });

  it("keeps the data on the shard's named volume, with the local image, healthcheck, limits and restart policy", () => {
    const c = containerOf("orders-b");
    expect(rec.one(VOLUME, "orders-b-data").inputs.name).toBe("orders-unit-docker-b-data");
    expect(c.volumes).toEqual([{ volumeName: "orders-unit-docker-b-data", containerPath: "/var/lib/postgresql/data" }]);
    expect(c.envs).toEqual(
      expect.arrayContaining([
        "PGDATA=/var/lib/postgresql/data/pgdata",
        "POSTGRES_USER=scaleplane",
        "POSTGRES_DB=app",
        "PGPORT=5432",
        "POSTGRES_PASSWORD_FILE=/run/secrets/postgres-password",
      ]),
    );
    // no registry on Docker: the config's default (postgres:15) becomes the local build of images/postgres
    expect(c.image).toBe("scaleplane/postgres:15");
    expect(c.name).toBe("orders-unit-docker-b");
    expect(c.healthcheck.tests).toEqual([
      "CMD",
      "pg_isready",
      "-h",
      "127.0.0.1",
      "-p",
      "5432",
      "-U",
      "scaleplane",
      "-d",
      "app",
    ]);
    expect(c.healthcheck).toMatchObject({ interval: "5s", timeout: "3s", retries: 6 });
    expect(c.memory).toBe(256);
    expect(c.cpus).toBe("0.5");
    expect(c.restart).toBe("unless-stopped");
    expect(c.networksAdvanced).toEqual([{ name: "orders-unit-docker-net", aliases: ["orders-unit-docker-b"] }]);
    expect(c.labels).toEqual(
      expect.arrayContaining([
        { label: "scaleplane.io/shard", value: "b" },
        { label: "scaleplane.io/weight", value: "1" },
      ]),
    );
    expect(containerOf("orders-c").labels).toEqual(
      expect.arrayContaining([{ label: "scaleplane.io/weight", value: "0.5" }]),
    );
  });

  it("publishes the shard map with the members as the app reaches them and the config's ring settings", async () => {
    expect(await valueOf(orders.shardMap)).toEqual({
      epoch: 0,
      maxClockOffsetMs: 500,
      vnodesPerWeight: 64,
      replicationFactor: 2,
      consistency: "quorum",
      shards: [
        { name: "a", weight: 2, host: "orders-unit-docker-a", port: 5432, database: "app" },
        { name: "b", weight: 1, host: "orders-unit-docker-b", port: 5432, database: "app" },
        { name: "c", weight: 0.5, zone: "rack-3", host: "orders-unit-docker-c", port: 5432, database: "app" },
      ],
    });
    expect(await valueOf(orders.hostEndpoints)).toEqual({
      a: "127.0.0.1:25432",
      b: "127.0.0.1:25433",
      c: "127.0.0.1:25434",
    });
    expect(await valueOf(orders.networkName)).toBe("orders-unit-docker-net");
    expect(await valueOf(orders.username)).toBe("scaleplane");
    expect(await valueOf(orders.databaseName)).toBe("app");
    expect(await valueOf(orders.securityGroupId)).toBeUndefined();
  });

  it("holds the password only as a secret: outputs, shard map and every input that carries it", async () => {
    expect(await valueOf(orders.password)).toBe(TEST_PASSWORD);
    expect(await pulumiSdk.isSecret(orders.password)).toBe(true);
    expect(await pulumiSdk.isSecret(orders.shardMap)).toBe(false);
    expect(JSON.stringify(await valueOf(orders.shardMap))).not.toContain(TEST_PASSWORD);
    expect(JSON.stringify(await valueOf(orders.hostEndpoints))).not.toContain(TEST_PASSWORD);

    // It reaches the containers (and nothing else), only inside values marked secret.
    const found = whereFound(rec, rec.one(COMPONENT, "orders").urn, TEST_PASSWORD);
    // as a file uploaded before the first start, never in the environment (docker inspect shows that)
    expect(found.anywhere).toEqual(["orders-a.uploads", "orders-b.uploads", "orders-c.uploads"]);
    expect(found.inPlainText).toEqual([]);
    expect(containerOf("orders-a").uploads).toEqual([
      // Read by the entrypoint as root before PostgreSQL drops to its own user; nobody else may read it.
      { file: "/run/secrets/postgres-password", content: TEST_PASSWORD, owner: "0", group: "0", permissions: "0400" },
    ]);
    expect(JSON.stringify(containerOf("orders-a").envs)).not.toContain(TEST_PASSWORD);
    expect(isSecretInput(rec.one(CONTAINER, "orders-a").inputs.uploads)).toBe(true);
  });

  it("defaults: shard-0..2, a generated 32-character alphanumeric password, the given network, the configured port", async () => {
    const component = rec.one(COMPONENT, "plain");
    const pw = rec.one("random:index/randomPassword:RandomPassword", "plain-password");
    expect(pw.parentUrn).toBe(component.urn);
    expect(pw.inputs).toMatchObject({ length: 32, special: false });
    expect(await pulumiSdk.isSecret(plain.password)).toBe(true);

    expect(rec.ofType(NETWORK).map((n) => n.name)).toEqual(["orders-net"]);
    expect(await valueOf(plain.networkName)).toBe("shared-net");
    const c = containerOf("plain-shard-2");
    expect(c.networksAdvanced).toEqual([{ name: "shared-net", aliases: ["plain-unit-docker-shard-2"] }]);
    expect(c.ports).toEqual([{ internal: 6543, external: 26434, ip: "127.0.0.1", protocol: "tcp" }]);
    expect(c.healthcheck.tests).toEqual(expect.arrayContaining(["-p", "6543"]));
    expect(c.envs).toEqual(expect.arrayContaining(["PGPORT=6543"]));
    const map = await valueOf(plain.shardMap);
    expect(map.shards.map((s) => [s.name, s.host, s.port, s.weight])).toEqual([
      ["shard-0", "plain-unit-docker-shard-0", 6543, 1],
      ["shard-1", "plain-unit-docker-shard-1", 6543, 1],
      ["shard-2", "plain-unit-docker-shard-2", 6543, 1],
    ]);
    expect(map).toMatchObject({ vnodesPerWeight: 150, replicationFactor: 1, consistency: "one" });
  });

  it("records the validated database section and environment on the component (for the policies)", () => {
    const inputs = rec.one(COMPONENT, "orders").inputs as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(inputs.target).toBe("docker");
    expect(inputs.environment).toBe("dev");
    expect(inputs.database).toMatchObject({ name: "orders", replicationFactor: 2, virtualNodes: 64, storageGb: 20 });
  });
});
