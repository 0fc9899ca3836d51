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

const ok: InstanceObservation = { exists: true, running: true, healthFailures: 0, inFlight: 0 };
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
  drainSeconds: 5,
  drainMaxSeconds: 20,
  ...over,
});

describe("core/scaling-reconcile planReconcile", () => {
  it("launches up to the desired count, then registers healthy instances in free slots", () => {
    const p1 = planReconcile(base({ nextSeq: 1, instances: {} }, {}, { desired: 3 }));
    expect(p1.actions).toEqual([
      { kind: "launch", name: "web-1" },
      { kind: "launch", name: "web-2" },
      { kind: "launch", name: "web-3" },
    ]);
    expect(p1.next.nextSeq).toBe(4);
    // next pass: web-1 and web-3 healthy, web-2 not yet (within grace)
    const p2 = planReconcile(
      base(
        p1.next,
        { "web-1": ok, "web-2": { ...ok, healthFailures: 2 }, "web-3": ok },
        { desired: 3, nowMs: 110_000 },
      ),
    );
    expect(p2.actions).toEqual([
      { kind: "register", name: "web-1", slot: 1 },
      { kind: "register", name: "web-3", slot: 2 },
    ]);
    expect(p2.next.instances["web-2"].phase).toBe("launching");
  });

  it("clamps the engine's count to [min, max]", () => {
    expect(planReconcile(base({ nextSeq: 1, instances: {} }, {}, { desired: 50 })).actions).toHaveLength(6);
    expect(planReconcile(base({ nextSeq: 1, instances: {} }, {}, { desired: 0 })).desired).toBe(2);
    expect(clampDesired(3.4, 1, 5)).toBe(3);
    expect(() => planReconcile(base({ nextSeq: 1, instances: {} }, {}, { minSize: 4, maxSize: 3 }))).toThrow(
      "minSize 4 > maxSize 3",
    );
  });

  it("scales in: launching instances go first, then the newest in service drains; the drain ends at 0 in flight or at the bound", () => {
    const doc: InstancesDoc = {
      nextSeq: 5,
      instances: {
        "web-1": { phase: "in-service", slot: 1, launchedAtMs: 1 },
        "web-2": { phase: "in-service", slot: 2, launchedAtMs: 2 },
        "web-3": { phase: "in-service", slot: 3, launchedAtMs: 3 },
        "web-4": { phase: "launching", launchedAtMs: 95_000 },
      },
    };
    const obs = { "web-1": ok, "web-2": ok, "web-3": ok, "web-4": { ...ok, healthFailures: 1 } };
    const p = planReconcile(base(doc, obs, { desired: 2 }));
    expect(p.actions).toEqual([
      { kind: "remove", name: "web-4", reason: "scale-in to 2 (never served)" },
      { kind: "drain", name: "web-3", reason: "scale-in to 2" },
    ]);
    expect(p.next.instances["web-3"]).toMatchObject({ phase: "draining", slot: 3, drainStartedAtMs: 100_000 });
    // while draining, its slot stays taken; in-flight requests keep it until the bound
    const later = (s: number, inFlight: number) =>
      planReconcile(base(p.next, { ...obs, "web-3": { ...ok, inFlight } }, { nowMs: 100_000 + s * 1000 })).actions;
    expect(later(2, 0)).toEqual([]); // drainSeconds not yet passed
    expect(later(6, 3)).toEqual([]); // requests still in flight
    expect(later(6, 0)).toEqual([
      { kind: "remove", name: "web-3", reason: "drained (no request in flight after 6.0 s)" },
    ]);
    expect(later(21, 3)).toEqual([{ kind: "remove", name: "web-3", reason: "drain bound of 20 s reached" }]);
    const exited = planReconcile(base(p.next, { ...obs, "web-3": { ...ok, running: false } })).actions;
    expect(exited).toEqual([{ kind: "remove", name: "web-3", reason: "drained (instance exited)" }]);
  });

  it("replaces failed instances like an ASG and removes unrecorded containers", () => {
    const doc: InstancesDoc = {
      nextSeq: 4,
      instances: {
        "web-1": { phase: "in-service", slot: 1, launchedAtMs: 1 },
        "web-2": { phase: "in-service", slot: 2, launchedAtMs: 2 },
        "web-3": { phase: "launching", launchedAtMs: 3 },
      },
    };
    const p = planReconcile(
      base(
        doc,
        {
          "web-1": { ...ok, healthFailures: 3 },
          "web-2": { ...ok, running: false },
          "web-3": { ...ok, healthFailures: 9 },
        },
        { desired: 2, unrecorded: ["web-9"] },
      ),
    );
    expect(p.actions).toEqual([
      { kind: "remove", name: "web-9", reason: "container of the group without a record" },
      { kind: "drain", name: "web-1", reason: "3 health checks failed in a row" },
      { kind: "remove", name: "web-2", reason: "container stopped" },
      { kind: "remove", name: "web-3", reason: "not healthy within the 30 s grace period" },
      { kind: "launch", name: "web-4" },
      { kind: "launch", name: "web-5" },
    ]);
  });

  it("resumes from records alone: a launch recorded but never created is dropped and launched again", () => {
    const doc: InstancesDoc = {
      nextSeq: 3,
      instances: {
        "web-1": { phase: "in-service", slot: 1, launchedAtMs: 1 },
        "web-2": { phase: "launching", launchedAtMs: 2 },
      },
    };
    const p = planReconcile(base(doc, { "web-1": ok }));
    expect(p.actions).toEqual([
      { kind: "remove", name: "web-2", reason: "container missing (launch did not complete)" },
      { kind: "launch", name: "web-3" },
    ]);
  });

  it("property: after a pass the active count is the clamped desired count, slots are unique, one action per instance", () => {
    const phase = fc.constantFrom("launching" as const, "in-service" as const, "draining" as const);
    const inst = fc.record({
      phase,
      healthFailures: fc.integer({ min: 0, max: 4 }),
      running: fc.boolean(),
      exists: fc.boolean(),
      inFlight: fc.integer({ min: 0, max: 3 }),
      age: fc.integer({ min: 0, max: 60_000 }),
    });
    fc.assert(
      fc.property(
        fc.array(inst, { maxLength: 10 }),
        fc.integer({ min: 0, max: 12 }),
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 0, max: 6 }),
        (list, desired, min, extra) => {
          const max = min + extra || 1;
          const doc: InstancesDoc = { nextSeq: list.length + 1, instances: {} };
          const observed: Record<string, InstanceObservation> = {};
          let slot = 1;
          list.forEach((x, i) => {
            const name = `web-${i + 1}`;
            doc.instances[name] = {
              phase: x.phase,
              launchedAtMs: 100_000 - x.age,
              ...(x.phase !== "launching" ? { slot: slot++ } : {}),
              ...(x.phase === "draining" ? { drainStartedAtMs: 100_000 - x.age } : {}),
            };
            if (x.exists)
              observed[name] = {
                exists: true,
                running: x.running,
                healthFailures: x.healthFailures,
                inFlight: x.inFlight,
              };
          });
          const p = planReconcile(base(doc, observed, { desired, minSize: Math.min(min, max), maxSize: max }));
          expect(p.active.length).toBe(clampDesired(desired, Math.min(min, max), max));
          expect(p.active.every((n) => ["launching", "in-service"].includes(p.next.instances[n].phase))).toBe(true);
          const slots = Object.values(p.next.instances)
            .map((r) => r.slot)
            .filter((s) => s !== undefined);
          expect(new Set(slots).size).toBe(slots.length);
          const targets = p.actions.filter((a) => a.kind !== "launch").map((a) => a.name);
          expect(new Set(targets).size).toBe(targets.length);
        },
      ),
    );
  });

  it("lbWant: in-service records with an address become ready slots; draining ones are left out (parked)", () => {
    const doc: InstancesDoc = {
      nextSeq: 4,
      instances: {
        a: { phase: "in-service", slot: 1, launchedAtMs: 0 },
        b: { phase: "draining", slot: 2, launchedAtMs: 0 },
        c: { phase: "launching", launchedAtMs: 0 },
      },
    };
    expect([...lbWant(doc, (n) => `10.0.0.${n.charCodeAt(0) - 96}`, 8080)]).toEqual([
      [1, { state: "ready", addr: "10.0.0.1", port: 8080 }],
    ]);
  });

  it("keeps the newest events only", () => {
    let ev: ReturnType<typeof appendEvent> = [];
    for (let i = 0; i < MAX_EVENTS + 5; i++)
      ev = appendEvent(ev, { atMs: i, from: 1, to: 2, engine: "hpa", reason: "r", fencingToken: 1 });
    expect(ev).toHaveLength(MAX_EVENTS);
    expect(ev[0].atMs).toBe(5);
  });
});
