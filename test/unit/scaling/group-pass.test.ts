/**
 * GroupReconciler.pass (runtime/scaler/group.ts) against in-memory etcd, Docker and HAProxy
 * (./fake-group.ts): what a platform engineer relies on when a group scales, rolls and shrinks.
 */
import { FencingError } from "../../../runtime/config-client";
import { GroupReconciler } from "../../../runtime/scaler/group";
import {
  asLead,
  FakeClient,
  FakeGroup,
  FakeLeadership,
  records,
  seedInService,
  silent,
  storeGroup,
  webKeys,
} from "./fake-group";

let clock = 1_700_000_000_000;
beforeEach(() => {
  clock = 1_700_000_000_000;
  jest.spyOn(Date, "now").mockImplementation(() => clock);
});
afterEach(() => jest.restoreAllMocks());

function setup(holder = "ctl-a") {
  const client = new FakeClient();
  const group = new FakeGroup();
  const reconciler = (h = holder, secrets: Record<string, string> = {}) =>
    new GroupReconciler({
      docker: {} as never,
      client: client.asClient,
      group: "web",
      holder: h,
      log: silent,
      secrets,
      actions: group,
    });
  const lead = new FakeLeadership(client, webKeys.election, holder);
  return { client, group, reconciler, lead };
}

