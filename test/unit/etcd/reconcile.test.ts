import fc from "fast-check";
import { peerUrl, type EtcdClusterSettings } from "../../../core/etcd/spec";
import { MembershipPlanError } from "../../../core/etcd/membership";
import {
  membershipDrift,
  planReconcile,
  stepKey,
  describeReconcileStep,
  type ClusterObservation,
  type KnownMember,
  type ObservedEtcdMember,
  type ReconcileStep,
} from "../../../core/etcd/reconcile";

const settings: EtcdClusterSettings = {
  clusterName: "c",
  clientPort: 2379,
  peerPort: 2380,
  heartbeatIntervalMs: 100,
  electionTimeoutMs: 1000,
  tls: false,
};
const known = (n: number): KnownMember[] => Array.from({ length: n }, (_, i) => ({ name: `c-${i}`, host: `c-${i}` }));
const member = (i: number, o: Partial<ObservedEtcdMember> = {}): ObservedEtcdMember => ({
  id: String(1000 + i),
  name: `c-${i}`,
  peerUrls: [peerUrl(settings, `c-${i}`)],
  isLearner: false,
  isLeader: i === 0,
  healthy: true,
  ...o,
});
/** n voters (leader c-0), each with a running container and a volume. */
const healthy = (n: number): ClusterObservation => ({
  members: Array.from({ length: n }, (_, i) => member(i)),
  containers: Array.from({ length: n }, (_, i) => ({ host: `c-${i}`, running: true })),
  volumes: Array.from({ length: n }, (_, i) => `c-${i}-data`),
});
const keys = (steps: ReconcileStep[]) => steps.map(stepKey);

