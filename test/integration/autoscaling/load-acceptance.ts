/**
 * The load acceptance of a Docker autoscaling group (issue 19), for one image: under ≥ 100
 * concurrent requests through HAProxy for ≥ 60 s, a scale-out, a full rolling replacement (the
 * image changed) and a scale-in each end with 0 failed requests, and no instance is ever
 * SIGKILLed: Docker's own events show every instance stopped by its stop signal and exiting 0.
 *
 * The policy scales on HAProxy's in-flight count per instance (target 50), which any image has:
 * with C concurrent requests the HPA formula asks for ceil(C / 50) instances, whatever the shared
 * machine's CPUs are doing (as long as the load generator keeps them in flight). Used by load-plain-http.test.ts and load-sample-app.test.ts (two
 * files, so jest runs them side by side).
 */
import type { LaunchSpecInput } from "../../../core/scaling/reconcile";
import { GroupHarness, inFlightPolicy, sleep } from "./group-harness";
import { LoadGenerator } from "./load";

const TARGET = 50;
const BASE_LOAD = 100;
/**
 * Above what 4 instances need (ceil(240 / 50) = 5, held at maxSize 4): the group reaches 4 while
 * HAProxy counts more than 150 in flight, so a loaded CI machine whose load generator keeps fewer
 * than the 240 it asks for in flight still scales out fully (at exactly 200 it once stopped at 3).
 */
const PEAK_LOAD = 240;
const MAX_SIZE = 4;
const SCALE_DOWN_WINDOW_S = 8;
const LOAD_SECONDS = 60;
/** Two new instances at a time, never fewer healthy than the desired count. */
const ROLLOUT = { maxSurge: 2, minHealthyPercent: 100 };

export interface LoadAcceptanceOptions {
  prefix: string;
  image: string;
  /** Path the load requests (each held ~1 s by the app). */
  path: string;
  launchSpec: Omit<LaunchSpecInput, "group" | "secretFiles" | "networks" | "loadBalancer" | "labels" | "image">;
}

const policy = inFlightPolicy({
  minSize: 1,
  maxSize: MAX_SIZE,
  target: TARGET,
  scaleDownWindowSeconds: SCALE_DOWN_WINDOW_S,
});

