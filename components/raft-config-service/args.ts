/**
 * Arguments of the RaftConfigService, and the context and results its target builders share.
 * Types only: the class (index.ts) and the builders import them from here, never from each other.
 */
import type * as aws from "@pulumi/aws";
import type * as docker from "@pulumi/docker";
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { ConfigServiceConfig, ConfigServiceConfigInput, Environment } from "../../core/config";
import type { EtcdMembership } from "../../providers/etcd-membership";
import type { AwsSubnet } from "../network/types";

/** AWS placement (target `aws`). */
export interface RaftConfigServiceAwsArgs {
  /** The VPC of the subnets and the security group. */
  vpcId: pulumi.Input<string>;
  /** Private subnets; member i goes to subnet i mod n with a fixed IP computed from its CIDR. */
  subnets: AwsSubnet[];
  /** Security groups allowed to reach the client port (2379). At least one. */
  clientSecurityGroupIds: pulumi.Input<string>[];
  /**
   * KMS key for the EBS data volumes and the SSM SecureString TLS parameters.
   * @default the account's AWS-managed keys (aws/ebs, aws/ssm)
   */
  kmsKeyId?: pulumi.Input<string>;
  /**
   * AMI of the member instances (Debian 12; user data installs etcd-server and awscli).
   * @default Debian 12 of configService.instanceType's architecture: "resolve:ssm:/aws/service/debian/release/bookworm/latest/amd64" (arm64 for Graviton types)
   */
  amiId?: pulumi.Input<string>;
}

/** Kubernetes placement (target `kubernetes`). The cluster is the `kubernetes` provider of the resource options (or the parent's). */
export interface RaftConfigServiceKubernetesArgs {
  /** Namespace of the StatefulSet, Services, PDB and TLS Secret. */
  namespace: pulumi.Input<string>;
  /**
   * StorageClass of the members' volumes.
   * @default the cluster's default StorageClass
   */
  storageClass?: string;
  /**
   * Zones to spread members over (topology.kubernetes.io/zone, hard constraint).
   * @default [] (no zone spread; members are still on distinct nodes)
   */
  zones?: string[];
  /**
   * The etcd client endpoints this cluster's last deployment published: the program passes its own
   * stack's previous `configEndpoints` output, read through a StackReference to the stack itself
   * (`previousDeployment`, components/platform). Consulted only by the member-count lock while it
   * has no record (its first `up`): the members of this cluster among them (same cluster name and
   * namespace) are the count deployed now, so a StatefulSet deployed before the lock existed
   * cannot change its member count in that `up`. Pulumi's record of the last update, not a read
   * of the cluster. A value that is not a list of URLs fails the deployment.
   * @default undefined (no previous deployment known: the lock's first `up` accepts any valid count)
   */
  deployedEndpoints?: pulumi.Input<string[] | undefined>;
}

/** Docker placement (target `docker`). */
export interface RaftConfigServiceDockerArgs {
  /** Member i publishes its client port on 127.0.0.1:(portBase + i), never on other addresses. */
  portBase: number;
  /**
   * An existing Docker network for the members.
   * @default a new bridge network `<cluster>-net` (resource `${name}-net`)
   */
  network?: pulumi.Input<string>;
  /**
   * Extra labels for the member containers and volumes.
   * @default {}
   */
  labels?: Record<string, string>;
}

/** Settings of every target. */
export interface RaftConfigServiceCommonArgs {
  /**
   * The configService section (members, image, timers, tls, ports; see `ConfigServiceSchema` in
   * core/config.ts). Validated here: a bad value throws a ConfigError naming e.g. `configService.members`.
   */
  configService: ConfigServiceConfigInput;
  /**
   * Deployment environment; `prod` requires at least 3 members.
   * @default "dev"
   */
  environment?: Environment;
}

/**
 * Where the members run (`target`) and that target's placement block: the block of the chosen
 * target is required, the others cannot be given.
 */
export type RaftConfigServiceArgs = RaftConfigServiceCommonArgs &
  (
    | { target: "aws"; aws: RaftConfigServiceAwsArgs }
    | { target: "kubernetes"; kubernetes: RaftConfigServiceKubernetesArgs }
    | { target: "docker"; docker: RaftConfigServiceDockerArgs }
  );

/** TLS material of a cluster: certificates in the clear, private keys as secrets. */
export interface EtcdTlsOutputs {
  ca: pulumi.Output<string>;
  serverCert: pulumi.Output<string>;
  serverKey: pulumi.Output<string>;
  peerCert: pulumi.Output<string>;
  peerKey: pulumi.Output<string>;
  clientCert: pulumi.Output<string>;
  clientKey: pulumi.Output<string>;
}

/** What every target builder gets. */
export interface EtcdBuildContext {
  /** Component name: prefix of child resource names. */
  name: string;
  cs: ConfigServiceConfig;
  environment: Environment;
  /** etcd cluster name (token; container/StatefulSet/instance name prefix). */
  clusterName: string;
  /** Creates the TLS material for these SANs (only called when cs.tls). */
  tls: (sans: { dnsNames: pulumi.Input<string>[]; ipAddresses: string[] }) => EtcdTlsOutputs;
  parent: pulumi.Resource;
  /**
   * What the member resources (EC2 instances and their data volumes, the StatefulSet) depend on:
   * the member-count lock on aws/kubernetes, so a refused change stops before members change.
   */
  memberDependsOn: pulumi.Resource[];
}

/** What every target builder returns. */
export interface EtcdBuildResult {
  clientEndpoints: pulumi.Output<string[]>;
  memberNames: string[];
  /** TLS material (when `configService.tls`). */
  tls?: EtcdTlsOutputs;
}

/** The Docker builder's result. */
export interface DockerEtcdResult extends EtcdBuildResult {
  publishedEndpoints: pulumi.Output<string[]>;
  networkName: pulumi.Output<string>;
  /** The network created here (undefined when `docker.network` names an existing one). */
  network?: docker.Network;
  /** The resource that owns the member containers and the Raft membership. */
  membership: EtcdMembership;
}

/** The AWS builder's result. */
export interface AwsEtcdResult extends EtcdBuildResult {
  securityGroup: aws.ec2.SecurityGroup;
  /** The member instances, in member order. */
  instances: aws.ec2.Instance[];
  launchTemplate: aws.ec2.LaunchTemplate;
  role: aws.iam.Role;
}

/** The Kubernetes builder's result. */
export interface KubernetesEtcdResult extends EtcdBuildResult {
  statefulSet: k8s.apps.v1.StatefulSet;
  /** The client Service (`<cluster>.<namespace>.svc`). */
  service: k8s.core.v1.Service;
  /** The headless peer Service. */
  peerService: k8s.core.v1.Service;
}
