/**
 * ShardedDatabase on AWS under the mock runtime: encrypted private RDS instances, a subnet group
 * over two zones, a security group open to the app only, the prod rules (deletion protection,
 * final snapshot), the shard map of RDS addresses, and the password only as a secret.
 */
import { TOKENS } from "../../../core/tokens";
import * as pulumi from "@pulumi/pulumi";
import { ShardedDatabase } from "../../../components/sharded-database";
import { installMocks, settle, valueOf } from "../../../scripts/lib/offline";
import { TEST_PASSWORD, isSecretInput, plainInputs, treeOf, whereFound } from "../../support/inputs";

const rec = installMocks({ stack: "unit-aws" });

const RDS = "aws:rds/instance:Instance";
const SG = "aws:ec2/securityGroup:SecurityGroup";
const SUBNET_GROUP = "aws:rds/subnetGroup:SubnetGroup";
const COMPONENT = TOKENS.database;

const subnets = [
  { id: "subnet-a", cidr: "10.42.10.0/24", zone: "us-east-1a" },
  { id: "subnet-b", cidr: "10.42.11.0/24", zone: "us-east-1b" },
];
const aws = { vpcId: "vpc-1", subnets, clientSecurityGroupIds: ["sg-app", pulumi.output("sg-ops")] };

const dev = new ShardedDatabase("orders", {
  target: "aws",
  database: {
    name: "orders",
    shards: [{ name: "a" }, { name: "b", weight: 2 }, { name: "c", zone: "us-east-1b" }, { name: "d" }],
    virtualNodes: 100,
    replicationFactor: 3,
    consistency: "quorum",
  },
  password: TEST_PASSWORD,
  aws,
});
const prod = new ShardedDatabase("ledger", {
  target: "aws",
  environment: "prod",
  database: {
    name: "ledger",
    shards: 2,
    multiAz: true,
    backupRetentionDays: 14,
    storageGb: 10,
    instanceClass: "db.r6g.large",
    engineVersion: "15.7",
  },
  aws: { ...aws, kmsKeyId: "arn:aws:kms:us-east-1:000000000000:key/ledger" },
});

beforeAll(settle);

const inputsOf = (type: string, name: string) => plainInputs(rec.one(type, name).inputs);

