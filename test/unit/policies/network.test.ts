import {
  dockerPortsLoopbackOnly,
  k8sDataServicesInternal,
  noPublicDatabaseIngress,
  noPublicEtcdIngress,
} from "../../../policies/network";
import { coversPort, ingressEntries } from "../../../policies/lib";
import { runResource } from "./fake-args";

const SG = "aws:ec2/securityGroup:SecurityGroup";
const RULE = "aws:ec2/securityGroupRule:SecurityGroupRule";
const INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule";

describe("port and rule helpers", () => {
  it("matches protocols and ranges", () => {
    expect(coversPort("tcp", 2000, 3000, 2379)).toBe(true);
    expect(coversPort("-1", 0, 0, 5432)).toBe(true);
    expect(coversPort("udp", 2379, 2379, 2379)).toBe(false);
    expect(coversPort("tcp", 80, 80, 2379)).toBe(false);
  });
  it("normalises the three rule shapes", () => {
    expect(ingressEntries(RULE, { type: "egress", cidrBlocks: ["0.0.0.0/0"] })).toEqual([]);
    expect(ingressEntries(INGRESS, { ipProtocol: "tcp", fromPort: 1, toPort: 2, cidrIpv6: "::/0" })).toEqual([
      { protocol: "tcp", fromPort: 1, toPort: 2, cidrs: ["::/0"] },
    ]);
  });
});

describe("no-public-etcd-ingress", () => {
  it("passes etcd ports from a security group and 443 from anywhere", async () => {
    const props = {
      ingress: [
        { protocol: "tcp", fromPort: 2379, toPort: 2380, securityGroups: ["sg-app"] },
        { protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"] },
      ],
    };
    expect((await runResource(noPublicEtcdIngress, SG, props)).messages).toEqual([]);
  });
  it("fails 2379-2380 from 0.0.0.0/0 on an inline group", async () => {
    const props = { ingress: [{ protocol: "tcp", fromPort: 2379, toPort: 2380, cidrBlocks: ["0.0.0.0/0"] }] };
    expect((await runResource(noPublicEtcdIngress, SG, props, { name: "etcd-sg" })).messages).toEqual([
      "Security group rule etcd-sg opens etcd client/peer port(s) 2379, 2380 to 0.0.0.0/0; admit only the client security groups (or private CIDRs) on scaleplane:configService.clientPort/peerPort.",
    ]);
  });
  it("fails all-protocol ingress from ::/0 on a standalone rule", async () => {
    expect(
      (await runResource(noPublicEtcdIngress, INGRESS, { ipProtocol: "-1", cidrIpv6: "::/0" }, { name: "r" })).messages,
    ).toEqual([
      "Security group rule r opens etcd client/peer port(s) 2379, 2380 to ::/0; admit only the client security groups (or private CIDRs) on scaleplane:configService.clientPort/peerPort.",
    ]);
  });
});

describe("no-public-database-ingress", () => {
  it("passes 5432 from a private CIDR", async () => {
    expect(
      (
        await runResource(noPublicDatabaseIngress, RULE, {
          type: "ingress",
          protocol: "tcp",
          fromPort: 5432,
          toPort: 5432,
          cidrBlocks: ["10.0.0.0/16"],
        })
      ).messages,
    ).toEqual([]);
  });
  it("fails 5432 from 0.0.0.0/0", async () => {
    expect(
      (
        await runResource(
          noPublicDatabaseIngress,
          RULE,
          { type: "ingress", protocol: "tcp", fromPort: 5432, toPort: 5432, cidrBlocks: ["0.0.0.0/0"] },
          { name: "db" },
        )
      ).messages,
    ).toEqual([
      "Security group rule db opens PostgreSQL port(s) 5432 to 0.0.0.0/0; admit only the client security groups (or private CIDRs) on scaleplane:database.port.",
    ]);
  });
  it("uses the configured ports", async () => {
    const props = { type: "ingress", protocol: "tcp", fromPort: 6432, toPort: 6432, cidrBlocks: ["0.0.0.0/0"] };
    expect((await runResource(noPublicDatabaseIngress, RULE, props)).messages).toEqual([]);
    expect(
      (await runResource(noPublicDatabaseIngress, RULE, props, { config: { ports: [6432] } })).messages,
    ).toHaveLength(1);
  });
});

describe("docker-ports-loopback-only", () => {
  const C = "docker:index/container:Container";
  it("passes ports on 127.0.0.1", async () => {
    expect(
      (await runResource(dockerPortsLoopbackOnly, C, { ports: [{ internal: 8080, external: 18080, ip: "127.0.0.1" }] }))
        .messages,
    ).toEqual([]);
  });
  it("fails a port on all interfaces (ip unset)", async () => {
    expect(
      (
        await runResource(
          dockerPortsLoopbackOnly,
          C,
          { ports: [{ internal: 5432, external: 15432 }] },
          { name: "shard-0" },
        )
      ).messages,
    ).toEqual([
      'Container shard-0 publishes port 5432 on 0.0.0.0; set ports[].ip to "127.0.0.1" so only this host reaches it.',
    ]);
  });
});

describe("k8s-data-services-internal", () => {
  const SVC = "kubernetes:core/v1:Service";
  it("passes a ClusterIP database Service and a LoadBalancer for the app", async () => {
    expect((await runResource(k8sDataServicesInternal, SVC, { spec: { ports: [{ port: 5432 }] } })).messages).toEqual(
      [],
    );
    expect(
      (
        await runResource(k8sDataServicesInternal, SVC, {
          spec: { type: "LoadBalancer", ports: [{ port: 80, targetPort: 8080 }] },
        })
      ).messages,
    ).toEqual([]);
  });
  it("fails a LoadBalancer exposing etcd", async () => {
    expect(
      (
        await runResource(
          k8sDataServicesInternal,
          SVC,
          { spec: { type: "LoadBalancer", ports: [{ port: 2379, targetPort: 2379 }] } },
          { name: "etcd" },
        )
      ).messages,
    ).toEqual([
      "Service etcd exposes data port(s) 2379 as LoadBalancer; set spec.type to ClusterIP so only pods in the cluster reach it.",
    ]);
  });
});
