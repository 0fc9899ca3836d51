/**
 * The Docker autoscaling group's bookkeeping and its reconcile plan, pure (no I/O).
 *
 * The scaling controller (runtime/scaler) owns the group's containers the way an Auto Scaling
 * group owns instances. What it knows lives in etcd under `autoscaling/<group>/...` (schemas
 * below): the launch spec and policy (written by the ManagedInstanceGroup provider), the instance
 * records (written only by the leader, fenced), the last intended action, the bounded event log
 * and the status. Each pass it observes Docker and the instances, asks the engine for a desired
 * count, and {@link planReconcile} turns (desired, records, observations) into actions. Every
 * instance moves through launching → in-service → draining → removed, one step per pass, so a
 * new leader resumes whatever the previous one left half-done from the records alone.
 */
import { z } from "zod";
import { APP_UID } from "../app/spec";
import type { SlotWant } from "../app/haproxy";
import { ConfigError, parseScalingPolicy, ScalingPolicySchema } from "./policy";
import { secretFiles } from "../secret-files";

// ---------------------------------------------------------------------------------------------
// stored documents

/** How the controller creates an instance (the group's launch template). */
export const LaunchSpecSchema = z.strictObject({
  /** Group name: container names `<group>-<seq>`, label `scaleplane.group`. */
  group: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$/, "must be a lower-case DNS label of at most 42 characters"),
  image: z.string().min(1),
  /** Port the app serves on inside its container. */
  port: z.number().int().min(1).max(65535),
  healthPath: z.string().regex(/^\/\S*$/, "must be an absolute path"),
  /** Plain environment (PORT/DRAIN_* included). */
  env: z.record(z.string(), z.string()),
  /**
   * Secret variable name → file path in the instance (core/secret-files.ts). Names only: the
   * values never reach etcd; the controller copies them from its own secret files into each
   * instance before it starts, and the instance's env carries only `<NAME>_FILE`.
   */
  secretFiles: z.record(z.string(), z.string()).default({}),
  /** Owner (uid and gid) of the secret files: the user the app image runs as. */
  runAsUser: z.number().int().min(0).default(APP_UID),
  cpus: z.number().positive(),
  memoryMb: z.number().int().min(6),
  /** Networks every instance joins; the first is the group's (the load balancer reaches it there). */
  networks: z.array(z.string().min(1)).min(1),
  /** Container labels added to the controller's own. */
  labels: z.record(z.string(), z.string()).default({}),
  /** The load balancer's container name (runtime API through `docker exec`). */
  loadBalancer: z.string().min(1),
  /** Seconds an instance keeps serving after /shutdown, and the bound including in-flight requests. */
  drainSeconds: z.number().int().min(0),
  drainMaxSeconds: z.number().int().min(0),
  /** Seconds a new instance has to pass its health check before it is replaced. */
  healthCheckGraceSeconds: z.number().int().min(0),
  /** Seconds docker waits between SIGTERM and SIGKILL. */
  stopTimeoutSeconds: z.number().int().min(1),
  /**
   * Hash of everything an instance is created from, secret values included (hashed with a slow
   * KDF by the provider, never stored): instances of another hash are replaced (a rollout).
   */
  specHash: z.string().default(""),
  /** How a changed spec replaces instances. */
  rollout: z
    .strictObject({ maxSurge: z.number().int().min(0).max(1000), minHealthyPercent: z.number().int().min(0).max(100) })
    .default({ maxSurge: 1, minHealthyPercent: 100 }),
  /** Seconds an instance in service may fail its health check before it is replaced. */
  unhealthyReplaceSeconds: z.number().int().min(1).default(30),
  /**
   * Optional fast path of an app that drains itself (the sample app's POST /shutdown): called from
   * inside the instance (curl) when its drain begins. Any other image is drained by the load balancer alone.
   */
  shutdownPath: z
    .string()
    .regex(/^\/\S*$/)
    .optional(),
  /** Optional Prometheus endpoint of the app (read through the load balancer's container) for gauge:<name> metrics. */
  metricsPath: z
    .string()
    .regex(/^\/\S*$/)
    .optional(),
});
export type LaunchSpec = z.output<typeof LaunchSpecSchema>;
export type LaunchSpecInput = z.input<typeof LaunchSpecSchema>;

