/**
 * ShardedDatabase argument validation: every bad argument fails in the constructor with a
 * ConfigError naming the key, before any resource (not even the component) is registered.
 */
import { ShardedDatabase } from "../../../components/sharded-database";
import { installMocks, settle } from "../../../scripts/lib/offline";
import { errorKeys } from "../../support/inputs";

const rec = installMocks({ stack: "unit-db-validation" });
type Args = import("../../../components/sharded-database").ShardedDatabaseArgs;

const subnets = [
  { id: "subnet-a", cidr: "10.0.1.0/24", zone: "eu-west-1a" },
  { id: "subnet-b", cidr: "10.0.2.0/24", zone: "eu-west-1b" },
];
const awsBlock = { vpcId: "vpc-1", subnets, clientSecurityGroupIds: ["sg-app"] };

/** The ConfigError keys thrown by constructing a database with `args`. */
const keysOf = (args: Args): string[] => errorKeys(() => new ShardedDatabase("bad", args));

describe("ShardedDatabase argument validation", () => {
  it("names the database key that is wrong", () => {
    expect(
      keysOf({ target: "docker", database: { shards: 2, replicationFactor: 3 }, docker: { portBase: 30000 } }),
    ).toEqual(["database.replicationFactor"]);
    expect(
      keysOf({ target: "docker", database: { shards: 2, consistency: "quorum" }, docker: { portBase: 30000 } }),
    ).toEqual(["database.consistency"]);
    expect(keysOf({ target: "docker", database: { shardz: 2 } as never, docker: { portBase: 30000 } })).toEqual([
      "database.shardz",
    ]);
    expect(
      keysOf({ target: "docker", database: { shards: [{ name: "a" }, { name: "a" }] }, docker: { portBase: 30000 } }),
    ).toEqual(["database.shards[1].name"]);
    expect(
      () => new ShardedDatabase("bad", { target: "docker", database: { shards: 0 }, docker: { portBase: 30000 } }),
    ).toThrow(/database\.shards: must be a whole number from 1 to 256; got 0/);
  });

  it("requires the block of the chosen target", () => {
    // @ts-expect-error -- the type requires the target's block; a JavaScript caller gets the ConfigError
    expect(() => new ShardedDatabase("bad", { target: "aws", database: {} })).toThrow(
      /- aws: is required for target aws/,
    );
    // @ts-expect-error -- the type requires the target's block; a JavaScript caller gets the ConfigError
    expect(() => new ShardedDatabase("bad", { target: "kubernetes", database: {}, aws: awsBlock })).toThrow(
      /- kubernetes: is required for target kubernetes/,
    );
    expect(
      // @ts-expect-error -- the type requires the target's block; a JavaScript caller gets the ConfigError
      () => new ShardedDatabase("bad", { target: "docker", database: {}, kubernetes: { namespace: "x" } }),
    ).toThrow(/- docker: is required for target docker/);
    expect(keysOf({ target: "gcp", database: {} } as never)).toEqual(["target"]);
    expect(
      keysOf({ target: "docker", environment: "production" as never, database: {}, docker: { portBase: 30000 } }),
    ).toEqual(["environment"]);
  });

  it("refuses AWS placements that would expose or strand the database", () => {
    expect(
      () => new ShardedDatabase("bad", { target: "aws", database: {}, aws: { ...awsBlock, subnets: [subnets[0]] } }),
    ).toThrow(/aws\.subnets: must span at least 2 availability zones.*1 zone\(s\) \(eu-west-1a\)/);
    expect(
      keysOf({
        target: "aws",
        database: {},
        aws: { ...awsBlock, subnets: [subnets[0], { ...subnets[1], zone: "eu-west-1a" }] },
      }),
    ).toEqual(["aws.subnets"]);
    expect(keysOf({ target: "aws", database: {}, aws: { ...awsBlock, clientSecurityGroupIds: [] } })).toEqual([
      "aws.clientSecurityGroupIds",
    ]);
    expect(
      () =>
        new ShardedDatabase("bad", {
          target: "aws",
          database: { shards: [{ name: "a" }, { name: "b", zone: "us-east-1a" }] },
          aws: awsBlock,
        }),
    ).toThrow(
      /database\.shards\[1\]\.zone: must be one of the database subnets' zones \(eu-west-1a, eu-west-1b\); got "us-east-1a"/,
    );
    expect(keysOf({ target: "aws", environment: "prod", database: { backupRetentionDays: 0 }, aws: awsBlock })).toEqual(
      ["database.backupRetentionDays"],
    );
  });

  it("refuses bad docker ports, resources, passwords and over-long host names", () => {
    expect(keysOf({ target: "docker", database: { shards: 10 }, docker: { portBase: 65530 } })).toEqual([
      "docker.portBase",
    ]);
    expect(keysOf({ target: "docker", database: {}, docker: { portBase: 80 } })).toEqual(["docker.portBase"]);
    expect(
      keysOf({ target: "docker", database: {}, resources: { memoryMb: 16 }, docker: { portBase: 30000 } }),
    ).toEqual(["resources.memoryMb"]);
    expect(keysOf({ target: "docker", database: {}, resources: { cpu: 0 }, docker: { portBase: 30000 } })).toEqual([
      "resources.cpu",
    ]);
    expect(keysOf({ target: "docker", database: {}, password: "short", docker: { portBase: 30000 } })).toEqual([
      "password",
    ]);
    expect(keysOf({ target: "docker", database: {}, password: "has@an-at-sign", docker: { portBase: 30000 } })).toEqual(
      ["password"],
    );
    const long = "s".repeat(32);
    expect(
      keysOf({
        target: "kubernetes",
        database: { name: "d".repeat(31), shards: [{ name: "ok" }, { name: long }] },
        kubernetes: { namespace: "x" },
      }),
    ).toEqual(["database.shards[1].name"]);
  });

  it("registered nothing for any of the refused databases", async () => {
    await settle();
    expect(rec.resources).toEqual([]);
  });
});
