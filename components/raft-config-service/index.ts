/**
 * RaftConfigService: an etcd cluster of 1, 3, 5 or 7 members on Docker, AWS or Kubernetes. Every
 * member's command line comes from core/etcd/spec.ts (one flag builder for all targets); placement
 * (hosts, fixed IPs, names) from core/etcd/placement.ts. With `configService.tls`, a per-stack CA,
 * server, peer and client certificate are generated (tls.ts); private keys stay secrets.
 *
 * Providers come through the resource options or from the parent; every child is created with
 * `{ parent: this }`, so they flow to it.
 *
 * @example
 * const config = new RaftConfigService("config", {
 *   target: "docker",
 *   configService: { members: 3, tls: true },
 *   docker: { portBase: 12379 },
 * });
 * export const etcdEndpoints = config.publishedEndpoints;
 */
import type * as aws from "@pulumi/aws";
import type * as docker from "@pulumi/docker";
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ConfigServiceSchema, componentBase, configFail, parseSection } from "../../core/config";
import { etcdClusterName, fixedMemberIp, kubernetesDeployedMembers } from "../../core/etcd/placement";
import { hostPortRange } from "../../core/ports";
import { TOKENS } from "../../core/tokens";
import type { EtcdMembership } from "../../providers/etcd-membership";
import { EtcdMemberCountLock } from "../../providers/member-count-lock";
import type { EtcdBuildContext, EtcdBuildResult, RaftConfigServiceArgs } from "./args";
import { createAwsEtcd, deployedAwsMemberCount } from "./aws";
import { createDockerEtcd } from "./docker";
import { createKubernetesEtcd } from "./kubernetes";
import { createTls } from "./tls";

export type {
  EtcdTlsOutputs,
  RaftConfigServiceArgs,
  RaftConfigServiceAwsArgs,
  RaftConfigServiceCommonArgs,
  RaftConfigServiceDockerArgs,
  RaftConfigServiceKubernetesArgs,
} from "./args";

/** Checks the chosen target's block (before anything is registered). */
function validateTargetBlock(args: RaftConfigServiceArgs, members: number): void {
  if (args.target === "docker") {
    hostPortRange("docker.portBase", args.docker.portBase, members);
  } else if (args.target === "aws") {
    const a = args.aws;
    if (a.subnets.length === 0) configFail("aws.subnets", "must list at least one private subnet for the etcd members");
    if (a.clientSecurityGroupIds.length === 0)
      configFail("aws.clientSecurityGroupIds", "must list at least one security group allowed to reach etcd");
    a.subnets.forEach((s, i) => {
      try {
        fixedMemberIp(s.cidr, 0);
      } catch (e) {
        configFail(`aws.subnets[${i}].cidr`, (e as Error).message);
      }
    });
  }
}

/**
 * The member-count lock's `deployedMembers` (the members deployed now; `{}` when nothing is known):
 * aws counts the member instances; kubernetes the members among `kubernetes.deployedEndpoints`,
 * where a malformed value rejects (the lock is not registered: the update fails, never counts 0).
 */
function deployedMembers(
  args: RaftConfigServiceArgs,
  clusterName: string,
  parent: pulumi.Resource,
): { deployedMembers?: pulumi.Input<number> } {
  if (args.target === "aws") return { deployedMembers: deployedAwsMemberCount(clusterName, { parent }) };
  if (args.target !== "kubernetes" || args.kubernetes.deployedEndpoints === undefined) return {};
  const { deployedEndpoints, namespace } = args.kubernetes;
  return {
    deployedMembers: pulumi
      .all([deployedEndpoints, namespace])
      .apply(([endpoints, ns]) => kubernetesDeployedMembers(endpoints, clusterName, ns)),
  };
}

export class RaftConfigService extends pulumi.ComponentResource {
  /** Client URLs of every member as the apps reach them (container names, pod DNS names, fixed IPs). */
  readonly clientEndpoints: pulumi.Output<string[]>;
  /** etcd member names, in order. */
  readonly memberNames: pulumi.Output<string[]>;
  /** Docker: `http(s)://127.0.0.1:<port>` per member, for tools and tests on the host; `[]` on other targets. */
  readonly publishedEndpoints: pulumi.Output<string[]>;
  /** Docker: the network the members are on (apps join it). Undefined on other targets. */
  readonly networkName: pulumi.Output<string | undefined>;
  /** AWS: the members' security group. Undefined on other targets. */
  readonly securityGroupId: pulumi.Output<string | undefined>;
  /** The CA certificate (PEM) when TLS is on. */
  readonly caCertificate: pulumi.Output<string | undefined>;
  /** A client certificate (PEM) for the apps when TLS is on. */
  readonly clientCertificate: pulumi.Output<string | undefined>;
  /** The client certificate's private key (secret) when TLS is on. */
  readonly clientPrivateKey: pulumi.Output<string | undefined>;

