/**
 * RaftConfigService on AWS: one EC2 instance per member, round-robin over the private subnets
 * (zones), each with a FIXED private IP computed from its subnet's CIDR (core/etcd/placement.ts) so
 * the member's peer URL never changes across instance replacement; an encrypted EBS data volume
 * per member; IMDSv2 required; a security group allowing the client port from the client groups
 * and from members, the peer port between members only (self-referencing), never 0.0.0.0/0.
 *
 * User data (core/etcd/user-data.ts) runs etcd with the core/etcd/spec.ts flags. TLS material (when on) is stored as SSM
 * SecureString parameters (KMS-encrypted) and fetched at boot by the instance role: private keys
 * never appear in user data.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { configFail } from "../../core/config";
import { debianAmi, ec2Architecture } from "../../core/aws/ec2-arch";
import { ETCD_TLS_FILES, etcdClusterSpec, etcdVersionOfImage } from "../../core/etcd/spec";
import { MAX_MEMBERS, etcdSettings, placeMembers } from "../../core/etcd/placement";
import { ETCD_DATA_DEVICE, ETCD_DATA_MOUNT, etcdMemberUserData } from "../../core/etcd/user-data";
import { createEc2InstanceRole } from "../shared/aws";
import type { AwsEtcdResult, EtcdBuildContext, RaftConfigServiceAwsArgs } from "./args";

/** Tag naming the etcd cluster on every resource of it. */
const CLUSTER_TAG = "scaleplane:cluster";
/** Tag carried only by member instances (value: the member name). */
const MEMBER_TAG = "scaleplane:etcd-member";

/**
 * How many member instances of `clusterName` exist now (pending, running, stopping or stopped: an
 * instance that is not terminated is a member), looked up with ec2 DescribeInstances through the
 * AWS provider the options give (pass `{ parent }`: the component's provider, the one its members
 * are created with). The member-count lock compares it with `configService.members` while it has
 * no record of its own (its first `up`, on a cluster perhaps deployed before the lock existed). A
 * failed lookup fails the deployment: it is never taken for "no members".
 */
export function deployedAwsMemberCount(clusterName: string, opts: pulumi.InvokeOutputOptions): pulumi.Output<number> {
  return aws.ec2
    .getInstancesOutput(
      {
        instanceTags: { [CLUSTER_TAG]: clusterName },
        filters: [{ name: "tag-key", values: [MEMBER_TAG] }],
        instanceStateNames: ["pending", "running", "stopping", "stopped"],
      },
      opts,
    )
    .apply((r) => r.ids.length);
}

