/**
 * Leader election with fencing tokens on etcd3's Election.
 *
 * The fencing token is the create revision of the holder's election key. etcd revisions only
 * grow, and a candidate is elected only after every key created before its own is gone, so
 * each new leader's token is strictly greater than every earlier leader's. A fenced write is a
 * transaction that commits only while the holder's key still exists with that create revision:
 * a deposed leader (lease expired, resigned, partitioned away) cannot write, even if it has not
 * noticed yet.
 */
import type { Campaign } from "etcd3";
import type { z } from "zod";
import type { CallOpts, ClientSession } from "./session";
import { revision } from "./revision";
import { ConfigClientError, FencingError } from "./errors";
import type { ConfigKey } from "./keys";

/** A comparison in a fenced transaction (etcd compare target on a full key). */
export interface TxnCompare {
  key: string;
  target: "Mod" | "Create" | "Version";
  value: number;
}
/** A write in a fenced transaction (full keys; values already encoded). */
export type TxnWrite = { key: string; value: string } | { key: string; delete: true };

export class Leadership {
  private lost = false;
  private resigned = false;
  private readonly lostHandlers: Array<(e: Error) => void> = [];

  private constructor(
    private readonly client: ClientSession,
    private readonly campaignHandle: Campaign,
    /** Unregisters the client-close hook that ends this candidacy's lease keepalive. */
    private readonly offClose: () => void,
    /** Election name. */
    readonly election: string,
    /** This holder's candidate id (the value stored under its election key). */
    readonly candidateId: string,
    /** Full etcd key of this holder's candidacy. */
    readonly key: string,
    /** Create revision of `key`: strictly increasing across successive leaders. */
    readonly fencingToken: number,
  ) {
    campaignHandle.on("error", (e) => this.markLost(e));
  }

  /** See ConfigClient.campaign. */
  static async campaign(
    client: ClientSession,
    electionName: string,
    candidateId: string,
    ttlSeconds: number,
    timeoutMs?: number,
  ): Promise<Leadership> {
    const log = client.log.child({ election: electionName, candidate: candidateId });
    const campaign = client.etcd.namespace(client.prefix).election(electionName, ttlSeconds).campaign(candidateId);
    // Closing the client ends the candidacy's lease keepalive (pending, elected or lost): etcd3 would
    // otherwise retry it every 100 ms on the closed client until twice the TTL has passed, keeping
    // the process alive that long. The lease itself then expires at its TTL, as after a crash.
    const offClose = client.onClose(() => void campaign.resign().catch(() => undefined));
    let failure: Error | undefined;
    const failed = new Promise<never>((_, reject) =>
      campaign.on("error", (e) => {
        failure = e;
        reject(e);
      }),
    );
    failed.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const timeout =
      timeoutMs === undefined
        ? new Promise<never>(() => undefined)
        : new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new ConfigClientError(`campaign ${electionName}: not elected within ${timeoutMs} ms`)),
              timeoutMs,
            );
          });
    try {
      await Promise.race([campaign.wait(), failed, timeout]);
      const key = await campaign.getCampaignKey();
      const res = await client.call(`campaign ${electionName}`, () =>
        client.etcd.get(key).options(client.callOptions()).exec(),
      );
      const kv = res.kvs[0];
      if (!kv || failure)
        throw new ConfigClientError(
          `campaign ${electionName}: elected but the election key ${key} is already gone (lease lost)`,
        );
      const token = revision(kv.create_revision);
      log.info({ fencingToken: token }, "elected");
      return new Leadership(client, campaign, offClose, electionName, candidateId, key, token);
    } catch (e) {
      offClose();
      await campaign.resign().catch(() => undefined);
      throw e;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  private markLost(e: Error): void {
    if (this.lost || this.resigned) return;
    this.lost = true;
    // A lost leadership's lease is of no use: stop its keepalive loop (and revoke it, should it live).
    this.offClose();
    this.campaignHandle.resign().catch(() => undefined);
    this.client.log.warn({ election: this.election, fencingToken: this.fencingToken, err: e }, "leadership lost");
    for (const h of this.lostHandlers) h(e);
  }

  /**
   * Whether this process still believes it leads (no lease loss seen, not resigned). Only a
   * hint: a paused process may be deposed without knowing; use fenced writes for safety.
   */
  get believedCurrent(): boolean {
    return !this.lost && !this.resigned;
  }

  /** Called once if the lease behind this leadership is lost. */
  onLost(handler: (e: Error) => void): void {
    this.lostHandlers.push(handler);
  }

  /**
   * A transaction that commits only while this leadership is current and every `compares`
   * holds. Resolves true when committed, false when only `compares` failed; throws FencingError
   * when the leadership is no longer current.
   */
  async fencedTxn(
    operation: string,
    compares: readonly TxnCompare[],
    writes: readonly TxnWrite[],
    opts?: CallOpts,
  ): Promise<boolean> {
    const etcd = this.client.etcd;
    let txn = etcd.if(this.key, "Create", "==", this.fencingToken);
    for (const c of compares) txn = txn.and(c.key, c.target, "==", c.value);
    const ops = writes.map((w) => ("delete" in w ? etcd.delete().key(w.key) : etcd.put(w.key).value(w.value)));
    const res = await this.client.call(
      operation,
      () =>
        txn
          .then(...ops)
          .else(etcd.get(this.key))
          .options(this.client.callOptions(opts))
          .commit(),
      opts,
    );
    if (res.succeeded) return true;
    const kv = res.responses[0]?.response_range?.kvs[0];
    if (!kv || revision(kv.create_revision) !== this.fencingToken) {
      this.markLost(new FencingError(this.election, this.fencingToken, operation));
      throw new FencingError(this.election, this.fencingToken, operation);
    }
    return false;
  }

  /** Writes `value` under `key` only while this leadership is current (FencingError otherwise). */
  async fencedPut<S extends z.ZodType>(key: ConfigKey<S>, value: z.input<S>, opts?: CallOpts): Promise<void> {
    const full = this.client.fullKey(key.name);
    await this.fencedTxn(`fenced put ${full}`, [], [{ key: full, value: this.client.encode(key, value) }], opts);
  }

  /** Deletes `key` only while this leadership is current (FencingError otherwise). */
  async fencedDelete<S extends z.ZodType>(key: ConfigKey<S>, opts?: CallOpts): Promise<void> {
    const full = this.client.fullKey(key.name);
    await this.fencedTxn(`fenced delete ${full}`, [], [{ key: full, delete: true }], opts);
  }

  /** Gives up leadership (deletes the election key by revoking its lease); the next candidate is elected. */
  async resign(): Promise<void> {
    if (this.resigned) return;
    this.resigned = true;
    this.offClose();
    await this.campaignHandle.resign();
    this.client.log.info({ election: this.election, fencingToken: this.fencingToken }, "resigned");
  }
}