export function loadAcceptance(o: LoadAcceptanceOptions): void {
  const h = new GroupHarness({
    prefix: o.prefix,
    image: o.image,
    launchSpec: { ...o.launchSpec, rollout: ROLLOUT },
    policy,
    check: { intervalSeconds: 1, timeoutSeconds: 2, fall: 3, rise: 2 },
    ttlSeconds: 5,
  });
  let load: LoadGenerator;
  /** The HPA's count for `c` requests in flight, within maxSize. */
  const expected = (c: number) => Math.min(MAX_SIZE, Math.ceil(c / TARGET));
  const settled =
    (n: number) =>
    (s: {
      inService: string[];
      launching: string[];
      draining: string[];
      outdated: string[];
      healthyBehindLb: number;
    }) =>
      s.inService.length === n &&
      s.launching.length === 0 &&
      s.draining.length === 0 &&
      s.outdated.length === 0 &&
      s.healthyBehindLb === n;

  beforeAll(async () => {
    await h.start();
    await h.create();
    h.startController("a");
    h.startController("b");
    load = new LoadGenerator(`http://127.0.0.1:${h.lbPort}${o.path}`, { maxConcurrency: PEAK_LOAD });
  }, 180_000);

  afterAll(async () => {
    await load?.stop().catch(() => undefined);
    await h.cleanup();
  }, 120_000);

  it(`scales out under ${BASE_LOAD} concurrent requests with 0 failed requests`, async () => {
    load.setConcurrency(BASE_LOAD);
    const s = await h.waitStatus(`scale-out to ${expected(BASE_LOAD)}`, settled(expected(BASE_LOAD)), 90_000);
    expect(s.desired).toBe(expected(BASE_LOAD));
    expect(await h.healthyBehindLb()).toBe(expected(BASE_LOAD));
    expect({ failed: load.counts.failed, failures: load.counts.failures }).toEqual({ failed: 0, failures: [] });
  });

  it(`a changed image replaces every instance (rolling, maxSurge ${ROLLOUT.maxSurge}, minHealthyPercent ${ROLLOUT.minHealthyPercent}) with 0 failed requests`, async () => {
    const before = await h.instanceHashes();
    const image = await h.retag(o.image, "roll");
    // HAProxy's own count of ready, up slots, sampled all through the rollout
    let sampling = true;
    const floor = Math.ceil((expected(BASE_LOAD) * ROLLOUT.minHealthyPercent) / 100);
    let fewestHealthy = Infinity;
    /** The slots (all but parked ones) each time the count was below the floor: the failure's story. */
    const below: string[] = [];
    const sampler = (async () => {
      while (sampling) {
        const slots = await h.lbSlots().catch(() => undefined);
        if (slots) {
          const n = slots.filter((x) => x.admin === "ready" && x.up).length;
          if (n < floor)
            below.push(`${new Date().toISOString()} ${n}: ${JSON.stringify(slots.filter((x) => x.admin !== "maint"))}`);
          fewestHealthy = Math.min(fewestHealthy, n);
        }
        await sleep(300);
      }
    })();
    const outs = await h.update({ launchSpec: { ...h.inputs.launchSpec, image } }).finally(() => (sampling = false));
    await sampler;
    if (fewestHealthy < floor)
      console.log(
        [
          "rollout below its healthy floor; slots then, and the LB commands:",
          ...below,
          ...(await h.lbAudit()).map((a) => a.line),
        ].join("\n"),
      );
    expect(fewestHealthy).toBeGreaterThanOrEqual(floor);
    const after = await h.instanceHashes();
    expect(Object.keys(after)).toHaveLength(expected(BASE_LOAD));
    for (const name of Object.keys(after)) expect(before).not.toHaveProperty(name);
    expect(new Set(Object.values(after))).toEqual(new Set([outs.specHash]));
    const s = (await h.status())!;
    expect(s.outdated).toEqual([]);
    // every old instance exited 0 after its drain: by its stop signal, or on its own (the sample
    // app's POST /shutdown fast path), never SIGKILLed
    for (const name of Object.keys(before)) {
      await h.waitEvent(name, "die", 30_000);
      expect(h.events.filter((e) => e.name === name && e.action === "die").map((e) => e.exitCode)).toEqual([0]);
      expect(h.forcedExits().filter((e) => e.name === name)).toEqual([]);
    }
    expect({ failed: load.counts.failed, failures: load.counts.failures }).toEqual({ failed: 0, failures: [] });
  });

  it(`scales out to ${expected(PEAK_LOAD)} at ${PEAK_LOAD} and back in to ${expected(BASE_LOAD)} at ${BASE_LOAD}, draining first, with 0 failed requests`, async () => {
    load.setConcurrency(PEAK_LOAD);
    await h.waitStatus(`scale-out to ${expected(PEAK_LOAD)}`, settled(expected(PEAK_LOAD)), 90_000);
    load.setConcurrency(BASE_LOAD);
    const dropAt = Date.now();
    await h.waitStatus(`scale-in to ${expected(BASE_LOAD)}`, settled(expected(BASE_LOAD)), 90_000);
    const events = (await h.client.get(h.keys.events)) ?? [];
    const scaleIn = events.filter((e) => e.atMs >= dropAt && e.to < e.from);
    expect(scaleIn.length).toBeGreaterThan(0);
    expect({ failed: load.counts.failed, failures: load.counts.failures }).toEqual({ failed: 0, failures: [] });
  });

  it(`held ≥ ${BASE_LOAD} concurrent requests for ≥ ${LOAD_SECONDS} s with 0 failed requests, and no instance was ever SIGKILLed`, async () => {
    const rest = LOAD_SECONDS * 1000 - load.heldAtLeast(BASE_LOAD);
    if (rest > 0) await sleep(rest + 500);
    const final = await load.stop();
    const heldMs = load.heldAtLeast(BASE_LOAD);
    // every instance that went away was stopped by its stop signal (kill events carry signal 15) and exited 0
    const stops = h.events.filter((e) => e.action === "kill");
    const dies = h.events.filter((e) => e.action === "die");
    console.log(
      JSON.stringify({
        image: o.image,
        heldMs,
        requestsOk: final.ok,
        requestsFailed: final.failed,
        stopSignals: stops.length,
        exits: dies.map((d) => d.exitCode),
        intents: h.intents.length,
      }),
    );
    expect(heldMs).toBeGreaterThanOrEqual(LOAD_SECONDS * 1000);
    expect(final.failures).toEqual([]);
    expect(final.failed).toBe(0);
    expect(final.ok).toBeGreaterThan(BASE_LOAD * LOAD_SECONDS * 0.5);
    // the rollout replaced expected(BASE_LOAD) instances, the scale-in retired the peak's surplus
    expect(dies.length).toBeGreaterThanOrEqual(expected(BASE_LOAD) + expected(PEAK_LOAD) - expected(BASE_LOAD));
    expect(h.forcedExits()).toEqual([]);
    expect(stops.every((e) => e.signal === "15" || e.signal === "SIGTERM")).toBe(true);
    expect(h.intents.filter((i) => i.action === "kill")).toEqual([]);
  });
}
