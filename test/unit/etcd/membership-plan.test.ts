import fc from "fast-check";
import {
  describeStep,
  MembershipPlanError,
  planMembershipChange,
  type CurrentMember,
  type MembershipStep,
} from "../../../core/etcd/membership";
import { etcdClusterSpec, quorum, type EtcdClusterSettings } from "../../../core/etcd/spec";
import {
  MEMBER_COUNTS,
  membershipDiff,
  validateMembershipSpec,
  type MembershipSpec,
} from "../../../core/etcd/membership";
import { ETCD_MEMBER_COUNTS } from "../../../core/config";

const names = (n: number) => Array.from({ length: n }, (_, i) => `c-${i}`);
const cluster = (n: number, leader = 0): CurrentMember[] =>
  names(n).map((name, i) => ({ id: String(1000 + i), name, isLeader: i === leader, isLearner: false }));

/** Replays steps on a voter set and returns every intermediate voter list and the final one. */
function replay(current: CurrentMember[], steps: MembershipStep[]) {
  const voters = new Set(current.filter((m) => !m.isLearner).map((m) => m.name));
  const learners = new Set(current.filter((m) => m.isLearner).map((m) => m.name));
  let leader = current.find((m) => m.isLeader)!.name;
  const history: number[] = [voters.size];
  for (const s of steps) {
    if (s.kind === "addLearner") learners.add(s.name);
    if (s.kind === "promote") {
      expect(learners.has(s.name)).toBe(true);
      learners.delete(s.name);
      voters.add(s.name);
    }
    if (s.kind === "transferLeadership") {
      expect(s.from).toBe(leader);
      expect(voters.has(s.to)).toBe(true);
      leader = s.to;
    }
    if (s.kind === "remove") {
      expect(s.name).not.toBe(leader);
      voters.delete(s.name);
      learners.delete(s.name);
    }
    expect(learners.size).toBeLessThanOrEqual(1);
    history.push(voters.size);
  }
  return { voters: [...voters].sort(), learners, leader, history };
}

describe("planMembershipChange", () => {
  it("grows 1 → 3 one learner at a time: add, start, wait, promote", () => {
    const steps = planMembershipChange(cluster(1), names(3));
    expect(steps.map(describeStep)).toEqual([
      "add c-1 as learner",
      "start c-1 (initial-cluster-state existing)",
      "wait until c-1 has caught up",
      "promote c-1 to voter (2 voters)",
      "add c-2 as learner",
      "start c-2 (initial-cluster-state existing)",
      "wait until c-2 has caught up",
      "promote c-2 to voter (3 voters)",
    ]);
  });

  it("shrinks 5 → 3 removing followers only when the leader stays", () => {
    const steps = planMembershipChange(cluster(5, 1), names(3));
    expect(steps.map((s) => s.kind)).toEqual(["remove", "stop", "remove", "stop"]);
    expect(steps.filter((s) => s.kind === "remove").map((s) => (s as { name: string }).name)).toEqual(["c-4", "c-3"]);
    expect(steps[0]).toMatchObject({ id: "1004", votersAfter: 4 });
  });

  it("removes the leader last, after transferring leadership to a member that stays", () => {
    const steps = planMembershipChange(cluster(5, 4), names(3));
    expect(steps.map(describeStep)).toEqual([
      "remove c-3 (4 voters)",
      "stop c-3",
      "transfer leadership c-4 → c-0",
      "remove c-4 (3 voters)",
      "stop c-4",
    ]);
  });

  it("finishes a learner left behind by an interrupted change and removes unwanted learners first", () => {
    const current = [...cluster(3), { id: "9", name: "c-3", isLeader: false, isLearner: true }];
    expect(planMembershipChange(current, names(5)).map((s) => s.kind)).toEqual([
      "start",
      "waitCaughtUp",
      "promote",
      "addLearner",
      "start",
      "waitCaughtUp",
      "promote",
    ]);
    expect(planMembershipChange(current, names(3)).map(describeStep)).toEqual(["remove c-3 (3 voters)", "stop c-3"]);
  });

  it("returns no steps when the membership already matches", () => {
    expect(planMembershipChange(cluster(3, 2), names(3))).toEqual([]);
  });

  it("refuses even and out-of-range targets with the allowed counts", () => {
    expect(() => planMembershipChange(cluster(3), names(4))).toThrow(
      /target member count must be one of 1, 3, 5, 7.*got 4/,
    );
    expect(() => planMembershipChange(cluster(3), names(9))).toThrow(MembershipPlanError);
    expect(() => planMembershipChange(cluster(3), [])).toThrow(/got 0/);
  });

  it("refuses a change when the cluster has no quorum now", () => {
    const current = cluster(3).map((m, i) => ({ ...m, healthy: i === 0 }));
    expect(() => planMembershipChange(current, names(5))).toThrow(
      /1 healthy of 3 voting members, below the quorum of 2/,
    );
  });

  it("refuses a removal that would leave too few healthy voters", () => {
    // 5 voters, c-1 and c-2 down: removing healthy c-4 leaves 2 healthy of 4 (< 3).
    const current = cluster(5).map((m) => ({ ...m, healthy: !["c-1", "c-2"].includes(m.name) }));
    expect(() => planMembershipChange(current, ["c-0", "c-1", "c-2"])).toThrow(
      "removing c-4 would leave 2 healthy of 4 voting members, below the quorum of 3",
    );
  });

  it("refuses a bootstrap, duplicate names and a cluster without a single leader", () => {
    expect(() => planMembershipChange([], names(3))).toThrow(/bootstrapped/);
    expect(() => planMembershipChange(cluster(3), ["c-0", "c-0", "c-1"])).toThrow(/unique/);
    expect(() =>
      planMembershipChange(
        cluster(3).map((m) => ({ ...m, isLeader: false })),
        names(3),
      ),
    ).toThrow(/exactly one leader/);
  });

  it("property: any odd → odd change ends at the desired voters, one voter at a time, never below quorum", () => {
    const odd = fc.constantFrom(1, 3, 5, 7);
    fc.assert(
      fc.property(odd, odd, fc.nat(6), fc.boolean(), (from, to, leaderPick, shift) => {
        const current = cluster(from, leaderPick % from);
        // Optionally a disjoint-ish target (members renamed), to exercise add+remove together.
        const desired = shift ? names(to).map((n, i) => (i === 0 ? n : `${n}-new`)) : names(to);
        const steps = planMembershipChange(current, desired);
        const { voters, history, learners } = replay(current, steps);
        expect(voters).toEqual([...desired].sort());
        expect(learners.size).toBe(0);
        for (let i = 1; i < history.length; i++) expect(Math.abs(history[i] - history[i - 1])).toBeLessThanOrEqual(1);
        for (const s of steps) expect(s.votersAfter).toBeGreaterThanOrEqual(1);
        // Every step's voter count is reachable with all members healthy: quorum ≤ voters.
        for (const v of history) expect(quorum(v)).toBeLessThanOrEqual(v);
        // Each removal is followed by stopping that member; each learner is promoted after it caught up.
        steps.forEach((s, i) => {
          if (s.kind === "remove") expect(steps[i + 1]).toMatchObject({ kind: "stop", name: s.name });
          if (s.kind === "promote") expect(steps[i - 1]).toMatchObject({ kind: "waitCaughtUp", name: s.name });
        });
      }),
      { numRuns: 300 },
    );
  });

  it("property: even targets are always refused", () => {
    fc.assert(
      fc.property(fc.constantFrom(1, 3, 5, 7), fc.constantFrom(2, 4, 6, 8), (from, to) => {
        expect(() => planMembershipChange(cluster(from), names(to))).toThrow(MembershipPlanError);
      }),
    );
  });
});

