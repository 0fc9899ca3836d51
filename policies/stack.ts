/**
 * Stack policies: every scaleplane component has the parts it cannot work without. An
 * AutoscalingGroup without a scaling policy never scales; a RaftConfigService without members or
 * a ShardedDatabase without shard instances serves nothing.
 */
import type { PolicyResource } from "@pulumi/policy";
import { memberCount } from "./config-service";
import { T, componentSettings, replicationOf, stackPolicy, type Tree } from "./lib";

/** Resources that make an app group scale: AWS scaling policies, HPAs, scaleplane's ManagedInstanceGroup provider. */
export const SCALER_TYPES: readonly string[] = [T.awsScalingPolicy, T.k8sHpa, "aws:appautoscaling/policy:Policy"];
/** scaleplane's ManagedInstanceGroup (its old name ScalingPolicy too: stacks planned with an earlier release). */
const INSTANCE_GROUP = /(ManagedInstanceGroup|\/(autoscaling|scaling):ScalingPolicy)$/;
const isScaler = (r: PolicyResource) => SCALER_TYPES.includes(r.type) || INSTANCE_GROUP.test(r.type);

/** Resources that run the app's instances. */
const APP_INSTANCE_TYPES: readonly string[] = [T.awsAsg, T.k8sDeployment, T.dockerContainer];
/**
 * scaleplane's ManagedInstanceGroup (Docker): its controllers create the instances from the launch spec
 * it stores, so it is the group's source of instances as well as its scaler.
 */
const isInstanceGroup = (r: PolicyResource) => INSTANCE_GROUP.test(r.type) && !SCALER_TYPES.includes(r.type);
const policyRange = (r: PolicyResource): { minSize?: unknown; maxSize?: unknown } =>
  (r.props.policy ?? {}) as { minSize?: unknown; maxSize?: unknown };

export const autoscalingGroupComplete = stackPolicy(
  {
    name: "autoscaling-group-complete",
    description:
      "Every AutoscalingGroup has instances to run (an ASG, a Deployment, containers, or a ManagedInstanceGroup whose controllers create them) and a scaling policy that moves them within the group's range.",
    enforcementLevel: "mandatory",
  },
  (tree, _args, report) => {
    for (const g of tree.ofType(T.autoscalingGroup)) {
      const below = tree.descendants(g);
      if (!below.some((r) => APP_INSTANCE_TYPES.includes(r.type) || isInstanceGroup(r)))
        report(
          `AutoscalingGroup ${g.name} creates no instances (no Auto Scaling group, Deployment, container or ManagedInstanceGroup); give it a target block (aws, kubernetes or docker) that builds them.`,
          g.urn,
        );
      // A ManagedInstanceGroup must move the group within the component's own range.
      const app = componentSettings(g, tree, "app");
      for (const sp of below.filter(isInstanceGroup)) {
        const { minSize, maxSize } = policyRange(sp);
        if (
          app &&
          typeof minSize === "number" &&
          typeof maxSize === "number" &&
          (minSize !== app.minSize || maxSize !== app.maxSize)
        )
          report(
            `ManagedInstanceGroup ${sp.name} scales AutoscalingGroup ${g.name} between ${minSize} and ${maxSize} but scaleplane:app.minSize/maxSize are ${app.minSize}..${app.maxSize}; derive the policy from the app section.`,
            sp.urn,
          );
      }
      if (below.some(isScaler)) continue;
      // Containers on Docker are a fixed set until a ManagedInstanceGroup is attached: that is fine as long
      // as the group does not claim a range it will never use.
      const dockerOnly =
        below.some((r) => r.type === T.dockerContainer) &&
        !below.some((r) => r.type === T.awsAsg || r.type === T.k8sDeployment);
      if (dockerOnly && app && app.maxSize <= app.minSize) continue;
      if (dockerOnly && app)
        report(
          `AutoscalingGroup ${g.name} runs a fixed set of Docker containers but allows ${app.minSize}..${app.maxSize} instances; attach scaleplane's ManagedInstanceGroup (app.scaling with a config service) or set app.maxSize = app.minSize.`,
          g.urn,
        );
      else
        report(
          `AutoscalingGroup ${g.name} has no scaling policy; attach one (aws:autoscaling/policy:Policy target tracking, a HorizontalPodAutoscaler, or scaleplane's ManagedInstanceGroup) so it scales between minSize and maxSize.`,
          g.urn,
        );
    }
  },
);

export const configServiceHasMembers = stackPolicy(
  {
    name: "config-service-has-members",
    description:
      "Every RaftConfigService runs its etcd members (EC2 instances, a StatefulSet or the EtcdMembership provider), as many as configured.",
    enforcementLevel: "mandatory",
  },
  (tree, _args, report) => {
    for (const s of tree.ofType(T.configService)) {
      const n = memberCount(s, tree);
      const want = componentSettings(s, tree, "configService")?.members;
      if (n === undefined)
        report(
          `RaftConfigService ${s.name} has no etcd members; it must create one member (instance, StatefulSet replica or EtcdMembership entry) per scaleplane:configService.members.`,
          s.urn,
        );
      else if (want !== undefined && n !== want)
        report(
          `RaftConfigService ${s.name} runs ${n} etcd member(s) but scaleplane:configService.members is ${want}; create exactly one member per configured member.`,
          s.urn,
        );
    }
  },
);

/** Shard instances below a ShardedDatabase: RDS instances, containers, StatefulSets (one per shard). */
export function shardInstances(db: PolicyResource, tree: Tree): PolicyResource[] {
  return tree
    .descendants(db)
    .filter((r) => r.type === T.awsRds || r.type === T.dockerContainer || r.type === T.k8sStatefulSet);
}

export const databaseHasShards = stackPolicy(
  {
    name: "database-has-shards",
    description: "Every ShardedDatabase runs one PostgreSQL instance per configured shard.",
    enforcementLevel: "mandatory",
  },
  (tree, _args, report) => {
    for (const d of tree.ofType(T.database)) {
      const n = shardInstances(d, tree).length;
      const want = replicationOf(d, tree)?.shards;
      if (n === 0)
        report(
          `ShardedDatabase ${d.name} has no shard instances; it must create one PostgreSQL instance (RDS, container or StatefulSet) per shard in scaleplane:database.shards.`,
          d.urn,
        );
      else if (want !== undefined && n !== want)
        report(
          `ShardedDatabase ${d.name} runs ${n} shard instance(s) but scaleplane:database.shards lists ${want}; create exactly one instance per shard.`,
          d.urn,
        );
    }
  },
);

export const stackPolicies = [autoscalingGroupComplete, configServiceHasMembers, databaseHasShards];
