/**
 * RaftConfigService on AWS: one EC2 instance per member, round-robin over the private subnets
 * (zones), each with a FIXED private IP computed from its subnet's CIDR (core/etcd-placement.ts) so
 * the member's peer URL never changes across instance replacement; an encrypted EBS data volume
 * per member; IMDSv2 required; a security group allowing the client port from the client groups
 * and from members, the peer port between members only (self-referencing), never 0.0.0.0/0.
 *
 * User data runs etcd with the core/etcd.ts flags. TLS material (when on) is stored as SSM
 * SecureString parameters (KMS-encrypted) and fetched at boot by the instance role: private keys
 * never appear in user data.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ETCD_TLS_DIR, ETCD_TLS_FILES, etcdClusterSpec } from "../../../core/etcd";
import { MAX_MEMBERS, etcdSettings, placeMembers } from "../../../core/etcd-placement";
import type { EtcdBuildContext, EtcdBuildResult, RaftConfigServiceAwsArgs } from "../../raft-config-service";

const DATA_MOUNT = "/var/lib/etcd";
const DATA_DEVICE = "/dev/sdf";
const DEFAULT_AMI = "resolve:ssm:/aws/service/debian/release/bookworm/latest/amd64";

/** The boot script of a member: data volume, TLS files from SSM, etcd as a systemd service. */
export function memberUserData(o: { binary: string; args: string[]; tlsParameters?: Record<string, string>; region?: string }): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const lines = [
    "#!/bin/bash",
    "set -euo pipefail",
    "export DEBIAN_FRONTEND=noninteractive",
    "apt-get update -q && apt-get install -y -q etcd-server awscli nvme-cli curl",
    "systemctl disable --now etcd || true",
    // The EBS volume shows up as an NVMe device on Nitro instances; find it by its attachment name.
    `dev=""; for i in $(seq 1 60); do for d in /dev/nvme*n1 ${DATA_DEVICE} /dev/xvdf; do [ -b "$d" ] || continue; if [ "$d" = ${DATA_DEVICE} ] || [ "$d" = /dev/xvdf ] || nvme id-ctrl -v "$d" | grep -q 'sdf'; then dev=$d; break 2; fi; done; sleep 2; done`,
    '[ -n "$dev" ] || { echo "etcd data volume not attached" >&2; exit 1; }',
    'blkid "$dev" || mkfs.ext4 -q -L etcd-data "$dev"',
    `mkdir -p ${DATA_MOUNT} && grep -q etcd-data /etc/fstab || echo "LABEL=etcd-data ${DATA_MOUNT} ext4 defaults,nofail 0 2" >> /etc/fstab`,
    `mount -a && mkdir -p ${DATA_MOUNT}/data && chmod 700 ${DATA_MOUNT}/data`,
  ];
  if (o.tlsParameters) {
    lines.push(
      // IMDSv2 (token required) for the region the SSM calls go to.
      `token=$(curl -sf -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')`,
      `export AWS_DEFAULT_REGION=$(curl -sf -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/placement/region)`,
      `install -d -m 0700 ${ETCD_TLS_DIR}`,
    );
    for (const [file, parameter] of Object.entries(o.tlsParameters))
      lines.push(
        `aws ssm get-parameter --with-decryption --name ${q(parameter)} --query Parameter.Value --output text > ${q(file)} && chmod 0600 ${q(file)}`,
      );
  }
  lines.push(
    "cat > /etc/systemd/system/scaleplane-etcd.service <<'UNIT'",
    "[Unit]",
    "Description=scaleplane etcd member",
    "After=network-online.target",
    "Wants=network-online.target",
    "[Service]",
    `ExecStart=${[o.binary, ...o.args].map(q).join(" ")}`,
    "Restart=always",
    "RestartSec=2",
    "LimitNOFILE=65536",
    "[Install]",
    "WantedBy=multi-user.target",
    "UNIT",
    "systemctl daemon-reload && systemctl enable --now scaleplane-etcd",
  );
  return lines.join("\n") + "\n";
}

