/**
 * AutoscalingGroup: stateless app instances behind a load balancer, scaled on CPU and memory,
 * drained before they stop. Docker (N containers on 127.0.0.1 ports), AWS (launch template, Auto
 * Scaling group, ALB, target tracking) or Kubernetes (Deployment, Service, HPA, PDB). Validates its
 * arguments, derives the spec in core/app/, and has the target's builder create the resources.
 *
 * Providers come through the resource options (`provider`/`providers`) or from the parent; every
 * child is created with `{ parent: this }`, so they flow to it.
 *
 * @example
 * const web = new AutoscalingGroup("web", {
 *   target: "docker",
 *   app: { name: "web", image: "scaleplane/sample-app:0.1.0", minSize: 2, maxSize: 4 },
 *   docker: { portBase: 18080 },
 * });
 * export const urls = web.endpoints;
 */
import type * as aws from "@pulumi/aws";
import type * as docker from "@pulumi/docker";
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AppSchema, componentBase, configFail, parseSection, type AppConfig } from "../../core/config";
import { desiredCapacity, dockerInstances, instanceEnv } from "../../core/app";
import { dockerScalingSpec } from "../../core/scaling/docker";
import { scalingDeprecations } from "../../core/scaling/settings";
import { stackScopedName } from "../../core/naming";
import { TOKENS } from "../../core/tokens";
import type { AutoscalingGroupArgs, AutoscalingGroupAwsArgs, GroupBuildContext } from "./args";
import { createAwsGroup } from "./aws";
import { createDockerGroup } from "./docker";
import type { ManagedInstanceGroup } from "../../providers/instance-group";
import { createKubernetesGroup } from "./kubernetes";

export type {
  AutoscalingGroupArgs,
  AutoscalingGroupAwsArgs,
  AutoscalingGroupCommonArgs,
  AutoscalingGroupDockerArgs,
  AutoscalingGroupKubernetesArgs,
} from "./args";

/** Checks the aws block before anything is registered. */
function validateAws(a: AutoscalingGroupAwsArgs, environment: string): void {
  if (environment === "prod" && !a.loadBalancer?.certificateArn)
    configFail(
      "aws.loadBalancer.certificateArn",
      "is required in prod: the load balancer serves HTTPS only and a self-signed certificate is not acceptable there",
    );
  if (a.loadBalancer && !/^ELBSecurityPolicy-[A-Za-z0-9-]+$/.test(a.loadBalancer.sslPolicy))
    configFail(
      "aws.loadBalancer.sslPolicy",
      `must be an ELB security policy name (ELBSecurityPolicy-...); got ${JSON.stringify(a.loadBalancer.sslPolicy)}`,
    );
  if (a.subnets.length === 0) configFail("aws.subnets", "must list at least one private subnet");
  if (a.publicSubnetIds.length < 2)
    configFail(
      "aws.publicSubnetIds",
      `must list public subnets in at least 2 zones (an ALB requirement); got ${a.publicSubnetIds.length}`,
    );
  (a.ingressCidrs ?? []).forEach((c, i) => {
    if (!/^(\d{1,3}(\.\d{1,3}){3}\/\d{1,2}|[0-9a-fA-F:]+\/\d{1,3})$/.test(c))
      configFail(`aws.ingressCidrs[${i}]`, `must be an IPv4 or IPv6 CIDR; got ${JSON.stringify(c)}`);
  });
}

export class AutoscalingGroup extends pulumi.ComponentResource {
  /** How clients reach the app: the ALB URL (aws), the Service URL (kubernetes), `http://127.0.0.1:<port>` per instance (docker). */
  readonly endpoints: pulumi.Output<string[]>;
  /** AWS: the security group of the instances; undefined on other targets. */
  readonly securityGroupId: pulumi.Output<string | undefined>;
  /** Instances the group starts with (`app.desiredSize ?? app.minSize`); the autoscaler moves it later. */
  readonly instanceCount: pulumi.Output<number>;
  /** Docker: the container names (stack-scoped); [] on targets where the autoscaler names instances. */
  readonly instanceNames: pulumi.Output<string[]>;
  /** The Auto Scaling group (aws), Deployment (kubernetes) or network (docker) name. */
  readonly groupName: pulumi.Output<string>;
  /** The validated app config. */
  readonly config: AppConfig;