describe("planReconcile: from what is really there", () => {
  it("plans the plain membership change when etcd and Docker agree", () => {
    expect(keys(planReconcile(settings, healthy(3), known(5)))).toEqual([
      "addLearner:c-3",
      "start:c-3",
      "waitCaughtUp:c-3",
      "promote:c-3",
      "addLearner:c-4",
      "start:c-4",
      "waitCaughtUp:c-4",
      "promote:c-4",
    ]);
    expect(keys(planReconcile(settings, healthy(5), known(3), known(5)))).toEqual([
      "remove:c-4",
      "stop:c-4",
      "remove:c-3",
      "stop:c-3",
    ]);
    expect(planReconcile(settings, healthy(3), known(3))).toEqual([]);
  });

  it("scale-in cut between remove and stop: the restarting container and its volume are removed on the rerun", () => {
    const seen = healthy(5);
    const cut: ClusterObservation = { ...seen, members: seen.members.filter((m) => m.name !== "c-4") };
    const steps = planReconcile(settings, cut, known(3), known(5));
    expect(keys(steps)).toEqual(["removeOrphan:c-4", "remove:c-3", "stop:c-3"]);
    expect(steps[0]).toEqual({ kind: "removeOrphan", host: "c-4", container: true, volume: true });
  });

  it("scale-out cut after the learner add: the rerun finishes the learner (start, catch up, promote) instead of adding it twice", () => {
    const seen = healthy(3);
    const cut: ClusterObservation = {
      ...seen,
      members: [...seen.members, member(3, { name: "", isLearner: true, healthy: false })],
    };
    expect(keys(planReconcile(settings, cut, known(5), known(3)))).toEqual([
      "start:c-3",
      "waitCaughtUp:c-3",
      "promote:c-3",
      "addLearner:c-4",
      "start:c-4",
      "waitCaughtUp:c-4",
      "promote:c-4",
    ]);
  });

  it("an abandoned scale-out (program reverted): the unstarted learner is removed first, safely, then its leftovers", () => {
    const seen = healthy(3);
    const cut: ClusterObservation = {
      members: [...seen.members, member(3, { name: "", isLearner: true, healthy: false })],
      containers: [...seen.containers, { host: "c-3", running: true }],
      volumes: [...seen.volumes, "c-3-data"],
    };
    const steps = planReconcile(settings, cut, known(3), known(3));
    expect(keys(steps)).toEqual(["removeLearner:c-3", "stop:c-3"]);
    expect(steps[0]).toMatchObject({ id: "1003", host: "c-3" });
    expect(describeReconcileStep(steps[0])).toMatch(/stray learner c-3 .*do not vote/);
  });

  it("removes a stray learner of this cluster that no known member matches (by its peer URL's host)", () => {
    const seen = healthy(3);
    const stray = member(9, { name: "", peerUrls: ["http://c-9:2380"], isLearner: true, healthy: false });
    expect(keys(planReconcile(settings, { ...seen, members: [...seen.members, stray] }, known(3)))).toEqual([
      "removeLearner:c-9",
      "stop:c-9",
    ]);
  });

  it("a desired member's stale container and volume (not in etcd) go before it is added again", () => {
    const seen = healthy(3);
    const cut: ClusterObservation = {
      ...seen,
      containers: [...seen.containers, { host: "c-3", running: false }],
      volumes: [...seen.volumes, "c-3-data", "c-4-data"],
    };
    const steps = planReconcile(settings, cut, known(5));
    expect(keys(steps).slice(0, 3)).toEqual(["removeOrphan:c-3", "removeOrphan:c-4", "addLearner:c-3"]);
    expect(steps[1]).toEqual({ kind: "removeOrphan", host: "c-4", container: false, volume: true });
  });

  it("refuses a voting member it does not manage", () => {
    const seen = healthy(3);
    const foreign = member(7, { peerUrls: ["http://elsewhere:2380"], name: "elsewhere" });
    expect(() => planReconcile(settings, { ...seen, members: [...seen.members, foreign] }, known(3))).toThrow(
      MembershipPlanError,
    );
    expect(() => planReconcile(settings, { ...seen, members: [...seen.members, foreign] }, known(3))).toThrow(
      /elsewhere.*not ones this resource manages/,
    );
  });

  it("property: from any crash point of 3→5 or 5→3, replaying the plan ends with exactly the desired voters, no learner, no orphan", () => {
    // Simulates the provider: a change is cut after k steps; the observation is what those k steps
    // left; the rerun's plan from that observation must reach the target state.
    const apply = (seen: ClusterObservation, s: ReconcileStep): ClusterObservation => {
      const members = [...seen.members];
      let containers = [...seen.containers];
      let volumes = [...seen.volumes];
      const i = (name: string) => Number(name.split("-").pop());
      switch (s.kind) {
        case "addLearner":
          members.push(member(i(s.name), { name: "", isLearner: true, isLeader: false, healthy: false }));
          break;
        case "start": {
          const m = members.findIndex((x) => x.peerUrls[0] === peerUrl(settings, s.name));
          members[m] = { ...members[m], name: s.name, healthy: true };
          containers = [...containers.filter((c) => c.host !== s.name), { host: s.name, running: true }];
          volumes = [...new Set([...volumes, `${s.name}-data`])];
          break;
        }
        case "promote": {
          const m = members.findIndex((x) => x.name === s.name);
          members[m] = { ...members[m], isLearner: false };
          break;
        }
        case "transferLeadership":
          for (const [k, x] of members.entries()) members[k] = { ...x, isLeader: x.name === s.to };
          break;
        case "remove":
        case "removeLearner":
          return { members: members.filter((x) => x.id !== s.id), containers, volumes };
        case "stop":
        case "removeOrphan": {
          const host = s.kind === "stop" ? s.name : s.host;
          containers = containers.filter((c) => c.host !== host);
          volumes = volumes.filter((v) => v !== `${host}-data`);
          break;
        }
      }
      return { members, containers, volumes };
    };
    const target = (seen: ClusterObservation, n: number) => {
      expect(seen.members.map((m) => m.name).sort()).toEqual(
        known(n)
          .map((k) => k.name)
          .sort(),
      );
      expect(seen.members.filter((m) => m.isLearner)).toEqual([]);
      expect(seen.containers.map((c) => c.host).sort()).toEqual(
        known(n)
          .map((k) => k.host)
          .sort(),
      );
      expect([...seen.volumes].sort()).toEqual(
        known(n)
          .map((k) => `${k.host}-data`)
          .sort(),
      );
      expect(membershipDrift(settings, seen, known(n))).toEqual([]);
    };
    fc.assert(
      fc.property(
        fc.constantFrom<[number, number]>([3, 5], [5, 3], [3, 1], [1, 3]),
        fc.nat(20),
        fc.nat(4),
        ([from, to], cut, leader) => {
          let seen = healthy(from);
          seen = { ...seen, members: seen.members.map((m, i) => ({ ...m, isLeader: i === leader % from })) };
          const first = planReconcile(settings, seen, known(to), known(from));
          for (const s of first.slice(0, Math.min(cut, first.length))) seen = apply(seen, s);
          // the rerun starts from the OLD state (known = from), whatever the cut left
          for (const s of planReconcile(settings, seen, known(to), known(from))) seen = apply(seen, s);
          target(seen, to);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("membershipDrift", () => {
  it("is empty when etcd and Docker match the state", () => {
    expect(membershipDrift(settings, healthy(3), known(3))).toEqual([]);
  });

  it("names a stray learner, an orphaned container, a missing member and a stopped container", () => {
    const seen = healthy(3);
    const drift = membershipDrift(
      settings,
      {
        members: [...seen.members.filter((m) => m.name !== "c-2"), member(3, { name: "", isLearner: true })],
        containers: [
          { host: "c-0", running: true },
          { host: "c-1", running: false },
          { host: "c-2", running: true },
          { host: "c-5", running: true },
        ],
        volumes: seen.volumes,
      },
      known(3),
    );
    expect(drift).toEqual([
      "learner (never started) at c-3 is not a desired member",
      "container and volume of c-2 belong to no etcd member",
      "container of c-5 belongs to no etcd member",
      "container of desired member c-1 (c-1) is not running",
      "desired member c-2 is not in etcd's member list",
    ]);
  });
});
