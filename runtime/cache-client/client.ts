/**
 * CacheClient: the read-through cache an application puts in front of the sharded database.
 *
 * - Placement: the topology in etcd (core/cache/topology.ts), keys on the shared ring with the
 *   cache's own node set; optional replicas on distinct zones serve reads when a node is down.
 * - `get(key, loader)`: a hit is served; on a miss exactly one caller (in every process) gets the
 *   key's fill lease and runs `loader`, the others wait and get what it stores (memcache leases,
 *   the scripts in ./scripts.ts). A fill whose lease was invalidated by a write is refused, so a
 *   loader that read the database before a write can never cache what it read.
 * - `invalidate(key)`: what the database's write path calls after a write is acknowledged
 *   (./shard-hook.ts wires it into ShardClient); it resolves only once no reader anywhere can be
 *   served the older value: the key is deleted with its lease on every node that may hold it,
 *   near-cache copies handed out are waited out, and a node that cannot be reached is fenced
 *   (new generation in etcd) and the view lease waited out.
 * - Resize: during `migrating` a miss on the new owner reads the old owner's copy (Redis's ASK)
 *   and fills the new owner with it under the new owner's lease.
 * - Hot keys (count-min sketch) are served from a small near cache for `nearCache.ttlMs`.
 * - XFetch refreshes a value before it expires, one reader at a time, under a lease.
 * - When the topology view is not fresh (etcd unreachable), or every node of a key is down,
 *   reads go to the loader directly: slower, never stale, never an error.
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import Redis from "ioredis";
import pino, { type Logger } from "pino";
import { HotKeyDetector, type HotKey } from "../../core/cache/sketch";
import { fenceWaitMs, initialTopology, type CacheNodeInput, type CacheRouter } from "../../core/cache/topology";
import { bumpGeneration } from "../../core/cache/resize";
import { jitteredTtl, xfetchShouldRefresh } from "../../core/cache/ttl";
import type { ConfigClient } from "../config-client";
import {
  FLOOR_KEY,
  GEN_KEY,
  HOT_KEY,
  INVALIDATION_CHANNEL,
  STATS_KEY,
  decodePayload,
  defineLeaseCommands,
  encodePayload,
  leaseKey,
  nearKey,
  valueKey,
  type LeaseRedis,
} from "./scripts";
import { initTopology, TopologyView, updateTopology } from "./topology-store";

/** Settings of a client (the `cache` config section's runtime part). */
export interface CacheClientSettings {
  /** Value TTL, ms. @default 300000 */
  ttlMs?: number;
  /** TTL jitter fraction. @default 0.1 */
  ttlJitter?: number;
  /** Fill lease, ms. @default 3000 */
  leaseMs?: number;
  /** View lease, ms (must equal the one the resize controller and other clients use). @default 2000 */
  viewLeaseMs?: number;
  /** XFetch β (0: off). @default 1 */
  xfetchBeta?: number;
  /** Near cache of hot keys. */
  nearCache?: { enabled?: boolean; ttlMs?: number; maxEntries?: number; hotShare?: number; hotMinCount?: number };
  /** Deadline of one Redis command, ms. @default 1000 */
  commandTimeoutMs?: number;
}

export interface CacheClientOptions extends CacheClientSettings {
  /** The config service (etcd) holding the topology; the caller closes it. */
  config: ConfigClient;
  /** The cache cluster's name (its topology key). */
  cluster: string;
  /** Redis AUTH password (or a function reading it, e.g. from a mounted secret file). */
  password?: string | (() => string);
  /** TLS to the nodes (ElastiCache in-transit encryption). @default false */
  tls?: boolean;
  /**
   * The deployed nodes: when the cluster has no topology in etcd yet, it is created with them
   * (compare-and-swap on absence, so concurrent first clients agree). @default none (the topology must exist)
   */
  nodes?: CacheNodeInput[];
  /** Replicas per key of a topology created from `nodes`. @default 1 */
  replicas?: number;
  /** Per-node address overrides by node name (e.g. 127.0.0.1 ports of Docker nodes seen from the host). */
  reach?: Record<string, { host: string; port: number }>;
  logger?: Logger;
}

