/**
 * ShardedDatabase on AWS: one encrypted, private RDS PostgreSQL instance per shard, in a subnet
 * group over the private subnets, behind a security group that admits the database port only from
 * the client (app) security groups.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import {
  databaseTags,
  finalSnapshotIdentifier,
  rdsAvailabilityZone,
  type RdsSettings,
} from "../../core/sharding/database";
import type { AwsShardsResult, ShardBuildContext, ShardedDatabaseAwsArgs } from "./args";

/**
 * Creates the security group, the subnet group and the shard instances. `zones[i]` is shard i's
 * zone and `settings` the RDS settings, both derived and validated in core/sharding/database.
 */
export function createAwsShards(
  ctx: ShardBuildContext,
  args: ShardedDatabaseAwsArgs,
  zones: readonly string[],
  settings: RdsSettings,
): AwsShardsResult {
  const { name, db, environment, shards, parent } = ctx;
  const tags = databaseTags(db, environment);

  const securityGroup = new aws.ec2.SecurityGroup(
    `${name}-sg`,
    {
      vpcId: args.vpcId,
      description: `${db.name} PostgreSQL shards: port ${db.port} from the app only`,
      ingress: [
        {
          protocol: "tcp",
          fromPort: db.port,
          toPort: db.port,
          securityGroups: args.clientSecurityGroupIds,
          description: "PostgreSQL from the app",
        },
      ],
      // RDS needs no outbound rule; an empty list removes the default allow-all egress.
      egress: [],
      tags,
    },
    { parent },
  );

  const subnetGroup = new aws.rds.SubnetGroup(
    `${name}-subnets`,
    { description: `${db.name} PostgreSQL shards (private subnets)`, subnetIds: args.subnets.map((s) => s.id), tags },
    { parent },
  );

  const instances = shards.map(
    (shard, i) =>
      new aws.rds.Instance(
        `${name}-${shard.name}`,
        {
          ...settings,
          kmsKeyId: args.kmsKeyId,
          password: ctx.password,
          // A subnet group's id is its name.
          dbSubnetGroupName: subnetGroup.id,
          vpcSecurityGroupIds: [securityGroup.id],
          availabilityZone: rdsAvailabilityZone(db, zones[i]),
          finalSnapshotIdentifier: settings.skipFinalSnapshot ? undefined : finalSnapshotIdentifier(shard),
          tags: databaseTags(db, environment, shard),
        },
        { parent, additionalSecretOutputs: ["password"] },
      ),
  );

  return {
    endpoints: pulumi
      .all(instances.map((inst) => inst.address))
      .apply((addresses) => Object.fromEntries(shards.map((s, i) => [s.name, { host: addresses[i], port: db.port }]))),
    securityGroup,
    subnetGroup,
    instances,
  };
}
