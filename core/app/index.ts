/**
 * The autoscaling group's pure spec, one module per target (docker.ts, kubernetes.ts, aws.ts) on
 * top of the shared spec.ts. Nothing here touches Pulumi or does I/O.
 */
export * from "./spec";
export * from "./docker";
export * from "./kubernetes";
export * from "./aws";
export * from "./alb";
export * from "./scaling";
