import { TOKENS } from "../../../core/tokens";
import { autoscalingGroupComplete, configServiceHasMembers, databaseHasShards } from "../../../policies/stack";
import { child, platform, runStack, urn } from "./fake-args";

const p = platform({ target: "aws", environment: "dev", configService: { members: 3 }, database: { shards: 2 } });

describe("autoscaling-group-complete", () => {
  const g = child(p, TOKENS.autoscalingGroup, "p-app");
  it("passes a group with an ASG and a target-tracking policy (nested anywhere below)", async () => {
    const asg = child(g, "aws:autoscaling/group:Group", "p-app-asg");
    expect(
      (await runStack(autoscalingGroupComplete, [p, g, asg, child(asg, "aws:autoscaling/policy:Policy", "p-app-cpu")]))
        .messages,
    ).toEqual([]);
  });
  it("passes a Docker group scaled by scaleplane's ScalingPolicy provider", async () => {
    const out = await runStack(autoscalingGroupComplete, [
      p,
      g,
      child(g, "docker:index/container:Container", "p-app-0"),
      child(g, "pulumi-nodejs:dynamic/scaling:ScalingPolicy", "p-app-scaling"),
    ]);
    expect(out.messages).toEqual([]);
  });
  it("passes a Docker group whose only instance source is the ScalingPolicy (its controllers own the containers)", async () => {
    const ranged = child(p, TOKENS.autoscalingGroup, "p-asg", { app: { minSize: 2, maxSize: 6 } });
    const sp = child(ranged, "pulumi-nodejs:dynamic/autoscaling:ManagedInstanceGroup", "p-asg-scaling", {
      policy: { minSize: 2, maxSize: 6 },
    });
    expect((await runStack(autoscalingGroupComplete, [p, ranged, sp])).messages).toEqual([]);
  });
  it("fails a ScalingPolicy whose range is not the group's", async () => {
    const ranged = child(p, TOKENS.autoscalingGroup, "p-asg", { app: { minSize: 2, maxSize: 6 } });
    const sp = child(ranged, "pulumi-nodejs:dynamic/autoscaling:ManagedInstanceGroup", "p-asg-scaling", {
      policy: { minSize: 1, maxSize: 6 },
    });
    const out = await runStack(autoscalingGroupComplete, [p, ranged, sp]);
    expect(out.messages).toEqual([
      "ManagedInstanceGroup p-asg-scaling scales AutoscalingGroup p-asg between 1 and 6 but scaleplane:app.minSize/maxSize are 2..6; derive the policy from the app section.",
    ]);
    expect(out.urns).toEqual([urn(sp)]);
  });
  it("passes a fixed-size Docker group (maxSize = minSize) without a scaler", async () => {
    const fixed = child(p, TOKENS.autoscalingGroup, "p-fixed", { app: { minSize: 2, maxSize: 2 } });
    expect(
      (
        await runStack(autoscalingGroupComplete, [
          p,
          fixed,
          child(fixed, "docker:index/container:Container", "p-fixed-0"),
        ])
      ).messages,
    ).toEqual([]);
  });
  it("fails a Docker group that allows a range nothing scales it through", async () => {
    const ranged = child(p, TOKENS.autoscalingGroup, "p-ranged", { app: { minSize: 2, maxSize: 4 } });
    expect(
      (
        await runStack(autoscalingGroupComplete, [
          p,
          ranged,
          child(ranged, "docker:index/container:Container", "p-ranged-0"),
        ])
      ).messages,
    ).toEqual([
      "AutoscalingGroup p-ranged runs a fixed set of Docker containers but allows 2..4 instances; attach scaleplane's ManagedInstanceGroup (app.scaling with a config service) or set app.maxSize = app.minSize.",
    ]);
  });
  it("fails an ASG without a scaling policy", async () => {
    const out = await runStack(autoscalingGroupComplete, [p, g, child(g, "aws:autoscaling/group:Group", "p-app-asg")]);
    expect(out.messages).toEqual([
      "AutoscalingGroup p-app has no scaling policy; attach one (aws:autoscaling/policy:Policy target tracking, a HorizontalPodAutoscaler, or scaleplane's ManagedInstanceGroup) so it scales between minSize and maxSize.",
    ]);
    expect(out.urns).toEqual([urn(g)]);
  });
  it("fails a group that creates no instances", async () => {
    expect(
      (
        await runStack(autoscalingGroupComplete, [
          p,
          g,
          child(g, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "hpa"),
        ])
      ).messages,
    ).toEqual([
      "AutoscalingGroup p-app creates no instances (no Auto Scaling group, Deployment, container or ManagedInstanceGroup); give it a target block (aws, kubernetes or docker) that builds them.",
    ]);
  });
});

describe("config-service-has-members", () => {
  const cs = child(p, TOKENS.configService, "p-config");
  const member = (i: number) => child(cs, "aws:ec2/instance:Instance", `p-config-${i}`);
  it("passes as many members as configured", async () => {
    expect((await runStack(configServiceHasMembers, [p, cs, member(0), member(1), member(2)])).messages).toEqual([]);
  });
  it("fails a service without members", async () => {
    expect((await runStack(configServiceHasMembers, [p, cs])).messages).toEqual([
      "RaftConfigService p-config has no etcd members; it must create one member (instance, StatefulSet replica or EtcdMembership entry) per scaleplane:configService.members.",
    ]);
  });
  it("fails fewer members than configured", async () => {
    expect((await runStack(configServiceHasMembers, [p, cs, member(0)])).messages).toEqual([
      "RaftConfigService p-config runs 1 etcd member(s) but scaleplane:configService.members is 3; create exactly one member per configured member.",
    ]);
  });
});

describe("database-has-shards", () => {
  const db = child(p, TOKENS.database, "p-db");
  const shard = (i: number) => child(db, "aws:rds/instance:Instance", `p-db-shard-${i}`);
  it("passes one instance per shard", async () => {
    expect((await runStack(databaseHasShards, [p, db, shard(0), shard(1)])).messages).toEqual([]);
  });
  it("fails a database without shard instances", async () => {
    expect((await runStack(databaseHasShards, [p, db])).messages).toEqual([
      "ShardedDatabase p-db has no shard instances; it must create one PostgreSQL instance (RDS, container or StatefulSet) per shard in scaleplane:database.shards.",
    ]);
  });
  it("fails a missing shard", async () => {
    expect((await runStack(databaseHasShards, [p, db, shard(0)])).messages).toEqual([
      "ShardedDatabase p-db runs 1 shard instance(s) but scaleplane:database.shards lists 2; create exactly one instance per shard.",
    ]);
  });
});
