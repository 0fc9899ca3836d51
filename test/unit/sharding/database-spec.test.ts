/** core/sharding/database: the pure derivations every ShardedDatabase target builds from. */
import fc from "fast-check";
import { DatabaseSchema, shardPortSlots, type DatabaseConfig } from "../../../core/config";
import {
  distinctZones,
  dockerHostPorts,
  finalSnapshotIdentifier,
  kubernetesQuantities,
  kubernetesServiceHost,
  pgIsReadyCommand,
  postgresEnv,
  rdsAvailabilityZone,
  rdsSettings,
  shardResources,
  shardSelector,
  shardSpecs,
  spreadShardsOverZones,
  validateAwsPlacement,
  validatePassword,
} from "../../../core/sharding/database";
import { errorKeys } from "../../support/inputs";

const db = (input: object = {}): DatabaseConfig => DatabaseSchema.parse(input);

describe("shardSpecs", () => {
  it("names shards shard-0..n-1 with weight 1 for a count, and host names <database.name>-<shard>", () => {
    expect(
      shardSpecs(db({ name: "orders", shards: 2 })).map(({ index, name, weight, hostname }) => ({
        index,
        name,
        weight,
        hostname,
      })),
    ).toEqual([
      { index: 0, name: "shard-0", weight: 1, hostname: "orders-shard-0" },
      { index: 1, name: "shard-1", weight: 1, hostname: "orders-shard-1" },
    ]);
  });

  it("keeps configured names, weights and zones, and labels each shard with its name and weight", () => {
    const [a, b] = shardSpecs(db({ shards: [{ name: "hot", weight: 2.5, zone: "z1" }, { name: "cold" }] }));
    expect(a).toMatchObject({ name: "hot", weight: 2.5, zone: "z1", hostname: "db-hot" });
    expect(b.zone).toBeUndefined();
    expect(a.labels).toMatchObject({
      "scaleplane.io/shard": "hot",
      "scaleplane.io/weight": "2.5",
      "scaleplane.io/database": "db",
    });
    // The selector never includes the weight (a StatefulSet selector is immutable).
    expect(shardSelector(db(), "hot")).toEqual({
      "app.kubernetes.io/name": "postgres",
      "scaleplane.io/database": "db",
      "scaleplane.io/shard": "hot",
    });
    expect(Object.entries(shardSelector(db(), "hot")).every(([k, v]) => a.labels[k] === v)).toBe(true);
  });

  it("refuses a host name longer than 63 characters, naming the key that made it", () => {
    expect(errorKeys(() => shardSpecs(db({ name: "n".repeat(32), shards: [{ name: "s".repeat(31) }] })))).toEqual([
      "database.shards[0].name",
    ]);
    expect(shardSpecs(db({ name: "n".repeat(32), shards: [{ name: "s".repeat(30) }] }))[0].hostname).toHaveLength(63);
  });
});

describe("dockerHostPorts", () => {
  const named = (...names: string[]) => names.map((name) => ({ name }));
  const count = (n: number) => named(...Array.from({ length: n }, (_, i) => `shard-${i}`));
  it("gives shard-n the port portBase + n", () => {
    expect(dockerHostPorts(15432, count(3))).toEqual([15432, 15433, 15434]);
    expect(dockerHostPorts(65533, count(3))).toEqual([65533, 65534, 65535]);
  });
  it("keeps every other shard's port when one is removed (a moved port would replace its container)", () => {
    expect(dockerHostPorts(15432, named("shard-0", "shard-2", "shard-3"))).toEqual([15432, 15434, 15435]);
    expect(dockerHostPorts(15432, named("shard-3", "shard-0"))).toEqual([15435, 15432]);
  });
  it("gives other names the free slots in list order", () => {
    expect(dockerHostPorts(15432, named("a", "shard-0", "b", "shard-2"))).toEqual([15433, 15432, 15435, 15434]);
    expect(shardPortSlots(["orders", "users"])).toEqual([0, 1]);
  });
  it("refuses ranges past 65535 and privileged ports", () => {
    expect(errorKeys(() => dockerHostPorts(65534, count(3)))).toEqual(["docker.portBase"]);
    expect(errorKeys(() => dockerHostPorts(1023, count(1)))).toEqual(["docker.portBase"]);
    expect(errorKeys(() => dockerHostPorts(2000.5, count(1)))).toEqual(["docker.portBase"]);
  });
});

