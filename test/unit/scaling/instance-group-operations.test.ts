/**
 * The ManagedInstanceGroup provider's create/update/delete (providers/instance-group/operations.ts)
 * on in-memory etcd, Docker and HAProxy: the records they write, who runs the pass (a leading
 * controller, or the provider itself when none leads), errors that name what failed, and a
 * rotated secret rolling every instance while no secret value reaches etcd or Pulumi state.
 */
import {
  instanceGroupOperations,
  storedLaunchSpec,
  type InstanceGroupInputs,
  type InstanceGroupOutputs,
} from "../../../providers/instance-group/operations";
import { groupKeys } from "../../../core/scaling/reconcile";
import { FakeClient, FakeGroup, notElected, records, webKeys, webLaunchSpec } from "./fake-group";

// The provider logs each retry at warn: quiet here (the assertions read the errors).
process.env.SCALEPLANE_LOG_LEVEL = "silent";

const SECRET = "s3cret-one-7f2a";
const ROTATED = "s3cret-two-91bc";

const inputs = (over: Partial<InstanceGroupInputs> = {}): InstanceGroupInputs => ({
  group: "web",
  configEndpoints: ["http://127.0.0.1:2379"],
  launchSpec: { ...webLaunchSpec, env: { MODE: "a" } },

  secretEnv: { DB_PASSWORD: SECRET },
  policy: { minSize: 2, maxSize: 4 },
  lbSlots: 64,
  readyTimeoutSeconds: 20,
  ...over,
});

function setup() {
  const client = new FakeClient();
  const group = new FakeGroup();
  const ops = instanceGroupOperations({
    connect: () => client.asClient,
    docker: () => ({}) as never,
    actions: group,
    retryMs: 30,
  });
  return { client, group, ops };
}

/** A controller that leads: the provider is never elected; the controller answers each request. */
function controllerLeads(client: FakeClient, inService: string[], answerAfterMs = 30) {
  client.campaignWith = (election) => notElected(election);
  client.store.afterPut = (key, value) => {
    if (key !== client.fullKey(webKeys.request.name)) return;
    const { id } = JSON.parse(value) as { id: string };
    setTimeout(() => {
      void client
        .put(webKeys.status, {
          holder: "ctl-a",
          fencingToken: 7,
          electedAtMs: 1,
          atMs: 2,
          policyGeneration: 1,
          desired: inService.length,
          inService,
          launching: [],
          draining: [],
          healthyBehindLb: inService.length,
        })
        .then(() => client.put(webKeys.done, { id, atMs: 3, by: "ctl-a", inService: inService.length }));
    }, answerAfterMs);
  };
}

