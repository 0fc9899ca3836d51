/**
 * Pulumi type tokens of the scaleplane components (`scaleplane:<module>:<Type>`), defined once:
 * the components register under them, the policy pack and the tests look them up by them. A token
 * is part of every resource's URN, so changing one replaces the resource in a deployed stack.
 */
export const TOKENS = {
  platform: "scaleplane:platform:Platform",
  autoscalingGroup: "scaleplane:autoscaling:AutoscalingGroup",
  configService: "scaleplane:config:RaftConfigService",
  database: "scaleplane:database:ShardedDatabase",
  cache: "scaleplane:cache:CacheCluster",
  metricsStore: "scaleplane:metrics:MetricsStore",
  eventStore: "scaleplane:events:EventStore",
} as const;

/** One of the component type tokens. */
export type ComponentToken = (typeof TOKENS)[keyof typeof TOKENS];