describe("zone placement", () => {
  const zones = ["a", "b", "c"];
  it("spreads unplaced shards evenly, counting configured zones", () => {
    expect(spreadShardsOverZones(shardSpecs(db({ shards: 5 })), zones)).toEqual(["a", "b", "c", "a", "b"]);
    const specs = shardSpecs(
      db({ shards: [{ name: "p", zone: "a" }, { name: "q", zone: "a" }, { name: "r" }, { name: "s" }, { name: "t" }] }),
    );
    expect(spreadShardsOverZones(specs, zones)).toEqual(["a", "a", "b", "c", "b"]);
  });

  it("keeps every zone within one shard of every other when no shard is placed", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 6 }), (n, z) => {
        const zs = Array.from({ length: z }, (_, i) => `z${i}`);
        const placed = spreadShardsOverZones(shardSpecs(db({ shards: n })), zs);
        const counts = zs.map((zone) => placed.filter((p) => p === zone).length);
        return Math.max(...counts) - Math.min(...counts) <= 1 && counts.reduce((x, y) => x + y, 0) === n;
      }),
    );
  });

  it("refuses a configured zone without a subnet", () => {
    expect(
      errorKeys(() =>
        spreadShardsOverZones(shardSpecs(db({ shards: [{ name: "p" }, { name: "q", zone: "x" }] })), zones),
      ),
    ).toEqual(["database.shards[1].zone"]);
  });

  it("requires subnets in at least two zones and at least one client security group", () => {
    const sub = (zone: string) => ({ zone, cidr: "10.0.0.0/24" });
    expect(distinctZones([sub("a"), sub("b"), sub("a")])).toEqual(["a", "b"]);
    expect(() => validateAwsPlacement([sub("a"), sub("b")], 1)).not.toThrow();
    expect(errorKeys(() => validateAwsPlacement([sub("a"), sub("a")], 1))).toEqual(["aws.subnets"]);
    expect(errorKeys(() => validateAwsPlacement([], 1))).toEqual(["aws.subnets"]);
    expect(errorKeys(() => validateAwsPlacement([sub("a"), sub("b")], 0))).toEqual(["aws.clientSecurityGroupIds"]);
  });

  it("pins a shard's zone only for single-AZ instances", () => {
    expect(rdsAvailabilityZone(db(), "a")).toBe("a");
    expect(rdsAvailabilityZone(db({ multiAz: true }), "a")).toBeUndefined();
  });
});

describe("rdsSettings", () => {
  it("is always encrypted and private, with the config's engine, size, backups and Multi-AZ", () => {
    for (const env of ["dev", "staging", "prod"] as const) {
      const s = rdsSettings(
        db({
          engineVersion: "16.2",
          instanceClass: "db.m7g.large",
          storageGb: 100,
          backupRetentionDays: 3,
          multiAz: true,
          port: 6000,
        }),
        env,
      );
      expect(s).toMatchObject({
        engine: "postgres",
        engineVersion: "16.2",
        instanceClass: "db.m7g.large",
        allocatedStorage: 100,
        storageType: "gp3",
        storageEncrypted: true,
        publiclyAccessible: false,
        backupRetentionPeriod: 3,
        multiAz: true,
        port: 6000,
        copyTagsToSnapshot: true,
      });
    }
    expect(rdsSettings(db({ storageGb: 19 }), "dev").storageType).toBe("gp2");
  });

  it("protects prod: deletion protection and a final snapshot; other environments can be torn down", () => {
    expect(rdsSettings(db(), "prod")).toMatchObject({ deletionProtection: true, skipFinalSnapshot: false });
    expect(rdsSettings(db(), "staging")).toMatchObject({ deletionProtection: false, skipFinalSnapshot: true });
    expect(rdsSettings(db(), "dev")).toMatchObject({ deletionProtection: false, skipFinalSnapshot: true });
    expect(finalSnapshotIdentifier(shardSpecs(db({ name: "orders", shards: 1 }))[0])).toBe("orders-shard-0-final");
  });

  it("refuses prod without automated backups", () => {
    expect(errorKeys(() => rdsSettings(db({ backupRetentionDays: 0 }), "prod"))).toEqual([
      "database.backupRetentionDays",
    ]);
    expect(rdsSettings(db({ backupRetentionDays: 0 }), "dev").backupRetentionPeriod).toBe(0);
  });
});

describe("container and pod settings", () => {
  it("derives the postgres environment (no password) and the pg_isready command from the config", () => {
    const c = db({ username: "svc", databaseName: "orders", port: 6543 });
    expect(postgresEnv(c)).toEqual({
      POSTGRES_USER: "svc",
      POSTGRES_DB: "orders",
      PGDATA: "/var/lib/postgresql/data/pgdata",
      PGPORT: "6543",
    });
    expect(pgIsReadyCommand(c)).toEqual(["pg_isready", "-h", "127.0.0.1", "-p", "6543", "-U", "svc", "-d", "orders"]);
  });

  it("defaults and checks shard resources, and converts them to Kubernetes quantities", () => {
    expect(shardResources(undefined)).toEqual({ cpu: 1, memoryMb: 1024 });
    expect(shardResources({ cpu: 0.5 })).toEqual({ cpu: 0.5, memoryMb: 1024 });
    expect(errorKeys(() => shardResources({ cpu: -1 }))).toEqual(["resources.cpu"]);
    expect(errorKeys(() => shardResources({ memoryMb: 100.5 }))).toEqual(["resources.memoryMb"]);
    expect(kubernetesQuantities({ cpu: 1.5, memoryMb: 768 })).toEqual({ cpu: "1500m", memory: "768Mi" });
    expect(kubernetesServiceHost("db-shard-0", "data")).toBe("db-shard-0.data.svc.cluster.local");
  });

  it("accepts passwords RDS takes and refuses the rest", () => {
    expect(() => validatePassword("Abcdefgh12345678")).not.toThrow();
    expect(() => validatePassword("a-b_c.d~e!f#g$h%")).not.toThrow();
    for (const bad of [
      "short",
      "x".repeat(129),
      "with space",
      "has/slash1",
      'quote"d12',
      "at@sign12",
      "tab\there1",
      "ünïcödé12",
    ])
      expect(errorKeys(() => validatePassword(bad))).toEqual(["password"]);
  });
});
