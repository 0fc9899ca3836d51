/**
 * The member-count lock of RaftConfigService: on aws and kubernetes (no safe membership protocol
 * yet) one EtcdMemberCountLock child records the cluster's member count, and the member resources
 * (EC2 instances and their data volumes, the StatefulSet) depend on it, so the engine runs the
 * lock's check before any member changes; docker (EtcdMembership changes members safely) has none.
 */
import { TOKENS } from "../../../core/tokens";
import { memberCountLockProvider } from "../../../providers/member-count-lock";
import { RaftConfigService } from "../../../components/raft-config-service";
import { installMocks, settle } from "../../../scripts/lib/offline";
import { recordDependencies } from "../../support/dependencies";

const rec = installMocks({ stack: "prod" });

const dependencies = recordDependencies();

const LOCK = "pulumi-nodejs:dynamic/etcd:EtcdMemberCountLock";
const subnets = [
  { id: "subnet-a", cidr: "10.42.0.0/20", zone: "us-east-1a" },
  { id: "subnet-b", cidr: "10.42.16.0/20", zone: "us-east-1b" },
];
new RaftConfigService("awscfg", {
  target: "aws",
  environment: "prod",
  configService: { name: "awscfg", members: 3 },
  aws: { vpcId: "vpc-1", subnets, clientSecurityGroupIds: ["sg-app"] },
});
new RaftConfigService("k8scfg", {
  target: "kubernetes",
  configService: { name: "k8scfg", members: 5 },
  kubernetes: { namespace: "platform" },
});
new RaftConfigService("dockercfg", {
  target: "docker",
  configService: { name: "dockercfg", members: 3 },
  docker: { portBase: 14379 },
});

beforeAll(settle);

const depsOf = (type: string, name: string) => dependencies.get(`${type}::${name}`) ?? [];

describe("RaftConfigService member-count lock", () => {
  it("adds one lock per aws/kubernetes cluster, a child of the component, recording cluster, target and count", () => {
    expect(
      rec
        .ofType(LOCK)
        .map((r) => r.name)
        .sort(),
    ).toEqual(["awscfg-member-lock", "k8scfg-member-lock"]);
    for (const [name, target, members] of [
      ["awscfg", "aws", 3],
      ["k8scfg", "kubernetes", 5],
    ] as const) {
      const lock = rec.one(LOCK, `${name}-member-lock`);
      expect(lock.parentUrn).toBe(rec.one(TOKENS.configService, name).urn);
      expect(lock.inputs).toMatchObject({ clusterName: `${name}-prod`, target, members });
      expect(typeof lock.inputs.__provider).toBe("string");
    }
  });

  it("has no lock on docker, whose EtcdMembership changes members one at a time", () => {
    const comp = rec.one(TOKENS.configService, "dockercfg");
    expect(rec.childrenOf(comp).filter((r) => r.type === LOCK)).toEqual([]);
    expect(rec.one("pulumi-nodejs:dynamic/etcd:EtcdMembership", "dockercfg-members").parentUrn).toBe(comp.urn);
  });

  it("makes every aws member instance and data volume depend on the lock", () => {
    const lock = rec.one(LOCK, "awscfg-member-lock").urn;
    for (let i = 0; i < 3; i++) {
      expect(depsOf("aws:ec2/instance:Instance", `awscfg-${i}`)).toContain(lock);
      expect(depsOf("aws:ebs/volume:Volume", `awscfg-${i}-data`)).toContain(lock);
    }
    // Resources the member count does not touch are not held back by it.
    expect(depsOf("aws:ec2/securityGroup:SecurityGroup", "awscfg-sg")).not.toContain(lock);
  });

  it("makes the kubernetes StatefulSet depend on the lock", () => {
    const lock = rec.one(LOCK, "k8scfg-member-lock").urn;
    expect(depsOf("kubernetes:apps/v1:StatefulSet", "k8scfg")).toContain(lock);
  });

  it("the recorded lock inputs, changed to another count, are refused naming configService.members", async () => {
    const olds = rec.one(LOCK, "awscfg-member-lock").inputs;
    const same = await memberCountLockProvider.check!(olds, { ...olds });
    expect(same.failures).toEqual([]);
    const grown = await memberCountLockProvider.check!(olds, { ...olds, members: 5 });
    expect(grown.failures).toEqual([
      {
        property: "members",
        reason: expect.stringMatching(
          /configService\.members cannot change from 3 to 5 on target aws.*supported on target docker.*keep configService\.members = 3/,
        ),
      },
    ]);
  });
});
