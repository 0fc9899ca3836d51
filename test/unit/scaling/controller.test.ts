/**
 * The scaling controller (runtime/scaler/controller.ts) on in-memory etcd, Docker and HAProxy:
 * it reconciles only while it leads, stops at once when its lease is lost (told or not), campaigns
 * again, and answers the provider's reconcile requests.
 */
import { ScalingController } from "../../../runtime/scaler/controller";
import { FakeClient, FakeGroup, FakeLeadership, silent, storeGroup, webKeys } from "./fake-group";

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function setup() {
  const client = new FakeClient();
  const group = new FakeGroup();
  const leads: FakeLeadership[] = [];
  let release: ((l: FakeLeadership) => void) | undefined;
  // The first campaign wins at once; later ones wait until the test lets them (another leader holds it).
  client.campaignWith = async (election, id) => {
    if (leads.length === 0) {
      const l = new FakeLeadership(client, election, id);
      leads.push(l);
      return l;
    }
    const l = await new Promise<FakeLeadership>((resolve) => (release = resolve));
    leads.push(l);
    return l;
  };
  let statusWrites = 0;
  client.store.afterPut = (key) => {
    if (key === client.fullKey(webKeys.status.name)) statusWrites++;
  };
  const controller = new ScalingController({
    docker: {} as never,
    client: client.asClient,
    group: "web",
    id: "ctl-a",
    ttlSeconds: 10,
    log: silent,
    idlePeriodSeconds: 0.05,
    actions: group,
  });
  return {
    client,
    group,
    leads,
    controller,
    statusWrites: () => statusWrites,
    elect: () => release?.(new FakeLeadership(client, webKeys.election, "ctl-a")),
  };
}

describe("ScalingController", () => {
  it("runs passes while it leads, none after its lease is lost; campaigns again; resigns on stop", async () => {
    const s = setup();
    await storeGroup(s.client, {}, { minSize: 1, maxSize: 3, periodSeconds: 1 });
    const running = s.controller.run();
    await waitFor("two passes", () => s.statusWrites() >= 2);
    expect(s.group.containers.size).toBe(1);
    expect(await s.client.get(webKeys.status)).toMatchObject({
      holder: "ctl-a",
      fencingToken: s.leads[0].fencingToken,
    });

    s.leads[0].loseLease();
    await waitFor("a second campaign", () => s.client.campaigns === 2);
    const [writes, log] = [s.statusWrites(), [...s.group.log]];
    await new Promise((r) => setTimeout(r, 1500));
    expect(s.statusWrites()).toBe(writes);
    expect(s.group.log).toEqual(log);

    // Stopped while campaigning: elected afterwards, it resigns at once and acts on nothing.
    const stopped = s.controller.stop();
    s.elect();
    await stopped;
    await running;
    expect(s.leads[1].resigned).toBe(true);
    expect(s.statusWrites()).toBe(writes);
  });

  it("a leader deposed without being told (paused past its TTL) stops at its next pass's fenced write", async () => {
    const s = setup();
    await storeGroup(s.client, {}, { minSize: 1, maxSize: 3, periodSeconds: 1 });
    const running = s.controller.run();
    await waitFor("a pass", () => s.statusWrites() >= 1);
    s.leads[0].expireSilently();
    new FakeLeadership(s.client, webKeys.election, "ctl-b");
    const log = [...s.group.log];
    await waitFor("a second campaign", () => s.client.campaigns === 2);
    expect(s.group.log).toEqual(log);
    const stopped = s.controller.stop();
    s.elect();
    await stopped;
    await running;
  });

  it("serves a provider's reconcile request once the group converged, and a delete request once it is empty", async () => {
    const s = setup();
    await storeGroup(s.client, {}, { minSize: 2, maxSize: 3, periodSeconds: 30 });
    await s.client.put(webKeys.request, { id: "r1", generation: 1, kind: "reconcile" });
    const running = s.controller.run();
    await waitFor("the answer", async () => (await s.client.get(webKeys.done))?.id === "r1");
    expect(await s.client.get(webKeys.done)).toMatchObject({ id: "r1", by: "ctl-a", inService: 2 });
    expect(s.group.servingCount()).toBe(2);

    await s.client.delete(webKeys.policy);
    await s.client.put(webKeys.request, { id: "r2", generation: 1, kind: "delete" });
    await waitFor("the delete answer", async () => (await s.client.get(webKeys.done))?.id === "r2", 8000);
    expect(await s.client.get(webKeys.done)).toMatchObject({ id: "r2", inService: 0 });
    expect(s.group.containers.size).toBe(0);
    // Each instance was drained and signalled before it was removed.
    for (const n of ["web-1", "web-2"])
      expect(s.group.log.indexOf(`stop ${n}`)).toBeLessThan(s.group.log.indexOf(`remove ${n}`));
    await s.controller.stop();
    await running;
    expect(s.leads[0].resigned).toBe(true);
  });
});
