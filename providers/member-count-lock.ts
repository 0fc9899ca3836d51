/**
 * EtcdMemberCountLock: a Pulumi dynamic provider (`pulumi-nodejs:dynamic/etcd:EtcdMemberCountLock`)
 * that freezes the member count (and cluster name) of an etcd cluster on targets without a safe
 * membership protocol (aws, kubernetes). The component makes the member resources depend on it,
 * so a refused check stops the update before any member changes.
 *
 * - check: core/etcd/member-count.ts decides; a changed `members` or `clusterName` fails, naming
 *   `configService.members`, the old and the new count and what to do instead. A lock without a
 *   record yet (its first `up`) compares with `deployedMembers`, the count the component found at
 *   deploy time (aws: the member instances; kubernetes: the members among the endpoints the stack's
 *   last update published): a cluster deployed before the lock existed cannot change its count in
 *   the `up` that creates its lock. The provider itself looks nothing up: it has no credentials.
 * - diff: changed recorded keys (`deployedMembers` is an observation, not a setting: it changes
 *   nothing); never replaces (a replacement would "create" past the check).
 * - create/update: store the recorded keys. No I/O, no secrets.
 *
 * Imports stay minimal (the provider is serialized into state): pulumi for the resource class,
 * and the dependency-free core module for the decision.
 */
import * as pulumi from "@pulumi/pulumi";
import { memberCountLockFailures, type MemberCountLockState } from "../core/etcd/member-count";

/** Inputs of {@link EtcdMemberCountLock}. */
export interface EtcdMemberCountLockArgs {
  /** etcd cluster name (initial cluster token) of the locked cluster. */
  clusterName: pulumi.Input<string>;
  /** Deployment target, named in the refusal (`aws`, `kubernetes`). */
  target: pulumi.Input<string>;
  /** Member count (configService.members); a change of an existing lock is refused. */
  members: pulumi.Input<number>;
  /**
   * Members deployed now, found at deploy time (0: none). Consulted only while the lock has no
   * record, so a cluster deployed before the lock cannot change its count in the lock's first `up`.
   * @default undefined (nothing known about the deployed members: a new lock accepts any valid count)
   */
  deployedMembers?: pulumi.Input<number>;
}

const KEYS = ["clusterName", "target", "members"] as const;

/** Only the lock's own keys (the engine may add others, such as `__provider`). */
const state = (p: Record<string, unknown>): MemberCountLockState => ({
  clusterName: p.clusterName as string,
  target: p.target as string,
  members: p.members as number,
});

/** The provider. Everything it uses is imported from the dependency-free core module. */
export const memberCountLockProvider: pulumi.dynamic.ResourceProvider = {
  async check(olds: Record<string, unknown>, news: Record<string, unknown>) {
    return { inputs: news, failures: memberCountLockFailures(olds ?? {}, news) };
  },

  async diff(_id: string, olds: MemberCountLockState, news: MemberCountLockState) {
    const changed = KEYS.filter((k) => olds[k] !== news[k]);
    // Never a replacement: replacing would create a fresh lock and let the change through.
    return { changes: changed.length > 0, replaces: [], deleteBeforeReplace: false };
  },

  async create(inputs: Record<string, unknown>) {
    const outs = state(inputs);
    return { id: `${outs.clusterName}-member-count`, outs };
  },

  async update(_id: string, _olds: MemberCountLockState, news: Record<string, unknown>) {
    return { outs: state(news) };
  },
};

/**
 * Refuses member-count changes of an existing etcd cluster on aws/kubernetes.
 * Type token: `pulumi-nodejs:dynamic/etcd:EtcdMemberCountLock`.
 */
export class EtcdMemberCountLock extends pulumi.dynamic.Resource {
  declare readonly clusterName: pulumi.Output<string>;
  declare readonly target: pulumi.Output<string>;
  declare readonly members: pulumi.Output<number>;

  constructor(name: string, args: EtcdMemberCountLockArgs, opts?: pulumi.CustomResourceOptions) {
    super(memberCountLockProvider, name, args, opts, "etcd", "EtcdMemberCountLock");
  }
}
