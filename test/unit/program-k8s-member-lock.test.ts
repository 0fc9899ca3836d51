/**
 * The program (index.ts) on the k8s stack, deployed with 3 etcd members before the member-count
 * lock existed, now asked for 5: the lock is new (no record), so the program reads the stack's
 * previous `configEndpoints` output through a StackReference to the stack itself and the lock
 * counts 3 members there; its check refuses the change in this first `up`. (Before the previous
 * outputs were read, the lock got no deployed count and accepted 5: a second, split cluster.)
 * The first `up` of a stack never deployed: program-k8s-member-lock-first.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { memberCountLockProvider } from "../../providers/member-count-lock";
import { REPO_ROOT, runStackOffline, type OfflineStackRun } from "../../scripts/lib/stack";

const LOCK = "pulumi-nodejs:dynamic/etcd:EtcdMemberCountLock";
/** What the stack's last update exported (`pulumi stack output --json`), with 3 members. */
const previousOutputs = {
  target: "kubernetes",
  appEndpoints: ["http://app.scaleplane.svc.cluster.local"],
  configEndpoints: [
    "http://config-k8s-0.config-k8s-peer.scaleplane.svc:2379",
    "http://config-k8s-1.config-k8s-peer.scaleplane.svc:2379",
    "http://config-k8s-2.config-k8s-peer.scaleplane.svc:2379",
  ],
};

let run: OfflineStackRun;
beforeAll(async () => {
  // stacks/Pulumi.k8s.yaml (3 members), asking for 5.
  const doc = parse(readFileSync(join(REPO_ROOT, "stacks/Pulumi.k8s.yaml"), "utf8")) as {
    config: Record<string, Record<string, unknown>>;
  };
  expect(doc.config["scaleplane:configService"].members).toBe(3);
  doc.config["scaleplane:configService"].members = 5;
  const dir = mkdtempSync(join(tmpdir(), "program-k8s-lock-"));
  try {
    const stackFile = join(dir, "Pulumi.k8s.yaml");
    writeFileSync(stackFile, stringify(doc));
    run = await runStackOffline("k8s", { stackFile, stackOutputs: previousOutputs });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe("program on the k8s stack: the lock's first `up` sees the previous deployment's members", () => {
  it("reads the stack's own previous outputs through one StackReference, outside every component", () => {
    expect(run.recording.reads).toEqual([
      expect.objectContaining({
        type: "pulumi:pulumi:StackReference",
        name: "sp-k8s-previous",
        inputs: { name: "organization/scaleplane/k8s" },
        parentUrn: undefined,
      }),
    ]);
    // A read creates nothing: it is no registered resource (and goes to no policy).
    expect(run.recording.ofType("pulumi:pulumi:StackReference")).toEqual([]);
  });

  it("hands the lock the 3 members deployed, and its check refuses 5, naming configService.members", async () => {
    const inputs = run.recording.one(LOCK, "sp-k8s-config-member-lock").inputs;
    expect(inputs).toMatchObject({ clusterName: "config-k8s", target: "kubernetes", members: 5, deployedMembers: 3 });
    const checked = await memberCountLockProvider.check!({}, inputs);
    expect(checked.failures).toEqual([
      {
        property: "members",
        reason: expect.stringMatching(
          /^configService\.members cannot change from 3 \(the members deployed now\) to 5 on target kubernetes: .*keep configService\.members = 3\. Nothing was changed\.$/,
        ),
      },
    ]);
  });

  it("the previous outputs above are what the program publishes for those members", () => {
    expect(run.outputs.target).toBe(previousOutputs.target);
    expect((run.outputs.configEndpoints as string[]).slice(0, 3)).toEqual(previousOutputs.configEndpoints);
    expect(run.outputs.configEndpoints).toHaveLength(5);
  });
});
