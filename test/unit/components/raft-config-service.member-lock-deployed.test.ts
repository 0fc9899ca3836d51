/**
 * The member-count lock of a cluster deployed before the lock existed: its first `up` with the lock
 * creates a fresh lock (no recorded count), so the component hands the lock the count deployed now,
 * whose check refuses a different configService.members in that same `up`. On aws it looks up the
 * member instances (ec2 getInstances, through the component's AWS provider); on kubernetes it
 * counts this cluster's members among the endpoints the stack's last deployment published
 * (`kubernetes.deployedEndpoints`). That a failed lookup, a malformed record or a refused lock fails
 * the deployment (each its own program run) is test/integration/config-service/member-lock-deployment.test.ts.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { RaftConfigService } from "../../../components/raft-config-service";
import { memberCountLockProvider } from "../../../providers/member-count-lock";
import { installMocks, settle } from "../../../scripts/lib/offline";

const GET_INSTANCES = "aws:ec2/getInstances:getInstances";
/** The account: cluster `grown-prod` runs 3 members (deployed before the lock existed). */
const running: Record<string, string[]> = { "grown-prod": ["i-0", "i-1", "i-2"] };
const rec = installMocks({
  stack: "prod",
  invokes: {
    [GET_INSTANCES]: ({ inputs }: pulumi.runtime.MockCallArgs) => {
      const cluster = (inputs.instanceTags as Record<string, string>)["scaleplane:cluster"];
      if (cluster === "broken-prod") throw new Error("UnauthorizedOperation: ec2:DescribeInstances");
      return { ids: running[cluster] ?? [], privateIps: [], publicIps: [], ipv6Addresses: [] };
    },
  },
});

const LOCK = "pulumi-nodejs:dynamic/etcd:EtcdMemberCountLock";
const subnets = [
  { id: "subnet-a", cidr: "10.42.0.0/20", zone: "us-east-1a" },
  { id: "subnet-b", cidr: "10.42.16.0/20", zone: "us-east-1b" },
];
const awsArgs = { vpcId: "vpc-1", subnets, clientSecurityGroupIds: ["sg-app"] };
const provider = new aws.Provider("acct", { region: "us-east-1" });
// Was deployed with 3 members before the lock existed; this `up` asks for 5.
new RaftConfigService(
  "grown",
  { target: "aws", configService: { name: "grown", members: 5 }, aws: awsArgs },
  { providers: { aws: provider } },
);
// A new cluster: nothing deployed yet.
new RaftConfigService("fresh", { target: "aws", configService: { name: "fresh", members: 5 }, aws: awsArgs });
new RaftConfigService("k8scfg", {
  target: "kubernetes",
  configService: { name: "k8scfg", members: 5 },
  kubernetes: { namespace: "platform" },
});
// Kubernetes: the previous deployment of cluster `k8sgrown` had 3 members without TLS (this
// component stands for it: its endpoints are what that deployment published) ...
const previous = new RaftConfigService("k8sprev", {
  target: "kubernetes",
  configService: { name: "k8sgrown", members: 3 },
  kubernetes: { namespace: "platform" },
});
// ... and this `up` asks for 5 members with TLS (the namespace arrives as an Output, as from the Platform).
new RaftConfigService("k8sgrown", {
  target: "kubernetes",
  configService: { name: "k8sgrown", members: 5, tls: true },
  kubernetes: { namespace: pulumi.output("platform"), deployedEndpoints: previous.clientEndpoints },
});
// The stack's previous deployment had another cluster (another configService.name) or never ran.
new RaftConfigService("k8srenamed", {
  target: "kubernetes",
  configService: { name: "k8srenamed", members: 5 },
  kubernetes: { namespace: "platform", deployedEndpoints: previous.clientEndpoints },
});
new RaftConfigService("k8snew", {
  target: "kubernetes",
  configService: { name: "k8snew", members: 5 },
  kubernetes: { namespace: "platform", deployedEndpoints: undefined },
});

