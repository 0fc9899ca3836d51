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
});
export type LaunchSpec = z.output<typeof LaunchSpecSchema>;
export type LaunchSpecInput = z.input<typeof LaunchSpecSchema>;

/** The policy document: the validated policy plus a generation the provider bumps on each change. */
export const StoredPolicySchema = z.strictObject({
  generation: z.number().int().min(1),
  policy: ScalingPolicySchema,
});
export type StoredPolicy = z.output<typeof StoredPolicySchema>;

export const InstancePhaseSchema = z.enum(["launching", "in-service", "draining"]);
export type InstancePhase = z.infer<typeof InstancePhaseSchema>;

export const InstanceRecordSchema = z.strictObject({
  phase: InstancePhaseSchema,
  /** Load-balancer slot while in service or draining. */
  slot: z.number().int().min(1).optional(),
  launchedAtMs: z.number(),
  /** When the drain began (deregistered from the LB, /shutdown sent). */
  drainStartedAtMs: z.number().optional(),
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
  draining: z.array(z.string()),
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
  /** Consecutive failed health checks (0: the last check passed). */
  healthFailures: number;
  /** Requests in flight as the instance's /metrics reports them (the scrape itself excluded). */
  inFlight?: number;
  /** Whether the instance's /metrics says it is draining (undefined when not scraped). */
  reportsDraining?: boolean;
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
  graceMs: number;
  drainSeconds: number;
  drainMaxSeconds: number;
  /** Consecutive health failures that take an in-service instance out. @default 3 */
  unhealthyThreshold?: number;
}

export type ReconcileAction =
  /** Record a new instance as launching, then create and start its container. */
  | { kind: "launch"; name: string }
  /** Healthy: fill `slot` on the LB and mark in service. */
  | { kind: "register"; name: string; slot: number }
  /** Deregister from the LB (drain state), send /shutdown, mark draining. */
  | { kind: "drain"; name: string; reason: string }
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
}

/** Clamps a desired count to [min, max]. */
export const clampDesired = (desired: number, min: number, max: number): number =>
  Math.min(max, Math.max(min, Math.round(desired)));

/**
 * One reconcile pass: what to do with each instance and how many to add or take away.
 *
 * - draining: removed once its in-flight requests reached 0 after `drainSeconds`, or its
 *   container exited, or `drainMaxSeconds` passed (the bound).
 * - launching: removed (and so replaced) when its container is missing or stopped, or the grace
 *   period ran out without a passing health check.
 * - in service: drained (and so replaced) when `unhealthyThreshold` health checks in a row failed;
 *   removed when its container stopped.
 * - unrecorded containers of the group are removed (the records are the truth).
 * - launching + in-service instances are brought to `desired`: missing ones launched; surplus
 *   ones taken away, launching ones first (they serve nothing yet: removed), then the newest in
 *   service (drained).
 * - finally every surviving launching instance whose health check passed is registered in the
 *   lowest free load-balancer slot.
 */
export function planReconcile(input: ReconcileInput): ReconcilePlan {
  const { doc, observed, nowMs } = input;
  if (input.minSize > input.maxSize)
    throw new Error(`planReconcile: minSize ${input.minSize} > maxSize ${input.maxSize}`);
  const threshold = input.unhealthyThreshold ?? 3;
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

  for (const c of input.unrecorded)
    actions.push({ kind: "remove", name: c, reason: "container of the group without a record" });

  const active: string[] = [];
  for (const name of names) {
    const r = doc.instances[name];
    const o = observed[name];
    if (r.phase === "draining") {
      const elapsed = (nowMs - (r.drainStartedAtMs ?? nowMs)) / 1000;
      if (!o?.exists || !o.running) remove(name, "drained (instance exited)");
      else if (elapsed >= input.drainSeconds && o.inFlight === 0)
        remove(name, `drained (no request in flight after ${elapsed.toFixed(1)} s)`);
      else if (elapsed >= input.drainMaxSeconds) remove(name, `drain bound of ${input.drainMaxSeconds} s reached`);
    } else if (r.phase === "launching") {
      if (!o?.exists) remove(name, "container missing (launch did not complete)");
      else if (!o.running) remove(name, "container stopped before it became healthy");
      else if (o.healthFailures > 0 && nowMs - r.launchedAtMs > input.graceMs)
        remove(name, `not healthy within the ${input.graceMs / 1000} s grace period`);
      else active.push(name);
    } else if (!o?.exists) remove(name, "container disappeared");
    else if (!o.running) remove(name, "container stopped");
    else if (o.healthFailures >= threshold) drain(name, `${o.healthFailures} health checks failed in a row`);
    else active.push(name);
  }

  if (active.length < desired) {
    for (let i = active.length; i < desired; i++) {
      const name = instanceName(input.group, next.nextSeq++);
      actions.push({ kind: "launch", name });
      next.instances[name] = { phase: "launching", launchedAtMs: nowMs };
      active.push(name);
    }
  } else if (active.length > desired) {
    const launching = active.filter((n) => doc.instances[n].phase === "launching").reverse();
    const serving = active.filter((n) => doc.instances[n].phase === "in-service").reverse();
    for (const v of [...launching, ...serving].slice(0, active.length - desired)) {
      if (doc.instances[v].phase === "launching") remove(v, `scale-in to ${desired} (never served)`);
      else drain(v, `scale-in to ${desired}`);
      active.splice(active.indexOf(v), 1);
    }
  }

  const usedSlots = new Set(
    Object.values(next.instances)
      .map((r) => r.slot)
      .filter((s): s is number => s !== undefined),
  );
  for (const name of active) {
    const r = next.instances[name];
    if (r.phase !== "launching" || !observed[name]?.running || observed[name].healthFailures > 0) continue;
    let slot = 1;
    while (usedSlots.has(slot)) slot++;
    if (slot > input.slots) throw new Error(`no free load-balancer slot for ${name}: all ${input.slots} are in use`);
    usedSlots.add(slot);
    actions.push({ kind: "register", name, slot });
    next.instances[name] = { ...r, phase: "in-service", slot };
  }
  return { desired, actions, next, active };
}

/** The load balancer's wanted slots for a set of records: in service → ready, draining → maint. */
export function lbWant(
  doc: InstancesDoc,
  addrOf: (name: string) => string | undefined,
  port: number,
): Map<number, { state: "ready"; addr: string; port: number }> {
  const want = new Map<number, { state: "ready"; addr: string; port: number }>();
  for (const [name, r] of Object.entries(doc.instances)) {
    if (r.phase !== "in-service" || r.slot === undefined) continue;
    const addr = addrOf(name);
    if (addr) want.set(r.slot, { state: "ready", addr, port });
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
