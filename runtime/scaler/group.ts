/**
 * One reconcile pass over a Docker autoscaling group: the imperative shell around core's pure
 * plan (core/scaling/reconcile.ts), load-balancer commands (core/app/haproxy.ts) and metric arithmetic
 * (core/scaling/observations.ts). The scaling controller runs it every period while it leads; the
 * ManagedInstanceGroup provider runs the very same pass when no controller answers its request.
 *
 * Fencing: nothing here touches Docker or the load balancer without first committing a fenced
 * etcd write (the records, then the intent of each action) under the caller's Leadership. A
 * deposed leader's write fails with FencingError before it acts, so two holders never act at once.
 */
import type Docker from "dockerode";
import parsePrometheus from "parse-prometheus-text-format";
import type { Logger } from "pino";
import { configKey, type ConfigClient, type Leadership } from "../config-client";
import {
  LB_ADMIN_SOCKET,
  LB_BACKEND,
  isLbCommandError,
  lbCommands,
  lbSlots,
  parseServersState,
  type SlotState,
} from "../../core/app/haproxy";
import { createEngine, type Engine, type InstanceSample, type ScalingDecision } from "../../core/scaling";
import {
  toSample,
  DRAINING_GAUGE,
  IN_FLIGHT_GAUGE,
  type MetricFamily,
  type ScrapePoint,
} from "../../core/scaling/observations";
import {
  appendEvent,
  clampDesired,
  emptyInstancesDoc,
  EngineStateSchema,
  EventsDocSchema,
  GroupStatusSchema,
  groupKeys,
  InstancesDocSchema,
  IntentSchema,
  LaunchSpecSchema,
  lbWant,
  planReconcile,
  ReconcileDoneSchema,
  ReconcileRequestSchema,
  StoredPolicySchema,
  type GroupStatus,
  type InstanceObservation,
  type InstancesDoc,
  type LaunchSpec,
  type ReconcileAction,
  type StoredPolicy,
} from "../../core/scaling/reconcile";
import { execIn, httpInside, ipOn, launchInstance, listGroup, removeContainer, statsSample } from "./docker-ops";

/** The typed etcd keys of one group. */
export function groupConfigKeys(group: string) {
  const k = groupKeys(group);
  return {
    spec: configKey(k.spec, LaunchSpecSchema),
    policy: configKey(k.policy, StoredPolicySchema),
    instances: configKey(k.instances, InstancesDocSchema),
    events: configKey(k.events, EventsDocSchema),
    intent: configKey(k.intent, IntentSchema),
    status: configKey(k.status, GroupStatusSchema),
    request: configKey(k.request, ReconcileRequestSchema),
    done: configKey(k.done, ReconcileDoneSchema),
    engineState: configKey(k.engineState, EngineStateSchema),
    election: k.election,
  };
}
export type GroupConfigKeys = ReturnType<typeof groupConfigKeys>;

/** How a pass chooses the desired count. */
export type PassMode =
  /** The policy's engine decides (the controller). */
  | "engine"
  /** Keep the current count, moved into [minSize, maxSize] (the provider's pass). */
  | "hold"
  /** Zero instances whatever the policy says (delete). */
  | "empty";

export interface PassResult {
  /** false when there is no launch spec or policy yet (nothing to do). */
  ran: boolean;
  desired: number;
  actions: ReconcileAction[];
  decision?: ScalingDecision;
  status?: GroupStatus;
  /** Every instance is in service, their count is the desired count and all are healthy behind the LB. */
  converged: boolean;
  /** The policy's controller period (seconds), when a policy is stored. */
  periodSeconds?: number;
}

/** Runs HAProxy runtime-API commands in the LB container (one socat call, commands separated by `;`). */
export async function lbRuntime(docker: Docker, lb: string, commands: readonly string[]): Promise<string> {
  const r = await execIn(
    docker,
    lb,
    [
      "sh",
      "-c",
      `printf '%s\\n' "$1" | socat -t 5 stdio unix-connect:${LB_ADMIN_SOCKET}`,
      "lb-runtime",
      commands.join("; "),
    ],
    10_000,
  );
  if (r.exitCode !== 0)
    throw new Error(`load balancer ${lb}: runtime API call failed (exit ${r.exitCode}): ${r.output.trim()}`);
  return r.output;
}

