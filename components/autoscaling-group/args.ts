/**
 * Arguments of the AutoscalingGroup, and the context and results its target builders share.
 * Types only: the class (index.ts) and the builders (aws.ts, docker.ts, kubernetes.ts) import
 * them from here, never from each other.
 */
import type * as aws from "@pulumi/aws";
import type * as docker from "@pulumi/docker";
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { AppConfig, AppConfigInput, Environment } from "../../core/config";
import type { AwsSubnet } from "../network/types";
import type { ManagedInstanceGroup } from "../../providers/instance-group";
import type { LoadBalancerSettings } from "../../core/app/alb";

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
   * CIDRs allowed to reach the load balancer (HTTPS on 443; 80 only redirects to HTTPS).
   * @default ["0.0.0.0/0"]
   */
  ingressCidrs?: string[];
  /**
   * The load balancer's TLS, access logs and deletion protection (core/app/alb.ts
   * `loadBalancerSettings` derives them from the `aws.loadBalancer` config section). Without a
   * `certificateArn` a self-signed certificate is imported into ACM, which prod refuses.
   * @default { sslPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06", deletionProtection: false } (self-signed certificate, no access logs)
   */
  loadBalancer?: LoadBalancerSettings;
}

/** Kubernetes placement (target `kubernetes`). The cluster is the `kubernetes` provider of the resource options (or the parent's). */
export interface AutoscalingGroupKubernetesArgs {
  /** Namespace of the Deployment, Service, HPA, PDB and Secret. */
  namespace: pulumi.Input<string>;
}

/** Docker placement (target `docker`). */
export interface AutoscalingGroupDockerArgs {
  /**
   * Autoscaled (`scaling` given): the load balancer publishes on 127.0.0.1:portBase, the one port
   * clients use. Fixed: instance i publishes the app port on 127.0.0.1:(portBase + i). Never on
   * other addresses.
   */
  portBase: number;
  /**
   * Extra networks every container joins (e.g. the config service's and the database's).
   * @default [] (only the group's own network)
   */
  networks?: pulumi.Input<string>[];
  /**
   * Makes the group really autoscale: a load balancer, two leader-elected scaling controllers
   * (leading through this config service) and a ManagedInstanceGroup; the controllers own the app
   * containers. Without it the group is a fixed set of `desiredSize` containers.
   * @default undefined (fixed containers)
   */
  scaling?: AutoscalingGroupDockerScalingArgs;
}

/** The config service the Docker group's scaling controllers lead through and keep their state in. */
export interface AutoscalingGroupDockerScalingArgs {
  configService: {
    /** Client URLs as containers on `network` reach them (the controllers). */
    clientEndpoints: pulumi.Input<pulumi.Input<string>[]>;
    /** Client URLs published on 127.0.0.1 (the ManagedInstanceGroup provider, where Pulumi runs). */
    publishedEndpoints: pulumi.Input<pulumi.Input<string>[]>;
    /** The config service's Docker network (the controllers join it). */
    network: pulumi.Input<string>;
  };
}

/** Settings of every target. */
export interface AutoscalingGroupCommonArgs {
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
}

/**
 * Where the instances run (`target`) and that target's placement block: the block of the chosen
 * target is required, the others cannot be given.
 */
export type AutoscalingGroupArgs = AutoscalingGroupCommonArgs &
  (
    | { target: "aws"; aws: AutoscalingGroupAwsArgs }
    | { target: "kubernetes"; kubernetes: AutoscalingGroupKubernetesArgs }
    | { target: "docker"; docker: AutoscalingGroupDockerArgs }
  );

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
  /** The component: parent of every child (providers flow from it). */
  parent: pulumi.Resource;
}

/** What every target builder returns. */
export interface GroupBuildCommon {
  endpoints: pulumi.Output<string[]>;
  /** The scaled object: ASG name, Deployment name, or the Docker network name. */
  groupName: pulumi.Output<string>;
}

/** The AWS builder's result: the children a user may extend. */
export interface AwsGroupResult extends GroupBuildCommon {
  securityGroupId: pulumi.Output<string>;
  loadBalancer: aws.lb.LoadBalancer;
  targetGroup: aws.lb.TargetGroup;
  /** The HTTPS :443 listener forwarding to the target group. */
  listener: aws.lb.Listener;
  /** The HTTP :80 listener; it only redirects to HTTPS. */
  redirectListener: aws.lb.Listener;
  /** The access-log bucket, when access logs are on. */
  accessLogBucket?: aws.s3.Bucket;
  launchTemplate: aws.ec2.LaunchTemplate;
  autoScalingGroup: aws.autoscaling.Group;
  role: aws.iam.Role;
}

/** The Docker builder's result. */
export interface DockerGroupResult extends GroupBuildCommon {
  /** Container names (stack-scoped); [] when autoscaled (the controllers name them). */
  instanceNames: string[];
  network: docker.Network;
  /** The fixed instance containers; [] when autoscaled. */
  containers: docker.Container[];
  /** Autoscaled: the HAProxy container. */
  loadBalancerContainer?: docker.Container;
  /** Autoscaled: the scaling controller containers. */
  controllers?: docker.Container[];
  /** Autoscaled: the ManagedInstanceGroup resource. */
  instanceGroup?: ManagedInstanceGroup;
}

/** The Kubernetes builder's result. */
export interface KubernetesGroupResult extends GroupBuildCommon {
  deployment: k8s.apps.v1.Deployment;
  service: k8s.core.v1.Service;
  hpa: k8s.autoscaling.v2.HorizontalPodAutoscaler;
  podDisruptionBudget: k8s.policy.v1.PodDisruptionBudget;
}
