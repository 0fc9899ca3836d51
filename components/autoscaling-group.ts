/**
 * AutoscalingGroup: stateless app instances behind a load balancer, scaled on CPU and memory,
 * drained before they stop. Docker (N containers on 127.0.0.1 ports), AWS (launch template, Auto
 * Scaling group, ALB, target tracking) or Kubernetes (Deployment, Service, HPA, PDB). Validates its
 * arguments, derives the spec in core/app.ts, and has the target's builder create the resources.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AppSchema, componentBase, configFail, parseSection, type AppConfig, type AppConfigInput, type Environment, type Target } from "../core/config";
import { desiredCapacity, dockerInstances, instanceEnv, type DockerInstanceSpec } from "../core/app";
import type { AwsSubnet } from "./targets/aws/network-types";
import { createAwsGroup } from "./targets/aws/autoscaling-group";
import { createDockerGroup } from "./targets/docker/autoscaling-group";
import { createKubernetesGroup } from "./targets/kubernetes/autoscaling-group";

/** AWS placement (target `aws`). */
export interface AutoscalingGroupAwsArgs {
  /** The VPC of the subnets and security groups. */
  vpcId: pulumi.Input<string>;
  /** Private subnets the instances run in (at least one; spread over zones for availability). */
  subnets: AwsSubnet[];
  /** Public subnets of the internet-facing load balancer (at least two zones, an ALB requirement). */
  publicSubnetIds: pulumi.Input<string>[];
  /**
   * Security group the instances carry instead of one created here (the Platform passes the group
   * the config service and the database admit). The app port from the load balancer is added to it.
   * @default a new group `${name}-sg` (egress open, ingress: the app port from the load balancer only)
   */
  instanceSecurityGroupId?: pulumi.Input<string>;
  /**
   * CIDRs allowed to reach the load balancer on port 80.
   * @default ["0.0.0.0/0"]
   */
  ingressCidrs?: string[];
}

/** Kubernetes placement (target `kubernetes`). */
export interface AutoscalingGroupKubernetesArgs {
  /** Namespace of the Deployment, Service, HPA, PDB and Secret. */
  namespace: pulumi.Input<string>;
  /**
   * Provider of the cluster.
   * @default the ambient kubeconfig context (or the parent's provider)
   */
  provider?: k8s.Provider;
}

/** Docker placement (target `docker`). */
export interface AutoscalingGroupDockerArgs {
  /** Instance i publishes the app port on 127.0.0.1:(portBase + i), never on other addresses. */
  portBase: number;
  /**
   * Extra networks every container joins (e.g. the config service's and the database's).
   * @default [] (only the group's own network `${name}-net`)
   */
  networks?: pulumi.Input<string>[];
}

export interface AutoscalingGroupArgs {
  /** Where the instances run. */
  target: Target;
  /**
   * The app section (image, port, health path, sizes, scaling; see `AppSchema` in core/config.ts
   * for every field and its default). Validated here: a bad value throws a ConfigError naming e.g.
   * `app.minSize`.
   */
  app: AppConfigInput;
  /**
   * Deployment environment.
   * @default "dev"
   */
  environment?: Environment;
  /**
   * Plain environment variables added to every instance (e.g. the config-service endpoints), on top
   * of `app.env`. PORT, DRAIN_SECONDS and DRAIN_MAX_SECONDS are set by scaleplane.
   * @default {}
   */
  env?: Record<string, pulumi.Input<string>>;
  /**
   * Secret environment variables (e.g. the database password). Never in plain user data or labels:
   * AWS: one SSM SecureString parameter each, read at boot with the instance role; Kubernetes: a
   * Secret referenced with secretKeyRef; Docker: container env held as a Pulumi secret.
   * @default {}
   */
  secretEnv?: Record<string, pulumi.Input<string>>;
  /** Required for target `aws`. */
  aws?: AutoscalingGroupAwsArgs;
  /** Required for target `kubernetes`. */
  kubernetes?: AutoscalingGroupKubernetesArgs;
  /** Required for target `docker`. */
  docker?: AutoscalingGroupDockerArgs;
}

/** What every target builder gets: the validated config and the derived pieces. */
export interface GroupBuildContext {
  /** Component name: prefix of child resource names. */
  name: string;
  app: AppConfig;
  environment: Environment;
  /** The plain environment of every instance (app.env + env + PORT/DRAIN_*), resolved. */
  env: pulumi.Output<Record<string, string>>;
  /** Secret environment, each value a secret Output. */
  secretEnv: Record<string, pulumi.Output<string>>;
  parent: pulumi.Resource;
}