describe("EtcdMembership inputs (pure)", () => {
  it("allows exactly the member counts the config schema allows", () => {
    expect(MEMBER_COUNTS).toEqual(ETCD_MEMBER_COUNTS);
  });

  const settings: EtcdClusterSettings = {
    clusterName: "c",
    clientPort: 2379,
    peerPort: 2380,
    heartbeatIntervalMs: 100,
    electionTimeoutMs: 1000,
    tls: false,
  };
  const spec = (n: number): MembershipSpec => ({
    clusterName: "c",
    settings,
    image: "img",
    etcdBinary: "/usr/bin/etcd",
    network: "net",
    labels: {},
    members: etcdClusterSpec(settings, names(n)).members.map((m, i) => ({
      name: m.name,
      host: m.host,
      hostPort: 23000 + i,
      args: m.args,
    })),
  });

  it("accepts the shared builder's specs and names every bad input", () => {
    expect(validateMembershipSpec(spec(3))).toEqual([]);
    const bad = {
      ...spec(3),
      image: "",
      members: [...spec(3).members.slice(0, 1), { ...spec(3).members[1], hostPort: 23000 }],
    };
    expect(validateMembershipSpec(bad).map((f) => f.property)).toEqual(["image", "members", "members[1].hostPort"]);
    const flags = spec(3);
    flags.members[2].args = flags.members[2].args.filter((a) => !a.startsWith("--election-timeout"));
    expect(validateMembershipSpec(flags)).toEqual([
      { property: "members[2].args", reason: expect.stringContaining("--election-timeout=1000") },
    ]);
  });

  it("refuses changes a running cluster cannot take, but not membership changes", () => {
    expect(validateMembershipSpec(spec(5), spec(3))).toEqual([]);
    expect(validateMembershipSpec({ ...spec(3), network: "other" }, spec(3))).toEqual([
      expect.objectContaining({
        property: "network",
        reason: expect.stringContaining("cannot change on a running cluster"),
      }),
    ]);
    const moved = spec(3);
    moved.members[1].hostPort = 23999;
    expect(validateMembershipSpec(moved, spec(3))).toEqual([
      expect.objectContaining({ property: "members[1]", reason: expect.stringContaining("cannot move") }),
    ]);
  });

  it("diffs member by member and never looks at the secret tls input", () => {
    expect(membershipDiff(spec(3) as never, spec(5) as never)).toEqual({
      changedKeys: ["members"],
      added: ["c-3", "c-4"],
      removed: [],
    });
    expect(membershipDiff(spec(5) as never, spec(3) as never)).toEqual({
      changedKeys: ["members"],
      added: [],
      removed: ["c-3", "c-4"],
    });
    expect(membershipDiff(spec(3) as never, { ...spec(3), tls: { serverKey: "x" } } as never).changedKeys).toEqual([]);
  });
});
