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
import { configKey, FencingError, type ConfigClient, type Leadership } from "../config-client";
import {
  LB_ADMIN_SOCKET,
  LB_BACKEND,
  LB_REQUEST_RING,
  isLbCommandError,
  lbCommands,
  lbSlots,
  parseRequestLog,
  parseServersState,
  parseSlotStats,
  percentile,
  type SlotState,
  type SlotStats,
} from "../../core/app/haproxy";
import { createEngine, type Engine, type InstanceSample, type ScalingDecision } from "../../core/scaling";
import { rate, readMetrics, resourcePercents, type MetricFamily } from "../../core/scaling/observations";
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
import {
  execIn,
  httpInside,
  inspectInstance,
  killInstance,
  launchInstance,
  listGroup,
  removeContainer,
  statsSample,
  stopInstance,
  type GroupContainer,
  type StatsSample,
} from "./docker-ops";
import { fenced } from "./fence";

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

/** The LB's per-slot traffic figures (`show stat`). */
export async function lbStats(docker: Docker, lb: string): Promise<SlotStats[]> {
  return parseSlotStats(await lbRuntime(docker, lb, ["show stat -1 4 -1"]));
}

/**
 * Changes the LB through lb-fenced (images/load-balancer): refused there when `token` is older
 * than a token that already acted, so a deposed leader cannot reconfigure it even after a pause.
 */
export async function lbFencedCommands(docker: Docker, lb: string, token: number, commands: readonly string[]) {
  const r = await execIn(docker, lb, ["lb-fenced", String(token), commands.join("; ")], 10_000);
  if (r.exitCode === 75) throw new Error(`load balancer ${lb} refused fencing token ${token}: ${r.output.trim()}`);
  if (r.exitCode !== 0)
    throw new Error(`load balancer ${lb}: runtime API call failed (exit ${r.exitCode}): ${r.output.trim()}`);
  return r.output;
}

/**
 * What a pass does to Docker and the load balancer, and nothing else: the seam between the pass's
 * logic and the engines (unit tests give a pass an in-memory group and load balancer).
 */
export interface GroupActions {
  list(group: string): Promise<GroupContainer[]>;
  inspect(name: string, network: string): ReturnType<typeof inspectInstance>;
  stats(name: string, cpuLimit: number): Promise<StatsSample>;
  launch(
    spec: LaunchSpec,
    name: string,
    secrets: Readonly<Record<string, string>>,
    fencingToken: number,
  ): Promise<void>;
  /** The instance's stop signal (its grace is counted by the records). */
  stop(name: string): Promise<void>;
  kill(name: string): Promise<void>;
  remove(name: string): Promise<void>;
  /** The optional fast-path drain call from inside the instance (`POST shutdownPath`). */
  shutdown(name: string, port: number, path: string): Promise<unknown>;
  lbState(lb: string): Promise<SlotState[]>;
  lbStats(lb: string): Promise<SlotStats[]>;
  /** The LB's request-log ring (`show events`). */
  lbRequestLog(lb: string): Promise<string>;
  /** LB commands through lb-fenced, tagged with the leader's token. */
  lbApply(lb: string, fencingToken: number, commands: readonly string[]): Promise<string>;
  /** A shell command in a container (the metrics scrape runs in the LB's). */
  exec(name: string, cmd: string[], timeoutMs: number): Promise<{ exitCode: number; output: string }>;
}

/** The real {@link GroupActions}: dockerode and HAProxy's runtime API through `docker exec`. */
export function dockerGroupActions(docker: Docker): GroupActions {
  return {
    list: (group) => listGroup(docker, group),
    inspect: (name, network) => inspectInstance(docker, name, network),
    stats: (name, cpuLimit) => statsSample(docker, name, cpuLimit),
    launch: (spec, name, secrets, token) => launchInstance(docker, spec, name, secrets, token),
    stop: (name) => stopInstance(docker, name),
    kill: (name) => killInstance(docker, name),
    remove: (name) => removeContainer(docker, name),
    shutdown: (name, port, path) => httpInside(docker, name, port, "POST", path, 3),
    lbState: (lb) => lbState(docker, lb),
    lbStats: (lb) => lbStats(docker, lb),
    lbRequestLog: (lb) => lbRuntime(docker, lb, [`show events ${LB_REQUEST_RING}`]),
    lbApply: (lb, token, cmds) => lbFencedCommands(docker, lb, token, cmds),
    exec: (name, cmd, timeoutMs) => execIn(docker, name, cmd, timeoutMs),
  };
}

/** A point of one instance's counters, for rates between passes. */
interface CounterPoint {
  atMs: number;
  cpuTotalNs?: number;
  lbTotal?: number;
  lb5xx?: number;
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
  /** Docker and the load balancer. @default dockerGroupActions(docker) */
  actions?: GroupActions;
}

