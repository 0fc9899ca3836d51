/**
 * Autoscaling policies: group sizes, cooldowns/stabilization, load-balancer health checks and
 * instance metadata (IMDSv2) of the app instances.
 */
import type { PolicyConfigSchema } from "@pulumi/policy";
import {
  T,
  arr,
  componentSettings,
  environmentOf,
  prodMinimumSchema,
  num,
  obj,
  resourcePolicy,
  stackPolicy,
  str,
  type EnvConfig,
} from "./lib";

const minInstancesSchema = prodMinimumSchema(
  "minInstances",
  2,
  "Smallest allowed minimum size of an app group in prod.",
);

/** ASGs and HPAs that belong to the app (not to the config service or the database). */
const DATA_COMPONENTS: readonly string[] = [T.configService, T.database];

export const asgMinInstancesProd = stackPolicy<EnvConfig & { minInstances: number }>(
  {
    name: "asg-min-instances-prod",
    description:
      "In prod an app group keeps at least `minInstances` (default 2) instances, so one failure never takes the app down.",
    enforcementLevel: "mandatory",
    configSchema: minInstancesSchema,
  },
  (tree, args, report, cfg) => {
    const min = cfg.minInstances;
    const covered = new Set<string>();
    for (const r of [...tree.ofType(T.awsAsg), ...tree.ofType(T.k8sHpa)]) {
      const ancestors = tree.ancestors(r);
      if (ancestors.some((a) => DATA_COMPONENTS.includes(a.type))) continue;
      const owner = ancestors.find((a) => a.type === T.autoscalingGroup);
      if (owner) covered.add(owner.urn);
      if (environmentOf(r, tree, args, cfg.environment) !== "prod") continue;
      if (r.type === T.awsAsg) {
        const size = num(r.props.minSize) ?? 0;
        if (size < min)
          report(
            `Auto Scaling group ${r.name} has minSize ${size} in prod; set minSize (scaleplane:app.minSize) to at least ${min} so a single instance failure does not take the app down.`,
            r.urn,
          );
      } else {
        const size = num(obj(r.props.spec)?.minReplicas) ?? 1;
        if (size < min)
          report(
            `HorizontalPodAutoscaler ${r.name} has minReplicas ${size} in prod; set spec.minReplicas (scaleplane:app.minSize) to at least ${min} so a single pod failure does not take the app down.`,
            r.urn,
          );
      }
    }
    // Targets without an ASG or HPA (Docker): the component's own settings.
    for (const c of tree.ofType(T.autoscalingGroup)) {
      if (covered.has(c.urn) || environmentOf(c, tree, args, cfg.environment) !== "prod") continue;
      const app = componentSettings(c, tree, "app");
      if (app && app.minSize < min)
        report(
          `AutoscalingGroup ${c.name} has minSize ${app.minSize} in prod; set scaleplane:app.minSize to at least ${min} so a single instance failure does not take the app down.`,
          c.urn,
        );
    }
  },
);

export const asgMaxNotBelowMin = resourcePolicy(
  {
    name: "asg-max-not-below-min",
    description:
      "An Auto Scaling group's or HPA's maximum is at least its minimum, and the desired size lies between them.",
    enforcementLevel: "mandatory",
  },
  [T.awsAsg, T.k8sHpa],
  (props, args, report) => {
    if (args.type === T.awsAsg) {
      const min = num(props.minSize) ?? 0;
      const max = num(props.maxSize) ?? 0;
      const desired = num(props.desiredCapacity);
      if (max < min)
        report(
          `Auto Scaling group ${args.name} has maxSize ${max} below minSize ${min}; set maxSize (scaleplane:app.maxSize) to at least ${min}.`,
        );
      else if (desired !== undefined && (desired < min || desired > max))
        report(
          `Auto Scaling group ${args.name} has desiredCapacity ${desired} outside [${min}, ${max}]; set desiredCapacity (scaleplane:app.desiredSize) between minSize and maxSize.`,
        );
    } else {
      const spec = obj(props.spec) ?? {};
      const min = num(spec.minReplicas) ?? 1;
      const max = num(spec.maxReplicas) ?? 0;
      if (max < min)
        report(
          `HorizontalPodAutoscaler ${args.name} has maxReplicas ${max} below minReplicas ${min}; set spec.maxReplicas (scaleplane:app.maxSize) to at least ${min}.`,
        );
    }
  },
);

const cooldownSchema: PolicyConfigSchema = {
  properties: {
    minScaleDownSeconds: {
      type: "integer",
      minimum: 0,
      default: 60,
      description: "Smallest allowed scale-down stabilization window / cooldown, seconds.",
    },
  },
};

