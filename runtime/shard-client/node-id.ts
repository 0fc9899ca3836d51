/**
 * Writer ids are unique: a version is `(wall, logical, node)`, and two writers sharing a node id
 * could issue the same version for different values (the shards would then keep whichever sorts
 * higher by value, core/sharding/hlc.ts compareStored, but the loser's acknowledgement would be a
 * lie). So each client leases its id in etcd, `node-ids/<id>` under the config client's prefix,
 * created only if absent and attached to a lease kept alive while the client runs: a second
 * client asking for the same id is refused, naming the id and its holder. When the lease is lost
 * (etcd unreachable beyond its TTL), another client may take the id: this one refuses to write
 * until it has claimed it again (it keeps trying in the background).
 */
import type { Lease } from "etcd3";
import type { Logger } from "pino";
import type { ConfigClient } from "../config-client";
import { NodeIdLostError, ShardArgumentError } from "./errors";

/** TTL of a node id's lease, in s: how long the id of a crashed client stays taken. */
export const NODE_ID_LEASE_SECONDS = 30;

/** The etcd key name (below the config client's prefix) of a node id. */
export const nodeIdKey = (nodeId: string): string => `node-ids/${nodeId}`;

export class NodeIdLease {
  private lease: Lease | undefined;
  private lost: Error | undefined;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;
  private readonly offClose: () => void;

  private constructor(
    private readonly config: ConfigClient,
    readonly nodeId: string,
    private readonly owner: string,
    private readonly log: Logger,
  ) {
    // A config client closed first must not leave the lease's keepalive retrying on it.
    this.offClose = config.onClose(() => this.lease?.release());
  }

  /**
   * Claims `nodeId` for this client.
   * @throws ShardArgumentError naming `nodeId` when another client holds it
   */
  static async claim(config: ConfigClient, nodeId: string, owner: string, log: Logger): Promise<NodeIdLease> {
    const l = new NodeIdLease(config, nodeId, owner, log);
    const holder = await l.take();
    if (holder !== undefined) {
      l.offClose();
      throw new ShardArgumentError(
        "nodeId",
        `${JSON.stringify(nodeId)} is in use by another client (${holder}): writer ids must be unique (two writers sharing one could issue the same version); leave nodeId unset for a generated one`,
      );
    }
    return l;
  }

  /** Tries to take the id; resolves with the holder's description when another client has it. */
  private async take(): Promise<string | undefined> {
    const etcd = this.config.etcd;
    const key = this.config.fullKey(nodeIdKey(this.nodeId));
    const lease = etcd.lease(NODE_ID_LEASE_SECONDS, { autoKeepAlive: true });
    try {
      const id = await lease.grant();
      const res = await this.config.call(`claim node id ${this.nodeId}`, () =>
        etcd
          .if(key, "Create", "==", 0)
          .then(etcd.put(key).value(this.owner).lease(id))
          .else(etcd.get(key))
          .options(this.config.callOptions())
          .commit(),
      );
      if (!res.succeeded) {
        await lease.revoke().catch(() => undefined);
        return res.responses[0]?.response_range?.kvs[0]?.value.toString() ?? "unknown holder";
      }
    } catch (e) {
      lease.release();
      throw e;
    }
    lease.on("lost", (e) => this.onLost(e));
    this.lease = lease;
    this.lost = undefined;
    return undefined;
  }

  private onLost(e: Error): void {
    if (this.closed) return;
    this.lost = e;
    this.lease = undefined;
    this.log.warn(
      { nodeId: this.nodeId, err: e.message },
      "node id lease lost: writes are refused until it is claimed again",
    );
    const again = () => {
      this.retry = undefined;
      if (this.closed) return;
      this.take().then(
        (holder) => {
          if (holder === undefined) this.log.info({ nodeId: this.nodeId }, "node id claimed again");
          else this.retry = setTimeout(again, 1000);
        },
        () => (this.retry = setTimeout(again, 1000)),
      );
    };
    this.retry = setTimeout(again, 200);
  }

  /** @throws NodeIdLostError while the id is not held (lease lost, not claimed again yet) */
  check(): void {
    if (this.lost) throw new NodeIdLostError(this.nodeId, this.lost.message);
  }

  /** Gives the id up (revokes the lease: the key goes at once). */
  async release(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.offClose();
    await this.lease?.revoke().catch(() => undefined);
  }
}
