/**
 * The scaling controller: one of (usually two) replicas campaigns for the group's election; the
 * leader runs a reconcile pass every policy period until it loses the lease, then campaigns
 * again. A standby is elected when the leader's key goes away: at once when it resigns (SIGTERM),
 * within one lease TTL when it dies. Every action of a pass is fenced by the leader's token
 * (runtime/scaler/group.ts), so a deposed leader that has not noticed yet cannot act.
 *
 * It also answers the ManagedInstanceGroup provider's reconcile requests: a request (`reconcile-request`)
 * whose id differs from the last answer (`reconcile-done`) is served by passes until the group
 * converged (or, for a delete, is empty), then answered with a fenced write.
 */
import type Docker from "dockerode";
import type { Logger } from "pino";
import { FencingError, type ConfigClient, type Leadership } from "../config-client";
import { GroupReconciler, type GroupActions } from "./group";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ControllerOptions {
  docker: Docker;
  client: ConfigClient;
  group: string;
  /** This replica's candidate id. */
  id: string;
  /** Lease TTL of the leadership: how long a crashed leader blocks the standby. */
  ttlSeconds: number;
  log: Logger;
  /** Period used until a policy is stored. @default 5 */
  idlePeriodSeconds?: number;
  /** The group's secret values (from SCALER_SECRETS_DIR), copied into each instance it creates. */
  secrets?: Readonly<Record<string, string>>;
  /** Docker and the load balancer as a pass acts on them. @default dockerGroupActions(docker) */
  actions?: GroupActions;
}

export class ScalingController {
  private stopped = false;
  private lead?: Leadership;
  private wake?: () => void;

  constructor(private readonly o: ControllerOptions) {}

  /** Campaigns and leads until stop(). */
  async run(): Promise<void> {
    const { client, group, id, log } = this.o;
    const keys = new GroupReconciler({ ...this.o, holder: id }).keys;
    while (!this.stopped) {
      let lead: Leadership;
      try {
        lead = await client.campaign(keys.election, id, { ttlSeconds: this.o.ttlSeconds });
      } catch (e) {
        log.warn({ err: String(e) }, "campaign failed; retrying");
        await this.pause(1000);
        continue;
      }
      if (this.stopped) {
        await lead.resign().catch(() => undefined);
        break;
      }
      this.lead = lead;
      const electedAtMs = Date.now();
      log.info(
        { event: "elected", group, holder: id, fencingToken: lead.fencingToken, electedAtMs },
        "leading the group",
      );
      let lost = false;
      lead.onLost(() => {
        lost = true;
        this.wake?.();
      });
      const reconciler = new GroupReconciler({ ...this.o, holder: id });
      while (!this.stopped && !lost) {
        let periodSeconds = this.o.idlePeriodSeconds ?? 5;
        try {
          const [req, done] = await Promise.all([client.get(keys.request), client.get(keys.done)]);
          const pending = req && req.id !== done?.id ? req : undefined;
          const r = await reconciler.pass(lead, pending?.kind === "delete" ? "empty" : "engine", electedAtMs);
          if (r.periodSeconds) periodSeconds = r.periodSeconds;
          if (pending && (r.converged || (pending.kind === "delete" && !r.ran))) {
            await lead.fencedPut(keys.done, {
              id: pending.id,
              atMs: Date.now(),
              by: id,
              inService: r.status?.inService.length ?? 0,
            });
            log.info({ event: "request-served", request: pending.id, kind: pending.kind }, "reconcile request served");
          }
          // while a request waits, pass again soon
          if (pending) periodSeconds = Math.min(periodSeconds, 1);
        } catch (e) {
          if (e instanceof FencingError) {
            lost = true;
            break;
          }
          log.error({ err: e instanceof Error ? e.message : String(e) }, "reconcile pass failed");
        }
        await this.pause(periodSeconds * 1000);
      }
      this.lead = undefined;
      if (lost)
        log.warn(
          { event: "deposed", group, holder: id, fencingToken: lead.fencingToken },
          "leadership lost; campaigning again",
        );
      else await lead.resign().catch(() => undefined);
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  /** Stops after the current pass and resigns (the standby takes over at once). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    const lead = this.lead;
    if (lead) await lead.resign().catch(() => undefined);
    await sleep(0);
  }
}
