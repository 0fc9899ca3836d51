/**
 * ShardRebalance: a Pulumi dynamic provider (`pulumi-nodejs:dynamic/database:ShardRebalance`)
 * that keeps the sharded database's stored shard map at the program's shards and weights: a
 * `pulumi up` that changes them moves the data online (runtime/rebalance: fenced lease,
 * dual-write, throttled COPY batches, verification, cutover by epoch CAS, cleanup; resumable).
 *
 * - check: validates the inputs (failures name the property) and refuses, before anything moves,
 *   a change core/sharding/rebalance refuses (a range below its replication factor, a shard name reused
 *   for another node) and any target whose shards `pulumi up` cannot reach (aws: RDS in private
 *   subnets; kubernetes: in-cluster StatefulSets): there the copy must run inside that network,
 *   which this provider cannot do yet, so it says so instead of timing out.
 * - diff: the changed inputs; never a replacement (a replacement would rebalance twice).
 * - create: publishes the first shard map (epoch 0), or moves the data to these shards.
 * - update: moves the data to the new shards/weights, first finishing a migration a killed run left;
 *   the old inputs' `reach` says where the leaving shards are (Pulumi deletes them after the update).
 * - read: the stored map's epoch and any migration in flight.
 * - delete: the rows and the stored shard map belong to the database, not to this resource:
 *   deleting it moves nothing and deletes nothing.
 *
 * Secrets: `password` is a secret input (the engine keeps it encrypted); it is used only to
 * connect to the shards and never returned, so the state holds no secret.
 *
 * Serialization: the engine uses zod schemas (config client, shard map), whose bound methods
 * Pulumi's closure serializer cannot capture. So the operations (./operations.ts and everything
 * it imports from this repository) are bundled with esbuild into one CommonJS text when the
 * first resource is constructed; that text travels inside the serialized provider, and npm
 * packages stay `require`d by name (they resolve in the provider host from the project's
 * node_modules, as for every dynamic provider).
 */
import { bundleOperations, loadOperations } from "../bundled-operations";
import * as pulumi from "@pulumi/pulumi";
import type * as ops from "./operations";
import type { PlacementStrategy } from "../../core/sharding/placement";

export type { ShardRebalanceInputs, ShardRebalanceOutputs, ShardRebalanceRun } from "./operations";

/** The desired shard map as the provider takes it (a ShardMap's epoch and migration, if present, are ignored). */
export interface ShardRebalanceShardMap {
  vnodesPerWeight: number;
  replicationFactor: number;
  consistency: "one" | "quorum" | "all";
  /** Maximum clock offset between routers and shards, in ms. @default 500 */
  maxClockOffsetMs?: number;
  shards: { name: string; weight: number; zone?: string; host: string; port: number; database: string }[];
  /** How keys are placed (absent: the hash ring); core/sharding/placement.ts PlacementStrategy. */
  strategy?: PlacementStrategy;
}

/** Inputs of {@link ShardRebalance}. */
export interface ShardRebalanceArgs {
  /** Deployment target; only `docker` can be rebalanced from where `pulumi up` runs. */
  target: pulumi.Input<"docker" | "aws" | "kubernetes">;
  /** Client URLs of the config service as this process reaches them (`http(s)://host:port`). */
  etcdEndpoints: pulumi.Input<pulumi.Input<string>[]>;
  /** Key prefix of the config service. @default "/scaleplane/" */
  etcdPrefix?: pulumi.Input<string>;
  /** The shard map to move to (the ShardedDatabase's `shardMap`: members as the apps reach them). */
  shardMap: pulumi.Input<ShardRebalanceShardMap>;
  /** How this process reaches shards whose map host/port it cannot: shard name → `host:port`. @default {} */
  reach?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Database user of the shards. */
  username: pulumi.Input<string>;
  /** Database password; held as a secret, never returned in outputs. */
  password: pulumi.Input<string>;
  /** (source, target) pairs copied at once. @default 2 */
  parallel?: pulumi.Input<number>;
  /** Copy throttle in rows per second; 0 = unthrottled. @default 0 */
  maxRowsPerSecond?: pulumi.Input<number>;
  /** Lease TTL in s (how long a crashed rebalance blocks the next). @default 10 */
  leaseTtlSeconds?: pulumi.Input<number>;
  /** How long to wait for a lease another rebalancer holds, in s. @default 60 */
  leaseWaitSeconds?: pulumi.Input<number>;
}

/** The operations bundled as CommonJS text (set when the first resource is constructed). */
let operationsBundle: string | undefined;

/** The operations, evaluated once per provider host process from the bundle (providers/bundled-operations.ts). */
const operations = (): typeof ops => loadOperations<typeof ops>("ShardRebalance", operationsBundle);

/** The provider: every method runs the bundled operation. */
export const shardRebalanceProvider: pulumi.dynamic.ResourceProvider = {
  check: (olds, news) => operations().check(olds, news),
  diff: (_id, olds, news) => operations().diff(olds, news),
  create: async (inputs) => {
    const outs = await operations().apply(inputs);
    return { id: `${outs.etcdPrefix}shard-map`, outs };
  },
  // The previous inputs say where the shards being removed are reached (their containers go after this update).
  update: async (_id, olds, news) => ({ outs: await operations().apply(news, olds) }),
  read: (id, props) => operations().read(id, props),
  // The rows and the shard map belong to the database: nothing to undo.
  delete: async () => undefined,
};

/**
 * Keeps the stored shard map at the program's shards and weights, moving data online when they
 * change. Type token: `pulumi-nodejs:dynamic/database:ShardRebalance`.
 */
export class ShardRebalance extends pulumi.dynamic.Resource {
  /** Epoch of the stored shard map after the last create/update. */
  declare readonly epoch: pulumi.Output<number>;
  /** Id of a migration a refresh found in flight ("" when none). */
  declare readonly migrationInFlight: pulumi.Output<string>;
  /** What the last create/update did (action, ranges, rows copied, pairs verified, rows deleted, duration). */
  declare readonly lastRun: pulumi.Output<ops.ShardRebalanceRun>;

  constructor(name: string, args: ShardRebalanceArgs, opts?: pulumi.CustomResourceOptions) {
    operationsBundle ??= bundleOperations(require.resolve("./operations"));
    super(
      shardRebalanceProvider,
      name,
      {
        ...args,
        password: pulumi.secret(args.password),
        epoch: undefined,
        migrationInFlight: undefined,
        lastRun: undefined,
      },
      // The provider never returns `password`; should an output ever carry it, it stays a secret.
      { ...opts, additionalSecretOutputs: ["password"] },
      "database",
      "ShardRebalance",
    );
  }
}