/** The policy document: the validated policy plus a generation the provider bumps on each change. */
export const StoredPolicySchema = z.strictObject({
  generation: z.number().int().min(1),
  policy: ScalingPolicySchema,
});
export type StoredPolicy = z.output<typeof StoredPolicySchema>;

export const InstancePhaseSchema = z.enum(["launching", "in-service", "draining", "stopping"]);
export type InstancePhase = z.infer<typeof InstancePhaseSchema>;

export const InstanceRecordSchema = z.strictObject({
  phase: InstancePhaseSchema,
  /** Load-balancer slot, from the launch (health-checked in drain state) until the removal. */
  slot: z.number().int().min(1).optional(),
  launchedAtMs: z.number(),
  /** The launch spec's hash it was created from (core/scaling/spec-hash.ts); absent: unknown, so outdated. */
  specHash: z.string().optional(),
  /** When the drain began (the load balancer stopped sending it new requests). */
  drainStartedAtMs: z.number().optional(),
  /** When its stop signal was sent (SIGTERM or the image's STOPSIGNAL); SIGKILL follows after the grace. */
  stopSignalAtMs: z.number().optional(),
  /**
   * The fencing token of the leader that recorded the stop signal. The record is written before the
   * signal is sent, so a leader that died in between never sent it: a successor (another token)
   * sends it once more and the grace restarts, rather than SIGKILLing an instance never signalled.
   */
  stopSignalBy: z.number().int().optional(),
  /** Why it drains. */
  reason: z.string().optional(),
});
export type InstanceRecord = z.infer<typeof InstanceRecordSchema>;

/** Every instance of the group by container name, and the next sequence number for names. */
export const InstancesDocSchema = z.strictObject({
  nextSeq: z.number().int().min(1),
  instances: z.record(z.string(), InstanceRecordSchema),
});
export type InstancesDoc = z.infer<typeof InstancesDocSchema>;
export const emptyInstancesDoc = (): InstancesDoc => ({ nextSeq: 1, instances: {} });

/** One scaling event (a change of the desired count). */
export const ScalingEventSchema = z.strictObject({
  atMs: z.number(),
  from: z.number().int(),
  to: z.number().int(),
  engine: z.string(),
  reason: z.string(),
  fencingToken: z.number().int(),
});
export type ScalingEvent = z.infer<typeof ScalingEventSchema>;
/** Events kept in etcd (the oldest fall off). */
export const MAX_EVENTS = 100;
export const EventsDocSchema = z.array(ScalingEventSchema).max(MAX_EVENTS);

/** The last action a leader intended, written (fenced) before it acts. */
export const IntentSchema = z.strictObject({
  seq: z.number().int().min(1),
  atMs: z.number(),
  fencingToken: z.number().int(),
  holder: z.string(),
  action: z.string(),
  target: z.string(),
});
export type Intent = z.infer<typeof IntentSchema>;

/** What the leader reports after each pass. */
export const GroupStatusSchema = z.strictObject({
  holder: z.string(),
  fencingToken: z.number().int(),
  electedAtMs: z.number(),
  atMs: z.number(),
  policyGeneration: z.number().int(),
  desired: z.number().int(),
  inService: z.array(z.string()),
  launching: z.array(z.string()),
  /** Draining or stopping. */
  draining: z.array(z.string()),
  /** Instances of an older launch spec still active (a rollout in progress). */
  outdated: z.array(z.string()).default([]),
  /** Instances healthy and ready behind the load balancer (HAProxy's own view). */
  healthyBehindLb: z.number().int(),
});
export type GroupStatus = z.infer<typeof GroupStatusSchema>;

/** The engine's own state (windows, history), handed from leader to leader. */
export const EngineStateSchema = z.strictObject({
  generation: z.number().int(),
  engine: z.string(),
  state: z.unknown(),
});

/** A request for one reconcile pass at a policy generation (the provider waits for its answer). */
export const ReconcileRequestSchema = z.strictObject({
  id: z.string().min(1),
  generation: z.number().int().min(0),
  /** "reconcile": bring the group inside the policy's range; "delete": drain and remove every instance. */
  kind: z.enum(["reconcile", "delete"]),
});
export type ReconcileRequest = z.infer<typeof ReconcileRequestSchema>;
export const ReconcileDoneSchema = z.strictObject({
  id: z.string(),
  atMs: z.number(),
  by: z.string(),
  inService: z.number().int(),
});

