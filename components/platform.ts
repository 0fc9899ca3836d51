/**
 * Platform: the whole service platform on one target. Composes the AutoscalingGroup, the
 * RaftConfigService (etcd) and the ShardedDatabase, and wires them: app instances get the
 * config-service endpoints and the database credentials (as secrets); the config service and the
 * database admit only the app.
 */
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { parsePlatformConfig, type PlatformConfig, type PlatformConfigInput } from "../core/config";
import type { ShardMap } from "../core/shard-map";
import { AutoscalingGroup } from "./autoscaling-group";
import { RaftConfigService } from "./raft-config-service";
import { ShardedDatabase } from "./sharded-database";
import { createAwsNetwork, type AwsNetwork } from "./targets/aws/network";

export interface PlatformArgs {
  /**
   * The platform configuration, exactly as under the `scaleplane:` config namespace (see
   * core/config.ts for every field and its default). Validated in the constructor: a bad value
   * throws a ConfigError naming `scaleplane:<section>.<field>` before any resource is created.
   */
  config: PlatformConfigInput;
  /**
   * Kubernetes provider for target `kubernetes`.
   * @default the ambient kubeconfig context
   */
  kubernetesProvider?: k8s.Provider;
}

/** Resource tags every AWS resource of the platform carries. */
const platformTags = (name: string, cfg: PlatformConfig) => ({ "scaleplane:platform": name, "scaleplane:environment": cfg.environment });

/**
 * An AWS provider for the platform's region; with `aws.endpoint` set (LocalStack) every service
 * goes to that endpoint and credential/account checks are skipped.
 */
function awsProvider(name: string, cfg: PlatformConfig, parent: pulumi.Resource): aws.Provider {
  const endpoint = cfg.aws.endpoint;
  const services = ["autoscaling", "cloudwatch", "ec2", "elbv2", "iam", "rds", "ssm", "sts", "kms"];
  return new aws.Provider(
    `${name}-aws`,
    {
      region: cfg.aws.region as aws.Region,
      defaultTags: { tags: platformTags(name, cfg) },
      ...(endpoint
        ? {
            accessKey: "test",
            secretKey: pulumi.secret("test"),
            skipCredentialsValidation: true,
            skipRequestingAccountId: true,
            skipMetadataApiCheck: true,
            skipRegionValidation: true,
            s3UsePathStyle: true,
            endpoints: [Object.fromEntries(services.map((s) => [s, endpoint]))],
          }
        : {}),
    },
    { parent },
  );
}

export class Platform extends pulumi.ComponentResource {
  /** The validated configuration the platform was built from. */
  readonly config: PlatformConfig;
  readonly app: AutoscalingGroup;
  readonly configService: RaftConfigService;
  readonly database: ShardedDatabase;
  /** How users reach the app (ALB URL, Service URL, or 127.0.0.1 ports on Docker). */
  readonly appEndpoints: pulumi.Output<string[]>;
  /** etcd client endpoints as the app reaches them. */
  readonly configEndpoints: pulumi.Output<string[]>;
  /** The shard map (members, weights, vnodes, replication factor, consistency). */
  readonly shardMap: pulumi.Output<ShardMap>;

