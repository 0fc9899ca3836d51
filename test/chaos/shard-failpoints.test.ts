/**
 * Chaos: a rebalancer killed at every failpoint (runtime/rebalance/failpoint.ts's FAILPOINTS, so
 * a new failpoint is covered without editing this file) while clients write, delete and read;
 * a rerun finishes; the clients' histories are checked against the shards' raw contents.
 *
 * One set of 4 real PostgreSQL shards and a real etcd for every point. Each point runs one
 * rebalance, alternately 3 → 4 and 4 → 3 shards (rf 3, quorum writes), so every run moves data
 * both ways; the rebalancer is its own process (./rebalancer-child.ts), SIGKILLed by the failpoint
 * (SCALEPLANE_FAILPOINTS); the rerun runs in the test's process. Meanwhile four clients (own
 * writer ids) put, delete and read 200 shared keys; their history accumulates over the points, so
 * each check also covers every earlier point's writes after the later rebalances.
 *
 * Checked after each point (test/support/kv-history.ts): every acknowledged write is on a quorum
 * of its final replicas at its version or newer (raw, before any read repair); no read went back
 * (monotonic reads, read-your-writes, no deleted key back); no phantom value; every refusal names
 * its key or a shard. And: the map is at the desired placement with no migration in flight, and
 * no shard holds a row outside its replica set (the cleanup ran, also when killed inside it).
 */
import { FAILPOINTS } from "../../runtime/rebalance";
import { ACTIVE_KEY } from "../../runtime/rebalance/progress";
import { formatViolations } from "../support/kv-history";
import {
  checkHistory,
  desiredOf,
  namesOf,
  rebalanceHere,
  shardClient,
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
const clients: { name: string; client: Awaited<ReturnType<typeof shardClient>> }[] = [];
const THREE = [0, 1, 2];
const FOUR = [0, 1, 2, 3];

beforeAll(async () => {
  env = await startChaosEnv("chfp", 4);
  const first = await rebalanceHere(env, desiredOf(env, namesOf(env, THREE)));
  expect(first.action).toBe("initialized");
  for (const name of CLIENTS) clients.push({ name, client: await shardClient(env) });
});

afterAll(async () => {
  await env?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it("covers every failpoint the engine declares", () => {
  expect(FAILPOINTS.length).toBeGreaterThanOrEqual(12);
  expect(new Set(FAILPOINTS).size).toBe(FAILPOINTS.length);
});

describe.each(FAILPOINTS.map((point, i) => [point, i] as const))("killed at %s", (point, i) => {
  it("a rerun finishes; no acknowledged write lost, no read goes back, no deleted key returns", async () => {
    const grow = i % 2 === 0;
    const desired = desiredOf(env, namesOf(env, grow ? FOUR : THREE));
    const before = (await env.config.getShardMap())!;
    const opsBefore = env.history.ops.length;
    const load = startWorkload(env, clients, KEYS, { seed: 1000 + i });
    const started = performance.now();
    try {
      await sleep(300);
      const doomed = spawnRebalancer(env, desired, { SCALEPLANE_FAILPOINTS: point, LEASE_TTL: "3" });
      const exit = await doomed.exited();
      const killedAt = performance.now();
      expect(exit.stderr).toContain(`failpoint ${point} (hit 1): killing process ${doomed.pid}`);
      expect(exit.signal).toBe("SIGKILL");
      const report = await rebalanceHere(env, desired);
      expect(report.action).toBe("migrated");
      console.log(
        `${point}: killed after ${Math.round(killedAt - started)} ms, rerun ${Math.round(performance.now() - killedAt)} ms`,
      );
      await sleep(200);
    } finally {
      await load.stop();
    }
    const { result, map, misplaced } = await checkHistory(env, KEY_PREFIX);
    expect(formatViolations(result)).toBe("");
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
