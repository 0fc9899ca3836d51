import { TOKENS } from "../../../core/tokens";
import {
  etcdMembersAcrossZones,
  etcdMembersOdd,
  etcdMembersProdMinimum,
  etcdTlsProd,
  plaintextListeners,
} from "../../../policies/config-service";
import { child, platform, runStack, urn, type FakeResource } from "./fake-args";

const CS = TOKENS.configService;
const EC2 = "aws:ec2/instance:Instance";
const STS = "kubernetes:apps/v1:StatefulSet";
const CONTAINER = "docker:index/container:Container";
const MEMBERSHIP = "pulumi-nodejs:dynamic/etcd:EtcdMembership";

/** A config service under a Platform with `n` EC2 members in `zones` (round robin). */
function awsService(
  environment: "dev" | "prod",
  members: number,
  zones: string[],
  extra: Record<string, unknown> = {},
): FakeResource[] {
  const p = platform({
    target: "aws",
    environment,
    aws: { zones },
    configService: { members: members >= 3 && members % 2 === 1 ? members : 3, ...extra },
  });
  const cs = child(p, CS, "p-config");
  const instances = Array.from({ length: members }, (_, i) =>
    child(cs, EC2, `p-config-${i}`, {
      availabilityZone: zones[i % zones.length],
      userData: "etcd --listen-client-urls=https://0.0.0.0:2379",
    }),
  );
  return [p, cs, ...instances];
}

describe("etcd-members-odd", () => {
  it("passes 3 members", async () => {
    expect((await runStack(etcdMembersOdd, awsService("dev", 3, ["a", "b", "c"]))).messages).toEqual([]);
  });
  it("fails 4 member resources, naming the key", async () => {
    const resources = awsService("dev", 4, ["a", "b", "c"]);
    const out = await runStack(etcdMembersOdd, resources);
    expect(out.messages).toEqual([
      "RaftConfigService p-config runs 4 members; run an odd number (3, 5 or 7; scaleplane:configService.members): 4 members tolerate no more failures than 3.",
    ]);
    expect(out.urns).toEqual([urn(resources[1])]);
  });
  it("counts the members of scaleplane's EtcdMembership provider (Docker)", async () => {
    const p = platform({ target: "docker" });
    const cs = child(p, CS, "p-config");
    const members = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `m${i}`, args: [] }));
    expect(
      (await runStack(etcdMembersOdd, [p, cs, child(cs, MEMBERSHIP, "p-config-members", { members: members(3) })]))
        .messages,
    ).toEqual([]);
    expect(
      (await runStack(etcdMembersOdd, [p, cs, child(cs, MEMBERSHIP, "p-config-members", { members: members(2) })]))
        .messages,
    ).toHaveLength(1);
  });
  it("counts StatefulSet replicas", async () => {
    const p = platform({ target: "kubernetes" });
    const cs = child(p, CS, "p-config");
    expect(
      (await runStack(etcdMembersOdd, [p, cs, child(cs, STS, "p-config", { spec: { replicas: 2 } })])).messages,
    ).toHaveLength(1);
  });
});

describe("etcd-members-prod-minimum", () => {
  it("passes 3 members in prod and 1 in dev", async () => {
    expect((await runStack(etcdMembersProdMinimum, awsService("prod", 3, ["a", "b", "c"]))).messages).toEqual([]);
    const dev = platform({ target: "docker", configService: { members: 1 } });
    const cs = child(dev, CS, "p-config");
    expect((await runStack(etcdMembersProdMinimum, [dev, cs, child(cs, CONTAINER, "p-config-0")])).messages).toEqual(
      [],
    );
  });
  it("fails 1 member in prod", async () => {
    const out = await runStack(etcdMembersProdMinimum, awsService("prod", 1, ["a", "b", "c"]));
    expect(out.messages).toEqual([
      "RaftConfigService p-config runs 1 member(s) in prod; set scaleplane:configService.members to at least 3 so the cluster keeps a quorum when a member fails.",
    ]);
  });
  it("takes the minimum from the policy config", async () => {
    expect(
      (await runStack(etcdMembersProdMinimum, awsService("prod", 3, ["a", "b", "c"]), { config: { minMembers: 5 } }))
        .messages,
    ).toHaveLength(1);
  });
});