/** etcd key names (below the config client's prefix) of a group. */
export const groupKeys = (group: string) => ({
  spec: `autoscaling/${group}/launch-spec`,
  policy: `autoscaling/${group}/policy`,
  instances: `autoscaling/${group}/instances`,
  events: `autoscaling/${group}/events`,
  intent: `autoscaling/${group}/intent`,
  status: `autoscaling/${group}/status`,
  request: `autoscaling/${group}/reconcile-request`,
  done: `autoscaling/${group}/reconcile-done`,
  engineState: `autoscaling/${group}/engine-state`,
  election: `autoscaling-${group}`,
});

/** Appends an event, keeping the newest {@link MAX_EVENTS}. */
export function appendEvent(events: readonly ScalingEvent[], e: ScalingEvent): ScalingEvent[] {
  return [...events, e].slice(-MAX_EVENTS);
}

/** Container name of instance `seq`. */
export const instanceName = (group: string, seq: number): string => `${group}-${seq}`;

// ---------------------------------------------------------------------------------------------
// the plan

/** What the controller observed of one instance this pass. */
export interface InstanceObservation {
  /** The container exists and runs. */
  running: boolean;
  /** The container exists (running or not). */
  exists: boolean;
  /** HAProxy's health check passes for its slot (the readiness probe, with its fall/rise thresholds). */
  lbUp?: boolean;
  /** Since when HAProxy has reported it down (its `lastchg`), ms since the epoch. */
  lbDownSinceMs?: number;
  /** Requests in flight or queued for it at the load balancer (HAProxy's scur + qcur). */
  sessions?: number;
}

/** How a changed launch spec replaces instances (an Auto Scaling group's instance refresh). */
export interface RolloutSettings {
  /** Instances above the desired count a rollout may run (new ones started before old ones go). */
  maxSurge: number;
  /** Share of the desired count (percent) that stays in service (healthy) during a rollout. */
  minHealthyPercent: number;
}

export interface ReconcileInput {
  group: string;
  nowMs: number;
  /** Desired count from the engine (clamped here to [minSize, maxSize]). */
  desired: number;
  minSize: number;
  maxSize: number;
  doc: InstancesDoc;
  /** Observations by container name; an instance with a record but no observation does not exist. */
  observed: Readonly<Record<string, InstanceObservation>>;
  /** Containers carrying the group's label that have no record (a crash between steps, or foreign). */
  unrecorded: readonly string[];
  /** LB slots (1..slots). */
  slots: number;
  /** Milliseconds a new instance has to pass the load balancer's health check before it is replaced. */
  graceMs: number;
  /** The longest wait for a draining instance's requests to finish, ms. */
  drainTimeoutMs: number;
  /** Milliseconds between the stop signal and SIGKILL (docker stop -t). */
  stopGraceMs: number;
  /** An instance in service that the load balancer reports down this long is replaced, ms. */
  unhealthyReplaceMs: number;
  /** The current launch spec's hash: instances of another hash are replaced. */
  specHash: string;
  rollout: RolloutSettings;
  /** The leading controller's fencing token (a stop signal recorded under another is sent again). */
  fencingToken?: number;
}

export type ReconcileAction =
  /** Record a new instance as launching in `slot`, then create and start its container. */
  | { kind: "launch"; name: string; slot: number }
  /** Its health check passes: the load balancer sends it requests (slot ready), in service. */
  | { kind: "register"; name: string; slot: number }
  /** The load balancer stops sending it new requests (slot drain); its requests finish. */
  | { kind: "drain"; name: string; reason: string }
  /** Its requests finished (or the drain bound passed): send the stop signal. */
  | { kind: "stop"; name: string; reason: string }
  /** It did not exit within the stop grace: SIGKILL. */
  | { kind: "kill"; name: string }
  /** Take out of the LB and remove the container and its record. */
  | { kind: "remove"; name: string; reason: string };