/** Counters of one client. */
export interface CacheClientStats {
  gets: number;
  hits: number;
  nearHits: number;
  misses: number;
  /** Loader calls (database reads). */
  loads: number;
  /** Misses served from the old owner during a resize. */
  askHits: number;
  /** Reads that waited for another loader. */
  waited: number;
  /** Reads that went to the loader directly (stale view, nodes down, a loader too slow to wait for). */
  bypassed: number;
  /** Why: the topology view was not fresh / no node of the key answered / waited longer than 2 leases. */
  bypassedStale: number;
  bypassedDown: number;
  bypassedWait: number;
  /** Fills refused (lease invalidated by a write, or lapsed). */
  fillsRefused: number;
  /** XFetch early refreshes. */
  earlyRefreshes: number;
  invalidations: number;
  /** Nodes fenced by this client (unreachable during an invalidation). */
  fenced: number;
  /** Nodes admitted (flushed at a new generation) by this client. */
  admitted: number;
  /** Redis command failures (each handled: another replica, the loader, or a fence). */
  nodeErrors: number;
}

/** What a node answered to a lookup. */
type Lookup =
  | { kind: "hit"; payload: string; ttlMs: number }
  | { kind: "lease"; token: string }
  | { kind: "wait" }
  | { kind: "fenced"; stored: number | undefined };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Longest a reader waits for another loader before reading the database itself: 2 leases. */
const WAIT_LEASES = 2;
/** How long a read waits for etcd to confirm a stale topology view before reading the database, ms. */
const REFRESH_WAIT_MS = 250;
/** How long a node that failed is skipped by reads before it is tried again, ms. */
const DOWN_MS = 300;

class Node {
  readonly redis: LeaseRedis;
  downUntil = 0;
  constructor(
    readonly name: string,
    readonly host: string,
    readonly port: number,
    redis: Redis,
  ) {
    this.redis = defineLeaseCommands(redis);
  }
  up(): boolean {
    return performance.now() >= this.downUntil && this.redis.status === "ready";
  }
}

export class CacheClient {
  readonly log: Logger;
  readonly hot: HotKeyDetector;
  private readonly nodes = new Map<string, Node>();
  private readonly subscribers = new Map<string, Redis>();
  private readonly near = new Map<string, { value: unknown; until: number }>();
  private readonly polls = new Map<string, Promise<string | undefined>>();
  private readonly fencing = new Map<string, { startedAt: number; done: Promise<void> }>();
  private readonly s: Required<Omit<CacheClientSettings, "nearCache">> & {
    near: { enabled: boolean; ttlMs: number; maxEntries: number };
  };
  private hotTimer?: NodeJS.Timeout;
  /** Lease tokens: this client's random id and a counter (unique across clients and restarts of nodes). */
  private readonly tokenPrefix = randomBytes(9).toString("base64");
  private tokens = 0;
  private closed = false;
  readonly stats: CacheClientStats = {
    gets: 0,
    hits: 0,
    nearHits: 0,
    misses: 0,
    loads: 0,
    askHits: 0,
    waited: 0,
    bypassed: 0,
    bypassedStale: 0,
    bypassedDown: 0,
    bypassedWait: 0,
    fillsRefused: 0,
    earlyRefreshes: 0,
    invalidations: 0,
    fenced: 0,
    admitted: 0,
    nodeErrors: 0,
  };

  private constructor(
    private readonly opts: CacheClientOptions,
    private readonly view: TopologyView,
    log: Logger,
  ) {
    this.log = log;
    const n = opts.nearCache ?? {};
    this.s = {
      ttlMs: opts.ttlMs ?? 300_000,
      ttlJitter: opts.ttlJitter ?? 0.1,
      leaseMs: opts.leaseMs ?? 3000,
      viewLeaseMs: opts.viewLeaseMs ?? 2000,
      xfetchBeta: opts.xfetchBeta ?? 1,
      commandTimeoutMs: opts.commandTimeoutMs ?? 1000,
      near: { enabled: n.enabled ?? true, ttlMs: n.ttlMs ?? 100, maxEntries: n.maxEntries ?? 1000 },
    };
    this.hot = new HotKeyDetector({ minShare: n.hotShare ?? 0.01, minCount: n.hotMinCount ?? 32, topK: 20 });
  }

