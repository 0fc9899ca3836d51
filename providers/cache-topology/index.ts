/**
 * CacheTopology: a Pulumi dynamic provider (`pulumi-nodejs:dynamic/cache:CacheTopology`) that keeps
 * a cache cluster's topology in etcd (`cache/<cluster>/topology`, core/cache/topology.ts) at the
 * program's nodes, so `pulumi up` resizes a running cluster the way `resizeCache` does: phase
 * `prepare` → `migrating` (the new owners read through the old ones) → `finishing` → done, each
 * step one view lease after the previous (runtime/cache-client/resize.ts).
 *
 * Ordering (the CacheCluster wires it): the resource depends on every node's container, so a new
 * node exists (and is healthy) before any client routes to it; a node taken out of the program is
 * deleted by the engine only at the end of the deployment, after this resource's update has
 * finished the resize and waited out the last view lease, so no client still routes to it.
 *
 * - check: validates the inputs (failures name the property: a duplicate node name, replicas
 *   above the node count, a bad endpoint) before anything changes.
 * - diff: the changed inputs; a resize a refresh found in flight is a change (the update finishes
 *   it); another `cluster` or `etcdPrefix` names another topology: a replacement.
 * - create: publishes the topology; over an existing one (a create cut by a crash, or a cluster
 *   deployed again after its resource was deleted), resizes it to these nodes and fences every
 *   node, since invalidations may have stopped meanwhile.
 * - update: the phased resize (to other nodes, weights, zones, addresses or replica count); a run
 *   cut at any point is finished by the next (every step is read back from etcd; one cut after its
 *   last step finds nothing to write but still waits out that step's view lease). It waits with
 *   the larger of the old and new view lease: running clients keep the old one until redeployed.
 * - read: etcd's node list, replica count, epoch, generations and a resize in flight.
 * - delete: fences every node (nothing they hold is served again) and keeps the key, so epochs
 *   and generations only grow.
 *
 * Secrets: none; the provider touches only etcd (the Redis nodes are never contacted), and its
 * state holds endpoints, node addresses and timings.
 */
import { bundleOperations, loadOperations } from "../bundled-operations";
import * as pulumi from "@pulumi/pulumi";
import type { CacheNodeInput } from "../../core/cache/topology";
import type * as ops from "./operations";

export type { CacheTopologyInputs, CacheTopologyOutputs, CacheTopologyRun } from "./operations";

/** Inputs of {@link CacheTopology}. */
export interface CacheTopologyArgs {
  /** Client URLs of the config service as this process reaches them (`http(s)://host:port`). */
  etcdEndpoints: pulumi.Input<pulumi.Input<string>[]>;
  /** Key prefix of the config service. @default "/scaleplane/" */
  etcdPrefix?: pulumi.Input<string>;
  /** The cache cluster's name (its topology key `cache/<cluster>/topology`). */
  cluster: pulumi.Input<string>;
  /** The nodes as clients reach them (name, host, port, weight, zone). */
  nodes: pulumi.Input<pulumi.Input<CacheNodeInput>[]>;
  /** Copies of each key on distinct nodes. @default 1 */
  replicas?: pulumi.Input<number>;
  /** The clients' view lease, ms (`cache.viewLeaseMs`): the wait between two steps. @default 2000 */
  viewLeaseMs?: pulumi.Input<number>;
  /** The clients' near-cache TTL, ms (`cache.nearCache.ttlMs`). @default 100 */
  nearTtlMs?: pulumi.Input<number>;
  /** How long the new owners read through the old ones (phase `migrating`), ms. @default 5000 */
  warmMs?: pulumi.Input<number>;
}

/** The operations bundled as CommonJS text (set when the first resource is constructed). */
let operationsBundle: string | undefined;

const operations = (): typeof ops => loadOperations<typeof ops>("CacheTopology", operationsBundle);

/** The provider: every method runs the bundled operation. */
export const cacheTopologyProvider: pulumi.dynamic.ResourceProvider = {
  check: (olds, news) => operations().check(olds, news),
  diff: (_id, olds, news) => operations().diff(olds, news),
  create: async (inputs) => {
    const outs = await operations().create(inputs);
    return { id: `${outs.etcdPrefix}cache/${outs.cluster}/topology`, outs };
  },
  update: async (_id, olds, news) => ({ outs: await operations().update(olds, news) }),
  read: (id, props) => operations().read(id, props),
  delete: (_id, props) => operations().remove(props),
};

/**
 * Keeps a cache cluster's topology in etcd at the program's nodes, resizing online when they
 * change. Type token: `pulumi-nodejs:dynamic/cache:CacheTopology`.
 */
export class CacheTopology extends pulumi.dynamic.Resource {
  /** Epoch of the stored topology after the last create/update. */
  declare readonly epoch: pulumi.Output<number>;
  /** Each node's generation. */
  declare readonly generations: pulumi.Output<Record<string, number>>;
  /** Phase of a resize a refresh found in flight ("" when none). */
  declare readonly migrationPhase: pulumi.Output<string>;
  /** What the last create/update did. */
  declare readonly lastRun: pulumi.Output<ops.CacheTopologyRun>;

  constructor(name: string, args: CacheTopologyArgs, opts?: pulumi.CustomResourceOptions) {
    operationsBundle ??= bundleOperations(require.resolve("./operations"));
    super(
      cacheTopologyProvider,
      name,
      { ...args, epoch: undefined, generations: undefined, migrationPhase: undefined, lastRun: undefined },
      opts,
      "cache",
      "CacheTopology",
    );
  }
}