  constructor(name: string, args: PlatformArgs, opts?: pulumi.ComponentResourceOptions) {
    const config = parsePlatformConfig(args.config);
    super(
      "scaleplane:platform:Platform",
      name,
      { target: config.target, environment: config.environment, config: JSON.stringify(config) },
      opts,
    );
    this.config = config;
    const { target, environment } = config;

    let network: AwsNetwork | undefined;
    let appSecurityGroup: aws.ec2.SecurityGroup | undefined;
    let namespace: pulumi.Input<string> = config.kubernetes.namespace;
    let childOpts: pulumi.ComponentResourceOptions = { parent: this };

    if (target === "aws") {
      const provider = awsProvider(name, config, this);
      childOpts = { parent: this, providers: { aws: provider } };
      const existing = config.aws.existingNetwork;
      network = existing
        ? { vpcId: existing.vpcId, publicSubnetIds: existing.publicSubnetIds, privateSubnets: existing.privateSubnets }
        : createAwsNetwork(name, { vpcCidr: config.aws.vpcCidr, zones: config.aws.zones, tags: platformTags(name, config) }, this, provider);
      // The app's instances carry this group; the config service and the database admit only it.
      appSecurityGroup = new aws.ec2.SecurityGroup(
        `${name}-app-sg`,
        {
          vpcId: network.vpcId,
          description: `${name} app instances`,
          egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"], description: "outbound" }],
        },
        { parent: this, provider },
      );
    } else if (target === "kubernetes") {
      const ns = new k8s.core.v1.Namespace(
        `${name}-ns`,
        { metadata: { name: config.kubernetes.namespace, labels: { "app.kubernetes.io/part-of": "scaleplane" } } },
        { parent: this, provider: args.kubernetesProvider },
      );
      namespace = ns.metadata.name;
      if (args.kubernetesProvider) childOpts = { parent: this, providers: { kubernetes: args.kubernetesProvider } };
    }

    const kubernetes = { namespace, storageClass: config.kubernetes.storageClass, provider: args.kubernetesProvider };

    this.configService = new RaftConfigService(
      `${name}-config`,
      {
        target,
        environment,
        configService: config.configService,
        aws: network && appSecurityGroup ? { vpcId: network.vpcId, subnets: network.privateSubnets, clientSecurityGroupIds: [appSecurityGroup.id] } : undefined,
        kubernetes: target === "kubernetes" ? { ...kubernetes, zones: config.kubernetes.zones } : undefined,
        docker: target === "docker" ? { portBase: config.docker.etcdPortBase } : undefined,
      },
      childOpts,
    );

    this.database = new ShardedDatabase(
      `${name}-db`,
      {
        target,
        environment,
        database: config.database,
        aws: network && appSecurityGroup ? { vpcId: network.vpcId, subnets: network.privateSubnets, clientSecurityGroupIds: [appSecurityGroup.id] } : undefined,
        kubernetes: target === "kubernetes" ? kubernetes : undefined,
        docker: target === "docker" ? { portBase: config.docker.databasePortBase } : undefined,
      },
      childOpts,
    );

    const cs = this.configService;
    const db = this.database;
    this.app = new AutoscalingGroup(
      `${name}-app`,
      {
        target,
        environment,
        app: config.app,
        env: {
          SCALEPLANE_CONFIG_ENDPOINTS: cs.clientEndpoints.apply((e) => e.join(",")),
          SCALEPLANE_DATABASE_USER: db.username,
          SCALEPLANE_DATABASE_NAME: db.databaseName,
          SCALEPLANE_SHARD_MAP: db.shardMap.apply((m) => JSON.stringify(m)),
        },
        secretEnv: { SCALEPLANE_DATABASE_PASSWORD: db.password },
        aws:
          network && appSecurityGroup
            ? { vpcId: network.vpcId, subnets: network.privateSubnets, publicSubnetIds: network.publicSubnetIds, instanceSecurityGroupId: appSecurityGroup.id, ingressCidrs: config.aws.ingressCidrs }
            : undefined,
        kubernetes: target === "kubernetes" ? kubernetes : undefined,
        docker: target === "docker" ? { portBase: config.docker.appPortBase, networks: [cs.networkName, db.networkName] } : undefined,
      },
      { ...childOpts, dependsOn: [cs, db] },
    );

    this.appEndpoints = this.app.endpoints;
    this.configEndpoints = cs.clientEndpoints;
    this.shardMap = db.shardMap;
    this.registerOutputs({ appEndpoints: this.appEndpoints, configEndpoints: this.configEndpoints, shardMap: this.shardMap });
  }
}
