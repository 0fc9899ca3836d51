/**
 * Resource type tokens the policies look at: the scaleplane components' tokens (defined once in
 * core/tokens.ts) and the provider resource types.
 */
import { TOKENS } from "../../core/tokens";

/** Type tokens the policies look at. */
export const T = {
  ...TOKENS,
  awsAsg: "aws:autoscaling/group:Group",
  awsScalingPolicy: "aws:autoscaling/policy:Policy",
  awsLaunchTemplate: "aws:ec2/launchTemplate:LaunchTemplate",
  awsInstance: "aws:ec2/instance:Instance",
  awsTargetGroup: "aws:lb/targetGroup:TargetGroup",
  awsRds: "aws:rds/instance:Instance",
  awsElastiCacheGroup: "aws:elasticache/replicationGroup:ReplicationGroup",
  awsSecurityGroup: "aws:ec2/securityGroup:SecurityGroup",
  awsSgRule: "aws:ec2/securityGroupRule:SecurityGroupRule",
  awsSgIngressRule: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
  awsSsmParameter: "aws:ssm/parameter:Parameter",
  k8sDeployment: "kubernetes:apps/v1:Deployment",
  k8sStatefulSet: "kubernetes:apps/v1:StatefulSet",
  k8sHpa: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
  k8sService: "kubernetes:core/v1:Service",
  dockerContainer: "docker:index/container:Container",
} as const;

/** Kubernetes workload types whose pod template the container policies read. */
export const K8S_WORKLOADS: readonly string[] = [T.k8sDeployment, T.k8sStatefulSet];