export function createAwsEtcd(ctx: EtcdBuildContext, args: RaftConfigServiceAwsArgs): EtcdBuildResult {
  const { name, cs, clusterName, parent } = ctx;
  const opts = { parent };
  const tags = { "scaleplane:config-service": cs.name, "scaleplane:cluster": clusterName };
  const settings = etcdSettings(cs, clusterName, `${DATA_MOUNT}/data`);
  const placement = placeMembers(args.subnets, cs.members);
  const spec = etcdClusterSpec(settings, placement.map((p) => p.ip));

  const sg = new aws.ec2.SecurityGroup(
    `${name}-sg`,
    {
      vpcId: args.vpcId,
      description: `${clusterName} etcd members`,
      ingress: [
        { protocol: "tcp", fromPort: cs.clientPort, toPort: cs.clientPort, securityGroups: args.clientSecurityGroupIds, description: "etcd client port from the app" },
        { protocol: "tcp", fromPort: cs.clientPort, toPort: cs.clientPort, self: true, description: "etcd client port between members" },
        { protocol: "tcp", fromPort: cs.peerPort, toPort: cs.peerPort, self: true, description: "etcd peer port between members only" },
      ],
      egress: [
        { protocol: "tcp", fromPort: cs.peerPort, toPort: cs.peerPort, self: true, description: "etcd peer traffic" },
        { protocol: "tcp", fromPort: cs.clientPort, toPort: cs.clientPort, self: true, description: "etcd client traffic between members" },
        { protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"], description: "HTTPS to AWS APIs (SSM, KMS) and Debian mirrors via NAT" },
        { protocol: "tcp", fromPort: 80, toPort: 80, cidrBlocks: ["0.0.0.0/0"], description: "Debian mirrors via NAT" },
      ],
      tags: { ...tags, Name: `${clusterName}-etcd` },
    },
    opts,
  );

  // SANs for every fixed IP the cluster may grow to: scaling never needs new certificates.
  const certs = cs.tls ? ctx.tls({ dnsNames: ["localhost"], ipAddresses: [...placeMembers(args.subnets, MAX_MEMBERS).map((p) => p.ip), "127.0.0.1"] }) : undefined;
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
        { name: `/scaleplane/${clusterName}/etcd/tls/${what}`, type: "SecureString", value: pulumi.secret(value), keyId: args.kmsKeyId, tags },
        opts,
      ),
  );
  const tlsParameters = Object.fromEntries(tlsFiles.map(([file, what]) => [file, `/scaleplane/${clusterName}/etcd/tls/${what}`]));

  const role = new aws.iam.Role(
    `${name}-role`,
    {
      assumeRolePolicy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }] }),
      tags,
    },
    opts,
  );
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
              { Effect: "Allow", Action: ["kms:Decrypt"], Resource: "*", Condition: { StringEquals: { "kms:ViaService": "ssm.*.amazonaws.com" } } },
            ],
          }),
        ),
      },
      opts,
    );
  const profile = new aws.iam.InstanceProfile(`${name}-profile`, { role: role.name, tags }, opts);

  // The AMI comes through a launch template: EC2 resolves `resolve:ssm:` parameters there and the
  // template keeps the parameter (an instance's `ami` would show the resolved id and drift).
  const template = new aws.ec2.LaunchTemplate(
    `${name}-lt`,
    {
      imageId: args.amiId ?? DEFAULT_AMI,
      metadataOptions: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 },
      tagSpecifications: [{ resourceType: "instance", tags }],
      tags,
    },
    opts,
  );

  spec.members.forEach((m, i) => {
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
        metadataOptions: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 },
        rootBlockDevice: { encrypted: true, kmsKeyId: args.kmsKeyId, volumeSize: 16, volumeType: "gp3" },
        userData: memberUserData({ binary: "/usr/bin/etcd", args: m.args, tlsParameters: certs ? tlsParameters : undefined }),
        userDataReplaceOnChange: false,
        tags: { ...tags, Name: m.name, "scaleplane:etcd-member": m.name },
      },
      { ...opts, dependsOn: [...parameters, ...ctx.memberDependsOn] },
    );
    const volume = new aws.ebs.Volume(
      `${name}-${i}-data`,
      { availabilityZone: subnet.zone, size: cs.storageGb, type: "gp3", encrypted: true, kmsKeyId: args.kmsKeyId, tags: { ...tags, Name: `${m.name}-data` } },
      { ...opts, protect: ctx.environment === "prod", dependsOn: ctx.memberDependsOn },
    );
    new aws.ec2.VolumeAttachment(`${name}-${i}-data-attach`, { deviceName: DATA_DEVICE, volumeId: volume.id, instanceId: instance.id, stopInstanceBeforeDetaching: true }, opts);
  });

  return {
    clientEndpoints: pulumi.output(spec.clientEndpoints),
    memberNames: spec.members.map((m) => m.name),
    securityGroupId: sg.id,
    tls: certs,
  };
}