describe("GroupReconciler.pass: launch and readiness", () => {
  it("launches to the desired count and puts an instance in service only once its health check passes", async () => {
    const { client, group, reconciler, lead } = setup();
    await storeGroup(client, {}, { minSize: 2, maxSize: 4 });
    group.healthyOnLaunch = false;
    // Records first: when a container is created, its record (launching) and the intent are in etcd.
    const seenAtLaunch: Record<string, unknown> = {};
    group.onLaunch = (name) => {
      const doc = JSON.parse(client.store.kv.get(client.fullKey(webKeys.instances.name))!.value);
      const intent = JSON.parse(client.store.kv.get(client.fullKey(webKeys.intent.name))!.value);
      seenAtLaunch[name] = { phase: doc.instances[name]?.phase, intent: [intent.action, intent.fencingToken] };
    };
    const r = reconciler();

    const p1 = await r.pass(asLead(lead), "hold", clock);
    expect(p1.desired).toBe(2);
    expect(p1.actions.filter((a) => a.kind === "launch").map((a) => a.name)).toEqual(["web-1", "web-2"]);
    expect(seenAtLaunch).toEqual({
      "web-1": { phase: "launching", intent: ["launch", lead.fencingToken] },
      "web-2": { phase: "launching", intent: ["launch", lead.fencingToken] },
    });
    // Each container carries the spec hash and the leader's token; its slot is health-checked but gets no traffic.
    for (const n of ["web-1", "web-2"]) {
      expect(group.containers.get(n)).toMatchObject({ specHash: "h1", fencingToken: lead.fencingToken });
      expect(group.slotOf(n)?.admin).toBe("drain");
    }
    expect(p1.converged).toBe(false);
    expect(await client.get(webKeys.events)).toEqual([expect.objectContaining({ from: 0, to: 2 })]);

    // web-1 passes its check, web-2 does not: only web-1 is sent requests.
    group.containers.get("web-1")!.healthy = true;
    clock += 2000;
    const p2 = await r.pass(asLead(lead), "hold", clock);
    expect(p2.actions).toEqual([{ kind: "register", name: "web-1", slot: expect.any(Number) }]);
    expect(group.slotOf("web-1")?.admin).toBe("ready");
    expect(group.slotOf("web-2")?.admin).toBe("drain");
    expect(p2.status).toMatchObject({ inService: ["web-1"], launching: ["web-2"], healthyBehindLb: 1 });
    expect(p2.converged).toBe(false);

    group.containers.get("web-2")!.healthy = true;
    clock += 2000;
    const p3 = await r.pass(asLead(lead), "hold", clock);
    expect(p3.converged).toBe(true);
    expect(p3.status).toMatchObject({ inService: ["web-1", "web-2"], launching: [], healthyBehindLb: 2 });
    expect(await client.get(webKeys.status)).toMatchObject({ holder: "ctl-a", fencingToken: lead.fencingToken });
    expect(group.servingCount()).toBe(2);
  });

  it("replaces an instance that is not healthy within the grace period (stop signal, then a new one)", async () => {
    const { client, group, reconciler, lead } = setup();
    await storeGroup(client, { healthCheckGraceSeconds: 30 }, { minSize: 1, maxSize: 2 });
    group.healthyOnLaunch = false;
    const r = reconciler();
    await r.pass(asLead(lead), "hold", clock);
    clock += 29_000;
    expect((await r.pass(asLead(lead), "hold", clock)).actions).toEqual([]);
    clock += 2_000;
    const p = await r.pass(asLead(lead), "hold", clock);
    expect(p.actions.map((a) => `${a.kind} ${a.name}`)).toEqual(["stop web-1", "launch web-2"]);
    expect(group.containers.get("web-1")?.signals ?? ["removed"]).not.toContain("SIGKILL");
    expect((await records(client))["web-1"]?.phase ?? "removed").not.toBe("in-service");
  });

  it("a failed launch fails the pass naming it, keeps what worked, and the next pass launches a replacement", async () => {
    const { client, group, reconciler, lead } = setup();
    await storeGroup(client, {}, { minSize: 2, maxSize: 4 });
    group.failLaunch.add("web-2");
    const r = reconciler();
    await expect(r.pass(asLead(lead), "hold", clock)).rejects.toThrow("instance web-2: image");
    expect([...group.containers.keys()]).toEqual(["web-1"]);
    group.failLaunch.clear();
    clock += 1000;
    const p = await r.pass(asLead(lead), "hold", clock);
    expect(p.actions).toEqual(
      expect.arrayContaining([
        { kind: "remove", name: "web-2", reason: expect.stringContaining("launch did not complete") },
        { kind: "launch", name: "web-3", slot: expect.any(Number) },
      ]),
    );
    clock += 1000;
    expect((await r.pass(asLead(lead), "hold", clock)).converged).toBe(true);
    expect(Object.keys(await records(client)).sort()).toEqual(["web-1", "web-3"]);
  });

  it("engine mode: a scale-up counts against the rate limits only for the launches that succeeded", async () => {
    const { client, group, reconciler, lead } = setup();
    await storeGroup(client, {}, { minSize: 3, maxSize: 6 });
    group.failLaunch.add("web-2");
    group.failLaunch.add("web-3");
    await expect(reconciler().pass(asLead(lead), "engine", clock)).rejects.toThrow("instance web-2: image");
    const saved = await client.get(webKeys.engineState);
    expect(saved?.engine).toBe("hpa");
    expect((saved?.state as { scaleUpEvents: { change: number }[] }).scaleUpEvents).toEqual([{ t: clock, change: 1 }]);

    // Nothing launched at all: no scale event is charged.
    const s2 = setup();
    await storeGroup(s2.client, {}, { minSize: 2, maxSize: 6 });
    s2.group.failLaunch.add("web-1");
    s2.group.failLaunch.add("web-2");
    await expect(s2.reconciler().pass(asLead(s2.lead), "engine", clock)).rejects.toThrow("image");
    const saved2 = await s2.client.get(webKeys.engineState);
    expect((saved2?.state as { scaleUpEvents: unknown[] }).scaleUpEvents).toEqual([]);
  });

  it("names the load balancer when it cannot be reached, before any action", async () => {
    const { client, group, reconciler, lead } = setup();
    await storeGroup(client, {}, { minSize: 2, maxSize: 4 });
    group.lbAlive = false;
    await expect(reconciler().pass(asLead(lead), "hold", clock)).rejects.toThrow("load balancer web-lb");
    expect(group.log).toEqual([]);
  });
});

