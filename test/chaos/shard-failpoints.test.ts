/**
 * Chaos: a rebalancer killed at every failpoint (runtime/rebalance/failpoint.ts's FAILPOINTS, so
 * a new failpoint is covered without editing this file) while clients write, delete and read;
 * a rerun finishes; the clients' histories are checked against the shards' raw contents.
 *
 * One set of 4 real PostgreSQL shards and a real etcd for every point. The points are taken in
 * pairs along the migration: a rebalance, alternately 3 → 4 and 4 → 3 shards (rf 3, quorum
 * writes, so every run moves data both ways), is killed at the first point, its rerun (resuming
 * it) at the second, and a last run finishes it. The killed rebalancers are processes of their
 * own (./rebalancer-child.ts), SIGKILLed by the failpoint (SCALEPLANE_FAILPOINTS); the last run
 * runs in the test's process. Meanwhile four clients (own writer ids) put, delete and read 200
 * shared keys; their history accumulates over the rebalances, so each check also covers the
 * earlier rebalances' writes after the later ones.
 *
 * Checked after each rebalance (test/support/kv-history.ts): every acknowledged write is on a quorum
 * of its final replicas at its version or newer (raw, before any read repair); no read went back
 * (monotonic reads, read-your-writes, no deleted key back); no phantom value; every refusal names
 * its key or a shard. And: the map is at the desired placement with no migration in flight, and
 * no shard holds a row outside its replica set (the cleanup ran, also when killed inside it).
 */
import { FAILPOINTS } from "../../runtime/rebalance";
import { ACTIVE_KEY } from "../../runtime/rebalance/progress";
import {
  desiredOf,
  expectHistoryHolds,
  namesOf,
  rebalanceHere,
  spawnRebalancer,
  startChaosEnv,
  startWorkload,
  type ChaosEnv,
} from "./shard-chaos";

jest.setTimeout(240_000);

const KEY_PREFIX = "fp/";
const KEYS = Array.from({ length: 200 }, (_, i) => `${KEY_PREFIX}${i}`);
const CLIENTS = ["c1", "c2", "c3", "c4"];

let env: ChaosEnv;
const THREE = [0, 1, 2];
const FOUR = [0, 1, 2, 3];

beforeAll(async () => {
  env = await startChaosEnv("chfp", 4, THREE, CLIENTS);
});

afterAll(async () => {
  await env?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it("covers every failpoint the engine declares, once each", () => {
  expect(FAILPOINTS.length).toBeGreaterThanOrEqual(12);
  expect(PAIRS.flat()).toEqual([...FAILPOINTS]);
});

/**
 * The failpoints in pairs along the migration: a run killed at the first, its rerun killed at the
 * second (a resumed run cut again), then a last run finishes. Every point is a first kill or a
 * second one; a point the resumed run no longer passes fails the test (the child exits 0).
 */
const PAIRS = Array.from({ length: Math.ceil(FAILPOINTS.length / 2) }, (_, k) => FAILPOINTS.slice(2 * k, 2 * k + 2));

describe.each(PAIRS.map((pair, i) => [pair.join(", then "), pair, i] as const))("killed at %s", (_, pair, i) => {
  it("a rerun finishes; no acknowledged write lost, no read goes back, no deleted key returns", async () => {
    const grow = i % 2 === 0;
    const desired = desiredOf(env, namesOf(env, grow ? FOUR : THREE));
    const before = (await env.config.getShardMap())!;
    const opsBefore = env.history.ops.length;
    const load = startWorkload(env, env.workers, KEYS, { seed: 1000 + i });
    try {
      await sleep(300);
      for (const point of pair) {
        const started = performance.now();
        const doomed = spawnRebalancer(env, desired, { SCALEPLANE_FAILPOINTS: point, LEASE_TTL: "3" });
        const exit = await doomed.exited();
        expect(exit.stderr).toContain(`failpoint ${point} (hit 1): killing process ${doomed.pid}`);
        expect(exit.signal).toBe("SIGKILL");
        console.log(`${point}: killed after ${Math.round(performance.now() - started)} ms`);
      }
      const started = performance.now();
      const report = await rebalanceHere(env, desired);
      expect(report.action).toBe("migrated");
      console.log(`${pair.join(", ")}: finished by the last run in ${Math.round(performance.now() - started)} ms`);
      await sleep(200);
    } finally {
      await load.stop();
    }
    const { result, map, misplaced } = await expectHistoryHolds(env, KEY_PREFIX);
    expect(misplaced.slice(0, 5)).toEqual([]);
    expect(map.epoch).toBe(before.epoch + 3);
    expect(map.migration).toBeUndefined();
    expect(map.shards.map((s) => s.name)).toEqual(desired.shards.map((s) => s.name));
    expect(await env.config.get(ACTIVE_KEY)).toBeUndefined();
    // the workload ran through the kill and the rerun: writes, deletes and reads acknowledged
    const mine = env.history.ops.slice(opsBefore);
    for (const op of ["put", "delete", "get"])
      expect(mine.filter((o) => o.op === op && o.status === "ok").length).toBeGreaterThan(5);
    expect(result.keysChecked).toBeGreaterThan(KEYS.length / 2);
  });
});