  /** AWS: the internet-facing Application Load Balancer (add listeners, attach a WAF). */
  readonly loadBalancer?: aws.lb.LoadBalancer;
  /** AWS: the target group the instances register in. */
  readonly targetGroup?: aws.lb.TargetGroup;
  /** AWS: the HTTPS listener on port 443 forwarding to the target group (add rules to it). */
  readonly listener?: aws.lb.Listener;
  /** AWS: the HTTP listener on port 80, which only redirects to HTTPS. */
  readonly redirectListener?: aws.lb.Listener;
  /** AWS: the encrypted, private access-log bucket (when `loadBalancer.accessLogs` is on). */
  readonly accessLogBucket?: aws.s3.Bucket;
  /** AWS: the launch template of the instances. */
  readonly launchTemplate?: aws.ec2.LaunchTemplate;
  /** AWS: the Auto Scaling group. */
  readonly autoScalingGroup?: aws.autoscaling.Group;
  /** AWS: the instance role (attach further policies). */
  readonly instanceRole?: aws.iam.Role;
  /** Kubernetes: the Deployment. */
  readonly deployment?: k8s.apps.v1.Deployment;
  /** Kubernetes: the ClusterIP Service (put an Ingress or Gateway route in front of it). */
  readonly service?: k8s.core.v1.Service;
  /** Kubernetes: the HorizontalPodAutoscaler. */
  readonly hpa?: k8s.autoscaling.v2.HorizontalPodAutoscaler;
  /** Kubernetes: the PodDisruptionBudget. */
  readonly podDisruptionBudget?: k8s.policy.v1.PodDisruptionBudget;
  /** Docker: the group's own network. */
  readonly network?: docker.Network;
  /** Docker: the instance containers of a fixed group ([] when autoscaled: the controllers own them). */
  readonly containers?: docker.Container[];
  /** Docker, autoscaled: the HAProxy load balancer container (the one 127.0.0.1 port clients use). */
  readonly loadBalancerContainer?: docker.Container;
  /** Docker, autoscaled: the two leader-elected scaling controller containers. */
  readonly controllers?: docker.Container[];
  /** Docker, autoscaled: the ManagedInstanceGroup that hands the group to its controllers. */
  readonly instanceGroup?: ManagedInstanceGroup;
  /** @deprecated Renamed {@link instanceGroup} (a "scaling policy" is the engine's rules). */
  readonly scalingPolicy?: ManagedInstanceGroup;

  constructor(name: string, args: AutoscalingGroupArgs, opts?: pulumi.ComponentResourceOptions) {
    // Everything is validated before the component registers anything.
    const environment = componentBase("AutoscalingGroup", name, args);
    const app = parseSection(AppSchema, args.app, "app");
    const secretNames = Object.keys(args.secretEnv ?? {});
    instanceEnv(app, Object.fromEntries(Object.keys(args.env ?? {}).map((k) => [k, ""])), secretNames);
    if (app.mixedInstances && args.target !== "aws")
      configFail("app.mixedInstances", `is only supported on target aws; target is ${args.target}`);
    if (args.target === "aws") validateAws(args.aws, environment);
    // Docker names are physical on a host shared by stacks: scope them to the stack.
    const scope = stackScopedName(app.name, pulumi.getStack());
    // Autoscaled Docker groups have no fixed containers; their spec is checked here, before registering.
    if (args.target === "docker" && args.docker.scaling) dockerScalingSpec(name, scope, app, args.docker.portBase);
    const dockerSpecs =
      args.target === "docker" && !args.docker.scaling ? dockerInstances(name, app, args.docker.portBase, scope) : [];

    // The validated settings are recorded on the component (the policy pack reads them).
    super(TOKENS.autoscalingGroup, name, { target: args.target, environment, app }, opts);
    this.config = app;
    // Old setting names still work; say what to write instead (the Platform passes the new names).
    for (const d of scalingDeprecations(args.app.scaling, "app.scaling"))
      void pulumi.log.warn(`${d.key} ${d.message}`, this);

    const env = pulumi.output(args.env ?? {}).apply((extra) => instanceEnv(app, extra, secretNames));
    const secretEnv = Object.fromEntries(Object.entries(args.secretEnv ?? {}).map(([k, v]) => [k, pulumi.secret(v)]));
    const ctx: GroupBuildContext = { name, app, environment, env, secretEnv, parent: this };

    let securityGroupId: pulumi.Output<string | undefined> = pulumi.output(undefined);
    let instanceNames: string[] = [];
    switch (args.target) {
      case "aws": {
        const built = createAwsGroup(ctx, args.aws);
        this.endpoints = built.endpoints;
        this.groupName = built.groupName;
        securityGroupId = built.securityGroupId;
        this.loadBalancer = built.loadBalancer;
        this.targetGroup = built.targetGroup;
        this.listener = built.listener;
        this.redirectListener = built.redirectListener;
        this.accessLogBucket = built.accessLogBucket;
        this.launchTemplate = built.launchTemplate;
        this.autoScalingGroup = built.autoScalingGroup;
        this.instanceRole = built.role;
        break;
      }
      case "kubernetes": {
        const built = createKubernetesGroup(ctx, args.kubernetes);
        this.endpoints = built.endpoints;
        this.groupName = built.groupName;
        this.deployment = built.deployment;
        this.service = built.service;
        this.hpa = built.hpa;
        this.podDisruptionBudget = built.podDisruptionBudget;
        break;
      }
      case "docker": {
        const built = createDockerGroup(ctx, args.docker, dockerSpecs, scope);
        this.endpoints = built.endpoints;
        this.groupName = built.groupName;
        instanceNames = built.instanceNames;
        this.network = built.network;
        this.containers = built.containers;
        this.loadBalancerContainer = built.loadBalancerContainer;
        this.controllers = built.controllers;
        this.instanceGroup = built.instanceGroup;
        this.scalingPolicy = built.instanceGroup;
        break;
      }
    }

    this.securityGroupId = securityGroupId;
    this.instanceCount = pulumi.output(desiredCapacity(app));
    this.instanceNames = pulumi.output(instanceNames);
    this.registerOutputs({
      endpoints: this.endpoints,
      securityGroupId: this.securityGroupId,
      instanceCount: this.instanceCount,
      instanceNames: this.instanceNames,
      groupName: this.groupName,
    });
  }
}
