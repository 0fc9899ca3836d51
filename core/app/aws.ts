/**
 * The autoscaling group's AWS spec: the AMI, instance refresh, CPU and memory target tracking,
 * the mixed-instances distribution, the CloudWatch agent config and the EC2 boot script (built
 * from the shared pieces in core/aws/boot-script.ts). Pure.
 */
import { ConfigError, configFail, type AppConfig } from "../config";
import { amazonLinuxAmi, commonArchitecture } from "../aws/ec2-arch";
import { imdsRead, imdsToken, shellQuote, ssmGetSecureString, systemdUnit } from "../aws/boot-script";
import { planMix } from "../scaling/cost";
import { appScalingPolicy } from "./scaling";
import { drainTiming, localHealthUrl } from "./spec";

/** Amazon Linux 2023 for x86_64, resolved by EC2 at launch (no lookup at plan time). */
export const AWS_AMI = amazonLinuxAmi("x86_64");

/**
 * The AMI the group's instances boot: Amazon Linux 2023 for the architecture of app.instanceType
 * and every mixed-instances type (one launch template, one AMI: the types must share an
 * architecture), so Graviton types get the arm64 image. A ConfigError names the key otherwise.
 */
export function awsAmi(app: AppConfig): string {
  const mixed = awsMixedInstances(app);
  const key = app.mixedInstances
    ? "app.mixedInstances.instanceTypes"
    : mixed
      ? "app.scaling.cost.instanceTypes"
      : "app.instanceType";
  const types = [app.instanceType, ...(mixed?.instanceTypes.map((t) => t.instanceType) ?? [])];
  let common: ReturnType<typeof commonArchitecture>;
  try {
    common = commonArchitecture(types);
  } catch (e) {
    configFail(key, (e as Error).message);
  }
  if ("error" in common) configFail(key, `${common.error} (app.instanceType ${app.instanceType} included)`);
  return amazonLinuxAmi(common.arch);
}
/** Instance refresh keeps at least this share of the group healthy. */
export const INSTANCE_REFRESH_MIN_HEALTHY_PERCENT = 90;
/** CloudWatch agent namespace and metric of instance memory use. */
export const MEMORY_METRIC = {
  namespace: "CWAgent",
  metricName: "mem_used_percent",
  dimension: "AutoScalingGroupName",
} as const;

/** A target-tracking policy; `groupName` fills the memory metric's dimension. */
export interface AwsTargetTrackingSpec<G> {
  /** Resource suffix (`<group>-cpu`). */
  suffix: "cpu" | "memory";
  estimatedInstanceWarmup: number;
  targetTrackingConfiguration: {
    targetValue: number;
    disableScaleIn: boolean;
    predefinedMetricSpecification?: { predefinedMetricType: "ASGAverageCPUUtilization" };
    customizedMetricSpecification?: {
      namespace: string;
      metricName: string;
      statistic: "Average";
      unit: "Percent";
      metricDimensions: { name: string; value: G }[];
    };
  };
}

/** CPU (ASGAverageCPUUtilization) and memory (CWAgent mem_used_percent per group) target tracking. */
export function awsScalingPolicies<G>(app: AppConfig, groupName: G): AwsTargetTrackingSpec<G>[] {
  const policy = (
    suffix: AwsTargetTrackingSpec<G>["suffix"],
    targetValue: number,
    metric: Omit<AwsTargetTrackingSpec<G>["targetTrackingConfiguration"], "targetValue" | "disableScaleIn">,
  ): AwsTargetTrackingSpec<G> => ({
    suffix,
    estimatedInstanceWarmup: app.scaling.healthCheckGraceSeconds,
    targetTrackingConfiguration: { targetValue, disableScaleIn: false, ...metric },
  });
  return [
    policy("cpu", app.scaling.cpuTargetPercent, {
      predefinedMetricSpecification: { predefinedMetricType: "ASGAverageCPUUtilization" },
    }),
    policy("memory", app.scaling.memoryTargetPercent, {
      customizedMetricSpecification: {
        namespace: MEMORY_METRIC.namespace,
        metricName: MEMORY_METRIC.metricName,
        statistic: "Average",
        unit: "Percent",
        metricDimensions: [{ name: MEMORY_METRIC.dimension, value: groupName }],
      },
    }),
  ];
}

