/**
 * Persistent subscriptions: a group's feeders enqueue every event once; three competing consumers
 * claim with leases (never the same message twice at once), ack, or nack; a message nacked
 * `maxDeliveries` times is parked and comes back on replay; a consumer that dies keeps its
 * messages only until the lease ends (at-least-once). Bounded: ~20 s.
 */
import { ConfigClient } from "../../../runtime/config-client";
import { claimMessages, parkedMessages, replayParked, runGroupFeeders } from "../../../runtime/event-store";
import { silent, startEventsEnv, type EventsEnv } from "./support";

let env: EventsEnv;
beforeAll(async () => {
  env = await startEventsEnv(2);
});
afterAll(async () => env?.stop());

it("competing consumers: each event acked once, poison messages parked and replayed, expired leases redelivered", async () => {
  const config = await env.config();
  const store = await env.store({ config });
  for (let s = 0; s < 10; s++)
    await store.append(
      `g-${s}`,
      Array.from({ length: 5 }, (_, i) => ({ type: "Job", data: { s, i } })),
    );
  const runnerConfig = ConfigClient.create({ endpoints: [env.etcd.endpoint], prefix: config.prefix, logger: silent });
  const feeders = runGroupFeeders(store, "jobs", { config: runnerConfig, candidateId: "feeder", idleMs: 100 });

  const acked = new Map<string, number>();
  const inFlight = new Set<string>();
  let overlaps = 0;
  const poison = (id: string, data: { i: number }) => data.i === 3 && id !== "";
  const consumer = async (name: string) => {
    for (let idle = 0; idle < 15;) {
      const msgs = await claimMessages(store, "jobs", {
        consumer: name,
        max: 7,
        leaseMs: 5000,
        maxDeliveries: 2,
        retryMs: 50,
      });
      if (msgs.length === 0) {
        idle++;
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      idle = 0;
      for (const m of msgs) {
        if (inFlight.has(m.event.id)) overlaps++;
        inFlight.add(m.event.id);
        if (poison(m.event.id, m.event.data as { i: number })) await m.nack("cannot process i=3");
        else {
          await m.ack();
          acked.set(m.event.id, (acked.get(m.event.id) ?? 0) + 1);
        }
        inFlight.delete(m.event.id);
      }
    }
  };
  await Promise.all(["c1", "c2", "c3"].map(consumer));
  expect(overlaps).toBe(0);
  expect(acked.size).toBe(40);
  expect([...acked.values()].every((n) => n === 1)).toBe(true);
  const parked = await parkedMessages(store, "jobs");
  expect(parked).toHaveLength(10);
  expect(parked.every((p) => p.attempts === 2 && p.lastError === "cannot process i=3")).toBe(true);

  // replay the parked ones; a consumer that claims and dies loses them only until the lease ends
  expect(await replayParked(store, "jobs")).toBe(10);
  const dying = await claimMessages(store, "jobs", { consumer: "dies", max: 100, leaseMs: 500 });
  expect(dying).toHaveLength(10);
  expect(await claimMessages(store, "jobs", { consumer: "other", max: 100 })).toHaveLength(0);
  await new Promise((r) => setTimeout(r, 800));
  const again = await claimMessages(store, "jobs", { consumer: "other", max: 100 });
  expect(again).toHaveLength(10);
  for (const m of again) await m.ack();
  expect(await claimMessages(store, "jobs", { consumer: "other", max: 100 })).toHaveLength(0);
  await feeders.stop();
  runnerConfig.close();
});
