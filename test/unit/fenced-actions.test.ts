/**
 * Fenced actions (runtime/scaler/fence.ts) against a fake etcd: an action runs only after a fresh
 * lease check, and not at all when the process was paused past the check's validity; and the
 * ManagedInstanceGroup diff sees a rotated secret through the spec hash.
 */
import { FencingError, type ConfigClient, type Leadership } from "../../runtime/config-client";
import { fenced, FENCE_MARGIN_MS } from "../../runtime/scaler/fence";
import { operations, storedLaunchSpec, type InstanceGroupInputs } from "../../providers/instance-group/operations";
import { webLaunchSpec } from "./scaling/fake-group";

const lead = (believed = true) =>
  ({ key: "/e/k", fencingToken: 42, election: "e", believedCurrent: believed }) as unknown as Leadership;
const client = (createRevision: number | undefined, ttl: number) =>
  ({
    etcd: {
      get: () => ({
        exec: async () => ({
          kvs: createRevision === undefined ? [] : [{ create_revision: String(createRevision), lease: "7" }],
        }),
      }),
      leaseClient: { leaseTimeToLive: async () => ({ TTL: String(ttl) }) },
    },
  }) as unknown as ConfigClient;

describe("fenced actions", () => {
  it("runs the action while the lease is held with TTL to spare", async () => {
    let ran = 0;
    await fenced(client(42, 5), lead(), "launch x", async () => ran++);
    expect(ran).toBe(1);
  });

  it("refuses when the key is gone, belongs to another leader, or the TTL is within the margin", async () => {
    let ran = 0;
    const act = async () => ran++;
    await expect(fenced(client(undefined, 5), lead(), "launch x", act)).rejects.toBeInstanceOf(FencingError);
    await expect(fenced(client(43, 5), lead(), "launch x", act)).rejects.toBeInstanceOf(FencingError);
    await expect(fenced(client(42, FENCE_MARGIN_MS / 1000), lead(), "launch x", act)).rejects.toBeInstanceOf(
      FencingError,
    );
    await expect(fenced(client(42, 5), lead(false), "launch x", act)).rejects.toBeInstanceOf(FencingError);
    expect(ran).toBe(0);
  });

  it("a pause between the check and the action (past the lease's validity) means no action", async () => {
    let clock = 0;
    let ran = 0;
    await expect(
      fenced(client(42, 5), lead(), "lb set server", async () => ran++, {
        now: () => clock,
        beforeAct: () => {
          clock += 4_500; // frozen 4.5 s: the 5 s lease minus the 1 s margin has run out
        },
      }),
    ).rejects.toBeInstanceOf(FencingError);
    expect(ran).toBe(0);
  });
});

describe("ManagedInstanceGroup diff: secrets through the spec hash", () => {
  const inputs: InstanceGroupInputs = {
    group: "web",
    configEndpoints: ["http://127.0.0.1:2379"],
    launchSpec: webLaunchSpec,
    secretEnv: { DB_PASSWORD: "one" },
    policy: { minSize: 2, maxSize: 4 },
    lbSlots: 64,
  };
  const state = {
    ...inputs,
    secretEnv: undefined,
    specHash: storedLaunchSpec(inputs).specHash,
    generation: 1,
    instances: [],
    reconciledBy: "x",
  };

  it("a rotated or added secret is a change (it rolls the group); the same secret is none", async () => {
    expect(await operations.diff("id", state, inputs)).toMatchObject({ changes: false });
    expect(await operations.diff("id", state, { ...inputs, secretEnv: { DB_PASSWORD: "two" } })).toMatchObject({
      changes: true,
      replaces: [],
    });
    expect(
      await operations.diff("id", state, { ...inputs, secretEnv: { DB_PASSWORD: "one", API_KEY: "k" } }),
    ).toMatchObject({ changes: true });
  });

  it("the stored spec carries the hash, never the value; a drain-timing change rolls nothing", () => {
    const stored = storedLaunchSpec(inputs);
    expect(JSON.stringify(stored)).not.toContain('one"');
    expect(stored.specHash).toMatch(/^[0-9a-f]{32}$/);
    expect(storedLaunchSpec({ ...inputs, launchSpec: { ...inputs.launchSpec, drainSeconds: 9 } }).specHash).toBe(
      stored.specHash,
    );
    expect(
      storedLaunchSpec({ ...inputs, launchSpec: { ...inputs.launchSpec, image: "scaleplane/plain-http:1.23" } })
        .specHash,
    ).not.toBe(stored.specHash);
  });
});