export interface ReconcilePlan {
  /** The desired count after clamping. */
  desired: number;
  actions: ReconcileAction[];
  /** The records after the plan (what the leader writes, fenced, as it acts). */
  next: InstancesDoc;
  /** Instances counted toward the desired count (launching + in service) after the plan. */
  active: string[];
  /** Instances of another launch spec still active (a rollout in progress when non-empty). */
  outdated: string[];
}

/** Clamps a desired count to [min, max]. */
export const clampDesired = (desired: number, min: number, max: number): number =>
  Math.min(max, Math.max(min, Math.round(desired)));

/** Healthy instances a rollout keeps: minHealthyPercent of the desired count, rounded up. */
export const minHealthy = (desired: number, r: RolloutSettings): number =>
  Math.ceil((desired * r.minHealthyPercent) / 100 - 1e-9);

/**
 * One reconcile pass: what to do with each instance and how many to add or take away. Every
 * instance moves launching → in-service → draining → stopping → removed, one step per pass, so a
 * new leader resumes whatever the previous one left half-done from the records alone.
 *
 * - stopping: removed once its container exited; SIGKILLed when it still runs `stopGraceMs` after
 *   its stop signal (the only way an instance is ever killed). A stop recorded by an earlier leader
 *   (another fencing token) is signalled again, once, with a fresh grace: that leader may have died
 *   between the record and the signal.
 * - draining: stopped once the load balancer has no request of it in flight or queued, or the
 *   drain bound passed.
 * - launching: in service once the load balancer's health check passes (the readiness probe);
 *   removed (and so replaced) when its container is missing or stopped; sent its stop signal (and
 *   replaced) when the grace ran out. A launching instance that is retired (scale-in, changed spec)
 *   is sent its stop signal at once: it never served, so there is nothing to drain, but it gets
 *   its grace like any other; only unrecorded containers are removed by force.
 * - in service: drained (and so replaced) once the load balancer has reported it down for
 *   `unhealthyReplaceMs`; removed when its container stopped.
 * - unrecorded containers of the group are removed (the records are the truth).
 * - the active instances (launching + in service) are brought to `desired` of the current launch
 *   spec: outdated ones (another spec hash) go first; a rollout launches up to `maxSurge` above the
 *   desired count and drains an outdated instance only while `minHealthyPercent` of the desired
 *   count stays in service; a scale-in takes outdated instances first, then launching ones (they
 *   serve nothing yet), then the newest in service.
 */