  /** Reads the topology (the CacheCluster publishes it), connects to its nodes and starts watching. */
  static async connect(options: CacheClientOptions): Promise<CacheClient> {
    for (const [k, v] of Object.entries({
      ttlMs: options.ttlMs,
      leaseMs: options.leaseMs,
      viewLeaseMs: options.viewLeaseMs,
      commandTimeoutMs: options.commandTimeoutMs,
    }))
      if (v !== undefined && !(Number.isInteger(v) && v >= 1))
        throw new Error(`CacheClient option ${k} must be a whole number of ms ≥ 1; got ${String(v)}`);
    if (!/^[a-z0-9][-a-z0-9]*$/.test(options.cluster))
      throw new Error(`CacheClient option cluster must be a lowercase name; got ${JSON.stringify(options.cluster)}`);
    const log = (
      options.logger ?? pino({ name: "cache-client", level: process.env.SCALEPLANE_LOG_LEVEL ?? "info" })
    ).child({
      cluster: options.cluster,
    });
    if (options.nodes)
      await initTopology(
        options.config,
        options.cluster,
        initialTopology(options.nodes, { replicas: options.replicas ?? 1 }),
      );
    const view = await TopologyView.open(options.config, options.cluster, options.viewLeaseMs ?? 2000, log);
    const c = new CacheClient(options, view, log);
    c.connectNodes(view.router);
    view.onChange((r) => c.connectNodes(r));
    await Promise.all([...c.nodes.values()].map((n) => c.ready(n.redis, 5000)));
    c.hotTimer = setInterval(() => void c.reportHotKeys().catch(() => undefined), 5000);
    c.hotTimer.unref();
    return c;
  }