describe("GroupReconciler.pass: drain before removal", () => {
  it("scale-in: LB drain state, waits for in-flight requests to reach 0, then the stop signal, then removal", async () => {
    const { client, group, reconciler, lead } = setup();
    await storeGroup(client, {}, { minSize: 2, maxSize: 2 });
    await seedInService(
      client,
      group,
      ["web-1", "web-2", "web-3"].map((name) => ({ name, specHash: "h1" })),
      clock,
    );
    group.containers.get("web-3")!.sessions = 4;
    const r = reconciler();

    const p1 = await r.pass(asLead(lead), "hold", clock);
    expect(p1.actions).toEqual([{ kind: "drain", name: "web-3", reason: "scale-in to 2" }]);
    expect(group.log).toEqual(["lb app/slot3 state drain"]);
    expect((await records(client))["web-3"]).toMatchObject({ phase: "draining", drainStartedAtMs: clock });

    // Requests still in flight: no signal, however many passes.
    for (let i = 0; i < 3; i++) {
      clock += 2000;
      expect((await r.pass(asLead(lead), "hold", clock)).actions).toEqual([]);
    }
    expect(group.containers.get("web-3")!.signals).toEqual([]);

    group.containers.get("web-3")!.sessions = 0;
    clock += 2000;
    const p2 = await r.pass(asLead(lead), "hold", clock);
    expect(p2.actions).toEqual([{ kind: "stop", name: "web-3", reason: expect.stringContaining("drained") }]);
    expect(group.containers.get("web-3")!.signals).toEqual(["SIGTERM"]);
    // Parked in the LB before the signal: it never gets a request again.
    expect(group.slots[2].admin).toBe("maint");
    expect(group.log.indexOf("lb app/slot3 state maint")).toBeLessThan(group.log.indexOf("stop web-3"));

    clock += 1000;
    const p3 = await r.pass(asLead(lead), "hold", clock);
    expect(p3.actions).toEqual([{ kind: "remove", name: "web-3", reason: "stopped" }]);
    expect(p3.converged).toBe(true);
    expect(group.containers.has("web-3")).toBe(false);
    expect(Object.keys(await records(client))).toEqual(["web-1", "web-2"]);
  });

  it("the drain bound: requests that never finish get the stop signal at drainMaxSeconds, SIGKILL only after the grace", async () => {
    const { client, group, reconciler, lead } = setup();
    await storeGroup(client, { drainMaxSeconds: 20, stopTimeoutSeconds: 25 }, { minSize: 1, maxSize: 1 });
    await seedInService(
      client,
      group,
      ["web-1", "web-2"].map((name) => ({ name, specHash: "h1" })),
      clock,
    );
    Object.assign(group.containers.get("web-2")!, { sessions: 9, exitsOnStop: false });
    const r = reconciler();
    await r.pass(asLead(lead), "hold", clock);
    clock += 19_000;
    expect((await r.pass(asLead(lead), "hold", clock)).actions).toEqual([]);
    clock += 1_000;
    expect((await r.pass(asLead(lead), "hold", clock)).actions).toEqual([
      { kind: "stop", name: "web-2", reason: "drain bound of 20 s reached" },
    ]);
    clock += 24_000;
    expect((await r.pass(asLead(lead), "hold", clock)).actions).toEqual([]);
    expect(group.containers.get("web-2")!.signals).toEqual(["SIGTERM"]);
    clock += 1_000;
    expect((await r.pass(asLead(lead), "hold", clock)).actions).toEqual([{ kind: "kill", name: "web-2" }]);
    expect(group.containers.get("web-2")!.signals).toEqual(["SIGTERM", "SIGKILL"]);
    clock += 1_000;
    expect((await r.pass(asLead(lead), "hold", clock)).actions).toEqual([
      { kind: "remove", name: "web-2", reason: "stopped" },
    ]);
  });

  it("calls the app's optional shutdown path when its drain begins", async () => {
    const { client, group, reconciler, lead } = setup();
    await storeGroup(client, { shutdownPath: "/shutdown" }, { minSize: 1, maxSize: 1 });
    await seedInService(
      client,
      group,
      ["web-1", "web-2"].map((name) => ({ name, specHash: "h1" })),
      clock,
    );
    await reconciler().pass(asLead(lead), "hold", clock);
    expect(group.log).toEqual(["lb app/slot2 state drain", "shutdown web-2"]);
  });

  it("scale-in takes an old-spec instance first, even when it is the newest", async () => {
    const { client, group, reconciler, lead } = setup();
    await storeGroup(client, { specHash: "h2" }, { minSize: 2, maxSize: 2 });
    await seedInService(
      client,
      group,
      [
        { name: "web-1", specHash: "h2" },
        { name: "web-2", specHash: "h2" },
        { name: "web-3", specHash: "h1" },
      ],
      clock,
    );
    // and the oldest when the old one is the oldest (not newest-first)
    const p = await reconciler().pass(asLead(lead), "hold", clock);
    expect(p.actions).toEqual([{ kind: "drain", name: "web-3", reason: expect.any(String) }]);

    const s2 = setup();
    await storeGroup(s2.client, { specHash: "h2" }, { minSize: 2, maxSize: 2 });
    await seedInService(
      s2.client,
      s2.group,
      [
        { name: "web-1", specHash: "h1" },
        { name: "web-2", specHash: "h2" },
        { name: "web-3", specHash: "h2" },
      ],
      clock,
    );
    const p2 = await s2.reconciler().pass(asLead(s2.lead), "hold", clock);
    expect(p2.actions).toEqual([{ kind: "drain", name: "web-1", reason: expect.any(String) }]);
  });
});