/** The LB's slots as HAProxy reports them. */
export async function lbState(docker: Docker, lb: string): Promise<SlotState[]> {
  return parseServersState(await lbRuntime(docker, lb, [`show servers state ${LB_BACKEND}`]));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface GroupReconcilerOptions {
  docker: Docker;
  client: ConfigClient;
  group: string;
  /** Who acts (controller id or "provider:<urn>"); written with every intent. */
  holder: string;
  log: Logger;
  /** Values of the group's secrets (launch spec `secretFiles` names), copied into each new instance. @default {} */
  secrets?: Readonly<Record<string, string>>;
}

/**
 * Observes and reconciles one group. Keeps, between passes of one holder, what a rate needs:
 * the previous scrape of each instance, consecutive health failures, and the engine's state.
 */
export class GroupReconciler {
  readonly keys: GroupConfigKeys;
  private readonly prev = new Map<string, ScrapePoint>();
  private readonly healthFailures = new Map<string, number>();
  private engine?: { generation: number; engine: Engine; state: unknown };
  private intentSeq = 0;

  constructor(private readonly o: GroupReconcilerOptions) {
    this.keys = groupConfigKeys(o.group);
  }

  /** Commits the intent of one action (fenced) right before it is carried out. */
  private async intend(lead: Leadership, action: string, target: string): Promise<void> {
    this.intentSeq++;
    await lead.fencedPut(this.keys.intent, {
      seq: this.intentSeq,
      atMs: Date.now(),
      fencingToken: lead.fencingToken,
      holder: this.o.holder,
      action,
      target,
    });
  }

  private async observe(spec: LaunchSpec, doc: InstancesDoc) {
    const { docker } = this.o;
    const containers = await listGroup(docker, spec.group);
    const byName = new Map(containers.map((c) => [c.name, c]));
    const observed: Record<string, InstanceObservation> = {};
    const samples: InstanceSample[] = [];
    const addrs = new Map<string, string>();
    await Promise.all(
      Object.entries(doc.instances).map(async ([name, rec]) => {
        const c = byName.get(name);
        if (!c) {
          this.healthFailures.delete(name);
          this.prev.delete(name);
          return;
        }
        const obs: InstanceObservation = { exists: true, running: c.running, healthFailures: 0 };
        observed[name] = obs;
        if (!c.running) return;
        const ip = await ipOn(docker, name, spec.networks[0]);
        if (ip) addrs.set(name, ip);
        const [health, metrics, stats] = await Promise.all([
          httpInside(docker, name, spec.port, "GET", spec.healthPath, 2).catch(() => ({ status: 0, body: "" })),
          httpInside(docker, name, spec.port, "GET", "/metrics", 2).catch(() => undefined),
          statsSample(docker, name, spec.cpus).catch(() => undefined),
        ]);
        const failures = health.status === 200 ? 0 : (this.healthFailures.get(name) ?? 0) + 1;
        this.healthFailures.set(name, failures);
        obs.healthFailures = failures;
        let families: MetricFamily[] | undefined;
        if (metrics?.status === 200) {
          try {
            families = parsePrometheus(metrics.body) as MetricFamily[];
          } catch (e) {
            this.o.log.warn({ instance: name, err: String(e) }, "unparseable /metrics");
          }
        }
        const atMs = Date.now();
        const { sample, point } = toSample(
          {
            id: name,
            ready: rec.phase === "in-service" && failures === 0,
            atMs,
            ...(stats ? { stats } : {}),
            ...(families ? { metrics: families } : {}),
          },
          this.prev.get(name),
        );
        this.prev.set(name, point);
        const inFlight = sample.gauges?.[IN_FLIGHT_GAUGE];
        if (inFlight !== undefined) obs.inFlight = inFlight;
        const draining = sample.gauges?.[DRAINING_GAUGE];
        if (draining !== undefined) obs.reportsDraining = draining > 0;
        if (rec.phase !== "draining") samples.push(sample);
      }),
    );
    const unrecorded = containers.filter((c) => !(c.name in doc.instances)).map((c) => c.name);
    return { observed, samples, unrecorded, addrs };
  }

  /**
   * The engine's decision. Its state (stabilization windows, history) is written back, fenced,
   * after each decision, and a new leader resumes from it: a handover does not reset the windows.
   */
  private async decide(
    lead: Leadership,
    stored: StoredPolicy,
    current: number,
    samples: InstanceSample[],
  ): Promise<ScalingDecision> {
    if (!this.engine || this.engine.generation !== stored.generation) {
      const engine = createEngine(stored.policy);
      const saved = await this.o.client.get(this.keys.engineState);
      const resume =
        saved && saved.generation === stored.generation && saved.engine === engine.name && saved.state !== undefined;
      this.engine = { generation: stored.generation, engine, state: resume ? saved.state : engine.init() };
    }
    const { decision, state } = this.engine.engine.decide(this.engine.state, {
      nowMs: Date.now(),
      current,
      instances: samples,
    });
    this.engine.state = state;
    await lead.fencedPut(this.keys.engineState, {
      generation: stored.generation,
      engine: this.engine.engine.name,
      state,
    });
    return decision;
  }

  /** One pass. Throws FencingError (untouched) when `lead` is no longer current. */
  async pass(lead: Leadership, mode: PassMode, electedAtMs: number): Promise<PassResult> {
    const { client, docker, log } = this.o;
    const [spec, stored] = await Promise.all([client.get(this.keys.spec), client.get(this.keys.policy)]);
    if (!spec || (!stored && mode !== "empty"))
      return { ran: false, desired: 0, actions: [], converged: mode === "empty" && !spec };
    const versioned = await client.getVersioned(this.keys.instances);
    const doc = versioned?.value ?? emptyInstancesDoc();
    const { observed, samples, unrecorded, addrs } = await this.observe(spec, doc);
    const current = Object.values(doc.instances).filter((r) => r.phase !== "draining").length;
    const min = mode === "empty" ? 0 : stored!.policy.minSize;
    const max = mode === "empty" ? 0 : stored!.policy.maxSize;
    let decision: ScalingDecision | undefined;
    let desired: number;
    if (mode === "engine") {
      decision = await this.decide(lead, stored!, current, samples);
      desired = decision.desired;
    } else desired = clampDesired(current, min, max);

    const plan = planReconcile({
      group: spec.group,
      nowMs: Date.now(),
      desired,
      minSize: min,
      maxSize: max,
      doc,
      observed,
      unrecorded,
      slots: lbSlots(max),
      graceMs: spec.healthCheckGraceSeconds * 1000,
      drainSeconds: spec.drainSeconds,
      drainMaxSeconds: spec.drainMaxSeconds,
    });

    // 1. The records, fenced and compared with the revision read (no concurrent writer).
    if (plan.actions.length > 0) {
      const full = client.fullKey(this.keys.instances.name);
      const ok = await lead.fencedTxn(
        `reconcile ${spec.group}`,
        [{ key: full, target: "Mod", value: versioned?.modRevision ?? 0 }],
        [{ key: full, value: client.encode(this.keys.instances, plan.next) }],
      );
      if (!ok) throw new Error(`the instance records of ${spec.group} changed during the pass; retrying next pass`);
    }

    // 2. A change of the desired count is a scaling event (bounded log in etcd, JSON log line).
    if (plan.desired !== current) {
      const reason = decision?.reason ?? (mode === "empty" ? "group deleted" : `policy range [${min}, ${max}]`);
      const event = {
        atMs: Date.now(),
        from: current,
        to: plan.desired,
        engine: decision?.engine ?? `policy:${mode}`,
        reason,
        fencingToken: lead.fencingToken,
      };
      const events = (await client.get(this.keys.events)) ?? [];
      await lead.fencedPut(this.keys.events, appendEvent(events, event));
      log.info(
        { event: "scaling", group: spec.group, ...event, contributions: decision?.contributions },
        `scaling ${spec.group} ${current} → ${plan.desired}`,
      );
    }

    // 3. New instances first get addresses: launch them (each fenced).
    await Promise.all(
      plan.actions
        .filter((a) => a.kind === "launch")
        .map(async (a) => {
          await this.intend(lead, "launch", a.name);
          await launchInstance(docker, spec, a.name, this.o.secrets ?? {});
          log.info({ action: "launch", instance: a.name, fencingToken: lead.fencingToken }, "instance launched");
        }),
    );

    // 4. The load balancer follows the records: registered slots ready, drained/removed ones parked.
    const lb = await lbState(docker, spec.loadBalancer);
    const want = lbWant(plan.next, (n) => addrs.get(n), spec.port);
    for (const a of plan.actions)
      if (a.kind === "register" && !want.has(plan.next.instances[a.name].slot!))
        log.warn({ instance: a.name }, "registered instance has no address yet");
    const cmds = lbCommands(lb, want);
    if (cmds.length > 0) {
      await this.intend(lead, "lb", cmds.join("; "));
      const answer = await lbRuntime(docker, spec.loadBalancer, cmds);
      if (isLbCommandError(answer))
        throw new Error(`load balancer ${spec.loadBalancer} refused: ${answer.trim()} (commands: ${cmds.join("; ")})`);
      log.info({ action: "lb", commands: cmds, fencingToken: lead.fencingToken }, "load balancer updated");
    }

    // 5. Drains (deregistered above) and removals.
    await Promise.all(
      plan.actions.map(async (a) => {
        if (a.kind === "drain") {
          await this.intend(lead, "drain", a.name);
          const r = await httpInside(docker, a.name, spec.port, "POST", "/shutdown", 3).catch((e: Error) => ({
            status: 0,
            body: e.message,
          }));
          log.info(
            {
              action: "drain",
              instance: a.name,
              reason: a.reason,
              shutdownStatus: r.status,
              fencingToken: lead.fencingToken,
            },
            "instance draining",
          );
        } else if (a.kind === "remove") {
          await this.intend(lead, "remove", a.name);
          await removeContainer(docker, a.name);
          this.healthFailures.delete(a.name);
          this.prev.delete(a.name);
          log.info(
            { action: "remove", instance: a.name, reason: a.reason, fencingToken: lead.fencingToken },
            "instance removed",
          );
        }
      }),
    );
    // A draining instance that does not report draining (the /shutdown was lost in a crash) is told again.
    await Promise.all(
      Object.entries(plan.next.instances)
        .filter(
          ([n, r]) =>
            r.phase === "draining" && observed[n]?.reportsDraining === false && !plan.actions.some((a) => a.name === n),
        )
        .map(async ([n]) => {
          await this.intend(lead, "drain", n);
          await httpInside(docker, n, spec.port, "POST", "/shutdown", 3).catch(() => undefined);
        }),
    );

    // The change was carried out: only now does it count against the engine's rate limits.
    if (decision && plan.desired !== current && this.engine) {
      this.engine.state = this.engine.engine.applied(this.engine.state, {
        atMs: Date.now(),
        from: current,
        to: plan.desired,
      });
      await lead.fencedPut(this.keys.engineState, {
        generation: this.engine.generation,
        engine: this.engine.engine.name,
        state: this.engine.state,
      });
    }

    // 6. Status: who leads, what runs, and HAProxy's own count of healthy filled slots.
    const after = cmds.length > 0 ? await lbState(docker, spec.loadBalancer) : lb;
    const inService = Object.entries(plan.next.instances)
      .filter(([, r]) => r.phase === "in-service")
      .map(([n]) => n);
    const slotsOf = new Set(inService.map((n) => plan.next.instances[n].slot));
    const healthyBehindLb = after.filter((s) => slotsOf.has(s.slot) && s.admin === "ready" && s.up).length;
    const status: GroupStatus = {
      holder: this.o.holder,
      fencingToken: lead.fencingToken,
      electedAtMs,
      atMs: Date.now(),
      policyGeneration: stored?.generation ?? 0,
      desired: plan.desired,
      inService,
      launching: Object.entries(plan.next.instances)
        .filter(([, r]) => r.phase === "launching")
        .map(([n]) => n),
      draining: Object.entries(plan.next.instances)
        .filter(([, r]) => r.phase === "draining")
        .map(([n]) => n),
      healthyBehindLb,
    };
    await lead.fencedPut(this.keys.status, status);
    const converged =
      status.launching.length === 0 &&
      status.draining.length === 0 &&
      inService.length === plan.desired &&
      healthyBehindLb === plan.desired;
    return {
      ran: true,
      desired: plan.desired,
      actions: plan.actions,
      ...(decision ? { decision } : {}),
      status,
      converged,
      ...(stored ? { periodSeconds: stored.policy.periodSeconds } : {}),
    };
  }

  /**
   * Passes (mode "hold" or "empty") until the group has converged; for the provider and for a
   * controller serving a reconcile request. Bounded by `timeoutMs`.
   */
  async converge(
    lead: Leadership,
    mode: "hold" | "empty" | "engine",
    electedAtMs: number,
    timeoutMs: number,
    periodMs = 1000,
  ): Promise<PassResult> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.pass(lead, mode, electedAtMs);
      if (r.converged || !r.ran) return r;
      if (Date.now() > deadline)
        throw new Error(
          `group ${this.o.group} did not converge within ${timeoutMs / 1000} s: desired ${r.desired}, in service ${r.status?.inService.length}, launching ${r.status?.launching.length}, draining ${r.status?.draining.length}, healthy behind the LB ${r.status?.healthyBehindLb}`,
        );
      await sleep(periodMs);
    }
  }
}