/**
 * Observes and reconciles one group. Keeps, between passes of one holder, what a rate needs:
 * the previous scrape of each instance, consecutive health failures, and the engine's state.
 */
export class GroupReconciler {
  readonly keys: GroupConfigKeys;
  private readonly prev = new Map<string, CounterPoint>();
  /** Newest request-log line already counted (the ring is read whole each pass). */
  private lastLogMs = 0;
  private engine?: { generation: number; engine: Engine; state: unknown };
  private intentSeq = 0;

  private readonly x: GroupActions;

  constructor(private readonly o: GroupReconcilerOptions) {
    this.keys = groupConfigKeys(o.group);
    this.x = o.actions ?? dockerGroupActions(o.docker);
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

  /**
   * One Docker or HAProxy action: its intent committed (fenced), then the lease re-checked at the
   * last moment (runtime/scaler/fence.ts) so a leader paused in between never acts.
   */
  private async act<T>(lead: Leadership, action: string, target: string, run: () => Promise<T>): Promise<T> {
    await this.intend(lead, action, target);
    const pauseAt = process.env.SCALER_FAULT_PAUSE_BEFORE;
    return fenced(this.o.client, lead, `${action} ${target}`, run, {
      // Fault injection for the frozen-leader test: stop this very process between intent and action.
      beforeAct:
        pauseAt && (pauseAt === action || pauseAt === "any") && !this.paused
          ? () => {
              this.paused = true;
              this.o.log.warn({ action, target }, "fault injection: SIGSTOP before the action");
              process.kill(process.pid, "SIGSTOP");
            }
          : undefined,
    });
  }
  private paused = false;

  private async observe(spec: LaunchSpec, doc: InstancesDoc) {
    const { x } = this;
    const nowMs = Date.now();
    const [containers, slots, stats, ring] = await Promise.all([
      x.list(spec.group),
      x.lbState(spec.loadBalancer),
      x.lbStats(spec.loadBalancer),
      x.lbRequestLog(spec.loadBalancer).catch(() => ""),
    ]);
    const byName = new Map(containers.map((c) => [c.name, c]));
    const slotState = new Map(slots.map((x) => [x.slot, x]));
    const slotStats = new Map(stats.map((x) => [x.slot, x]));
    // Response times per slot since the last pass (the ring holds the newest requests).
    const log = parseRequestLog(ring).filter((e) => e.atMs > this.lastLogMs);
    this.lastLogMs = Math.max(this.lastLogMs, ...log.map((e) => e.atMs));
    const latency = new Map<number, number[]>();
    for (const e of log) if (e.responseMs >= 0) latency.set(e.slot, [...(latency.get(e.slot) ?? []), e.responseMs]);
    const observed: Record<string, InstanceObservation> = {};
    const samples: InstanceSample[] = [];
    const addrs = new Map<string, string>();
    const gauges = spec.metricsPath
      ? await this.scrapeGauges(spec, doc, byName)
      : new Map<string, Record<string, number>>();
    await Promise.all(
      Object.entries(doc.instances).map(async ([name, rec]) => {
        const c = byName.get(name);
        if (!c) {
          this.prev.delete(name);
          return;
        }
        const obs: InstanceObservation = { exists: true, running: c.running };
        observed[name] = obs;
        if (!c.running) return;
        const [info, cpu] = await Promise.all([
          x.inspect(name, spec.networks[0]).catch(() => undefined),
          x.stats(name, spec.cpus).catch(() => undefined),
        ]);
        if (info?.ip) addrs.set(name, info.ip);
        const st = rec.slot !== undefined ? slotState.get(rec.slot) : undefined;
        const fig = rec.slot !== undefined ? slotStats.get(rec.slot) : undefined;
        // Ready: HAProxy's check passes for the slot holding this instance's address.
        const lbUp = !!st && !!fig && st.addr === info?.ip && st.up && fig.checkStatus.startsWith("L7OK");
        obs.lbUp = lbUp;
        if (!lbUp && st && st.addr === info?.ip && fig) obs.lbDownSinceMs = nowMs - fig.lastChangeSeconds * 1000;
        if (fig && st?.addr === info?.ip) obs.sessions = fig.sessions;
        if (rec.phase === "draining" || rec.phase === "stopping") return;
        const prev = this.prev.get(name);
        const seconds = prev ? (nowMs - prev.atMs) / 1000 : 0;
        const point: CounterPoint = {
          atMs: nowMs,
          cpuTotalNs: cpu?.cpuTotalNs,
          lbTotal: fig?.total,
          lb5xx: fig?.errors5xx,
        };
        this.prev.set(name, point);
        const sample: InstanceSample = {
          id: name,
          ready: rec.phase === "in-service" && lbUp,
          ...(info?.startedAtMs ? { startedAtMs: info.startedAtMs } : {}),
          ...(fig ? { readinessChangedAtMs: nowMs - fig.lastChangeSeconds * 1000 } : {}),
          metricsAtMs: nowMs,
          ...(prev ? { metricsWindowMs: nowMs - prev.atMs } : {}),
          ...(cpu ? resourcePercents(cpu, prev?.cpuTotalNs, seconds) : {}),
        };
        if (fig) {
          sample.inFlight = fig.sessions;
          const rps = rate(prev?.lbTotal, fig.total, seconds);
          if (rps !== undefined) sample.requestsPerSecond = rps;
          const eps = rate(prev?.lb5xx, fig.errors5xx, seconds);
          if (rps !== undefined && eps !== undefined) sample.errorRate = rps > 0 ? Math.min(1, eps / rps) : 0;
          const p95 = percentile(latency.get(rec.slot!) ?? [], 95);
          if (p95 !== undefined) sample.p95LatencyMs = p95;
        }
        const g = gauges.get(name);
        if (g) sample.gauges = g;
        samples.push(sample);
      }),
    );
    const unrecorded = containers.filter((c) => !(c.name in doc.instances)).map((c) => c.name);
    return { observed, samples, unrecorded, addrs, slots };
  }

  /** The instances' Prometheus gauges, read through the load balancer's container (curl there). */
  private async scrapeGauges(
    spec: LaunchSpec,
    doc: InstancesDoc,
    byName: Map<string, { running: boolean; ip?: string }>,
  ): Promise<Map<string, Record<string, number>>> {
    const targets = Object.keys(doc.instances)
      .map((n) => ({ n, ip: byName.get(n)?.ip }))
      .filter((t): t is { n: string; ip: string } => !!t.ip && !!byName.get(t.n)?.running);
    const out = new Map<string, Record<string, number>>();
    if (targets.length === 0) return out;
    const script = targets
      .map((t) => `echo '@@@ ${t.n}'; curl -s -m 2 http://${t.ip}:${spec.port}${spec.metricsPath}`)
      .join("; ");
    const r = await this.x.exec(spec.loadBalancer, ["sh", "-c", script], 10_000).catch(() => undefined);
    if (!r) return out;
    for (const part of r.output.split("@@@ ").slice(1)) {
      const nl = part.indexOf("\n");
      const name = part.slice(0, nl).trim();
      try {
        out.set(name, readMetrics(parsePrometheus(part.slice(nl + 1)) as MetricFamily[]).gauges);
      } catch (e) {
        this.o.log.warn({ instance: name, err: String(e) }, "unparseable metrics");
      }
    }
    return out;
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
    const { client, log } = this.o;
    const { x } = this;
    const [spec, stored] = await Promise.all([client.get(this.keys.spec), client.get(this.keys.policy)]);
    if (!spec || (!stored && mode !== "empty"))
      return { ran: false, desired: 0, actions: [], converged: mode === "empty" && !spec };
    const versioned = await client.getVersioned(this.keys.instances);
    const doc = versioned?.value ?? emptyInstancesDoc();
    const { observed, samples, unrecorded, addrs, slots } = await this.observe(spec, doc);
    const current = Object.values(doc.instances).filter(
      (r) => r.phase === "launching" || r.phase === "in-service",
    ).length;
    const min = mode === "empty" ? 0 : stored!.policy.minSize;
    const max = mode === "empty" ? 0 : stored!.policy.maxSize;
    let decision: ScalingDecision | undefined;
    let desired: number;
    if (mode === "engine") {
      decision = await this.decide(lead, stored!, current, samples);
      desired = decision.desired;
    } else if (mode === "hold") {
      // Hold the last pass's desired count, not the number of active instances: during a rollout
      // the surge instances are active too, and holding them would ratchet the group up to maxSize.
      const last = await client.get(this.keys.status);
      desired = clampDesired(last?.desired ?? current, min, max);
    } else desired = 0;

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
      drainTimeoutMs: spec.drainMaxSeconds * 1000,
      stopGraceMs: spec.stopTimeoutSeconds * 1000,
      unhealthyReplaceMs: spec.unhealthyReplaceSeconds * 1000,
      specHash: spec.specHash,
      rollout: spec.rollout,
      fencingToken: lead.fencingToken,
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

    // 3. New instances (labelled with their spec hash and this leader's fencing token).
    const launched = await Promise.allSettled(
      plan.actions
        .filter((a) => a.kind === "launch")
        .map(async (a) => {
          await this.act(lead, "launch", a.name, () => x.launch(spec, a.name, this.o.secrets ?? {}, lead.fencingToken));
          const info = await x.inspect(a.name, spec.networks[0]).catch(() => undefined);
          if (info?.ip) addrs.set(a.name, info.ip);
          log.info({ action: "launch", instance: a.name, fencingToken: lead.fencingToken }, "instance launched");
        }),
    );
    for (const r of launched) if (r.status === "rejected") this.rethrowFencing(r.reason);

    // 4. The load balancer follows the records (fenced there too: lb-fenced refuses an older token).
    const want = lbWant(plan.next, (n) => addrs.get(n), spec.port);
    const cmds = lbCommands(slots, want);
    if (cmds.length > 0) {
      const answer = await this.act(lead, "lb", cmds.join("; "), () =>
        x.lbApply(spec.loadBalancer, lead.fencingToken, cmds),
      );
      if (isLbCommandError(answer))
        throw new Error(`load balancer ${spec.loadBalancer} refused: ${answer.trim()} (commands: ${cmds.join("; ")})`);
      log.info({ action: "lb", commands: cmds, fencingToken: lead.fencingToken }, "load balancer updated");
    }

    // 5. Drains (their slots drained above), stop signals, kills and removals.
    const acted = await Promise.allSettled(
      plan.actions.map(async (a) => {
        const fields = { instance: a.name, fencingToken: lead.fencingToken };
        if (a.kind === "drain") {
          log.info({ action: "drain", reason: a.reason, ...fields }, "instance draining");
          if (spec.shutdownPath)
            await this.act(lead, "shutdown", a.name, () =>
              x.shutdown(a.name, spec.port, spec.shutdownPath!).catch(() => undefined),
            );
        } else if (a.kind === "stop") {
          await this.act(lead, "stop", a.name, () => x.stop(a.name));
          log.info({ action: "stop", reason: a.reason, ...fields }, "stop signal sent");
        } else if (a.kind === "kill") {
          await this.act(lead, "kill", a.name, () => x.kill(a.name));
          log.warn(
            { action: "kill", ...fields },
            `no exit within the ${spec.stopTimeoutSeconds} s stop grace: SIGKILL`,
          );
        } else if (a.kind === "remove") {
          await this.act(lead, "remove", a.name, () => x.remove(a.name));
          this.prev.delete(a.name);
          log.info({ action: "remove", reason: a.reason, ...fields }, "instance removed");
        }
      }),
    );
    for (const r of acted) if (r.status === "rejected") this.rethrowFencing(r.reason);

    // The change was carried out: only now does it count against the engine's rate limits.
    const failedLaunches = launched.filter((r) => r.status === "rejected").length;
    const to = plan.desired > current ? Math.max(current, plan.desired - failedLaunches) : plan.desired;
    if (decision && to !== current && this.engine) {
      this.engine.state = this.engine.engine.applied(this.engine.state, { atMs: Date.now(), from: current, to });
      await lead.fencedPut(this.keys.engineState, {
        generation: this.engine.generation,
        engine: this.engine.engine.name,
        state: this.engine.state,
      });
    }
    const firstFailure = [...launched, ...acted].find((r) => r.status === "rejected");
    if (firstFailure?.status === "rejected") throw firstFailure.reason;

    // 6. Status: who leads, what runs, and HAProxy's own count of healthy filled slots.
    const after = cmds.length > 0 ? await x.lbState(spec.loadBalancer) : slots;
    const names = (phase: string) =>
      Object.entries(plan.next.instances)
        .filter(([, r]) => r.phase === phase)
        .map(([n]) => n);
    const inService = names("in-service");
    const slotsOf = new Set(inService.map((n) => plan.next.instances[n].slot));
    const healthyBehindLb = after.filter((x) => slotsOf.has(x.slot) && x.admin === "ready" && x.up).length;
    const status: GroupStatus = {
      holder: this.o.holder,
      fencingToken: lead.fencingToken,
      electedAtMs,
      atMs: Date.now(),
      policyGeneration: stored?.generation ?? 0,
      desired: plan.desired,
      inService,
      launching: names("launching"),
      draining: [...names("draining"), ...names("stopping")],
      outdated: plan.outdated,
      healthyBehindLb,
    };
    await lead.fencedPut(this.keys.status, status);
    const converged =
      status.launching.length === 0 &&
      status.draining.length === 0 &&
      plan.outdated.length === 0 &&
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

  /** A FencingError ends the pass at once (the caller stops leading); other failures are reported after it. */
  private rethrowFencing(e: unknown): void {
    if (e instanceof FencingError) throw e;
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