  private ready(r: Redis, ms: number): Promise<void> {
    if (r.status === "ready") return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      r.once("ready", () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private redisOptions() {
    const pw = this.opts.password;
    return {
      password: typeof pw === "function" ? pw() : pw,
      ...(this.opts.tls ? { tls: {} } : {}),
      connectTimeout: 1000,
      commandTimeout: this.s.commandTimeoutMs,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (times: number) => Math.min(50 * times, 500),
      lazyConnect: false,
    };
  }

  /** Opens connections to every node the topology names (and closes those it no longer names). */
  private connectNodes(router: CacheRouter): void {
    if (this.closed) return;
    for (const n of router.nodes.values()) {
      const at = this.opts.reach?.[n.name] ?? { host: n.host, port: n.port };
      const have = this.nodes.get(n.name);
      if (have && have.host === at.host && have.port === at.port) continue;
      if (have) this.dropNode(have.name);
      const redis = new Redis(at.port, at.host, this.redisOptions());
      redis.on("error", (e: Error) => this.log.debug({ node: n.name, err: e.message }, "cache node connection error"));
      this.nodes.set(n.name, new Node(n.name, at.host, at.port, redis));
      if (this.s.near.enabled) {
        const sub = new Redis(at.port, at.host, {
          ...this.redisOptions(),
          enableOfflineQueue: true,
          commandTimeout: undefined,
        });
        sub.on("error", () => undefined);
        void sub.subscribe(INVALIDATION_CHANNEL).catch(() => undefined);
        sub.on("message", (_channel: string, key: string) => this.near.delete(key));
        this.subscribers.set(n.name, sub);
      }
    }
    for (const name of [...this.nodes.keys()]) if (!router.nodes.has(name)) this.dropNode(name);
  }

  private dropNode(name: string): void {
    this.nodes.get(name)?.redis.disconnect();
    this.nodes.delete(name);
    this.subscribers.get(name)?.disconnect();
    this.subscribers.delete(name);
  }

  private failed(node: Node, e: unknown): void {
    this.stats.nodeErrors++;
    // a timeout may be this process being busy; a refused or lost connection is the node
    if (!/timed out/i.test((e as Error).message)) node.downUntil = performance.now() + DOWN_MS;
    this.log.debug({ node: node.name, err: (e as Error).message }, "cache node failed");
  }

  private nextToken(): string {
    return `${this.tokenPrefix}:${(this.tokens++).toString(36)}`;
  }

  // ---- reads ----------------------------------------------------------------------------------

  /**
   * The cached value of `key`, or `loader()`'s (which is then cached). `loader` returns
   * undefined for "no such key" (cached as absent too). A loader that throws makes `get` throw;
   * the cache itself never does: a node that fails is replaced by a replica, the old owner or
   * the loader.
   */
  async get<T>(key: string, loader: () => Promise<T | undefined>): Promise<T | undefined> {
    if (this.closed) throw new Error("CacheClient is closed");
    if (typeof key !== "string" || key.length === 0 || key.length > 4096)
      throw new Error(`CacheClient.get: key must be a non-empty string of at most 4096 characters`);
    this.stats.gets++;
    const hot = this.s.near.enabled && this.hot.record(key);
    if (this.s.near.enabled) {
      const e = this.near.get(key);
      if (e && performance.now() < e.until) {
        this.stats.nearHits++;
        return e.value as T | undefined;
      }
      if (e) this.near.delete(key);
    }
    // No in-process coalescing of reads: a read joining one that began before a write elsewhere
    // was acknowledged could return what that one loaded. Waiters poll the node instead (the
    // lease still admits one loader).
    return this.read(key, loader, hot);
  }

  private async bypass<T>(
    loader: () => Promise<T | undefined>,
    why: "Stale" | "Down" | "Wait",
  ): Promise<T | undefined> {
    this.stats.bypassed++;
    this.stats[`bypassed${why}`]++;
    this.stats.loads++;
    return loader();
  }

  private async read<T>(key: string, loader: () => Promise<T | undefined>, hot: boolean): Promise<T | undefined> {
    const deadline = performance.now() + this.s.leaseMs * WAIT_LEASES;
    let waits = 0;
    for (let attempt = 0; ; attempt++) {
      if (!this.view.fresh()) {
        // confirm the topology (bounded), else read the database directly
        await Promise.race([this.view.refresh().catch(() => undefined), sleep(REFRESH_WAIT_MS)]);
        if (!this.view.fresh()) return this.bypass(loader, "Stale");
      }
      const router = this.view.router;
      const route = router.route(key);
      const token = this.nextToken();
      const sentAt = performance.now();
      const got = await this.lookupAny(router, route.read[0], key, token, hot);
      if (!got) return this.bypass(loader, "Down");
      const { node, answer } = got;
      switch (answer.kind) {
        case "fenced": {
          if (attempt >= 3) return this.bypass(loader, "Down");
          await this.settleGeneration(router, node, answer.stored);
          continue;
        }
        case "hit": {
          this.stats.hits++;
          const { value, deltaMs } = decodePayload<T>(answer.payload);
          if (hot) this.remember(key, value, sentAt);
          if (xfetchShouldRefresh(answer.ttlMs, deltaMs, this.s.xfetchBeta, 1 - Math.random()))
            void this.refreshEarly(router, node, key, loader).catch((e: unknown) =>
              this.log.debug({ key, err: (e as Error).message }, "early refresh failed"),
            );
          return value;
        }
        case "wait": {
          if (waits++ === 0) this.stats.waited++;
          if (performance.now() > deadline) return this.bypass(loader, "Wait");
          // Waiters of this process share one poll of the node per key (a herd of polls would
          // slow the loader's own fill); a miss sends each waiter around the loop again.
          const payload = await this.pollShared(router, node, key, waits);
          if (payload !== undefined) {
            this.stats.hits++;
            return decodePayload<T>(payload).value;
          }
          continue;
        }
        case "lease": {
          this.stats.misses++;
          // The nodes this fill sets: the lease holder, plus the other replicas under leases of
          // their own taken BEFORE the database read (a lease taken after it could outlive a write).
          const fillNodes = route.fill[0] === node.name ? route.fill : [node.name];
          const leases: Array<{ node: Node; token: string }> = [{ node, token }];
          await Promise.all(
            fillNodes.slice(1).map(async (name) => {
              const n = this.nodes.get(name);
              if (!n || !n.up()) return;
              const t = this.nextToken();
              try {
                const r = await n.redis.spAcquire(GEN_KEY, leaseKey(key), router.generation(name), t, this.s.leaseMs);
                if (r === "G") leases.push({ node: n, token: t });
              } catch (e) {
                this.failed(n, e);
              }
            }),
          );
          let value: T | undefined;
          let deltaMs: number;
          const old = route.read[1] ? await this.peekAny(router, route.read[1], key) : undefined;
          if (old) {
            this.stats.askHits++;
            ({ value, deltaMs } = decodePayload<T>(old));
          } else {
            const t0 = performance.now();
            this.stats.loads++;
            try {
              value = await loader();
            } catch (e) {
              await Promise.all(leases.map((l) => l.node.redis.spRelease(leaseKey(key), l.token).catch(() => 0)));
              throw e;
            }
            deltaMs = performance.now() - t0;
          }
          await this.fill(router, key, value, deltaMs, leases);
          // (no near-cache copy: only a hit leaves the node a marker a writer waits for)
          return value;
        }
      }
    }
  }

  /**
   * The value of `key` on `node` from one peek shared by every waiter of this process that joined
   * before the peek was sent (only those: a read that began after the peek was sent could be
   * handed a value deleted by a write acknowledged in between). Undefined on a miss or failure.
   */
  private pollShared(router: CacheRouter, node: Node, key: string, waits: number): Promise<string | undefined> {
    const id = `${node.name}\u0000${key}`;
    const open = this.polls.get(id);
    if (open) return open;
    const poll = (async () => {
      await sleep(Math.min(100, 5 + waits * 10) * (0.5 + Math.random()));
      this.polls.delete(id); // closed to joiners from here on
      try {
        const r = await node.redis.spPeek(GEN_KEY, valueKey(key), String(router.generation(node.name)));
        return r[0] === "H" ? String(r[1]) : undefined;
      } catch (e) {
        this.failed(node, e);
        return undefined;
      }
    })();
    this.polls.set(id, poll);
    return poll;
  }

  /** A lookup on the first node of `names` that answers. */
  private async lookupAny(
    router: CacheRouter,
    names: readonly string[],
    key: string,
    token: string,
    hot: boolean,
  ): Promise<{ node: Node; answer: Lookup } | undefined> {
    for (const name of names) {
      const node = this.nodes.get(name);
      if (!node || !node.up()) continue;
      try {
        const r = await node.redis.spLookup(
          GEN_KEY,
          valueKey(key),
          leaseKey(key),
          nearKey(key),
          STATS_KEY,
          router.generation(name),
          token,
          this.s.leaseMs,
          hot ? this.s.near.ttlMs : 0,
        );
        switch (r[0]) {
          case "H":
            return { node, answer: { kind: "hit", payload: String(r[1]), ttlMs: Number(r[2]) } };
          case "L":
            return { node, answer: { kind: "lease", token } };
          case "W":
            return { node, answer: { kind: "wait" } };
          default:
            return { node, answer: { kind: "fenced", stored: r[1] === "" ? undefined : Number(r[1]) } };
        }
      } catch (e) {
        this.failed(node, e);
      }
    }
    return undefined;
  }

  /** The old owner's copy during a resize (the ASK read-through), if any node of `names` has one. */
  private async peekAny(router: CacheRouter, names: readonly string[], key: string): Promise<string | undefined> {
    for (const name of names) {
      const node = this.nodes.get(name);
      if (!node || !node.up()) continue;
      try {
        const r = await node.redis.spPeek(GEN_KEY, valueKey(key), String(router.generation(name)));
        return r[0] === "H" ? String(r[1]) : undefined;
      } catch (e) {
        this.failed(node, e);
      }
    }
    return undefined;
  }

  private async fill(
    router: CacheRouter,
    key: string,
    value: unknown,
    deltaMs: number,
    leases: Array<{ node: Node; token: string }>,
  ): Promise<void> {
    // Fill only while the view that routed this read is still the current, fresh one: then the
    // leases were taken less than a view lease after a confirmation of this topology, so no
    // writer can have skipped these nodes (see core/cache/topology.ts).
    if (!this.view.fresh()) await Promise.race([this.view.refresh().catch(() => undefined), sleep(REFRESH_WAIT_MS)]);
    if (!this.view.fresh() || this.view.router.routing !== router.routing) {
      this.stats.fillsRefused += leases.length;
      await Promise.all(leases.map((l) => l.node.redis.spRelease(leaseKey(key), l.token).catch(() => 0)));
      return;
    }
    const ttl = jitteredTtl(this.s.ttlMs, this.s.ttlJitter, Math.random());
    const payload = encodePayload(value, deltaMs);
    await Promise.all(
      leases.map(async ({ node, token }) => {
        try {
          const r = await node.redis.spFill(
            GEN_KEY,
            valueKey(key),
            leaseKey(key),
            router.generation(node.name),
            token,
            payload,
            ttl,
          );
          if (r !== "S") this.stats.fillsRefused++;
        } catch (e) {
          this.failed(node, e);
        }
      }),
    );
  }

  /** XFetch: reload a present value before it expires, under a lease (refused if a write intervenes). */
  private async refreshEarly<T>(
    router: CacheRouter,
    node: Node,
    key: string,
    loader: () => Promise<T | undefined>,
  ): Promise<void> {
    if (router.route(key).fill[0] !== node.name) return;
    const token = this.nextToken();
    const r = await node.redis.spAcquire(GEN_KEY, leaseKey(key), router.generation(node.name), token, this.s.leaseMs);
    if (r !== "G") return;
    this.stats.earlyRefreshes++;
    this.stats.loads++;
    const t0 = performance.now();
    let value: T | undefined;
    try {
      value = await loader();
    } catch (e) {
      await node.redis.spRelease(leaseKey(key), token).catch(() => 0);
      throw e;
    }
    await this.fill(router, key, value, performance.now() - t0, [{ node, token }]);
  }

  private remember(key: string, value: unknown, sentAt: number): void {
    if (this.near.size >= this.s.near.maxEntries) this.near.delete(this.near.keys().next().value!);
    // The node's marker lives nearTtl from when it ran the lookup, which is after sentAt.
    this.near.set(key, { value, until: sentAt + this.s.near.ttlMs });
  }

  /**
   * A node answered with another generation than the view's. Older or none: admit it (flush,
   * set the view's generation). Newer: this view is behind; read etcd again.
   */
  private async settleGeneration(router: CacheRouter, node: Node, stored: number | undefined): Promise<void> {
    const want = router.generation(node.name);
    if (stored !== undefined && stored > want) {
      await this.view.refresh().catch(() => undefined);
      return;
    }
    try {
      const r = await node.redis.spAdmit(GEN_KEY, FLOOR_KEY, String(want), this.s.near.ttlMs);
      if (r === "A") {
        this.stats.admitted++;
        this.log.info({ node: node.name, generation: want, was: stored }, "cache node admitted (flushed)");
      }
    } catch (e) {
      this.failed(node, e);
    }
  }

  // ---- invalidation ---------------------------------------------------------------------------

  /**
   * Invalidates `keys` after a write to their source of truth was acknowledged; resolves once no
   * reader that starts later can be served an older value from any node or near cache.
   * @throws when a node holding a key could not be reached AND etcd could not be updated to fence
   *   it (then the cache may still serve the old value: the caller must treat the write as not
   *   fully acknowledged)
   */
  async invalidate(keys: string | readonly string[]): Promise<void> {
    const list = typeof keys === "string" ? [keys] : [...keys];
    if (list.length === 0) return;
    for (const k of list) this.near.delete(k);
    this.stats.invalidations += list.length;
    let waitMs = 0;
    for (let round = 0; ; round++) {
      const router = this.view.fresh() ? this.view.router : await this.view.refresh();
      waitMs = Math.max(waitMs, await this.invalidateOnce(router, list));
      // Every delete ran while this topology was current and trusted: done. Otherwise a resize
      // step may have passed meanwhile; go again with the newer topology (deleting twice is harmless).
      if (this.view.fresh() && this.view.router.routing === router.routing) break;
      if (round >= 5)
        throw new Error(`CacheClient.invalidate: the cache topology kept changing during ${round + 1} rounds`);
    }
    if (waitMs > 0) await sleep(waitMs + 1);
  }

  /** One round of deletes on every node that may hold `keys`; resolves with the wait they call for. */
  private async invalidateOnce(router: CacheRouter, keys: readonly string[]): Promise<number> {
    const failedAt = performance.now();
    let waitMs = 0;
    const unreachable = new Set<string>();
    await Promise.all(
      keys.flatMap((key) =>
        router.route(key).invalidate.map(async (name) => {
          const node = this.nodes.get(name);
          try {
            if (!node) throw new Error(`cache node ${name} is not connected`);
            const [stored, nearMs] = await node.redis.spInvalidate(
              GEN_KEY,
              valueKey(key),
              leaseKey(key),
              nearKey(key),
              FLOOR_KEY,
              key,
            );
            // a node without a generation lost its state, near-cache markers included
            waitMs = Math.max(waitMs, stored === "" ? this.s.near.ttlMs : Number(nearMs));
          } catch (e) {
            if (node) this.failed(node, e);
            unreachable.add(name);
          }
        }),
      ),
    );
    if (unreachable.size > 0) {
      await Promise.all([...unreachable].map((name) => this.fence(name, failedAt)));
      waitMs = Math.max(waitMs, fenceWaitMs({ viewLeaseMs: this.s.viewLeaseMs, nearTtlMs: this.s.near.ttlMs }));
    }
    return waitMs;
  }

  /** Bumps `name`'s generation (joining a bump of this process that started after `since`). */
  private fence(name: string, since: number): Promise<void> {
    const running = this.fencing.get(name);
    if (running && running.startedAt >= since) return running.done;
    const startedAt = performance.now();
    const done = updateTopology(this.opts.config, this.opts.cluster, (t) =>
      t.generations[name] === undefined ? undefined : bumpGeneration(t, name),
    ).then(() => {
      this.stats.fenced++;
      this.log.warn({ node: name }, "cache node fenced: unreachable during an invalidation");
    });
    this.fencing.set(name, { startedAt, done });
    void done
      .catch(() => undefined)
      .finally(() => {
        if (this.fencing.get(name)?.done === done) this.fencing.delete(name);
      });
    return done;
  }

  // ---- reporting ------------------------------------------------------------------------------

  /** The hottest keys this client sees. */
  hotKeys(): HotKey[] {
    return this.hot.hottest();
  }

  /** Reports this client's hot keys to their owner nodes (what `npm run status` lists per node). */
  async reportHotKeys(): Promise<void> {
    if (!this.view.fresh()) return;
    const router = this.view.router;
    const byNode = new Map<string, (string | number)[]>();
    for (const h of this.hot.hottest().slice(0, 10)) {
      const owner = router.owners(h.key)[0];
      const list = byNode.get(owner) ?? [];
      byNode.set(owner, [...list, h.key, h.count]);
    }
    await Promise.all(
      [...byNode].map(([name, pairs]) =>
        this.nodes
          .get(name)
          ?.redis.spReportHot(HOT_KEY, 10, ...pairs)
          .catch(() => 0),
      ),
    );
  }

  /** The router this client follows (for tools and tests). */
  get router(): CacheRouter {
    return this.view.router;
  }

  /** Whether the topology view is within its lease. */
  get fresh(): boolean {
    return this.view.fresh();
  }

  /** Stops watching and closes every connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.hotTimer);
    await this.view.close();
    for (const name of [...this.nodes.keys()]) this.dropNode(name);
  }
}