describe("GroupReconciler.pass: rolling replacement", () => {
  async function roll(rollout: { maxSurge: number; minHealthyPercent: number }, desired: number) {
    const { client, group, reconciler, lead } = setup();
    await storeGroup(client, { specHash: "new", rollout }, { minSize: desired, maxSize: desired + 4 });
    const names = Array.from({ length: desired }, (_, i) => ({ name: `web-${i + 1}`, specHash: "old" }));
    await seedInService(client, group, names, clock);
    const r = reconciler();
    const floor = Math.ceil((desired * rollout.minHealthyPercent) / 100);
    let minServing = Infinity;
    let maxActive = 0;
    let passes = 0;
    for (; passes < 40; passes++) {
      const p = await r.pass(asLead(lead), "hold", clock);
      minServing = Math.min(minServing, group.servingCount());
      const recs = Object.values(await records(client));
      maxActive = Math.max(maxActive, recs.filter((x) => x.phase === "launching" || x.phase === "in-service").length);
      if (p.converged) break;
      clock += 1000;
    }
    const recs = await records(client);
    return { group, recs, minServing, maxActive, floor, passes };
  }

  it("maxSurge 1, minHealthyPercent 100: a new instance is healthy before each old one drains; all end on the new spec", async () => {
    const { group, recs, minServing, maxActive, passes } = await roll({ maxSurge: 1, minHealthyPercent: 100 }, 3);
    expect(passes).toBeLessThan(40);
    expect(minServing).toBeGreaterThanOrEqual(3);
    expect(maxActive).toBeLessThanOrEqual(4);
    expect(Object.values(recs).map((x) => [x.phase, x.specHash])).toEqual([
      ["in-service", "new"],
      ["in-service", "new"],
      ["in-service", "new"],
    ]);
    // Every old instance was drained and signalled (never killed) before removal.
    for (const n of ["web-1", "web-2", "web-3"]) {
      expect(group.log.indexOf(`stop ${n}`)).toBeGreaterThan(-1);
      expect(group.log.indexOf(`stop ${n}`)).toBeLessThan(group.log.indexOf(`remove ${n}`));
      expect(group.log).not.toContain(`kill ${n}`);
    }
  });

  it("maxSurge 0, minHealthyPercent 50: never above the desired count, never below half serving", async () => {
    const { recs, minServing, maxActive, passes } = await roll({ maxSurge: 0, minHealthyPercent: 50 }, 4);
    expect(passes).toBeLessThan(40);
    expect(minServing).toBeGreaterThanOrEqual(2);
    expect(maxActive).toBeLessThanOrEqual(4);
    expect(Object.values(recs).every((x) => x.specHash === "new" && x.phase === "in-service")).toBe(true);
    expect(Object.keys(recs)).toHaveLength(4);
  });

  it("a rollout interrupted by a leader change resumes under the successor from the records", async () => {
    const { client, group, reconciler, lead } = setup();
    await storeGroup(client, { specHash: "new" }, { minSize: 2, maxSize: 4 });
    await seedInService(
      client,
      group,
      ["web-1", "web-2"].map((name) => ({ name, specHash: "old" })),
      clock,
    );
    await reconciler().pass(asLead(lead), "hold", clock);
    expect(group.containers.get("web-3")?.specHash).toBe("new");
    lead.loseLease();
    const successor = new FakeLeadership(client, webKeys.election, "ctl-b");
    const r = reconciler("ctl-b");
    let p;
    for (let i = 0; i < 30; i++) {
      clock += 1000;
      p = await r.pass(asLead(successor), "hold", clock);
      expect(group.servingCount()).toBeGreaterThanOrEqual(2);
      if (p.converged) break;
    }
    expect(p?.converged).toBe(true);
    expect(Object.keys(await records(client))).toEqual(["web-3", "web-4"]);
  });
});

