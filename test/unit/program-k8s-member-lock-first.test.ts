/**
 * The program (index.ts) on the k8s stack, never deployed: the StackReference to the stack itself
 * reads no outputs, the lock gets 0 members deployed and its check accepts the configured count.
 * What this run exports as `configEndpoints` is what the next `up` counts: all its members.
 * A stack deployed before the lock: program-k8s-member-lock.test.ts.
 */
import { kubernetesDeployedMembers } from "../../core/etcd/placement";
import { memberCountLockProvider } from "../../providers/member-count-lock";
import { runStackOffline, type OfflineStackRun } from "../../scripts/lib/stack";

const LOCK = "pulumi-nodejs:dynamic/etcd:EtcdMemberCountLock";

let run: OfflineStackRun;
beforeAll(async () => {
  run = await runStackOffline("k8s"); // stacks/Pulumi.k8s.yaml: 3 members; no previous outputs
});

describe("program on the k8s stack, first `up`", () => {
  it("reads the stack's own (absent) previous outputs", () => {
    expect(run.recording.reads.map((r) => [r.type, r.name, r.inputs.name])).toEqual([
      ["pulumi:pulumi:StackReference", "sp-k8s-previous", "organization/scaleplane/k8s"],
    ]);
  });

  it("hands the lock 0 members deployed: the new cluster is created with the configured count", async () => {
    const inputs = run.recording.one(LOCK, "sp-k8s-config-member-lock").inputs;
    expect(inputs).toMatchObject({ members: 3, deployedMembers: 0 });
    expect((await memberCountLockProvider.check!({}, inputs)).failures).toEqual([]);
  });

  it("exports configEndpoints from which the next `up` counts every member of this one", () => {
    const lock = run.recording.one(LOCK, "sp-k8s-config-member-lock").inputs;
    expect(kubernetesDeployedMembers(run.outputs.configEndpoints, lock.clusterName as string, "scaleplane")).toBe(3);
  });
});
