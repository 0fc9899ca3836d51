/**
 * ManagedInstanceGroup: a Pulumi dynamic provider (`pulumi-nodejs:dynamic/autoscaling:ManagedInstanceGroup`)
 * that hands a Docker AutoscalingGroup — its launch spec and its scaling policy — to its scaling
 * controllers and makes `up` wait for the group to be in range (the Docker counterpart of an Auto
 * Scaling group or a managed instance group; "scaling policy" means only the engine's rules,
 * core/scaling/policy.ts). Renamed from ScalingPolicy: an alias keeps existing stacks' resources.
 *
 * - check: the policy through core/scaling/policy.ts (min > max, unknown metric, negative
 *   cooldown... refused naming the field, e.g. `policy.minSize`), the launch spec through
 *   core/scaling/reconcile.ts, and maxSize against the load balancer's slot count.
 * - diff: changed input keys; a new group name or config service replaces, the rest updates.
 * - create/update: stores the launch spec and the policy (with a new generation) in etcd, then
 *   asks for one reconcile pass and waits until it has run: a leading controller serves the
 *   request; when no controller leads (first deployment, controllers down) this provider wins the
 *   same election and runs the same pass itself (runtime/scaler/group.ts), fenced by that
 *   leadership. It returns once the group is inside [minSize, maxSize] with every instance
 *   healthy behind the load balancer.
 * - delete: asks for the group to be emptied (every instance deregistered, drained, removed),
 *   waits, then deletes the group's keys.
 *
 * Serialization: the operations (./operations.ts) use zod schemas, which Pulumi's closure
 * serializer cannot capture; they are bundled by esbuild into one CommonJS text when the first
 * resource is constructed, and that text travels inside the serialized provider
 * (providers/bundled-operations.ts, the pattern of the ShardRebalance provider).
 *
 * Secrets: `secretEnv` (the instances' secret environment) is a secret input; etcd gets only its
 * names (file paths, core/secret-files.ts), the controllers copy the values from their own secret
 * files into each instance, and this provider keeps them in memory for a pass it runs itself.
 * Outputs carry no secret.
 */
import * as pulumi from "@pulumi/pulumi";
import type { LaunchSpecInput } from "../../core/scaling/reconcile";
import type { ScalingPolicyInput } from "../../core/scaling/policy";
import { bundleOperations, loadOperations } from "../bundled-operations";
import type * as ops from "./operations";

export type { InstanceGroupInputs, InstanceGroupOutputs } from "./operations";

/** Inputs of {@link ManagedInstanceGroup}. */
export interface ManagedInstanceGroupArgs {
  /** The group (container names, etcd keys `autoscaling/<group>/...`). */
  group: pulumi.Input<string>;
  /** etcd client URLs reachable from where Pulumi runs (the config service's published 127.0.0.1 endpoints). */
  configEndpoints: pulumi.Input<pulumi.Input<string>[]>;
  /** Key prefix of the config service. @default "/scaleplane/" */
  configPrefix?: pulumi.Input<string>;
  /** How instances are created (image, env, limits, networks, the LB container, drain timing). */
  launchSpec: pulumi.Input<Omit<LaunchSpecInput, "secretEnv" | "group">>;
  /** Secret environment of every instance (pass as a pulumi.secret). @default {} */
  secretEnv?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** The scaling policy (core/scaling/policy.ts). */
  policy: pulumi.Input<ScalingPolicyInput>;
  /** Slots of the group's load balancer (core/app/haproxy.ts lbSlots): maxSize may not exceed it. */
  lbSlots: pulumi.Input<number>;
  /** Seconds create/update/delete may wait for the group. @default 300 */
  readyTimeoutSeconds?: pulumi.Input<number>;
}

/** The operations bundled as CommonJS text (set when the first resource is constructed). */
let operationsBundle: string | undefined;

const op = () => loadOperations<typeof ops>("ManagedInstanceGroup", operationsBundle).operations;

/** The provider: every method runs the bundled operation. */
export const instanceGroupProvider: pulumi.dynamic.ResourceProvider = {
  check: (olds, news) => op().check(olds, news),
  diff: (id, olds, news) => op().diff(id, olds, news),
  create: (inputs) => op().create(inputs),
  update: (id, olds, news) => op().update(id, olds, news),
  delete: (id, props) => op().delete(id, props),
};

/** The type token this resource had before it was renamed (its alias). */
export const OLD_INSTANCE_GROUP_TYPE = "pulumi-nodejs:dynamic/autoscaling:ScalingPolicy";

/**
 * A Docker AutoscalingGroup's instances as its leader-elected controllers manage them: the launch
 * spec and the scaling policy they follow. Type token
 * `pulumi-nodejs:dynamic/autoscaling:ManagedInstanceGroup` (aliased from its old name).
 */
export class ManagedInstanceGroup extends pulumi.dynamic.Resource {
  declare readonly group: pulumi.Output<string>;
  declare readonly generation: pulumi.Output<number>;
  declare readonly instances: pulumi.Output<string[]>;
  declare readonly reconciledBy: pulumi.Output<string>;

  constructor(name: string, args: ManagedInstanceGroupArgs, opts?: pulumi.CustomResourceOptions) {
    operationsBundle ??= bundleOperations(require.resolve("./operations"));
    super(
      instanceGroupProvider,
      name,
      { secretEnv: {}, ...args, generation: undefined, instances: undefined, reconciledBy: undefined },
      {
        ...opts,
        additionalSecretOutputs: ["secretEnv"],
        aliases: [...(opts?.aliases ?? []), { type: OLD_INSTANCE_GROUP_TYPE }],
      },
      "autoscaling",
      "ManagedInstanceGroup",
    );
  }
}
