/**
 * RaftConfigService: an etcd cluster of 1, 3, 5 or 7 members on Docker, AWS or Kubernetes. Every
 * member's command line comes from core/etcd.ts (one flag builder for all targets); placement
 * (hosts, fixed IPs, names) from core/etcd-placement.ts. With `configService.tls`, a per-stack CA,
 * server, peer and client certificate are generated (@pulumi/tls); private keys stay secrets.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { ConfigServiceSchema, componentBase, configFail, parseSection, type ConfigServiceConfig, type ConfigServiceConfigInput, type Environment, type Target } from "../core/config";
import { etcdClusterName, fixedMemberIp } from "../core/etcd-placement";
import { EtcdMemberCountLock } from "../providers/member-count-lock";
import type { AwsSubnet } from "./targets/aws/network-types";
import { createAwsEtcd } from "./targets/aws/raft-config-service";
import { createDockerEtcd } from "./targets/docker/raft-config-service";
import { createKubernetesEtcd } from "./targets/kubernetes/raft-config-service";

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
   * @default "resolve:ssm:/aws/service/debian/release/bookworm/latest/amd64"
   */
  amiId?: pulumi.Input<string>;
}

/** Kubernetes placement (target `kubernetes`). */
export interface RaftConfigServiceKubernetesArgs {
  /** Namespace of the StatefulSet, Services, PDB and TLS Secret. */
  namespace: pulumi.Input<string>;
  /**
   * StorageClass of the members' volumes.
   * @default the cluster's default StorageClass
   */
  storageClass?: string;
  /**
   * Provider of the cluster.
   * @default the ambient kubeconfig context (or the parent's provider)
   */
  provider?: k8s.Provider;
  /**
   * Zones to spread members over (topology.kubernetes.io/zone, hard constraint).
   * @default [] (no zone spread; members are still on distinct nodes)
   */
  zones?: string[];
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

export interface RaftConfigServiceArgs {
  /** Where the members run. */
  target: Target;
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
  /** Required for target `aws`. */
  aws?: RaftConfigServiceAwsArgs;
  /** Required for target `kubernetes`. */
  kubernetes?: RaftConfigServiceKubernetesArgs;
  /** Required for target `docker`. */
  docker?: RaftConfigServiceDockerArgs;
}

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

/** What a target builder returns. */
export interface EtcdBuildResult {
  clientEndpoints: pulumi.Output<string[]>;
  memberNames: string[];
  publishedEndpoints?: pulumi.Output<string[]>;
  networkName?: pulumi.Output<string>;
  securityGroupId?: pulumi.Output<string>;
  tls?: EtcdTlsOutputs;
}


/** Per-stack TLS: an ECDSA CA, a server and a peer certificate with `sans`, a client certificate. */
function createTls(name: string, clusterName: string, parent: pulumi.Resource, sans: { dnsNames: pulumi.Input<string>[]; ipAddresses: string[] }): EtcdTlsOutputs {
  const opts = { parent };
  const key = (what: string) => new tls.PrivateKey(`${name}-${what}-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, opts);
  const caKey = key("ca");
  const ca = new tls.SelfSignedCert(
    `${name}-ca`,
    {
      privateKeyPem: caKey.privateKeyPem,
      isCaCertificate: true,
      validityPeriodHours: 24 * 365 * 5,
      allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
      subject: { commonName: `${clusterName} etcd CA`, organization: "scaleplane" },
    },
    opts,
  );
  const leaf = (what: string, commonName: string, uses: string[], withSans: boolean) => {
    const k = key(what);
    const csr = new tls.CertRequest(
      `${name}-${what}-csr`,
      { privateKeyPem: k.privateKeyPem, subject: { commonName, organization: "scaleplane" }, ...(withSans ? sans : {}) },
      opts,
    );
    const cert = new tls.LocallySignedCert(
      `${name}-${what}-cert`,
      { certRequestPem: csr.certRequestPem, caPrivateKeyPem: caKey.privateKeyPem, caCertPem: ca.certPem, validityPeriodHours: 24 * 365 * 2, allowedUses: uses },
      opts,
    );
    return { cert: cert.certPem, key: pulumi.secret(k.privateKeyPem) };
  };
  const both = ["digital_signature", "key_encipherment", "server_auth", "client_auth"];
  const server = leaf("server", `${clusterName} server`, both, true);
  const peer = leaf("peer", `${clusterName} peer`, both, true);
  const client = leaf("client", `${clusterName} client`, ["digital_signature", "key_encipherment", "client_auth"], false);
  return { ca: ca.certPem, serverCert: server.cert, serverKey: server.key, peerCert: peer.cert, peerKey: peer.key, clientCert: client.cert, clientKey: client.key };
}

/** Checks the chosen target's block (before anything is registered). */
function validateTargetBlock(args: RaftConfigServiceArgs, members: number): void {
  if (args.target === "docker") {
    const p = args.docker!.portBase;
    if (!Number.isInteger(p) || p < 1024 || p + members - 1 > 65535)
      configFail("docker.portBase", `must be a whole port number from 1024 with room for ${members} members (≤ ${65536 - members}); got ${JSON.stringify(p)}`);
  } else if (args.target === "aws") {
    const a = args.aws!;
    if (a.subnets.length === 0) configFail("aws.subnets", "must list at least one private subnet for the etcd members");
    if (a.clientSecurityGroupIds.length === 0) configFail("aws.clientSecurityGroupIds", "must list at least one security group allowed to reach etcd");
    a.subnets.forEach((s, i) => {
      try {
        fixedMemberIp(s.cidr, 0);
      } catch (e) {
        configFail(`aws.subnets[${i}].cidr`, (e as Error).message);
      }
    });
  }
}

export class RaftConfigService extends pulumi.ComponentResource {
  /** Client URLs of every member as the apps reach them (container names, pod DNS names, fixed IPs). */
  readonly clientEndpoints: pulumi.Output<string[]>;
  /** etcd member names, in order. */
  readonly memberNames: pulumi.Output<string[]>;
  /** Docker: `http(s)://127.0.0.1:<port>` per member, for tools and tests on the host; `[]` on other targets. */
  readonly publishedEndpoints: pulumi.Output<string[]>;
  /** Docker: the network the members are on (apps join it). Undefined on other targets. */
  readonly networkName: pulumi.Output<string>;
  /** AWS: the members' security group. Undefined on other targets. */
  readonly securityGroupId: pulumi.Output<string | undefined>;
  /** The CA certificate (PEM) when TLS is on. */
  readonly caCertificate: pulumi.Output<string | undefined>;
  /** A client certificate (PEM) for the apps when TLS is on. */
  readonly clientCertificate: pulumi.Output<string | undefined>;
  /** The client certificate's private key (secret) when TLS is on. */
  readonly clientPrivateKey: pulumi.Output<string | undefined>;

  constructor(name: string, args: RaftConfigServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    // Validate before registering anything: a bad argument creates no resource at all.
    const environment = componentBase("RaftConfigService", name, args);
    const cs = parseSection(ConfigServiceSchema, args.configService, "configService");
    if (environment === "prod" && cs.members < 3) configFail("configService.members", `must be 3, 5 or 7 in prod (1 member has no fault tolerance); got ${cs.members}`);
    validateTargetBlock(args, cs.members);
    // Recorded inputs (no secrets): policies read the environment and the validated section.
    super("scaleplane:config:RaftConfigService", name, { target: args.target, environment, configService: cs }, opts);

    const clusterName = etcdClusterName(cs.name, pulumi.getStack());
    // aws/kubernetes have no safe membership protocol yet: their member count is frozen once created
    // (docker changes members one at a time through EtcdMembership).
    const memberDependsOn =
      args.target === "docker" ? [] : [new EtcdMemberCountLock(`${name}-member-lock`, { clusterName, target: args.target, members: cs.members }, { parent: this })];
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
    if (args.target === "docker") built = createDockerEtcd(ctx, args.docker!);
    else if (args.target === "aws") built = createAwsEtcd(ctx, args.aws!);
    else built = createKubernetesEtcd(ctx, args.kubernetes!);

    this.clientEndpoints = built.clientEndpoints;
    this.memberNames = pulumi.output(built.memberNames);
    this.publishedEndpoints = built.publishedEndpoints ?? pulumi.output([]);
    this.networkName = built.networkName ?? (pulumi.output(undefined) as unknown as pulumi.Output<string>);
    this.securityGroupId = built.securityGroupId ?? pulumi.output(undefined);
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
