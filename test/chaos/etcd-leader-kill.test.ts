/**
 * Chaos: a 3-member etcd cluster in containers (election timeout 1000 ms, heartbeat 100 ms);
 * the leader is killed with SIGKILL 5 times under a bounded write/read load (2 writers, 1 reader,
 * 1 s deadlines, retries with backoff), each killed member restarted. Afterwards every
 * acknowledged write is in the log at its revision, and the history of the register (writers and
 * reader across the kills) is linearizable. Members run with pre-vote (core/etcd/spec.ts): the Raft term
 * of every member is watched throughout, and every election must fall in a kill's window (no
 * restarted member forces one).
 */
import type Docker from "dockerode";
import { describeOp } from "../support/history";
import { checkRegister, resolveWithLog } from "../support/linearizability";
import { requireDocker } from "../support/engines";
import { runKillLeaderWorkload, startDockerEtcd, type DockerEtcd } from "../support/etcd-cluster";

jest.setTimeout(180_000);

let docker: Docker;
let cluster: DockerEtcd | undefined;

beforeAll(async () => {
  docker = await requireDocker();
  cluster = await startDockerEtcd(docker, {
    members: 3,
    electionTimeoutMs: 1000,
    heartbeatIntervalMs: 100,
    namePrefix: "sp-chaos-kill",
  });
});
afterAll(async () => {
  await cluster?.remove();
});

it("keeps every acknowledged write and stays linearizable across 5 leader kills", async () => {
  const res = await runKillLeaderWorkload(cluster!, {
    kills: 5,
    writers: 2,
    readers: 1,
    deadlineMs: 1000,
    steadyMs: 1500,
    maxDurationMs: 120_000,
  });
  expect(res.failoverMs).toHaveLength(5);
  // every kill caused an election (the watch sees them), and nothing else did
  expect(res.elections.length).toBeGreaterThanOrEqual(5);
  expect(res.unprovokedElections).toEqual([]);
  // the load made progress between and after kills
  expect(res.acked.length).toBeGreaterThan(50);
  expect(res.history.filter((o) => o.input.op === "read" && o.status === "ok").length).toBeGreaterThan(50);
  expect(res.lost.map((a) => `${a.value}@${a.revision}`)).toEqual([]);
  // timed-out ops resolved against etcd's own log (sound: see resolveWithLog), then checked
  const verdict = checkRegister(resolveWithLog(res.history, res.log));
  if (verdict.outcome !== "linearizable")
    throw new Error(
      `${verdict.outcome}\n${verdict.detail ?? ""}\nhistory tail:\n${res.history.slice(-10).map(describeOp).join("\n")}`,
    );
  expect(verdict.ops).toBeGreaterThan(100);
  // every acknowledged revision is distinct (no write acknowledged twice at one point in the log)
  expect(new Set(res.acked.map((a) => a.revision)).size).toBe(res.acked.length);
});
