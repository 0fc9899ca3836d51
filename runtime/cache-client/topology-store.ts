/**
 * The cache topology in etcd: one key per cache cluster, changed only by compare-and-swap on its
 * modification revision (so a resize step and a generation bump never overwrite each other), and
 * a client's view of it that is trusted only for a bounded time after a read confirmed it (the
 * view lease of core/cache/topology.ts).
 */
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import { CacheRouter, CacheTopologySchema, type CacheTopology } from "../../core/cache/topology";
import { configKey, revision, type ConfigClient } from "../config-client";

/** The etcd key of a cache cluster's topology (below the config client's prefix). */
export const cacheTopologyKey = (cluster: string) => configKey(`cache/${cluster}/topology`, CacheTopologySchema);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Reads the topology with its modification revision and the read's own header revision. */
export async function readTopology(
  config: ConfigClient,
  cluster: string,
): Promise<{ topology: CacheTopology; modRevision: number; readRevision: number } | undefined> {
  const key = cacheTopologyKey(cluster);
  const full = config.fullKey(key.name);
  const res = await config.call(`get ${full}`, () => config.etcd.get(full).options(config.callOptions()).exec());
  const kv = res.kvs[0];
  if (!kv) return undefined;
  return {
    topology: config.decode(key, kv.value),
    modRevision: revision(kv.mod_revision),
    readRevision: revision(res.header.revision),
  };
}

/** Stores `topology` only when the cluster has none yet; resolves with the stored one either way. */
export async function initTopology(
  config: ConfigClient,
  cluster: string,
  topology: CacheTopology,
): Promise<CacheTopology> {
  const key = cacheTopologyKey(cluster);
  const full = config.fullKey(key.name);
  const body = config.encode(key, topology);
  const res = await config.call(`init ${full}`, () =>
    config.etcd
      .if(full, "Create", "==", 0)
      .then(config.etcd.put(full).value(body))
      .else(config.etcd.get(full))
      .options(config.callOptions())
      .commit(),
  );
  if (res.succeeded) return CacheTopologySchema.parse(topology);
  const kv = res.responses[0]?.response_range?.kvs[0];
  if (!kv) throw new Error(`init ${full}: transaction failed but returned no current value`);
  return config.decode(key, kv.value);
}

/**
 * Read-modify-write by compare-and-swap: `change` gets the stored topology and returns the next
 * one (or undefined for no change); retried on a concurrent change, up to `attempts` times.
 */
export async function updateTopology(
  config: ConfigClient,
  cluster: string,
  change: (t: CacheTopology) => CacheTopology | undefined,
  attempts = 20,
): Promise<CacheTopology> {
  const key = cacheTopologyKey(cluster);
  const full = config.fullKey(key.name);
  for (let i = 0; ; i++) {
    const cur = await readTopology(config, cluster);
    if (!cur) throw new Error(`no cache topology at ${full}: the CacheCluster publishes it on deploy`);
    const next = change(cur.topology);
    if (!next) return cur.topology;
    const body = config.encode(key, next);
    const res = await config.call(`update ${full}`, () =>
      config.etcd
        .if(full, "Mod", "==", cur.modRevision)
        .then(config.etcd.put(full).value(body))
        .options(config.callOptions())
        .commit(),
    );
    if (res.succeeded) return next;
    if (i + 1 >= attempts) throw new Error(`update ${full}: ${attempts} concurrent changes in a row; giving up`);
    await sleep(5 + Math.random() * 20 * (i + 1));
  }
}

/**
 * A client's view of the topology: installed from reads and the watch, trusted ({@link fresh})
 * only until `viewLeaseMs` after the send time of the last read that confirmed it. Background
 * reads, one sent every quarter of the lease, keep it fresh while etcd answers.
 */
export class TopologyView {
  private current!: CacheRouter;
  private confirmedAt = -Infinity;
  private timer?: NodeJS.Timeout;
  private inFlight = 0;
  private watch?: { close(): Promise<void> };
  private refreshing?: Promise<CacheRouter>;
  private readonly listeners = new Set<(r: CacheRouter) => void>();

  private constructor(
    private readonly config: ConfigClient,
    readonly cluster: string,
    readonly viewLeaseMs: number,
    private readonly log: Logger,
  ) {}

  /** Reads the topology (it must exist), starts the watch and the background confirmation. */
  static async open(config: ConfigClient, cluster: string, viewLeaseMs: number, log: Logger): Promise<TopologyView> {
    const v = new TopologyView(config, cluster, viewLeaseMs, log);
    await v.refresh();
    v.watch = await config.watch(cacheTopologyKey(cluster), (t) => {
      if (t && t.epoch > v.current.topology.epoch) v.install(t);
    });
    // Confirmations overlap: one is sent every quarter lease whether or not the previous one has
    // answered, so a slow etcd shortens the fresh time by its latency, not by a whole period.
    v.timer = setInterval(
      () => {
        if (v.inFlight >= 4) return;
        v.inFlight++;
        void v
          .confirm()
          .catch((e: unknown) => v.log.debug({ err: e }, "could not confirm the cache topology"))
          .finally(() => v.inFlight--);
      },
      Math.max(20, Math.floor(viewLeaseMs / 4)),
    );
    v.timer.unref();
    return v;
  }

  /** The router of the newest topology seen (fresh or not). */
  get router(): CacheRouter {
    return this.current;
  }

  /** Whether the view is within its lease (a client may use the cache only then). */
  fresh(): boolean {
    return performance.now() < this.confirmedAt + this.viewLeaseMs;
  }

  /** Calls `fn` with every newly installed topology. */
  onChange(fn: (r: CacheRouter) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private install(t: CacheTopology): void {
    if (this.current && t.epoch <= this.current.topology.epoch) return;
    this.current = new CacheRouter(t);
    this.log.info({ epoch: t.epoch, nodes: t.nodes.length, phase: t.migration?.phase }, "cache topology installed");
    for (const fn of this.listeners) fn(this.current);
  }

  /** Reads etcd now (joined with a read already in flight); extends the lease from its send time. */
  refresh(): Promise<CacheRouter> {
    if (this.refreshing) return this.refreshing;
    const run = this.confirm().finally(() => {
      this.refreshing = undefined;
    });
    this.refreshing = run;
    return run;
  }

  /** One read of etcd: installs what it finds and extends the lease from the read's send time. */
  private async confirm(): Promise<CacheRouter> {
    const sentAt = performance.now();
    const r = await readTopology(this.config, this.cluster);
    if (!r)
      throw new Error(
        `no cache topology at ${this.config.fullKey(cacheTopologyKey(this.cluster).name)}: the CacheCluster publishes it on deploy`,
      );
    this.install(r.topology);
    this.confirmedAt = Math.max(this.confirmedAt, sentAt);
    return this.current;
  }

  /** Stops the watch and the background reads. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.watch?.close().catch(() => undefined);
  }
}
