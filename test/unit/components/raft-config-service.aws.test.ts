import { RaftConfigService } from "../../../components/raft-config-service";
import { installMocks, settle, valueOf } from "../../../scripts/lib/offline";
import { inputsByKey, isSecretInput as isSecretValue, plainMatches } from "../../support/inputs";

const rec = installMocks({ stack: "prod" });
const raw = inputsByKey(rec);

import { ETCD_TLS_FILES, etcdClusterSpec } from "../../../core/etcd/spec";
import { etcdSettings, fixedMemberIp, placeMembers } from "../../../core/etcd/placement";
import { ConfigServiceSchema } from "../../../core/config";

const subnets = [
  { id: "subnet-a", cidr: "10.42.0.0/20", zone: "us-east-1a" },
  { id: "subnet-b", cidr: "10.42.16.0/20", zone: "us-east-1b" },
];
const aws = { vpcId: "vpc-1", subnets, clientSecurityGroupIds: ["sg-app"], kmsKeyId: "key-1" };
const cs = new RaftConfigService("cfg", {
  target: "aws",
  environment: "prod",
  configService: { name: "cfg", members: 3 },
  aws,
});
new RaftConfigService("sec", { target: "aws", configService: { name: "sec", members: 3, tls: true }, aws });

beforeAll(settle);

type Rule = {
  protocol: string;
  fromPort: number;
  toPort: number;
  self?: boolean;
  cidrBlocks?: string[];
  securityGroups?: string[];
};