  /** Docker: the members' network when created here (undefined when `docker.network` was given). */
  readonly network?: docker.Network;
  /** Docker: the resource that owns the member containers and the Raft membership. */
  readonly membership?: EtcdMembership;
  /** AWS: the members' security group. */
  readonly securityGroup?: aws.ec2.SecurityGroup;
  /** AWS: the member instances, in member order. */
  readonly instances?: aws.ec2.Instance[];
  /** AWS: the members' launch template (AMI, IMDSv2). */
  readonly launchTemplate?: aws.ec2.LaunchTemplate;
  /** AWS: the members' instance role. */
  readonly instanceRole?: aws.iam.Role;
  /** Kubernetes: the members' StatefulSet. */
  readonly statefulSet?: k8s.apps.v1.StatefulSet;
  /** Kubernetes: the client Service. */
  readonly service?: k8s.core.v1.Service;
  /** Kubernetes: the headless peer Service. */
  readonly peerService?: k8s.core.v1.Service;

  constructor(name: string, args: RaftConfigServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    // Validate before registering anything: a bad argument creates no resource at all.
    const environment = componentBase("RaftConfigService", name, args);
    const cs = parseSection(ConfigServiceSchema, args.configService, "configService");
    if (environment === "prod" && cs.members < 3)
      configFail(
        "configService.members",
        `must be 3, 5 or 7 in prod (1 member has no fault tolerance); got ${cs.members}`,
      );
    validateTargetBlock(args, cs.members);
    // Recorded inputs (no secrets): policies read the environment and the validated section.
    super(TOKENS.configService, name, { target: args.target, environment, configService: cs }, opts);

    const clusterName = etcdClusterName(cs.name, pulumi.getStack());
    // aws/kubernetes have no safe membership protocol yet: their member count is frozen once created
    // (docker changes members one at a time through EtcdMembership). The lock also gets the members
    // deployed now, so a cluster deployed before the lock existed is held to that count in the lock's
    // first `up`: on aws the member instances (looked up with this component's provider); on
    // kubernetes the members among the endpoints the stack's last deployment published
    // (`kubernetes.deployedEndpoints`; no live read is sound there, kubernetes.ts says why).
    const memberDependsOn =
      args.target === "docker"
        ? []
        : [
            new EtcdMemberCountLock(
              `${name}-member-lock`,
              { clusterName, target: args.target, members: cs.members, ...deployedMembers(args, clusterName, this) },
              { parent: this },
            ),
          ];
    const ctx: EtcdBuildContext = {
      name,
      cs,
      environment,
      clusterName,
      tls: (sans) => createTls(name, clusterName, this, sans),
      parent: this,
      memberDependsOn,
    };
    let built: EtcdBuildResult;
    let publishedEndpoints: pulumi.Output<string[]> = pulumi.output([]);
    let networkName: pulumi.Output<string | undefined> = pulumi.output(undefined);
    let securityGroupId: pulumi.Output<string | undefined> = pulumi.output(undefined);
    switch (args.target) {
      case "docker": {
        const d = createDockerEtcd(ctx, args.docker);
        built = d;
        publishedEndpoints = d.publishedEndpoints;
        networkName = d.networkName;
        this.network = d.network;
        this.membership = d.membership;
        break;
      }
      case "aws": {
        const a = createAwsEtcd(ctx, args.aws);
        built = a;
        securityGroupId = a.securityGroup.id;
        this.securityGroup = a.securityGroup;
        this.instances = a.instances;
        this.launchTemplate = a.launchTemplate;
        this.instanceRole = a.role;
        break;
      }
      case "kubernetes": {
        const k = createKubernetesEtcd(ctx, args.kubernetes);
        built = k;
        this.statefulSet = k.statefulSet;
        this.service = k.service;
        this.peerService = k.peerService;
        break;
      }
    }

    this.clientEndpoints = built.clientEndpoints;
    this.memberNames = pulumi.output(built.memberNames);
    this.publishedEndpoints = publishedEndpoints;
    this.networkName = networkName;
    this.securityGroupId = securityGroupId;
    this.caCertificate = built.tls ? built.tls.ca : pulumi.output(undefined);
    this.clientCertificate = built.tls ? built.tls.clientCert : pulumi.output(undefined);
    this.clientPrivateKey = built.tls ? pulumi.secret(built.tls.clientKey) : pulumi.output(undefined);
    this.registerOutputs({
      clientEndpoints: this.clientEndpoints,
      memberNames: this.memberNames,
      publishedEndpoints: this.publishedEndpoints,
      networkName: this.networkName,
      securityGroupId: this.securityGroupId,
      caCertificate: this.caCertificate,
      clientCertificate: this.clientCertificate,
      clientPrivateKey: this.clientPrivateKey,
    });
  }
}
