/**
 * The Docker group's reconcile plan: launch (health-checked by the load balancer in drain state)
 * → in service → drain (until no request is in flight) → stop signal → SIGKILL only after the grace;
 * rolling replacement of a changed launch spec (maxSurge, minHealthyPercent, old spec first on
 * scale-in, resumed from the records), and properties over random groups.
 */
import fc from "fast-check";
import {
  appendEvent,
  clampDesired,
  lbWant,
  MAX_EVENTS,
  planReconcile,
  type InstanceObservation,
  type InstancesDoc,
  type ReconcileInput,
} from "../../../core/scaling/reconcile";
import { lbCommands } from "../../../core/app/haproxy";

const ok: InstanceObservation = { exists: true, running: true, lbUp: true, sessions: 0 };
const H = "hash-new";
const base = (
  doc: InstancesDoc,
  observed: Record<string, InstanceObservation>,
  over: Partial<ReconcileInput> = {},
): ReconcileInput => ({
  group: "web",
  nowMs: 100_000,
  desired: 2,
  minSize: 2,
  maxSize: 6,
  doc,
  observed,
  unrecorded: [],
  slots: 64,
  graceMs: 30_000,
  drainTimeoutMs: 20_000,
  stopGraceMs: 25_000,
  unhealthyReplaceMs: 10_000,
  specHash: H,
  rollout: { maxSurge: 1, minHealthyPercent: 100 },
  ...over,
});
const serving = (slot: number, at: number, specHash = H) =>
  ({ phase: "in-service", slot, launchedAtMs: at, specHash }) as const;