export const scalingCooldownsSet = resourcePolicy<{ minScaleDownSeconds: number }>(
  {
    name: "scaling-cooldowns-set",
    description:
      "Scaling policies set a cooldown or instance warm-up, and HPAs a scale-down stabilization window, so groups do not flap.",
    enforcementLevel: "advisory",
    configSchema: cooldownSchema,
  },
  [T.awsScalingPolicy, T.k8sHpa],
  (props, args, report, cfg) => {
    if (args.type === T.awsScalingPolicy) {
      const kind = str(props.policyType) ?? "SimpleScaling";
      if (kind === "SimpleScaling") {
        const cooldown = num(props.cooldown);
        if (cooldown === undefined || cooldown < cfg.minScaleDownSeconds)
          report(
            `Scaling policy ${args.name} (SimpleScaling) has cooldown ${cooldown ?? "unset"}; set cooldown to at least ${cfg.minScaleDownSeconds} seconds (scaleplane:app.scaling.scaleDownCooldownSeconds).`,
          );
      } else if (kind !== "PredictiveScaling") {
        const warmup = num(props.estimatedInstanceWarmup);
        if (warmup === undefined || warmup <= 0)
          report(
            `Scaling policy ${args.name} (${kind}) has ${warmup === undefined ? "no estimatedInstanceWarmup" : `estimatedInstanceWarmup ${warmup}`}; set estimatedInstanceWarmup to the seconds a new instance needs before its metrics count (scaleplane:app.scaling.healthCheckGraceSeconds).`,
          );
      }
    } else {
      const window = num(obj(obj(obj(props.spec)?.behavior)?.scaleDown)?.stabilizationWindowSeconds);
      if (window === undefined || window < cfg.minScaleDownSeconds)
        report(
          `HorizontalPodAutoscaler ${args.name} has scale-down stabilization window ${window ?? "unset"}; set spec.behavior.scaleDown.stabilizationWindowSeconds to at least ${cfg.minScaleDownSeconds} (scaleplane:app.scaling.scaleDownCooldownSeconds).`,
        );
    }
  },
);

const graceSchema: PolicyConfigSchema = {
  properties: {
    minHealthCheckGraceSeconds: {
      type: "integer",
      minimum: 0,
      default: 30,
      description: "Smallest allowed health-check grace period, seconds.",
    },
  },
};

export const asgElbHealthCheck = resourcePolicy<{ minHealthCheckGraceSeconds: number }>(
  {
    name: "asg-elb-health-check",
    description:
      "An Auto Scaling group behind a load balancer uses ELB health checks with a grace period, so unhealthy instances are replaced.",
    enforcementLevel: "mandatory",
    configSchema: graceSchema,
  },
  [T.awsAsg],
  (props, args, report, cfg) => {
    const behindLb =
      arr(props.targetGroupArns).length + arr(props.loadBalancers).length + arr(props.trafficSources).length > 0;
    if (!behindLb) args.notApplicable("the group is not attached to a load balancer");
    if (props.healthCheckType !== "ELB")
      report(
        `Auto Scaling group ${args.name} uses health check type ${str(props.healthCheckType) ?? "EC2 (default)"}; set healthCheckType "ELB" so instances failing the load balancer's health check are replaced.`,
      );
    const grace = num(props.healthCheckGracePeriod);
    if (grace !== undefined && grace < cfg.minHealthCheckGraceSeconds)
      report(
        `Auto Scaling group ${args.name} has healthCheckGracePeriod ${grace}s; set it to at least ${cfg.minHealthCheckGraceSeconds}s (scaleplane:app.scaling.healthCheckGraceSeconds) so booting instances are not killed.`,
      );
  },
);

export const lbTargetHealthCheck = resourcePolicy(
  {
    name: "lb-target-health-check",
    description: "Load-balancer target groups check instance health on an explicit HTTP path.",
    enforcementLevel: "mandatory",
  },
  [T.awsTargetGroup],
  (props, args, report) => {
    const hc = obj(props.healthCheck);
    if (hc?.enabled === false) {
      report(
        `Target group ${args.name} has health checks disabled; set healthCheck.enabled true with the app's health path (scaleplane:app.healthCheckPath).`,
      );
      return;
    }
    const protocol = String(hc?.protocol ?? props.protocol ?? "HTTP").toUpperCase();
    if ((protocol === "HTTP" || protocol === "HTTPS") && !str(hc?.path))
      report(
        `Target group ${args.name} has no health-check path; set healthCheck.path to the app's health endpoint (scaleplane:app.healthCheckPath, default /health).`,
      );
  },
);

export const imdsv2Required = resourcePolicy(
  {
    name: "imdsv2-required",
    description:
      "EC2 launch templates and instances require IMDSv2 session tokens (metadataOptions.httpTokens = required).",
    enforcementLevel: "mandatory",
  },
  [T.awsLaunchTemplate, T.awsInstance],
  (props, args, report) => {
    const md = obj(props.metadataOptions);
    if (md?.httpTokens !== "required") {
      const what = args.type === T.awsLaunchTemplate ? "Launch template" : "EC2 instance";
      report(
        `${what} ${args.name} allows IMDSv1 (metadataOptions.httpTokens is ${str(md?.httpTokens) ?? "unset"}); set metadataOptions.httpTokens to "required".`,
      );
    }
  },
);

export const autoscalingPolicies = [
  asgMinInstancesProd,
  asgMaxNotBelowMin,
  scalingCooldownsSet,
  asgElbHealthCheck,
  lbTargetHealthCheck,
  imdsv2Required,
];
