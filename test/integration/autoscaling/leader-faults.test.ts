/**
 * Leader faults of a Docker autoscaling group (issue 19), with the controllers as real host
 * processes (./group-harness.ts) and a plain image that knows nothing of scaleplane:
 *
 * - a leader frozen with SIGSTOP between its committed intent and the Docker action, kept frozen
 *   past its lease TTL and then resumed, performs no action: the container it meant to create is
 *   never created, no container and no HAProxy command carries its fencing token afterwards, and
 *   it logs that it was deposed. The freeze is injected by the controller itself
 *   (SCALER_FAULT_PAUSE_BEFORE=launch: `process.kill(process.pid, "SIGSTOP")` after the lease
 *   check, before the final clock read), the exact window runtime/scaler/fence.ts closes.
 * - a rolling replacement whose leader is SIGKILLed mid-way (right after it sent an old instance
 *   its stop signal) resumes under the successor from the records alone: the instance the dead
 *   leader launched is kept, every old one exits 0 without SIGKILL, 0 failed requests.
 */
import {
  GroupHarness,
  inFlightPolicy,
  PLAIN_IMAGE,
  PLAIN_LAUNCH_SPEC,
  sleep,
  type ControllerProcess,
} from "./group-harness";
import { LoadGenerator } from "./load";

const TTL_SECONDS = 4;
const policy = inFlightPolicy({ minSize: 1, maxSize: 4, target: 50, scaleDownWindowSeconds: 8 });

const h = new GroupHarness({
  prefix: "ldr-faults",
  image: PLAIN_IMAGE,
  launchSpec: PLAIN_LAUNCH_SPEC,
  policy,
  check: { intervalSeconds: 1, timeoutSeconds: 2, fall: 3, rise: 2 },
  ttlSeconds: TTL_SECONDS,
});

/** Waits (bounded) for `pred`. */
async function until(what: string, pred: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(200);
  }
}

/** Waits until `c` leads the group (a status it wrote after `sinceMs`). */
const leads = (c: ControllerProcess, sinceMs: number) =>
  h.waitStatus(`${c.id} leads`, (s) => s.holder === c.id && s.atMs > sinceMs, 60_000);

beforeAll(async () => {
  await h.start();
  await h.create();
}, 180_000);

afterAll(async () => {
  await h.cleanup();
}, 120_000);

it("a leader frozen (SIGSTOP) between its intent and the launch, past its lease TTL, acts never after it resumes", async () => {
  const t0 = Date.now();
  const a = h.startController("a", { SCALER_FAULT_PAUSE_BEFORE: "launch" });
  await leads(a, t0);
  h.startController("b");

  // minSize 1 → 2: the leader commits a launch intent, then freezes before the action
  const updating = h.update({ policy: { ...policy, minSize: 2 } });
  await until("the leader froze itself", () => a.procState() === "T", 60_000);
  const intent = h.intents.find((i) => i.holder === a.id && i.action === "launch");
  expect(intent).toBeDefined();
  const { fencingToken: token, target: meant, atMs: frozenAtMs } = intent!;

  // a successor (controller b, or the provider itself) takes over once the lease expired and converges
  await updating;
  const s = await h.waitStatus(
    "2 in service under a new leader",
    (x) => x.holder !== a.id && x.inService.length === 2,
    30_000,
  );
  expect(s.fencingToken).toBeGreaterThan(token);
  expect(Date.now() - frozenAtMs).toBeGreaterThan(TTL_SECONDS * 1000);

  // resumed: it finds its lease gone before the action and steps down
  a.signal("SIGCONT");
  await until(
    "the resumed leader logs it was deposed",
    () => a.logLines().some((l) => l.event === "deposed" && l.fencingToken === token),
    30_000,
  );
  await sleep(2000);

  expect(a.alive).toBe(true);
  // the container it meant to create never existed (the successor launched its own instead)
  expect(h.events.filter((e) => e.name === meant)).toEqual([]);
  // nothing carries its token after the freeze: no container, no accepted HAProxy command, no intent
  expect(h.events.filter((e) => e.action === "create" && e.fencingToken === token)).toEqual([]);
  const audit = await h.lbAudit();
  expect(audit.filter((l) => l.accepted && l.token === token && l.atMs >= frozenAtMs)).toEqual([]);
  expect(h.intents.filter((i) => i.fencingToken === token && i.atMs > frozenAtMs)).toEqual([]);
  // the group is as the successor left it
  const after = (await h.status())!;
  expect(after.inService).toEqual(s.inService);
  expect(await h.healthyBehindLb()).toBe(2);
  await a.kill();
}, 240_000);

it("a rolling replacement whose leader is SIGKILLed mid-way resumes under the successor, with 0 failed requests", async () => {
  const t0 = Date.now();
  h.startController("c");
  const s0 = await h.waitStatus(
    "a controller leads",
    (s) => s.atMs > t0 && h.controllers.some((c) => c.alive && c.id === s.holder),
    60_000,
  );
  const leader = h.controllers.find((c) => c.id === s0.holder)!;
  const before = await h.instanceHashes();
  expect(Object.keys(before)).toHaveLength(2);

  const load = new LoadGenerator(`http://127.0.0.1:${h.lbPort}/slow`);
  load.setConcurrency(20);
  try {
    const image = await h.retag(PLAIN_IMAGE, "roll");
    const startedAtMs = Date.now();
    const updating = h.update({ launchSpec: { ...h.inputs.launchSpec, image }, policy: { ...policy, minSize: 2 } });
    // mid-way: the leader launched a new instance and sent an old one its stop signal
    await until(
      "the leader stops an old instance",
      () => h.intents.some((i) => i.holder === leader.id && i.action === "stop" && i.atMs >= startedAtMs),
      120_000,
    );
    await leader.kill();
    const launchedByDead = h.intents
      .filter((i) => i.holder === leader.id && i.action === "launch" && i.atMs >= startedAtMs)
      .map((i) => i.target);
    expect(launchedByDead.length).toBeGreaterThan(0);

    const outs = await updating;
    const after = await h.instanceHashes();
    expect(new Set(Object.values(after))).toEqual(new Set([outs.specHash]));
    expect(Object.keys(after)).toHaveLength(2);
    for (const name of Object.keys(before)) expect(after).not.toHaveProperty(name);
    // resumed, not restarted: what the dead leader launched still serves
    for (const name of launchedByDead) expect(after).toHaveProperty(name);
    const s = (await h.status())!;
    expect(s.holder).not.toBe(leader.id);
    expect(s.outdated).toEqual([]);
    for (const name of Object.keys(before)) {
      await h.waitEvent(name, "die", 30_000);
      expect(h.events.filter((e) => e.name === name && e.action === "die").map((e) => e.exitCode)).toEqual([0]);
    }
    expect(h.forcedExits()).toEqual([]);
  } finally {
    const counts = await load.stop();
    expect(counts.failures).toEqual([]);
    expect(counts.ok).toBeGreaterThan(0);
  }
}, 240_000);