describe("GroupReconciler.pass: a deposed leader does nothing", () => {
  it("a leader whose lease is gone (a successor holds it) fails with FencingError and acts on nothing", async () => {
    const { client, group, reconciler, lead } = setup();
    await storeGroup(client, {}, { minSize: 2, maxSize: 4 });
    await seedInService(client, group, [{ name: "web-1", specHash: "old" }], clock);
    const before = client.store.dump();
    lead.expireSilently(); // paused past its TTL: it still believes it leads
    new FakeLeadership(client, webKeys.election, "ctl-b");
    await expect(reconciler().pass(asLead(lead), "hold", clock)).rejects.toBeInstanceOf(FencingError);
    expect(group.log).toEqual([]);
    // Its records were not written either (only the successor's election key is new).
    const withoutElections = (dump: string) => dump.split("\n").filter((l) => !l.includes("/elections/"));
    expect(withoutElections(client.store.dump())).toEqual(withoutElections(before));
  });

  it("a lease lost between the fenced intent and the action: the action never runs", async () => {
    const { client, group, reconciler, lead } = setup();
    await storeGroup(client, {}, { minSize: 2, maxSize: 4 });
    client.store.afterPut = (key, value) => {
      if (key === client.fullKey(webKeys.intent.name) && JSON.parse(value).action === "launch") lead.expireSilently();
    };
    await expect(reconciler().pass(asLead(lead), "hold", clock)).rejects.toBeInstanceOf(FencingError);
    expect(group.log).toEqual([]);
    expect(group.containers.size).toBe(0);
  });

  it("a lease lost during a drain: no stop signal, no LB change, no removal", async () => {
    const { client, group, reconciler, lead } = setup();
    await storeGroup(client, {}, { minSize: 1, maxSize: 1 });
    await seedInService(
      client,
      group,
      ["web-1", "web-2"].map((name) => ({ name, specHash: "h1" })),
      clock,
    );
    const r = reconciler();
    await r.pass(asLead(lead), "hold", clock);
    const log = [...group.log];
    lead.loseLease();
    clock += 5000;
    await expect(r.pass(asLead(lead), "hold", clock)).rejects.toBeInstanceOf(FencingError);
    expect(group.log).toEqual(log);
    expect(group.containers.get("web-2")!.signals).toEqual([]);
  });
});
