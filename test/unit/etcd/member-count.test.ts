/**
 * The member-count lock's decision (core/etcd/member-count.ts): a change of the recorded count is
 * refused, and so is a change of the count that is deployed when the lock has no record yet (a
 * cluster deployed before the lock existed gets a fresh lock in the same `up` that changes it).
 */
import { memberCountLockFailures } from "../../../core/etcd/member-count";

const news = (members: number, deployedMembers?: unknown) => ({
  clusterName: "cfg-prod",
  target: "aws",
  members,
  ...(deployedMembers === undefined ? {} : { deployedMembers }),
});
const recorded = (members: number) => ({ clusterName: "cfg-prod", target: "aws", members });

describe("memberCountLockFailures", () => {
  it("without a record, refuses a count other than the deployed one, naming configService.members", () => {
    expect(memberCountLockFailures({}, news(5, 3))).toEqual([
      {
        property: "members",
        reason: expect.stringMatching(
          /^configService\.members cannot change from 3 \(the members deployed now\) to 5 on target aws: .*supported on target docker.*keep configService\.members = 3\. Nothing was changed\.$/,
        ),
      },
    ]);
    expect(memberCountLockFailures({}, news(3, 5))).toEqual([
      { property: "members", reason: expect.stringContaining("cannot change from 5 (the members deployed now) to 3") },
    ]);
  });

  it("without a record, a deployed count no cluster can have (a lost member) is refused with advice that fits", () => {
    const [failure] = memberCountLockFailures({}, news(3, 2));
    expect(failure.reason).toMatch(
      /cannot change from 2 \(the members deployed now\) to 3 .*if a member's instance was lost/,
    );
    expect(failure.reason).not.toMatch(/keep configService\.members = 2/);
  });

  it("without a record, accepts a new cluster (nothing deployed) and the deployed count itself", () => {
    expect(memberCountLockFailures({}, news(5))).toEqual([]);
    expect(memberCountLockFailures({}, news(5, 0))).toEqual([]);
    expect(memberCountLockFailures({}, news(3, 3))).toEqual([]);
  });

  it("with a record, the record decides: one failure for a change, a lost member does not block the repair", () => {
    expect(memberCountLockFailures(recorded(3), news(5, 3))).toEqual([
      { property: "members", reason: expect.stringContaining("cannot change from 3 to 5 on target aws") },
    ]);
    // An instance terminated out of band: the next `up` recreates it at the same count.
    expect(memberCountLockFailures(recorded(3), news(3, 2))).toEqual([]);
    expect(memberCountLockFailures(recorded(3), news(3))).toEqual([]);
  });

  it("ignores a deployed count that is not known yet (an unknown value in a preview)", () => {
    // How the SDK's dynamic-provider host hands a check an unknown input (rpc.unknownValue).
    expect(memberCountLockFailures({}, news(5, "04da6b54-80e4-46f7-96ec-b56ff0331ba9"))).toEqual([]);
  });

  it("refuses a malformed deployed count", () => {
    expect(memberCountLockFailures({}, news(3, -1))).toEqual([
      { property: "deployedMembers", reason: expect.stringContaining("got -1") },
    ]);
    expect(memberCountLockFailures({}, news(3, 1.5))).toEqual([
      { property: "deployedMembers", reason: expect.stringContaining("got 1.5") },
    ]);
  });
});