export function planReconcile(input: ReconcileInput): ReconcilePlan {
  const { doc, observed, nowMs } = input;
  if (input.minSize > input.maxSize)
    throw new Error(`planReconcile: minSize ${input.minSize} > maxSize ${input.maxSize}`);
  if (input.rollout.maxSurge < 1 && input.rollout.minHealthyPercent >= 100)
    throw new Error("planReconcile: a rollout needs maxSurge ≥ 1 or minHealthyPercent < 100 to make progress");
  const desired = clampDesired(input.desired, input.minSize, input.maxSize);
  const next: InstancesDoc = { nextSeq: doc.nextSeq, instances: structuredClone(doc.instances) };
  const actions: ReconcileAction[] = [];
  const names = Object.keys(doc.instances).sort(
    (a, b) =>
      doc.instances[a].launchedAtMs - doc.instances[b].launchedAtMs || a.localeCompare(b, "en", { numeric: true }),
  );
  const remove = (name: string, reason: string) => {
    actions.push({ kind: "remove", name, reason });
    delete next.instances[name];
  };
  const drain = (name: string, reason: string) => {
    actions.push({ kind: "drain", name, reason });
    next.instances[name] = { ...next.instances[name], phase: "draining", drainStartedAtMs: nowMs, reason };
  };
  const stop = (name: string, reason: string) => {
    actions.push({ kind: "stop", name, reason });
    next.instances[name] = {
      ...next.instances[name],
      phase: "stopping",
      stopSignalAtMs: nowMs,
      ...(input.fencingToken !== undefined ? { stopSignalBy: input.fencingToken } : {}),
    };
  };

  for (const c of input.unrecorded)
    actions.push({ kind: "remove", name: c, reason: "container of the group without a record" });

  const current: string[] = [];
  const outdated: string[] = [];
  for (const name of names) {
    const r = doc.instances[name];
    const o = observed[name];
    if (r.phase === "stopping") {
      if (!o?.exists || !o.running) remove(name, "stopped");
      else if (input.fencingToken !== undefined && r.stopSignalBy !== input.fencingToken)
        stop(name, "stop signal sent again (recorded by an earlier leader, which may have died before sending it)");
      else if (nowMs - (r.stopSignalAtMs ?? nowMs) >= input.stopGraceMs) actions.push({ kind: "kill", name });
    } else if (r.phase === "draining") {
      const elapsed = nowMs - (r.drainStartedAtMs ?? nowMs);
      if (!o?.exists || !o.running) remove(name, "exited while draining");
      // A drain begun this very pass has not been seen by the load balancer yet: at least one pass.
      else if (elapsed > 0 && o.sessions === 0) stop(name, `drained (no request in flight after ${elapsed / 1000} s)`);
      else if (elapsed >= input.drainTimeoutMs) stop(name, `drain bound of ${input.drainTimeoutMs / 1000} s reached`);
    } else if (r.phase === "launching") {
      if (!o?.exists) remove(name, "container missing (launch did not complete)");
      else if (!o.running) remove(name, "container stopped before it became healthy");
      else if (!o.lbUp && nowMs - r.launchedAtMs > input.graceMs)
        stop(name, `not healthy within the ${input.graceMs / 1000} s grace period`);
      else (r.specHash === input.specHash ? current : outdated).push(name);
    } else if (!o?.exists) remove(name, "container disappeared");
    else if (!o.running) remove(name, "container stopped");
    else if (!o.lbUp && o.lbDownSinceMs !== undefined && nowMs - o.lbDownSinceMs >= input.unhealthyReplaceMs)
      drain(name, `health check failing for ${(nowMs - o.lbDownSinceMs) / 1000} s`);
    else (r.specHash === input.specHash ? current : outdated).push(name);
  }

  const phase = (n: string) => next.instances[n].phase;
  const healthy = () =>
    [...current, ...outdated].filter((n) => phase(n) === "in-service" && observed[n]?.lbUp !== false).length;
  const retire = (n: string, why: string) => {
    // Never served (its slot stayed in drain): no drain to wait for, but still its stop signal and
    // grace, like any instance: an app may be mid-start (migrations, a warm-up) when it is retired.
    if (phase(n) === "launching") stop(n, `${why} (never served)`);
    else drain(n, why);
    for (const list of [current, outdated]) if (list.includes(n)) list.splice(list.indexOf(n), 1);
  };
  // Outdated instances that serve nothing yet go at once.
  for (const n of outdated.filter((x) => phase(x) === "launching")) retire(n, "launch spec changed");
  // Too many of the current spec: a scale-in, launching ones first, then the newest in service.
  const surplus = current.length - desired;
  if (surplus > 0) {
    const launching = current.filter((n) => phase(n) === "launching").reverse();
    const serving = current.filter((n) => phase(n) === "in-service").reverse();
    for (const v of [...launching, ...serving].slice(0, surplus)) retire(v, `scale-in to ${desired}`);
  }
  // Outdated ones in service: all of them when enough of the current spec covers the desired count
  // (a scale-in or a finished rollout), else one at a time while the healthy floor holds.
  const floor = minHealthy(desired, input.rollout);
  for (const n of [...outdated]) {
    const coveredByCurrent =
      current.filter((c) => phase(c) === "in-service" && observed[c]?.lbUp !== false).length >= desired;
    if (coveredByCurrent || current.length + outdated.length > desired + input.rollout.maxSurge)
      retire(n, coveredByCurrent ? "replaced by the current launch spec" : `scale-in to ${desired} (old spec first)`);
    else if (healthy() - 1 >= floor) retire(n, "rolling replacement (launch spec changed)");
  }
  // Launch current-spec instances up to the desired count, within the surge.
  const room = Math.max(
    0,
    desired + (outdated.length > 0 ? input.rollout.maxSurge : 0) - (current.length + outdated.length),
  );
  const usedSlots = new Set(
    Object.values(next.instances)
      .map((r) => r.slot)
      .filter((s): s is number => s !== undefined),
  );
  const launches = Math.min(room, desired - current.length);
  for (let i = 0; i < launches; i++) {
    let slot = 1;
    while (usedSlots.has(slot)) slot++;
    if (slot > input.slots) throw new Error(`no free load-balancer slot: all ${input.slots} are in use`);
    usedSlots.add(slot);
    const name = instanceName(input.group, next.nextSeq++);
    actions.push({ kind: "launch", name, slot });
    next.instances[name] = { phase: "launching", launchedAtMs: nowMs, slot, specHash: input.specHash };
    current.push(name);
  }
  // Launching instances whose health check passes go into service.
  for (const name of current) {
    const r = next.instances[name];
    if (r.phase !== "launching" || !observed[name]?.running || !observed[name]?.lbUp || r.slot === undefined) continue;
    actions.push({ kind: "register", name, slot: r.slot });
    next.instances[name] = { ...r, phase: "in-service" };
  }
  return { desired, actions, next, active: [...current, ...outdated], outdated: [...outdated] };
}