describe("ShardedDatabase on aws", () => {
  it("creates a security group, a subnet group and one RDS instance per shard under the component", () => {
    const component = rec.one(COMPONENT, "orders");
    expect(
      rec
        .childrenOf(component)
        .map((r) => `${r.type} ${r.name}`)
        .sort(),
    ).toEqual(
      [
        `${SG} orders-sg`,
        `${SUBNET_GROUP} orders-subnets`,
        ...["a", "b", "c", "d"].map((s) => `${RDS} orders-${s}`),
      ].sort(),
    );
  });

  it("lets only the client security groups reach the database port, never a CIDR", () => {
    const sg = inputsOf(SG, "orders-sg");
    expect(sg.vpcId).toBe("vpc-1");
    expect(sg.ingress).toHaveLength(1);
    expect(sg.ingress[0]).toMatchObject({
      protocol: "tcp",
      fromPort: 5432,
      toPort: 5432,
      securityGroups: ["sg-app", "sg-ops"],
    });
    expect(sg.ingress[0].cidrBlocks ?? []).toEqual([]);
    expect(sg.ingress[0].ipv6CidrBlocks ?? []).toEqual([]);
    expect(sg.egress).toEqual([]);
    expect(JSON.stringify(sg)).not.toContain("0.0.0.0/0");
    for (const name of ["orders-a", "orders-d"])
      expect(inputsOf(RDS, name).vpcSecurityGroupIds).toEqual([expect.stringMatching(/^orders-sg-id-/)]);
  });

  it("puts every instance in a subnet group over the given private subnets", () => {
    expect(inputsOf(SUBNET_GROUP, "orders-subnets").subnetIds).toEqual(["subnet-a", "subnet-b"]);
    for (const s of ["a", "b", "c", "d"])
      expect(inputsOf(RDS, `orders-${s}`).dbSubnetGroupName).toMatch(/^orders-subnets-id-/);
  });

  it("creates encrypted, private PostgreSQL instances with the configured engine, size and backups", () => {
    const i = inputsOf(RDS, "orders-b");
    expect(i).toMatchObject({
      engine: "postgres",
      engineVersion: "15",
      instanceClass: "db.t4g.micro",
      allocatedStorage: 20,
      storageType: "gp3",
      storageEncrypted: true,
      publiclyAccessible: false,
      backupRetentionPeriod: 7,
      multiAz: false,
      port: 5432,
      dbName: "app",
      username: "scaleplane",
      copyTagsToSnapshot: true,
      autoMinorVersionUpgrade: true,
    });
    expect(i.kmsKeyId).toBeUndefined();
    expect(i.tags).toMatchObject({
      "scaleplane:shard": "b",
      "scaleplane:weight": "2",
      "scaleplane:environment": "dev",
      Name: "orders-unit-aws-b",
    });
  });

  it("spreads the shards over the subnets' zones, honouring a configured zone", () => {
    expect(["a", "b", "c", "d"].map((s) => inputsOf(RDS, `orders-${s}`).availabilityZone)).toEqual([
      "us-east-1a",
      "us-east-1a",
      "us-east-1b",
      "us-east-1b",
    ]);
  });

  it("outside prod: no deletion protection and no final snapshot", () => {
    const i = inputsOf(RDS, "orders-a");
    expect(i.deletionProtection).toBe(false);
    expect(i.skipFinalSnapshot).toBe(true);
    expect(i.finalSnapshotIdentifier).toBeUndefined();
  });

  it("in prod: deletion protection, a final snapshot, the KMS key, Multi-AZ without a pinned zone", () => {
    ["shard-0", "shard-1"].forEach((s) => {
      const i = inputsOf(RDS, `ledger-${s}`);
      expect(i).toMatchObject({
        deletionProtection: true,
        skipFinalSnapshot: false,
        finalSnapshotIdentifier: `ledger-unit-aws-${s}-final`,
        storageEncrypted: true,
        kmsKeyId: "arn:aws:kms:us-east-1:000000000000:key/ledger",
        multiAz: true,
        backupRetentionPeriod: 14,
        instanceClass: "db.r6g.large",
        engineVersion: "15.7",
        allocatedStorage: 10,
        storageType: "gp2",
        publiclyAccessible: false,
      });
      expect(i.availabilityZone).toBeUndefined();
    });
  });

  it("publishes the shard map with the RDS addresses and the config's ring settings", async () => {
    expect(await valueOf(dev.shardMap)).toEqual({
      epoch: 0,
      maxClockOffsetMs: 500,
      vnodesPerWeight: 100,
      replicationFactor: 3,
      consistency: "quorum",
      shards: [
        { name: "a", weight: 1, host: "orders-a.mock.rds.amazonaws.com", port: 5432, database: "app" },
        { name: "b", weight: 2, host: "orders-b.mock.rds.amazonaws.com", port: 5432, database: "app" },
        {
          name: "c",
          weight: 1,
          zone: "us-east-1b",
          host: "orders-c.mock.rds.amazonaws.com",
          port: 5432,
          database: "app",
        },
        { name: "d", weight: 1, host: "orders-d.mock.rds.amazonaws.com", port: 5432, database: "app" },
      ],
    });
    expect(await valueOf(dev.securityGroupId)).toMatch(/^orders-sg-id-/);
    expect(await valueOf(dev.hostEndpoints)).toEqual({});
  });

  it("sends the password only as a secret input of the instances and keeps it out of the shard map", async () => {
    const found = whereFound(rec, rec.one(COMPONENT, "orders").urn, TEST_PASSWORD);
    expect(found.anywhere).toEqual([
      "orders-a.password",
      "orders-b.password",
      "orders-c.password",
      "orders-d.password",
    ]);
    expect(found.inPlainText).toEqual([]);
    expect(isSecretInput(rec.one(RDS, "orders-a").inputs.password)).toBe(true);
    expect(await pulumi.isSecret(dev.password)).toBe(true);
    expect(JSON.stringify(await valueOf(dev.shardMap))).not.toContain(TEST_PASSWORD);
  });

  it("generates the password when none is given, and still sends it only as a secret", async () => {
    const root = rec.one(COMPONENT, "ledger");
    expect(rec.one("random:index/randomPassword:RandomPassword", "ledger-password").parentUrn).toBe(root.urn);
    for (const r of treeOf(rec, root.urn).filter((r) => r.type === RDS))
      expect(isSecretInput(r.inputs.password)).toBe(true);
    expect(await pulumi.isSecret(prod.password)).toBe(true);
  });
});