describe("etcd-members-across-zones", () => {
  it("passes 5 members over 3 zones (2/2/1)", async () => {
    expect((await runStack(etcdMembersAcrossZones, awsService("prod", 5, ["a", "b", "c"]))).messages).toEqual([]);
  });
  it("fails 3 members over 2 zones (a zone holds a quorum)", async () => {
    const out = await runStack(etcdMembersAcrossZones, awsService("prod", 3, ["us-east-1a", "us-east-1b"]));
    expect(out.messages).toEqual([
      "RaftConfigService p-config has 2 of 3 members in us-east-1a (a quorum is 2): losing that zone stops the cluster; list at least 3 zones in scaleplane:aws.zones so members spread with no zone holding a quorum.",
    ]);
  });
  it("does not apply outside prod", async () => {
    expect((await runStack(etcdMembersAcrossZones, awsService("dev", 3, ["a", "b"]))).messages).toEqual([]);
  });
  it("fails a member without a zone", async () => {
    const [p, cs] = awsService("prod", 3, ["a", "b", "c"]);
    const out = await runStack(etcdMembersAcrossZones, [
      p,
      cs,
      child(cs, EC2, "m0", { availabilityZone: "a" }),
      child(cs, EC2, "m1", { availabilityZone: "b" }),
      child(cs, EC2, "m2"),
    ]);
    expect(out.messages).toEqual([
      "etcd member m2 has no availabilityZone; set it so members can be checked and kept apart (one zone per member, scaleplane:aws.zones).",
    ]);
  });
  it("checks a Kubernetes StatefulSet's zone spread", async () => {
    const p = platform({ target: "kubernetes", environment: "prod" });
    const cs = child(p, CS, "p-config");
    const spread = {
      spec: {
        replicas: 3,
        template: { spec: { topologySpreadConstraints: [{ topologyKey: "topology.kubernetes.io/zone", maxSkew: 1 }] } },
      },
    };
    expect((await runStack(etcdMembersAcrossZones, [p, cs, child(cs, STS, "etcd", spread)])).messages).toEqual([]);
    expect(
      (await runStack(etcdMembersAcrossZones, [p, cs, child(cs, STS, "etcd", { spec: { replicas: 3 } })])).messages,
    ).toEqual([
      "etcd StatefulSet etcd does not spread its 3 pods over zones; add a topologySpreadConstraint (or pod anti-affinity) on topology.kubernetes.io/zone (set scaleplane:kubernetes.zones).",
    ]);
  });
});

describe("etcd-tls-prod", () => {
  it("passes TLS in prod", async () => {
    expect((await runStack(etcdTlsProd, awsService("prod", 3, ["a", "b", "c"], { tls: true }))).messages).toEqual([]);
  });
  it("fails tls off in prod (from the config)", async () => {
    expect((await runStack(etcdTlsProd, awsService("prod", 3, ["a", "b", "c"], { tls: false }))).messages).toEqual([
      "RaftConfigService p-config serves etcd without TLS in prod; set scaleplane:configService.tls to true.",
    ]);
  });
  it("fails plain-http listeners seen on the members even when the config claims TLS", async () => {
    const p = platform({ target: "docker", environment: "prod", configService: { tls: true } });
    const cs = child(p, CS, "p-config");
    const m = child(cs, CONTAINER, "p-config-0", { command: ["etcd", "--listen-client-urls=http://0.0.0.0:2379"] });
    expect((await runStack(etcdTlsProd, [p, cs, m])).messages).toEqual([
      "RaftConfigService p-config serves etcd without TLS in prod (plain http listeners on p-config-0); set scaleplane:configService.tls to true.",
    ]);
  });
  it("fails plain-http member args of the EtcdMembership provider", async () => {
    const p = platform({ target: "docker", environment: "prod" });
    const cs = child(p, CS, "p-config");
    const m = child(cs, MEMBERSHIP, "p-config-members", {
      members: [{ name: "m0", args: ["--listen-peer-urls=http://m0:2380"] }],
    });
    expect((await runStack(etcdTlsProd, [p, cs, m])).messages).toEqual([
      "RaftConfigService p-config serves etcd without TLS in prod (plain http listeners on p-config-members); set scaleplane:configService.tls to true.",
    ]);
  });
  it("reads listeners from base64 user data and k8s args", () => {
    const b64 = Buffer.from("#!/bin/sh\netcd --listen-peer-urls=http://10.0.0.5:2380").toString("base64");
    expect(plaintextListeners({ type: EC2, props: { userDataBase64: b64 } } as never)).toEqual(["listen-peer-urls"]);
    expect(
      plaintextListeners({
        type: STS,
        props: { spec: { template: { spec: { containers: [{ args: ["--listen-client-urls=https://x"] }] } } } },
      } as never),
    ).toEqual([]);
  });
});