/** What a target builder returns. */
export interface GroupBuildResult {
  endpoints: pulumi.Output<string[]>;
  /** Names of the instances when the target fixes them (Docker containers); [] otherwise. */
  instanceNames: string[];
  /** The scaled object: ASG name, Deployment name, or the Docker network name. */
  groupName: pulumi.Output<string>;
  securityGroupId?: pulumi.Output<string>;
}


export class AutoscalingGroup extends pulumi.ComponentResource {
  /** How clients reach the app: the ALB URL (aws), the Service URL (kubernetes), `http://127.0.0.1:<port>` per instance (docker). */
  readonly endpoints: pulumi.Output<string[]>;
  /** AWS: the security group of the instances; undefined on other targets. */
  readonly securityGroupId: pulumi.Output<string | undefined>;
  /** Instances the group starts with (`app.desiredSize ?? app.minSize`); the autoscaler moves it later. */
  readonly instanceCount: pulumi.Output<number>;
  /** Docker: the container names; [] on targets where the autoscaler names instances. */
  readonly instanceNames: pulumi.Output<string[]>;
  /** The Auto Scaling group (aws), Deployment (kubernetes) or network (docker) name. */
  readonly groupName: pulumi.Output<string>;
  /** The validated app config. */
  readonly config: AppConfig;

  constructor(name: string, args: AutoscalingGroupArgs, opts?: pulumi.ComponentResourceOptions) {
    // Everything is validated before the component registers anything.
    const environment = componentBase("AutoscalingGroup", name, args);
    const app = parseSection(AppSchema, args.app, "app");
    const secretNames = Object.keys(args.secretEnv ?? {});
    instanceEnv(app, Object.fromEntries(Object.keys(args.env ?? {}).map((k) => [k, ""])), secretNames);
    if (app.mixedInstances && args.target !== "aws") configFail("app.mixedInstances", `is only supported on target aws; target is ${args.target}`);
    let dockerSpecs: DockerInstanceSpec[] = [];
    if (args.target === "aws") {
      const a = args.aws!;
      if (a.subnets.length === 0) configFail("aws.subnets", "must list at least one private subnet");
      if (a.publicSubnetIds.length < 2) configFail("aws.publicSubnetIds", `must list public subnets in at least 2 zones (an ALB requirement); got ${a.publicSubnetIds.length}`);
      (a.ingressCidrs ?? []).forEach((c, i) => {
        if (!/^(\d{1,3}(\.\d{1,3}){3}\/\d{1,2}|[0-9a-fA-F:]+\/\d{1,3})$/.test(c)) configFail(`aws.ingressCidrs[${i}]`, `must be an IPv4 or IPv6 CIDR; got ${JSON.stringify(c)}`);
      });
    }
    if (args.target === "docker") dockerSpecs = dockerInstances(name, app, args.docker!.portBase);

    // The validated settings are recorded on the component (the policy pack reads them).
    super("scaleplane:autoscaling:AutoscalingGroup", name, { target: args.target, environment, app }, opts);
    this.config = app;

    const env = pulumi.output(args.env ?? {}).apply((extra) => instanceEnv(app, extra, secretNames));
    const secretEnv = Object.fromEntries(Object.entries(args.secretEnv ?? {}).map(([k, v]) => [k, pulumi.secret(v)]));
    const ctx: GroupBuildContext = { name, app, environment, env, secretEnv, parent: this };

    let built: GroupBuildResult;
    switch (args.target) {
      case "aws":
        built = createAwsGroup(ctx, args.aws!);
        break;
      case "kubernetes":
        built = createKubernetesGroup(ctx, args.kubernetes!);
        break;
      case "docker":
        built = createDockerGroup(ctx, args.docker!, dockerSpecs);
        break;
    }

    this.endpoints = built.endpoints;
    this.securityGroupId = built.securityGroupId ? built.securityGroupId.apply((id): string | undefined => id) : pulumi.output(undefined);
    this.instanceCount = pulumi.output(desiredCapacity(app));
    this.instanceNames = pulumi.output(built.instanceNames);
    this.groupName = built.groupName;
    this.registerOutputs({
      endpoints: this.endpoints,
      securityGroupId: this.securityGroupId,
      instanceCount: this.instanceCount,
      instanceNames: this.instanceNames,
      groupName: this.groupName,
    });
  }
}