beforeAll(settle);

describe("RaftConfigService member-count lock of a cluster deployed before the lock", () => {
  it("hands the lock the count of member instances deployed now", () => {
    expect(rec.one(LOCK, "grown-member-lock").inputs).toMatchObject({ members: 5, deployedMembers: 3 });
    expect(rec.one(LOCK, "fresh-member-lock").inputs).toMatchObject({ members: 5, deployedMembers: 0 });
  });

  it("looks up the cluster's etcd-member instances in every state but terminated, with the component's AWS provider", () => {
    const lookups = rec.invokes.filter((i) => i.token === GET_INSTANCES);
    const grown = lookups.find(
      (i) => (i.inputs.instanceTags as Record<string, string>)["scaleplane:cluster"] === "grown-prod",
    );
    expect(grown?.inputs).toEqual({
      instanceTags: { "scaleplane:cluster": "grown-prod" },
      filters: [{ name: "tag-key", values: ["scaleplane:etcd-member"] }],
      instanceStateNames: ["pending", "running", "stopping", "stopped"],
    });
    // The same provider as the member instances it counts.
    expect(grown?.provider).toMatch(/pulumi:providers:aws::acct::/);
    expect(rec.one("aws:ec2/instance:Instance", "grown-0").provider).toBe(grown?.provider);
    // The lookup counts what the instances are tagged with.
    expect(rec.one("aws:ec2/instance:Instance", "grown-0").inputs.tags).toMatchObject({
      "scaleplane:cluster": "grown-prod",
      "scaleplane:etcd-member": "grown-prod-0",
    });
    expect(lookups).toHaveLength(2);
  });

  it("the fresh lock's check refuses the changed count (no recorded olds), naming configService.members", async () => {
    const inputs = rec.one(LOCK, "grown-member-lock").inputs;
    const checked = await memberCountLockProvider.check!({}, inputs);
    expect(checked.failures).toEqual([
      {
        property: "members",
        reason: expect.stringMatching(
          /configService\.members cannot change from 3 \(the members deployed now\) to 5 on target aws.*keep configService\.members = 3\. Nothing was changed\./,
        ),
      },
    ]);
    // A new cluster is created as asked.
    expect((await memberCountLockProvider.check!({}, rec.one(LOCK, "fresh-member-lock").inputs)).failures).toEqual([]);
  });

  it("kubernetes: hands the lock the members among the endpoints the last deployment published", async () => {
    expect(rec.one(LOCK, "k8sgrown-member-lock").inputs).toMatchObject({
      clusterName: "k8sgrown-prod",
      target: "kubernetes",
      members: 5,
      deployedMembers: 3,
    });
    const checked = await memberCountLockProvider.check!({}, rec.one(LOCK, "k8sgrown-member-lock").inputs);
    expect(checked.failures).toEqual([
      {
        property: "members",
        reason: expect.stringMatching(
          /configService\.members cannot change from 3 \(the members deployed now\) to 5 on target kubernetes.*keep configService\.members = 3\. Nothing was changed\./,
        ),
      },
    ]);
    // Another cluster's endpoints are no members of this one: a new cluster, created as asked.
    expect(rec.one(LOCK, "k8srenamed-member-lock").inputs).toMatchObject({ members: 5, deployedMembers: 0 });
    expect((await memberCountLockProvider.check!({}, rec.one(LOCK, "k8srenamed-member-lock").inputs)).failures).toEqual(
      [],
    );
  });

  it("kubernetes without deployedEndpoints: no deployed count, the lock's first `up` accepts any valid count", async () => {
    for (const lock of ["k8scfg-member-lock", "k8snew-member-lock"]) {
      const inputs = rec.one(LOCK, lock).inputs;
      expect(inputs).not.toHaveProperty("deployedMembers");
      expect((await memberCountLockProvider.check!({}, inputs)).failures).toEqual([]);
    }
  });
});