describe("ManagedInstanceGroup create/update/delete", () => {
  it("create: stores the spec (secret names, never values) and the policy, and returns what the leading controller reports", async () => {
    const { client, group, ops } = setup();
    controllerLeads(client, ["web-1", "web-2"]);
    const { id, outs } = await ops.create(inputs());
    expect(id).toBe("web-instance-group");
    expect(outs).toMatchObject({
      group: "web",
      generation: 1,
      instances: ["web-1", "web-2"],
      reconciledBy: "ctl-a",
      specHash: storedLaunchSpec(inputs()).specHash,
    });
    expect(outs).not.toHaveProperty("secretEnv");
    expect(JSON.stringify(outs)).not.toContain(SECRET);

    const spec = await client.get(webKeys.spec);
    expect(spec).toMatchObject({ group: "web", image: "scaleplane/plain-http:1.22-r2", specHash: outs.specHash });
    expect(Object.keys(spec!.secretFiles)).toEqual(["DB_PASSWORD"]);
    expect(await client.get(webKeys.policy)).toMatchObject({ generation: 1, policy: { minSize: 2, maxSize: 4 } });
    expect(await client.get(webKeys.request)).toMatchObject({ generation: 1, kind: "reconcile" });
    expect(client.store.dump()).not.toContain(SECRET);
    // The controller acted, not the provider.
    expect(group.log).toEqual([]);
  });

  it("update bumps the policy generation and waits for the controller's answer to its own request", async () => {
    const { client, ops } = setup();
    controllerLeads(client, ["web-1", "web-2", "web-3"]);
    const olds = { ...(await ops.create(inputs())).outs, generation: 4 } as InstanceGroupOutputs;
    const { outs } = await ops.update("web-instance-group", olds, inputs({ policy: { minSize: 3, maxSize: 4 } }));
    expect(outs).toMatchObject({ generation: 5, instances: ["web-1", "web-2", "web-3"] });
    expect(await client.get(webKeys.policy)).toMatchObject({ generation: 5, policy: { minSize: 3 } });
    const request = await client.get(webKeys.request);
    expect(await client.get(webKeys.done)).toMatchObject({ id: request!.id });
  });

  it("with no controller leading, the provider runs the pass itself: instances healthy behind the LB, secrets copied in", async () => {
    const { client, group, ops } = setup();
    const { outs } = await ops.create(inputs());
    expect(outs.instances).toEqual(["web-1", "web-2"]);
    expect(outs.reconciledBy).toMatch(/^provider-/);
    expect(group.servingCount()).toBe(2);
    for (const c of group.containers.values()) expect(c.secrets).toEqual({ DB_PASSWORD: SECRET });
    // It resigned: a controller can be elected at once.
    expect(client.store.keys(`${client.prefix}elections/`)).toEqual([]);
    expect(client.store.dump()).not.toContain(SECRET);
  });

  it("a rotated secret changes the spec hash and replaces every instance (drained, signalled, removed)", async () => {
    const { client, group, ops } = setup();
    const first = (await ops.create(inputs())).outs;
    const rotated = inputs({ secretEnv: { DB_PASSWORD: ROTATED } });
    expect(await ops.diff("web-instance-group", first, rotated)).toMatchObject({ changes: true, replaces: [] });

    const { outs } = await ops.update("web-instance-group", first, rotated);
    expect(outs.specHash).not.toBe(first.specHash);
    expect(outs.specHash).toBe(storedLaunchSpec(rotated).specHash);
    const recs = await records(client);
    expect(Object.keys(recs)).toHaveLength(2);
    for (const [name, r] of Object.entries(recs)) {
      expect(["web-1", "web-2"]).not.toContain(name);
      expect(r).toMatchObject({ phase: "in-service", specHash: outs.specHash });
      expect(group.containers.get(name)!.secrets).toEqual({ DB_PASSWORD: ROTATED });
    }
    for (const old of ["web-1", "web-2"]) {
      expect(group.containers.has(old)).toBe(false);
      expect(group.log.indexOf(`lb app/slot${old === "web-1" ? 1 : 2} state drain`)).toBeLessThan(
        group.log.indexOf(`stop ${old}`),
      );
      expect(group.log.indexOf(`stop ${old}`)).toBeLessThan(group.log.indexOf(`remove ${old}`));
      expect(group.log).not.toContain(`kill ${old}`);
    }
    // Neither value anywhere in etcd or in state.
    for (const s of [SECRET, ROTATED]) {
      expect(client.store.dump()).not.toContain(s);
      expect(JSON.stringify(outs)).not.toContain(s);
    }
  });

  it("delete drains and removes every instance, then deletes the group's keys", async () => {
    const { client, group, ops } = setup();
    const { outs } = await ops.create(inputs());
    await ops.delete("web-instance-group", outs);
    expect(group.containers.size).toBe(0);
    for (const n of outs.instances)
      expect(group.log.indexOf(`stop ${n}`)).toBeLessThan(group.log.indexOf(`remove ${n}`));
    const { election: _election, ...k } = groupKeys("web");
    // the scaling events were written by the passes (0 → 2, then 2 → 0) and go with the rest
    expect(Object.keys(k)).toContain("events");
    const left = Object.values(k).filter((key) => client.store.kv.has(client.fullKey(key)));
    expect(left).toEqual([]);
    expect([...client.store.kv.keys()].filter((key) => key.includes("autoscaling/web/"))).toEqual([]);
  });

  it("fails at its deadline naming the last failure: an unreachable load balancer", async () => {
    const { group, ops } = setup();
    group.lbAlive = false;
    await expect(ops.create(inputs({ readyTimeoutSeconds: 1 }))).rejects.toThrow(
      /ScalingPolicy web: no reconcile pass completed within 1 s .*last failure: load balancer web-lb: runtime API call failed/,
    );
    expect(group.containers.size).toBe(0);
  });

  it("fails at its deadline naming the last failure: etcd unreachable during the wait", async () => {
    const { client, ops } = setup();
    client.campaignWith = async () => {
      throw new Error("campaign autoscaling-web: etcd unavailable (connect ECONNREFUSED 127.0.0.1:2379)");
    };
    await expect(ops.create(inputs({ readyTimeoutSeconds: 1 }))).rejects.toThrow(
      /within 1 s .*last failure: campaign autoscaling-web: etcd unavailable \(connect ECONNREFUSED/,
    );
  });

  it("waits through a transient failure and succeeds when a controller answers before the deadline", async () => {
    const { client, ops } = setup();
    let failures = 0;
    controllerLeads(client, ["web-1", "web-2"], 400);
    client.campaignWith = async (election) => {
      if (failures++ < 3) throw new Error("etcd unavailable");
      return notElected(election);
    };
    const { outs } = await ops.create(inputs({ readyTimeoutSeconds: 5 }));
    expect(outs.reconciledBy).toBe("ctl-a");
    expect(failures).toBeGreaterThan(3);
  });
});