/**
 * The load balancer's wanted slots for a set of records: in service → ready; launching (so its
 * health check runs before it gets traffic) and draining → drain; stopping and removed → parked
 * (absent from the map). A recorded instance whose address is unknown this pass (its inspect
 * failed) keeps its slot as it is: parking it would take a serving instance out of the load
 * balancer for a pass (seen in CI as a rollout dipping below its healthy floor).
 */
export function lbWant(
  doc: InstancesDoc,
  addrOf: (name: string) => string | undefined,
  port: number,
): Map<number, SlotWant> {
  const want = new Map<number, SlotWant>();
  for (const [name, r] of Object.entries(doc.instances)) {
    if (r.slot === undefined || r.phase === "stopping") continue;
    const addr = addrOf(name);
    want.set(r.slot, addr ? { state: r.phase === "in-service" ? "ready" : "drain", addr, port } : { state: "keep" });
  }
  return want;
}

// ---------------------------------------------------------------------------------------------
// the ManagedInstanceGroup resource

/**
 * The ManagedInstanceGroup provider's check: failures name the field (`policy.minSize`,
 * `policy.metrics[1]`, `launchSpec.port`, `configEndpoints`, `lbSlots`).
 */
export function instanceGroupFailures(news: Record<string, unknown>): { property: string; reason: string }[] {
  const failures: { property: string; reason: string }[] = [];
  let maxSize: number | undefined;
  try {
    maxSize = parseScalingPolicy(news.policy ?? {}, "policy").maxSize;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const p of e.problems) failures.push({ property: p.key, reason: p.message });
  }
  const secretNames = Object.keys((news.secretEnv as object | undefined) ?? {});
  let files: Record<string, string> = {};
  try {
    files = secretFiles(secretNames);
  } catch (e) {
    failures.push({ property: "secretEnv", reason: (e as Error).message });
  }
  const spec = LaunchSpecSchema.safeParse({
    ...((news.launchSpec as object) ?? {}),
    group: news.group,
    secretFiles: files,
  });
  if (!spec.success)
    for (const i of spec.error.issues) {
      const path = i.path.map(String);
      const top =
        path[0] === "group"
          ? path.join(".")
          : path[0] === "secretFiles"
            ? "secretEnv"
            : ["launchSpec", ...path].join(".");
      failures.push({ property: top, reason: i.message });
    }
  const endpoints = news.configEndpoints;
  if (
    !Array.isArray(endpoints) ||
    endpoints.length === 0 ||
    !endpoints.every((e) => typeof e === "string" && /^https?:\/\/[^/\s]+$/.test(e))
  )
    failures.push({
      property: "configEndpoints",
      reason: `must list etcd client URLs (http://host:port); got ${JSON.stringify(endpoints)}`,
    });
  const slots = news.lbSlots;
  if (typeof slots !== "number" || !Number.isInteger(slots) || slots < 1)
    failures.push({
      property: "lbSlots",
      reason: `must be the load balancer's slot count; got ${JSON.stringify(slots)}`,
    });
  else if (maxSize !== undefined && maxSize > slots)
    failures.push({
      property: "policy.maxSize",
      reason: `must be ≤ the load balancer's ${slots} server slots; got ${maxSize} (raise the slots with core/app/haproxy.ts lbSlots)`,
    });
  return failures;
}
