/**
 * The member-count lock of a cluster deployed before the lock existed: its first `up` with the lock
 * creates a fresh lock (no recorded count), so on aws the component looks up the member instances
 * deployed now (ec2 getInstances, through the component's AWS provider) and hands the count to
 * the lock, whose check refuses a different configService.members in that same `up`.
 */
import * as aws from "@pulumi/aws";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import { RaftConfigService } from "../../../components/raft-config-service";
import { memberCountLockProvider } from "../../../providers/member-count-lock";
import { installMocks, settle } from "../../../scripts/lib/offline";

const ROOT = join(__dirname, "../../..");
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

  it("kubernetes has no deployed count (no sound lookup of the StatefulSet): its lock keeps recorded-count behaviour", () => {
    expect(rec.one(LOCK, "k8scfg-member-lock").inputs).not.toHaveProperty("deployedMembers");
  });

  it("a failed lookup fails the deployment (the lock is not registered) instead of counting 0 members", () => {
    // Its own process: Pulumi's program runner fails the deployment on the unhandled rejection,
    // which would fail whichever jest test is running here; node exits non-zero on it just as well.
    const dir = mkdtempSync(join(tmpdir(), "member-lock-"));
    const program = join(dir, "program.ts");
    writeFileSync(
      program,
      `const { installMocks, settle } = require(${JSON.stringify(join(ROOT, "scripts/lib/offline"))});
const denied = "UnauthorizedOperation: You are not authorized to perform: ec2:DescribeInstances";
// A provider's error reaches the SDK as a gRPC error: its text is in "details".
installMocks({ stack: "prod", invokes: { "${GET_INSTANCES}": () => { throw Object.assign(new Error(denied), { details: denied }); } } });
const { RaftConfigService } = require(${JSON.stringify(join(ROOT, "components/raft-config-service"))});
new RaftConfigService("cfg", ${JSON.stringify({ target: "aws", configService: { name: "cfg", members: 3 }, aws: awsArgs })});
settle().then(() => console.log("deployed without the lookup"));
`,
    );
    try {
      const run = spawnSync(join(ROOT, "node_modules/.bin/tsx"), [program], { encoding: "utf8", timeout: 120_000 });
      expect(run.stdout).not.toContain("deployed without the lookup");
      expect(run.stderr).toMatch(/error serializing property "deployedMembers": UnauthorizedOperation/);
      expect(run.status).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