/** Creates the members' AWS resources under `ctx.parent`. */
export function createAwsEtcd(ctx: EtcdBuildContext, args: RaftConfigServiceAwsArgs): AwsEtcdResult {
  const { name, cs, clusterName, parent } = ctx;
  const opts = { parent };
  const tags = { "scaleplane:config-service": cs.name, [CLUSTER_TAG]: clusterName };
  const settings = etcdSettings(cs, clusterName, `${ETCD_DATA_MOUNT}/data`);
  const placement = placeMembers(args.subnets, cs.members);
  const spec = etcdClusterSpec(
    settings,
    placement.map((p) => p.ip),
  );
  // Members install Debian's etcd-server pinned to the image's version: the same etcd as docker/kubernetes.
  const etcdVersion = etcdVersionOfImage(cs.image);
  if (etcdVersion === undefined)
    configFail(
      "configService.image",
      `must be tagged with the etcd version (e.g. scaleplane/etcd:3.4.23): on aws the members install that version of Debian's etcd-server; got ${JSON.stringify(cs.image)}`,
    );

  const sg = new aws.ec2.SecurityGroup(
    `${name}-sg`,
    {
      vpcId: args.vpcId,
      description: `${clusterName} etcd members`,
      ingress: [
        {
          protocol: "tcp",
          fromPort: cs.clientPort,
          toPort: cs.clientPort,
          securityGroups: args.clientSecurityGroupIds,
          description: "etcd client port from the app",
        },
        {
          protocol: "tcp",
          fromPort: cs.clientPort,
          toPort: cs.clientPort,
          self: true,
          description: "etcd client port between members",
        },
        {
          protocol: "tcp",
          fromPort: cs.peerPort,
          toPort: cs.peerPort,
          self: true,
          description: "etcd peer port between members only",
        },
      ],
      egress: [
        { protocol: "tcp", fromPort: cs.peerPort, toPort: cs.peerPort, self: true, description: "etcd peer traffic" },
        {
          protocol: "tcp",
          fromPort: cs.clientPort,
          toPort: cs.clientPort,
          self: true,
          description: "etcd client traffic between members",
        },
        {
          protocol: "tcp",
          fromPort: 443,
          toPort: 443,
          cidrBlocks: ["0.0.0.0/0"],
          description: "HTTPS to AWS APIs (SSM, KMS) and Debian mirrors via NAT",
        },
        { protocol: "tcp", fromPort: 80, toPort: 80, cidrBlocks: ["0.0.0.0/0"], description: "Debian mirrors via NAT" },
      ],
      tags: { ...tags, Name: `${clusterName}-etcd` },
    },
    opts,
  );

  // SANs for every fixed IP the cluster may grow to: scaling never needs new certificates.
  const certs = cs.tls
    ? ctx.tls({
        dnsNames: ["localhost"],
        ipAddresses: [...placeMembers(args.subnets, MAX_MEMBERS).map((p) => p.ip), "127.0.0.1"],
      })
    : undefined;
  const tlsFiles = certs
    ? ([
        [ETCD_TLS_FILES.ca, "ca", certs.ca],
        [ETCD_TLS_FILES.serverCert, "server-crt", certs.serverCert],
        [ETCD_TLS_FILES.serverKey, "server-key", certs.serverKey],
        [ETCD_TLS_FILES.peerCert, "peer-crt", certs.peerCert],
        [ETCD_TLS_FILES.peerKey, "peer-key", certs.peerKey],
      ] as const)
    : [];
  const parameters = tlsFiles.map(
    ([, what, value]) =>
      new aws.ssm.Parameter(
        `${name}-tls-${what}`,
        {
          name: `/scaleplane/${clusterName}/etcd/tls/${what}`,
          type: "SecureString",
          value: pulumi.secret(value),
          keyId: args.kmsKeyId,
          tags,
        },
        opts,
      ),
  );
  const tlsParameters = Object.fromEntries(
    tlsFiles.map(([file, what]) => [file, `/scaleplane/${clusterName}/etcd/tls/${what}`]),
  );

  // Instance role: reads the TLS parameters (when TLS is on).
  const { role, profile } = createEc2InstanceRole(name, tags, opts, (role) => {
    if (parameters.length > 0)
      new aws.iam.RolePolicy(
        `${name}-tls-read`,
        {
          role: role.id,
          policy: pulumi.all(parameters.map((p) => p.arn)).apply((arns) =>
            JSON.stringify({
              Version: "2012-10-17",
              Statement: [
                { Effect: "Allow", Action: ["ssm:GetParameter"], Resource: arns },
                {
                  Effect: "Allow",
                  Action: ["kms:Decrypt"],
                  Resource: "*",
                  Condition: { StringEquals: { "kms:ViaService": "ssm.*.amazonaws.com" } },
                },
              ],
            }),
          ),
        },
        opts,
      );
  });

  // The AMI comes through a launch template: EC2 resolves `resolve:ssm:` parameters there and the
  // template keeps the parameter (an instance's `ami` would show the resolved id and drift).
  const template = new aws.ec2.LaunchTemplate(
    `${name}-lt`,
    {
      // Debian 12 for the instance type's architecture (Graviton types boot only arm64 images).
      imageId: args.amiId ?? debianAmi(ec2Architecture(cs.instanceType)),
      metadataOptions: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 },
      tagSpecifications: [{ resourceType: "instance", tags }],
      tags,
    },
    opts,
  );

  const instances = spec.members.map((m, i) => {
    const { subnet, ip } = placement[i];
    const instance = new aws.ec2.Instance(
      `${name}-${i}`,
      {
        launchTemplate: { id: template.id, version: "$Latest" },
        instanceType: cs.instanceType,
        subnetId: subnet.id,
        privateIp: ip,
        availabilityZone: subnet.zone,
        vpcSecurityGroupIds: [sg.id],
        iamInstanceProfile: profile.name,
        associatePublicIpAddress: false,
        // 1-minute CloudWatch metrics in prod: a member's CPU or disk stall shows before it costs an election.
        monitoring: cs.detailedMonitoring ?? ctx.environment === "prod",
        metadataOptions: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 },
        rootBlockDevice: { encrypted: true, kmsKeyId: args.kmsKeyId, volumeSize: 16, volumeType: "gp3" },
        userData: etcdMemberUserData({
          binary: "/usr/bin/etcd",
          etcdVersion,
          args: m.args,
          tlsParameters: certs ? tlsParameters : undefined,
        }),
        userDataReplaceOnChange: false,
        tags: { ...tags, Name: m.name, [MEMBER_TAG]: m.name },
      },
      { ...opts, dependsOn: [...parameters, ...ctx.memberDependsOn] },
    );
    const volume = new aws.ebs.Volume(
      `${name}-${i}-data`,
      {
        availabilityZone: subnet.zone,
        size: cs.storageGb,
        type: "gp3",
        encrypted: true,
        kmsKeyId: args.kmsKeyId,
        tags: { ...tags, Name: `${m.name}-data` },
      },
      { ...opts, protect: ctx.environment === "prod", dependsOn: ctx.memberDependsOn },
    );
    new aws.ec2.VolumeAttachment(
      `${name}-${i}-data-attach`,
      { deviceName: ETCD_DATA_DEVICE, volumeId: volume.id, instanceId: instance.id, stopInstanceBeforeDetaching: true },
      opts,
    );
    return instance;
  });

  return {
    clientEndpoints: pulumi.output(spec.clientEndpoints),
    memberNames: spec.members.map((m) => m.name),
    tls: certs,
    securityGroup: sg,
    instances,
    launchTemplate: template,
    role,
  };
}