/**
 * The group's mixed-instances choice: the user's `app.mixedInstances` when pinned; else, for
 * `app.scaling.engine: cost`, the cost engine's choice (core/scaling/cost.ts) at the group's full
 * size (maxSize capacity units, where the money is): the types its mix uses with their capacity
 * units as weights (on-demand ones first, cheapest per unit first: the on-demand allocation is
 * `prioritized`), the committed capacity and the on-demand base as the on-demand base capacity,
 * and the share of the capacity above it that the engine left on-demand (rounded up: never more
 * spot than the engine chose). Undefined: one instance type (app.instanceType).
 */
export function awsMixedInstances(app: AppConfig):
  | {
      instanceTypes: { instanceType: string; weightedCapacity?: string }[];
      onDemandBaseCapacity: number;
      onDemandPercentageAboveBase: number;
      source: "app.mixedInstances" | "cost engine";
    }
  | undefined {
  const pinned = app.mixedInstances;
  if (pinned)
    return {
      instanceTypes: pinned.instanceTypes.map((instanceType) => ({ instanceType })),
      onDemandBaseCapacity: pinned.onDemandBaseCapacity,
      onDemandPercentageAboveBase: pinned.onDemandPercentageAboveBase,
      source: "app.mixedInstances",
    };
  if (app.scaling.engine !== "cost") return undefined;
  const policy = appScalingPolicy(app, 60);
  const cost = policy.cost!;
  const units = app.maxSize;
  const plan = planMix(units, cost, policy.predictive.warmupSeconds);
  const committedCapacity = Math.min(units, cost.committedUnits > 0 ? plan.committedUnits : 0);
  const base = Math.min(units, Math.max(cost.onDemandBase, committedCapacity));
  const above = units - base;
  const perUnit = (type: string) => {
    const t = cost.instanceTypes.find((x) => x.name === type)!;
    return t.onDemandPerHour / t.capacityUnits;
  };
  const used = [...new Set(plan.mix.map((e) => e.type))];
  const onDemandTypes = used.filter((t) => plan.mix.some((e) => e.type === t && e.market !== "spot"));
  const ordered = [
    ...onDemandTypes.sort((a, b) => perUnit(a) - perUnit(b)),
    ...used.filter((t) => !onDemandTypes.includes(t)),
  ];
  // A group too small for any mix still needs a type: the cheapest on-demand unit.
  if (ordered.length === 0)
    ordered.push([...cost.instanceTypes].sort((a, b) => perUnit(a.name) - perUnit(b.name))[0].name);
  return {
    instanceTypes: ordered.map((instanceType) => ({
      instanceType,
      weightedCapacity: String(cost.instanceTypes.find((t) => t.name === instanceType)!.capacityUnits),
    })),
    onDemandBaseCapacity: base,
    onDemandPercentageAboveBase: above > 0 ? Math.ceil((100 * (above - Math.min(above, plan.spotUnits))) / above) : 100,
    source: "cost engine",
  };
}

/** On-demand base plus a spot share over the chosen instance types (undefined: a plain launch template). */
export function awsInstancesDistribution(app: AppConfig) {
  const mi = awsMixedInstances(app);
  if (!mi) return undefined;
  return {
    instancesDistribution: {
      onDemandBaseCapacity: mi.onDemandBaseCapacity,
      onDemandPercentageAboveBaseCapacity: mi.onDemandPercentageAboveBase,
      onDemandAllocationStrategy: "prioritized",
      spotAllocationStrategy: "price-capacity-optimized",
    },
    overrides: mi.instanceTypes,
  };
}

/** The CloudWatch agent config: memory use per instance, aggregated per Auto Scaling group. */
export function cloudWatchAgentConfig(): object {
  return {
    agent: { metrics_collection_interval: 60, run_as_user: "cwagent" },
    metrics: {
      namespace: MEMORY_METRIC.namespace,
      append_dimensions: { AutoScalingGroupName: "${aws:AutoScalingGroupName}", InstanceId: "${aws:InstanceId}" },
      aggregation_dimensions: [[MEMORY_METRIC.dimension]],
      metrics_collected: { mem: { measurement: ["mem_used_percent"], metrics_collection_interval: 60 } },
    },
  };
}

/** SSM parameter holding one secret environment variable of a group. */
export const ssmSecretParameterName = (prefix: string, envName: string): string =>
  `${prefix.replace(/\/+$/, "")}/${envName}`;

export interface AwsUserDataInput {
  app: AppConfig;
  /** Plain environment (already merged with `instanceEnv` of spec.ts). */
  env: Record<string, string>;
  /** Secret environment variable → SSM SecureString parameter name (values are fetched at boot). */
  secretParameters: Record<string, string>;
  /** Name of the group's termination lifecycle hook. */
  lifecycleHookName: string;
}