describe("RaftConfigService on aws", () => {
  const ips = [fixedMemberIp(subnets[0].cidr, 0), fixedMemberIp(subnets[1].cidr, 0), fixedMemberIp(subnets[0].cidr, 1)];

  it("places one instance per member round-robin over the zones with fixed private IPs from the subnet CIDR", () => {
    expect(ips).toEqual(["10.42.15.245", "10.42.31.245", "10.42.15.244"]);
    for (let i = 0; i < 3; i++) {
      const inst = rec.one("aws:ec2/instance:Instance", `cfg-${i}`).inputs;
      expect(inst).toMatchObject({
        subnetId: subnets[i % 2].id,
        privateIp: ips[i],
        availabilityZone: subnets[i % 2].zone,
        associatePublicIpAddress: false,
      });
    }
  });

  it("takes the AMI from a launch template (resolve:ssm parameter by default) that also requires IMDSv2", () => {
    const lt = rec.one("aws:ec2/launchTemplate:LaunchTemplate", "cfg-lt").inputs;
    expect(lt.imageId).toBe("resolve:ssm:/aws/service/debian/release/bookworm/latest/amd64");
    expect(lt.metadataOptions).toMatchObject({ httpTokens: "required" });
    expect(rec.one("aws:ec2/instance:Instance", "cfg-0").inputs.launchTemplate).toMatchObject({ version: "$Latest" });
  });

  it("requires IMDSv2 and encrypts the root and the data volume, attached per member", () => {
    for (let i = 0; i < 3; i++) {
      const inst = rec.one("aws:ec2/instance:Instance", `cfg-${i}`).inputs;
      expect(inst.metadataOptions).toMatchObject({ httpTokens: "required", httpPutResponseHopLimit: 1 });
      expect(inst.rootBlockDevice).toMatchObject({ encrypted: true, kmsKeyId: "key-1" });
      const vol = rec.one("aws:ebs/volume:Volume", `cfg-${i}-data`).inputs;
      expect(vol).toMatchObject({
        encrypted: true,
        kmsKeyId: "key-1",
        availabilityZone: subnets[i % 2].zone,
        size: 10,
      });
      expect(rec.one("aws:ec2/volumeAttachment:VolumeAttachment", `cfg-${i}-data-attach`).inputs).toMatchObject({
        deviceName: "/dev/sdf",
      });
    }
  });

  it("runs etcd with the shared builder's flags for the fixed IPs", () => {
    const settings = etcdSettings(
      ConfigServiceSchema.parse({ name: "cfg", members: 3 }),
      "cfg-prod",
      "/var/lib/etcd/data",
    );
    const spec = etcdClusterSpec(settings, ips);
    for (let i = 0; i < 3; i++) {
      const userData = rec.one("aws:ec2/instance:Instance", `cfg-${i}`).inputs.userData as string;
      const execStart = userData.split("\n").find((l) => l.startsWith("ExecStart="))!;
      expect(execStart).toBe(`ExecStart=${["/usr/bin/etcd", ...spec.members[i].args].map((a) => `'${a}'`).join(" ")}`);
    }
    expect(spec.members[1].args).toContain(`--initial-advertise-peer-urls=http://${ips[1]}:2380`);
  });

  it("allows 2380 only between members, 2379 from the client groups and members, never 0.0.0.0/0 inbound", async () => {
    const sg = rec.one("aws:ec2/securityGroup:SecurityGroup", "cfg-sg").inputs;
    const ingress = sg.ingress as Rule[];
    expect(ingress.every((r) => !r.cidrBlocks || r.cidrBlocks.length === 0)).toBe(true);
    const peer = ingress.filter((r) => r.fromPort <= 2380 && r.toPort >= 2380);
    expect(peer).toEqual([expect.objectContaining({ self: true, protocol: "tcp", fromPort: 2380, toPort: 2380 })]);
    expect(peer[0].securityGroups ?? []).toEqual([]);
    const client = ingress.filter((r) => r.fromPort === 2379);
    expect(client.map((r) => r.securityGroups ?? (r.self ? "self" : "?"))).toEqual([["sg-app"], "self"]);
    expect(await valueOf(cs.securityGroupId)).toMatch(/^cfg-sg-id-\d+$/);
  });

  it("exposes the fixed-IP client endpoints", async () => {
    expect(await valueOf(cs.clientEndpoints)).toEqual(ips.map((ip) => `http://${ip}:2379`));
    expect(await valueOf(cs.memberNames)).toEqual(["cfg-prod-0", "cfg-prod-1", "cfg-prod-2"]);
  });

  it("with TLS: keys only in SSM SecureString parameters (secret), fetched at boot; user data holds no key", () => {
    const params = rec.ofType("aws:ssm/parameter:Parameter").filter((p) => p.name.startsWith("sec-"));
    expect(params.map((p) => p.name).sort()).toEqual([
      "sec-tls-ca",
      "sec-tls-peer-crt",
      "sec-tls-peer-key",
      "sec-tls-server-crt",
      "sec-tls-server-key",
    ]);
    for (const p of params) {
      expect(p.inputs).toMatchObject({ type: "SecureString", keyId: "key-1" });
      expect(isSecretValue(raw.get(`aws:ssm/parameter:Parameter::${p.name}`)!.value)).toBe(true);
    }
    for (let i = 0; i < 3; i++) {
      const r = raw.get(`aws:ec2/instance:Instance::sec-${i}`)!;
      expect(plainMatches(r, /PRIVATE KEY/)).toEqual([]);
      const userData = rec.one("aws:ec2/instance:Instance", `sec-${i}`).inputs.userData as string;
      expect(userData).toContain(
        `--name '/scaleplane/sec-prod/etcd/tls/server-key' --query Parameter.Value --output text > '${ETCD_TLS_FILES.serverKey}'`,
      );
      expect(userData).toContain(`--peer-cert-file=${ETCD_TLS_FILES.peerCert}`);
      expect(userData).toContain("https://");
    }
    const csr = rec.one("tls:index/certRequest:CertRequest", "sec-server-csr").inputs;
    // Every fixed IP up to 7 members: scaling keeps the certificates.
    expect(csr.ipAddresses).toEqual([...placeMembers(subnets, 7).map((p) => p.ip), "127.0.0.1"]);
    expect(csr.ipAddresses).toEqual(expect.arrayContaining(ips));
    expect(rec.one("aws:iam/rolePolicy:RolePolicy", "sec-tls-read")).toBeDefined();
  });

  it("refuses subnets too small for fixed addresses and a missing client group, naming the argument", () => {
    expect(
      () =>
        new RaftConfigService("bad1", {
          target: "aws",
          configService: {},
          aws: { ...aws, subnets: [{ id: "s", cidr: "10.0.0.0/28", zone: "a" }] },
        }),
    ).toThrow(/aws\.subnets\[0\]\.cidr: .*too small/);
    expect(
      () =>
        new RaftConfigService("bad2", {
          target: "aws",
          configService: {},
          aws: { ...aws, clientSecurityGroupIds: [] },
        }),
    ).toThrow(/aws\.clientSecurityGroupIds/);
    // @ts-expect-error -- the type requires the target's block; a JavaScript caller gets the ConfigError
    expect(() => new RaftConfigService("bad3", { target: "aws", configService: {} })).toThrow(
      /aws: is required for target aws \(RaftConfigService "[a-z0-9-]+"\); it is missing/,
    );
  });
});

describe("RaftConfigService on aws: the children a user extends", () => {
  it("exposes the security group, the member instances, the launch template and the role; no Docker network", async () => {
    expect(cs.securityGroup).toBeDefined();
    expect(cs.instances).toHaveLength(3);
    expect(cs.launchTemplate).toBeDefined();
    expect(cs.instanceRole).toBeDefined();
    expect(cs.statefulSet).toBeUndefined();
    expect(await valueOf(cs.networkName)).toBeUndefined();
  });
});