describe("core/scaling-reconcile planReconcile", () => {
  it("launches into free slots (health-checked there in drain state), then registers those the LB reports up", () => {
    const p1 = planReconcile(base({ nextSeq: 1, instances: {} }, {}, { desired: 3 }));
    expect(p1.actions).toEqual([
      { kind: "launch", name: "web-1", slot: 1 },
      { kind: "launch", name: "web-2", slot: 2 },
      { kind: "launch", name: "web-3", slot: 3 },
    ]);
    expect(lbWant(p1.next, (n) => `10.0.0.${n.slice(4)}`, 80).get(1)).toEqual({
      state: "drain",
      addr: "10.0.0.1",
      port: 80,
    });
    const p2 = planReconcile(
      base(p1.next, { "web-1": ok, "web-2": { ...ok, lbUp: false }, "web-3": ok }, { desired: 3, nowMs: 110_000 }),
    );
    expect(p2.actions).toEqual([
      { kind: "register", name: "web-1", slot: 1 },
      { kind: "register", name: "web-3", slot: 3 },
    ]);
    expect(p2.next.instances["web-2"].phase).toBe("launching");
    expect(lbWant(p2.next, () => "10.0.0.9", 80).get(1)?.state).toBe("ready");
    // an instance whose address is unknown this pass (inspect failed) keeps its slot as it is: not
    // parked, which would take a serving instance out of the load balancer
    const blind = lbWant(p2.next, (n) => (n === "web-1" ? undefined : "10.0.0.9"), 80);
    expect(blind.get(1)).toEqual({ state: "keep" });
    const serving = [
      { slot: 1, addr: "10.0.0.1", port: 80, admin: "ready" as const, up: true },
      { slot: 2, addr: "10.0.0.9", port: 80, admin: "drain" as const, up: false },
      { slot: 3, addr: "10.0.0.9", port: 80, admin: "ready" as const, up: true },
    ];
    expect(lbCommands(serving, blind)).toEqual([]);
  });

  it("clamps the engine's count to [min, max]; a rollout that cannot progress is refused", () => {
    expect(planReconcile(base({ nextSeq: 1, instances: {} }, {}, { desired: 50 })).actions).toHaveLength(6);
    expect(planReconcile(base({ nextSeq: 1, instances: {} }, {}, { desired: 0 })).desired).toBe(2);
    expect(clampDesired(3.4, 1, 5)).toBe(3);
    expect(() => planReconcile(base({ nextSeq: 1, instances: {} }, {}, { minSize: 4, maxSize: 3 }))).toThrow(
      "minSize 4 > maxSize 3",
    );
    expect(() =>
      planReconcile(base({ nextSeq: 1, instances: {} }, {}, { rollout: { maxSurge: 0, minHealthyPercent: 100 } })),
    ).toThrow("maxSurge ≥ 1 or minHealthyPercent < 100");
  });

  it("scale-in: drain at the LB until nothing is in flight, then the stop signal, SIGKILL only after the grace", () => {
    const doc: InstancesDoc = {
      nextSeq: 5,
      instances: {
        "web-1": serving(1, 1),
        "web-2": serving(2, 2),
        "web-3": serving(3, 3),
        "web-4": { phase: "launching", slot: 4, launchedAtMs: 95_000, specHash: H },
      },
    };
    const obs = { "web-1": ok, "web-2": ok, "web-3": ok, "web-4": { ...ok, lbUp: false } };
    const p = planReconcile(base(doc, obs, { desired: 2 }));
    expect(p.actions).toEqual([
      { kind: "stop", name: "web-4", reason: "scale-in to 2 (never served)" },
      { kind: "drain", name: "web-3", reason: "scale-in to 2" },
    ]);
    expect(p.next.instances["web-3"]).toMatchObject({ phase: "draining", slot: 3, drainStartedAtMs: 100_000 });
    expect(lbWant(p.next, () => "10.0.0.3", 80).get(3)?.state).toBe("drain");
    const at = (s: number, o: Partial<InstanceObservation>, doc2 = p.next) =>
      planReconcile(base(doc2, { ...obs, "web-3": { ...ok, ...o } }, { nowMs: 100_000 + s * 1000 }));
    expect(at(2, { sessions: 3 }).actions).toEqual([]); // requests in flight: wait
    const stopped = at(3, { sessions: 0 });
    expect(stopped.actions).toEqual([
      { kind: "stop", name: "web-3", reason: "drained (no request in flight after 3 s)" },
    ]);
    expect(at(21, { sessions: 5 }).actions).toEqual([
      { kind: "stop", name: "web-3", reason: "drain bound of 20 s reached" },
    ]);
    // stopping: parked at the LB; removed once exited; SIGKILL only past the grace
    expect(lbWant(stopped.next, () => "10.0.0.3", 80).has(3)).toBe(false);
    expect(at(10, {}, stopped.next).actions).toEqual([]);
    expect(at(10, { running: false }, stopped.next).actions).toEqual([
      { kind: "remove", name: "web-3", reason: "stopped" },
    ]);
    // web-4 never served: it got its stop signal at once, and the same grace before any SIGKILL
    expect(p.next.instances["web-4"]).toMatchObject({ phase: "stopping", stopSignalAtMs: 100_000 });
    expect(lbWant(p.next, () => "10.0.0.4", 80).has(4)).toBe(false);
    expect(at(24, {}, stopped.next).actions).toEqual([]);
    expect(at(29, {}, stopped.next).actions).toEqual([
      { kind: "kill", name: "web-3" },
      { kind: "kill", name: "web-4" },
    ]);
  });

  it("replaces instances the LB reports down for unhealthyReplaceMs, removes unrecorded containers", () => {
    const doc: InstancesDoc = {
      nextSeq: 4,
      instances: {
        "web-1": serving(1, 1),
        "web-2": serving(2, 2),
        "web-3": { phase: "launching", slot: 3, launchedAtMs: 3, specHash: H },
      },
    };
    const p = planReconcile(
      base(
        doc,
        {
          "web-1": { ...ok, lbUp: false, lbDownSinceMs: 85_000 },
          "web-2": { ...ok, running: false },
          "web-3": { ...ok, lbUp: false },
        },
        { unrecorded: ["web-9"] },
      ),
    );
    expect(p.actions).toEqual([
      { kind: "remove", name: "web-9", reason: "container of the group without a record" },
      { kind: "drain", name: "web-1", reason: "health check failing for 15 s" },
      { kind: "remove", name: "web-2", reason: "container stopped" },
      { kind: "stop", name: "web-3", reason: "not healthy within the 30 s grace period" },
      { kind: "launch", name: "web-4", slot: 2 },
      // web-3 keeps slot 3 (parked) until it has exited
      { kind: "launch", name: "web-5", slot: 4 },
    ]);
    // a short blip (down 5 s) is not a replacement
    const blip = planReconcile(
      base(doc, { "web-1": { ...ok, lbUp: false, lbDownSinceMs: 95_000 }, "web-2": ok, "web-3": ok }),
    );
    expect(blip.actions.some((a) => a.name === "web-1")).toBe(false);
  });

  it("resumes from records alone: a launch recorded but never created is dropped and launched again", () => {
    const doc: InstancesDoc = {
      nextSeq: 3,
      instances: { "web-1": serving(1, 1), "web-2": { phase: "launching", slot: 2, launchedAtMs: 2, specHash: H } },
    };
    expect(planReconcile(base(doc, { "web-1": ok })).actions).toEqual([
      { kind: "remove", name: "web-2", reason: "container missing (launch did not complete)" },
      { kind: "launch", name: "web-3", slot: 2 },
    ]);
  });

  it("resumes a stop: a successor sends the stop signal an earlier leader recorded once more, with a fresh grace, before any SIGKILL", () => {
    const doc: InstancesDoc = {
      nextSeq: 4,
      instances: {
        "web-1": serving(1, 1),
        "web-2": serving(2, 2),
        // leader 7 recorded the stop, then died (maybe before the signal left)
        "web-3": { phase: "stopping", slot: 3, launchedAtMs: 3, specHash: H, stopSignalAtMs: 50_000, stopSignalBy: 7 },
      },
    };
    const obs = { "web-1": ok, "web-2": ok, "web-3": ok };
    // the grace ran out under leader 7, but leader 9 never saw a signal go: signal again, no kill
    const p = planReconcile(base(doc, obs, { fencingToken: 9 }));
    expect(p.actions).toEqual([
      {
        kind: "stop",
        name: "web-3",
        reason: "stop signal sent again (recorded by an earlier leader, which may have died before sending it)",
      },
    ]);
    expect(p.next.instances["web-3"]).toMatchObject({ stopSignalAtMs: 100_000, stopSignalBy: 9 });
    // once only: the same leader then waits out the new grace, and kills only after it
    expect(planReconcile(base(p.next, obs, { fencingToken: 9, nowMs: 110_000 })).actions).toEqual([]);
    expect(planReconcile(base(p.next, obs, { fencingToken: 9, nowMs: 125_000 })).actions).toEqual([
      { kind: "kill", name: "web-3" },
    ]);
    // the same leader that recorded it does not signal twice
    expect(planReconcile(base(doc, obs, { fencingToken: 7 })).actions).toEqual([{ kind: "kill", name: "web-3" }]);
  });

  it("rolls a changed spec one surge instance at a time, never below minHealthyPercent, and resumes after a crash", () => {
    const old = "hash-old";
    let doc: InstancesDoc = {
      nextSeq: 4,
      instances: { "web-1": serving(1, 1, old), "web-2": serving(2, 2, old), "web-3": serving(3, 3, old) },
    };
    const observed: Record<string, InstanceObservation> = { "web-1": ok, "web-2": ok, "web-3": ok };
    const history: string[] = [];
    let now = 100_000;
    for (let pass = 0; pass < 30; pass++) {
      const p = planReconcile(base(doc, observed, { desired: 3, nowMs: now }));
      for (const a of p.actions) history.push(`${a.kind} ${a.name}`);
      // the world follows: launched ones come up next pass, stopped ones exit
      for (const a of p.actions) {
        if (a.kind === "launch") observed[a.name] = { ...ok };
        if (a.kind === "stop") observed[a.name] = { ...ok, running: false };
        if (a.kind === "remove") delete observed[a.name];
      }
      // healthy (in service and up) never below 3 × 100 %
      const up = Object.entries(p.next.instances).filter(([n, r]) => r.phase === "in-service" && observed[n]?.lbUp);
      expect(up.length).toBeGreaterThanOrEqual(3);
      // never more than desired + maxSurge active
      expect(p.active.length).toBeLessThanOrEqual(4);
      // "crash": a new leader reads the same records (JSON round trip)
      doc = JSON.parse(JSON.stringify(p.next)) as InstancesDoc;
      now += 5_000;
    }
    expect(Object.values(doc.instances).map((r) => r.specHash)).toEqual([H, H, H]);
    expect(history.filter((h) => h.startsWith("drain"))).toEqual(["drain web-1", "drain web-2", "drain web-3"]);
    expect(history.filter((h) => h.startsWith("kill"))).toEqual([]);
  });

  it("a scale-in during a rollout takes the old spec first", () => {
    const doc: InstancesDoc = {
      nextSeq: 5,
      instances: {
        "web-1": serving(1, 1, "old"),
        "web-2": serving(2, 2),
        "web-3": serving(3, 3),
        "web-4": serving(4, 4),
      },
    };
    const p = planReconcile(base(doc, { "web-1": ok, "web-2": ok, "web-3": ok, "web-4": ok }, { desired: 2 }));
    expect(p.actions.filter((a) => a.kind === "drain").map((a) => a.name)).toEqual(["web-4", "web-1"]);
  });

  it("property: slots unique, at most desired + maxSurge active, one action per instance, never a kill before the grace", () => {
    const phase = fc.constantFrom(
      "launching" as const,
      "in-service" as const,
      "draining" as const,
      "stopping" as const,
    );
    const inst = fc.record({
      phase,
      lbUp: fc.boolean(),
      running: fc.boolean(),
      exists: fc.boolean(),
      sessions: fc.integer({ min: 0, max: 3 }),
      age: fc.integer({ min: 0, max: 60_000 }),
      outdated: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.array(inst, { maxLength: 10 }),
        fc.integer({ min: 0, max: 12 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 6 }),
        (list, desired, min, extra) => {
          const max = min + extra;
          const doc: InstancesDoc = { nextSeq: list.length + 1, instances: {} };
          const observed: Record<string, InstanceObservation> = {};
          list.forEach((x, i) => {
            const name = `web-${i + 1}`;
            doc.instances[name] = {
              phase: x.phase,
              slot: i + 1,
              launchedAtMs: 100_000 - x.age,
              specHash: x.outdated ? "old" : H,
              ...(x.phase === "draining" ? { drainStartedAtMs: 100_000 - x.age } : {}),
              ...(x.phase === "stopping" ? { stopSignalAtMs: 100_000 - x.age } : {}),
            };
            if (x.exists) observed[name] = { exists: true, running: x.running, lbUp: x.lbUp, sessions: x.sessions };
          });
          const p = planReconcile(base(doc, observed, { desired, minSize: min, maxSize: max }));
          expect(p.active.length).toBeLessThanOrEqual(clampDesired(desired, min, max) + 1);
          const slots = Object.values(p.next.instances).map((r) => r.slot);
          expect(new Set(slots).size).toBe(slots.length);
          const targets = p.actions.filter((a) => a.kind !== "launch").map((a) => a.name);
          expect(new Set(targets).size).toBe(targets.length);
          for (const a of p.actions.filter((x) => x.kind === "kill"))
            expect(100_000 - doc.instances[a.name].stopSignalAtMs!).toBeGreaterThanOrEqual(25_000);
        },
      ),
    );
  });

  it("keeps the newest events only", () => {
    let ev: ReturnType<typeof appendEvent> = [];
    for (let i = 0; i < MAX_EVENTS + 5; i++)
      ev = appendEvent(ev, { atMs: i, from: 1, to: 2, engine: "hpa", reason: "r", fencingToken: 1 });
    expect(ev).toHaveLength(MAX_EVENTS);
    expect(ev[0].atMs).toBe(5);
  });
});
