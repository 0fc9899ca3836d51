/**
 * EtcdMemberCountLock through the SDK's dynamic-provider host over gRPC, as the engine drives it:
 * the provider serialized by a real (mock-runtime) program run, then Check/Diff/Create/Update.
 * Check refuses a member-count (or cluster-name) change of an existing lock, naming
 * configService.members, the old and new count and what to do; first creation and an unchanged
 * count pass; Diff never replaces. A lock without a record (its first `up`) compares with the
 * members deployed now (`deployedMembers`, looked up by the component on aws), which it neither
 * stores nor diffs. Needs only node (no etcd: the lock does no I/O).
 */
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { ProviderHost, serializeDynamicProvider, type Props } from "../../support/provider-host";

const TYPE = "pulumi-nodejs:dynamic/etcd:EtcdMemberCountLock";
const lock = (members: number, target = "aws"): Props => ({ clusterName: "cfg-prod", target, members });

let host: ProviderHost;
let provider: string;

beforeAll(async () => {
  const { EtcdMemberCountLock } =
    require("../../../providers/member-count-lock") as typeof import("../../../providers/member-count-lock");
  ({ provider } = await serializeDynamicProvider(
    TYPE,
    () => new EtcdMemberCountLock("lock", { clusterName: "cfg-prod", target: "aws", members: 3 }),
  ));
  host = await ProviderHost.start();
});

afterAll(async () => {
  await host?.stop();
});

const withProvider = (p: Props) => ({ __provider: provider, ...p });

it("first creation passes check and create stores exactly the inputs", async () => {
  const checked = await host.check(TYPE, {}, withProvider(lock(3)));
  expect(checked.failures).toEqual([]);
  const { id, outputs } = await host.create(TYPE, checked.inputs);
  expect(id).toBe("cfg-prod-member-count");
  expect(outputs).toMatchObject(lock(3));
});

it("check refuses 3 → 5 members on aws, naming configService.members, both counts and the way out", async () => {
  const { failures } = await host.check(TYPE, withProvider(lock(3)), withProvider(lock(5)));
  expect(failures).toHaveLength(1);
  expect(failures[0].property).toBe("members");
  expect(failures[0].reason).toMatch(/configService\.members cannot change from 3 to 5 on target aws/);
  expect(failures[0].reason).toMatch(/supported on target docker/);
  expect(failures[0].reason).toMatch(/create a new cluster .* and migrate .*keep configService\.members = 3/);
});

it("check refuses shrinking on kubernetes too (removed members would stay voters)", async () => {
  const { failures } = await host.check(TYPE, withProvider(lock(5, "kubernetes")), withProvider(lock(3, "kubernetes")));
  expect(failures).toEqual([
    { property: "members", reason: expect.stringMatching(/from 5 to 3 on target kubernetes/) },
  ]);
});

it("check refuses a cluster-name change of an existing lock", async () => {
  const { failures } = await host.check(
    TYPE,
    withProvider(lock(3)),
    withProvider({ ...lock(3), clusterName: "other-prod" }),
  );
  expect(failures).toEqual([{ property: "clusterName", reason: expect.stringMatching(/"cfg-prod" to "other-prod"/) }]);
});

it("check refuses a count etcd is not deployed with, even on first creation", async () => {
  const { failures } = await host.check(TYPE, {}, withProvider(lock(4)));
  expect(failures).toEqual([{ property: "members", reason: expect.stringMatching(/1, 3, 5, 7; got 4/) }]);
});

it("the same count passes; diff reports no change, and never a replacement", async () => {
  const same = await host.check(TYPE, withProvider(lock(3)), withProvider(lock(3)));
  expect(same.failures).toEqual([]);
  expect(await host.diff(TYPE, "cfg-prod-member-count", withProvider(lock(3)), withProvider(lock(3)))).toEqual({
    changes: "none",
    replaces: [],
    deleteBeforeReplace: false,
  });
  const moved = await host.diff(TYPE, "cfg-prod-member-count", withProvider(lock(3)), withProvider(lock(5)));
  expect(moved).toEqual({ changes: "some", replaces: [], deleteBeforeReplace: false });
});

it("update stores the new inputs and nothing else", async () => {
  const outs = await host.update(
    TYPE,
    "cfg-prod-member-count",
    withProvider(lock(3)),
    withProvider(lock(3, "kubernetes")),
  );
  expect(outs).toMatchObject(lock(3, "kubernetes"));
  expect(
    Object.keys(outs)
      .filter((k) => k !== "__provider")
      .sort(),
  ).toEqual(["clusterName", "members", "target"]);
});

describe("a lock created on a cluster deployed before the lock existed (deployedMembers)", () => {
  const deployed = (members: number, deployedMembers: unknown): Props => ({ ...lock(members), deployedMembers });

  it("check refuses 3 deployed → 5 with no recorded olds, naming configService.members and both counts", async () => {
    const { failures } = await host.check(TYPE, {}, withProvider(deployed(5, 3)));
    expect(failures).toEqual([
      {
        property: "members",
        reason: expect.stringMatching(
          /configService\.members cannot change from 3 \(the members deployed now\) to 5 on target aws.*keep configService\.members = 3\. Nothing was changed\./,
        ),
      },
    ]);
  });

  it("check passes the deployed count, a new cluster (0) and a preview's unknown count; create stores no observation", async () => {
    for (const d of [3, 0, unknownValue]) {
      const checked = await host.check(TYPE, {}, withProvider(deployed(3, d)));
      expect(checked.failures).toEqual([]);
    }
    const checked = await host.check(TYPE, {}, withProvider(deployed(3, 3)));
    const { outputs } = await host.create(TYPE, checked.inputs);
    expect(
      Object.keys(outputs)
        .filter((k) => k !== "__provider")
        .sort(),
    ).toEqual(["clusterName", "members", "target"]);
  });

  it("once recorded, the record decides and a changed deployed count alone is no change", async () => {
    // A member instance lost out of band: the repair at the recorded count is not refused.
    expect((await host.check(TYPE, withProvider(lock(3)), withProvider(deployed(3, 2)))).failures).toEqual([]);
    expect(await host.diff(TYPE, "cfg-prod-member-count", withProvider(lock(3)), withProvider(deployed(3, 2)))).toEqual(
      {
        changes: "none",
        replaces: [],
        deleteBeforeReplace: false,
      },
    );
  });
});