/**
 * The EC2 boot script (Amazon Linux 2023): installs docker and the CloudWatch agent (memory
 * metric), writes the app's env file (secrets fetched from SSM with the instance role, never in
 * the script), runs the app container, and installs a drain watcher: when the instance enters
 * Terminating:Wait it stops the container with SIGTERM (the app drains), then completes the
 * lifecycle action. Env values containing a newline are refused (they would break the env file).
 */
export function awsUserData(input: AwsUserDataInput): string {
  const { app, env, secretParameters, lifecycleHookName } = input;
  for (const [k, v] of Object.entries(env))
    if (/[\r\n\0]/.test(v))
      throw new ConfigError([
        { key: `env.${k}`, message: "must not contain a newline or NUL (it goes into an env file)" },
      ]);
  const t = drainTiming(app.scaling);
  const envLines = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const fetchSecrets = Object.entries(secretParameters).map(
    ([k, param]) => `printf '%s=%s\\n' ${k} "$(${ssmGetSecureString(param)})" >> "$ENV_FILE"`,
  );
  const imds = imdsToken();
  const md = (p: string) => imdsRead(p);
  return [
    "#!/bin/bash",
    "set -euo pipefail",
    imds,
    `REGION=$(${md("meta-data/placement/region")})`,
    "dnf install -y docker amazon-cloudwatch-agent",
    "systemctl enable --now docker",
    "",
    "# CloudWatch agent: mem_used_percent per Auto Scaling group (the memory scaling policy's metric).",
    "cat > /opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json <<'CWAGENT'",
    JSON.stringify(cloudWatchAgentConfig(), null, 2),
    "CWAGENT",
    "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json",
    "",
    "# App environment: plain values here, secrets from SSM (SecureString) with the instance role.",
    "install -d -m 0700 /etc/scaleplane",
    "ENV_FILE=/etc/scaleplane/app.env",
    "umask 077",
    "cat > \"$ENV_FILE\" <<'APPENV'",
    ...envLines,
    "APPENV",
    ...fetchSecrets,
    "",
    `docker run -d --name app --restart unless-stopped --env-file "$ENV_FILE" -p ${app.port}:${app.port} \\`,
    `  --cpus ${shellQuote(String(app.cpu))} --memory ${app.memoryMb}m --stop-signal SIGTERM --stop-timeout ${t.stopGraceSeconds} \\`,
    `  --health-cmd ${shellQuote(`curl -fsS -o /dev/null ${localHealthUrl(app)}`)} --health-start-period ${app.scaling.healthCheckGraceSeconds}s \\`,
    `  ${shellQuote(app.image)}`,
    "",
    "# Drain watcher: on Terminating:Wait, SIGTERM the app (it drains), then let the group continue.",
    "cat > /usr/local/bin/scaleplane-drain <<'DRAIN'",
    "#!/bin/bash",
    "set -uo pipefail",
    "while true; do",
    `  ${imds}`,
    `  STATE=$(${md("meta-data/autoscaling/target-lifecycle-state")} || true)`,
    '  if [ "$STATE" = "Terminated" ]; then',
    `    docker stop --time ${t.stopGraceSeconds} app || true`,
    `    INSTANCE=$(${md("meta-data/instance-id")})`,
    `    REGION=$(${md("meta-data/placement/region")})`,
    '    GROUP=$(aws autoscaling describe-auto-scaling-instances --region "$REGION" --instance-ids "$INSTANCE" --query "AutoScalingInstances[0].AutoScalingGroupName" --output text)',
    `    aws autoscaling complete-lifecycle-action --region "$REGION" --instance-id "$INSTANCE" --auto-scaling-group-name "$GROUP" --lifecycle-hook-name ${shellQuote(lifecycleHookName)} --lifecycle-action-result CONTINUE`,
    "    exit 0",
    "  fi",
    "  sleep 5",
    "done",
    "DRAIN",
    "chmod 0755 /usr/local/bin/scaleplane-drain",
    ...systemdUnit({
      name: "scaleplane-drain",
      description: "scaleplane drain watcher",
      after: "docker.service",
      execStart: "/usr/local/bin/scaleplane-drain",
      serviceLines: ["Restart=on-failure"],
    }),
    "systemctl daemon-reload",
    "systemctl enable --now scaleplane-drain.service",
    "",
  ].join("\n");
}
