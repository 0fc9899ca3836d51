/**
 * The autoscaling group's pure spec: capacity, drain timing, instance environment, health checks,
 * container/pod sizing, the Kubernetes HPA behaviour, the AWS scaling policies, mixed-instances
 * distribution, the CloudWatch agent config and the EC2 boot script. Every target (Docker,
 * Kubernetes, AWS) builds its resources from these; nothing here touches Pulumi or does I/O.
 */
import { ConfigError, type AppConfig, type ScalingConfig } from "./config";

/** uid/gid of the non-root user in the sample-app image (images/sample-app/Dockerfile). */
export const APP_UID = 10001;

/**
 * Seconds an instance may keep waiting for in-flight requests after `drainSeconds` have passed
 * (the sample app's drain bound is `drainSeconds + DRAIN_OVERRUN_SECONDS`).
 */
export const DRAIN_OVERRUN_SECONDS = 15;
/** Seconds a process gets, after its drain bound, to close and exit before it is killed. */
export const EXIT_GRACE_SECONDS = 5;

/** Environment variables scaleplane sets on every instance (a user may not override them). */
export const RESERVED_ENV = ["PORT", "DRAIN_SECONDS", "DRAIN_MAX_SECONDS"] as const;

/** Port the AWS load balancer and the Kubernetes Service listen on. */
export const FRONTEND_PORT = 80;

/** Instances the group starts with: `desiredSize`, or `minSize` when unset. */
export const desiredCapacity = (app: AppConfig): number => app.desiredSize ?? app.minSize;

/** How long an instance drains and how long its runtime waits before killing it. */
export interface DrainTiming {
  /** Seconds the instance keeps serving (health 503) after it is told to stop. */
  drainSeconds: number;
  /** Upper bound of the drain: in-flight requests may extend it up to here. */
  drainMaxSeconds: number;
  /**
   * Seconds the runtime waits between SIGTERM and SIGKILL (docker stop timeout, Kubernetes
   * terminationGracePeriodSeconds): always more than the drain bound.
   */
  stopGraceSeconds: number;
}

export function drainTiming(scaling: ScalingConfig): DrainTiming {
  const drainMaxSeconds = scaling.drainSeconds + DRAIN_OVERRUN_SECONDS;
  return { drainSeconds: scaling.drainSeconds, drainMaxSeconds, stopGraceSeconds: drainMaxSeconds + EXIT_GRACE_SECONDS };
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The plain environment of every instance: `app.env`, then `extra` (the component's `env`), then
 * PORT/DRAIN_SECONDS/DRAIN_MAX_SECONDS. Names must be shell-safe; a reserved name, or a name that
 * is also a secret, is refused with the argument named.
 */
export function instanceEnv(app: AppConfig, extra: Record<string, string> = {}, secretNames: readonly string[] = []): Record<string, string> {
  const problems: { key: string; message: string }[] = [];
  const check = (arg: string, name: string) => {
    if (!ENV_NAME.test(name)) problems.push({ key: `${arg}.${name}`, message: "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)" });
    else if ((RESERVED_ENV as readonly string[]).includes(name))
      problems.push({ key: `${arg}.${name}`, message: `is set by scaleplane (${RESERVED_ENV.join(", ")} come from app.port and app.scaling); remove it` });
  };
  for (const k of Object.keys(app.env)) check("app.env", k);
  for (const k of Object.keys(extra)) check("env", k);
  for (const k of secretNames) {
    check("secretEnv", k);
    if (k in app.env || k in extra) problems.push({ key: `secretEnv.${k}`, message: "is also a plain environment variable (app.env or env); set it in one place" });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const t = drainTiming(app.scaling);
  return { ...app.env, ...extra, PORT: String(app.port), DRAIN_SECONDS: String(t.drainSeconds), DRAIN_MAX_SECONDS: String(t.drainMaxSeconds) };
}

/** Where an instance answers its health check, from inside the instance. */
export const localHealthUrl = (app: AppConfig): string => `http://127.0.0.1:${app.port}${app.healthCheckPath}`;

/** Health check timings shared by the Docker healthcheck and the Kubernetes probes. */
export interface ProbeSpec {
  path: string;
  port: number;
  periodSeconds: number;
  timeoutSeconds: number;
  failureThreshold: number;
  /** Seconds before failures count (the group's health-check grace). */
  initialDelaySeconds: number;
}

/**
 * Readiness: quick to take a draining instance (503) out of rotation. Liveness: slow enough that
 * a drain (health 503 for up to drainMaxSeconds) never gets the instance killed mid-drain.
 */
export function probes(app: AppConfig): { readiness: ProbeSpec; liveness: ProbeSpec } {
  const base = { path: app.healthCheckPath, port: app.port, timeoutSeconds: 3 };
  const livenessPeriod = 10;
  return {
    readiness: { ...base, periodSeconds: 5, failureThreshold: 2, initialDelaySeconds: 0 },
    liveness: {
      ...base,
      periodSeconds: livenessPeriod,
      failureThreshold: Math.ceil(drainTiming(app.scaling).drainMaxSeconds / livenessPeriod) + 1,
      initialDelaySeconds: app.scaling.healthCheckGraceSeconds,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Docker

/** One app container on the Docker target. */
export interface DockerInstanceSpec {
  index: number;
  /** Container name (`<group>-<i>`). */
  name: string;
  /** Host port, published on 127.0.0.1 only. */
  hostPort: number;
  containerPort: number;
  /** The URL clients use from the host. */
  endpoint: string;
  healthcheck: { test: string[]; interval: string; timeout: string; retries: number; startPeriod: string };
  /** vCPUs as docker's `--cpus` value. */
  cpus: string;
  memoryMb: number;
  stopSignal: "SIGTERM";
  /** Seconds docker waits after SIGTERM before SIGKILL (more than the drain bound). */
  stopTimeoutSeconds: number;
  labels: Record<string, string>;
}

/** The `desiredCapacity` containers of a group: names, 127.0.0.1 host ports `portBase + i`, health, limits, drain. */
export function dockerInstances(group: string, app: AppConfig, portBase: number): DockerInstanceSpec[] {
  const n = desiredCapacity(app);
  if (!Number.isInteger(portBase) || portBase < 1024 || portBase + Math.max(n, 1) - 1 > 65535)
    throw new ConfigError([{ key: "docker.portBase", message: `must be a whole number ≥ 1024 with room for ${n} ports (≤ ${65536 - Math.max(n, 1)}); got ${portBase}` }]);
  const live = probes(app).liveness;
  const t = drainTiming(app.scaling);
  return Array.from({ length: n }, (_, index) => {
    const hostPort = portBase + index;
    return {
      index,
      name: `${group}-${index}`,
      hostPort,
      containerPort: app.port,
      endpoint: `http://127.0.0.1:${hostPort}`,
      healthcheck: {
        test: ["CMD", "curl", "-fsS", "-o", "/dev/null", "--max-time", String(live.timeoutSeconds), localHealthUrl(app)],
        interval: `${live.periodSeconds}s`,
        timeout: `${live.timeoutSeconds}s`,
        retries: 3,
        startPeriod: `${app.scaling.healthCheckGraceSeconds}s`,
      },
      cpus: String(app.cpu),
      memoryMb: app.memoryMb,
      stopSignal: "SIGTERM",
      stopTimeoutSeconds: t.stopGraceSeconds,
      labels: { "scaleplane.component": "autoscaling-group", "scaleplane.group": group, "scaleplane.app": app.name, "scaleplane.instance": String(index) },
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

/** Pod resources: requests equal limits (Guaranteed QoS, so HPA utilisation is of a fixed size). */
export function kubernetesResources(app: AppConfig): { requests: Record<"cpu" | "memory", string>; limits: Record<"cpu" | "memory", string> } {
  const r = { cpu: `${Math.round(app.cpu * 1000)}m`, memory: `${app.memoryMb}Mi` };
  return { requests: { ...r }, limits: { ...r } };
}

/** HPA replicas: Kubernetes' HPA cannot scale to zero, so `minSize: 0` keeps one replica. */
export const hpaReplicas = (app: AppConfig): { minReplicas: number; maxReplicas: number } => ({
  minReplicas: Math.max(1, app.minSize),
  maxReplicas: app.maxSize,
});

export interface HpaScalingPolicy {
  type: "Pods" | "Percent";
  value: number;
  periodSeconds: number;
}
export interface HpaScalingRules {
  stabilizationWindowSeconds: number;
  selectPolicy: "Max" | "Min";
  policies: HpaScalingPolicy[];
}

/**
 * autoscaling/v2 `behavior`. Scale-up: the stabilization window is the scale-up cooldown; at most
 * double or +4 pods per 15 s, whichever is more. Scale-down: the window is the scale-down
 * cooldown; at most 50% or 1 pod per minute, whichever is less (gentle, so a burst after a lull
 * is not met by a group that shed everything at once).
 */
export function hpaBehavior(scaling: ScalingConfig): { scaleUp: HpaScalingRules; scaleDown: HpaScalingRules } {
  return {
    scaleUp: {
      stabilizationWindowSeconds: scaling.scaleUpCooldownSeconds,
      selectPolicy: "Max",
      policies: [
        { type: "Percent", value: 100, periodSeconds: 15 },
        { type: "Pods", value: 4, periodSeconds: 15 },
      ],
    },
    scaleDown: {
      stabilizationWindowSeconds: scaling.scaleDownCooldownSeconds,
      selectPolicy: "Min",
      policies: [
        { type: "Percent", value: 50, periodSeconds: 60 },
        { type: "Pods", value: 1, periodSeconds: 60 },
      ],
    },
  };
}

/** HPA metrics: average CPU and memory utilisation of the pods' requests. */
export function hpaMetrics(scaling: ScalingConfig) {
  const resource = (name: "cpu" | "memory", averageUtilization: number) => ({
    type: "Resource" as const,
    resource: { name, target: { type: "Utilization" as const, averageUtilization } },
  });
  return [resource("cpu", scaling.cpuTargetPercent), resource("memory", scaling.memoryTargetPercent)];
}

// ---------------------------------------------------------------------------------------------
// AWS

/** The AMI every instance boots: Amazon Linux 2023 (x86_64), resolved by EC2 at launch (no lookup at plan time). */
export const AWS_AMI = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";
/** Instance refresh keeps at least this share of the group healthy. */
export const INSTANCE_REFRESH_MIN_HEALTHY_PERCENT = 90;
/** CloudWatch agent namespace and metric of instance memory use. */
export const MEMORY_METRIC = { namespace: "CWAgent", metricName: "mem_used_percent", dimension: "AutoScalingGroupName" } as const;

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
    policy("cpu", app.scaling.cpuTargetPercent, { predefinedMetricSpecification: { predefinedMetricType: "ASGAverageCPUUtilization" } }),
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

/** On-demand base plus a spot share over the listed instance types (undefined: a plain launch template). */
export function awsInstancesDistribution(app: AppConfig) {
  const mi = app.mixedInstances;
  if (!mi) return undefined;
  return {
    instancesDistribution: {
      onDemandBaseCapacity: mi.onDemandBaseCapacity,
      onDemandPercentageAboveBaseCapacity: mi.onDemandPercentageAboveBase,
      onDemandAllocationStrategy: "prioritized",
      spotAllocationStrategy: "price-capacity-optimized",
    },
    overrides: mi.instanceTypes.map((instanceType) => ({ instanceType })),
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
export const ssmSecretParameterName = (prefix: string, envName: string): string => `${prefix.replace(/\/+$/, "")}/${envName}`;

export interface AwsUserDataInput {
  app: AppConfig;
  /** Plain environment (already merged with {@link instanceEnv}). */
  env: Record<string, string>;
  /** Secret environment variable → SSM SecureString parameter name (values are fetched at boot). */
  secretParameters: Record<string, string>;
  /** Name of the group's termination lifecycle hook. */
  lifecycleHookName: string;
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

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
    if (/[\r\n\0]/.test(v)) throw new ConfigError([{ key: `env.${k}`, message: "must not contain a newline or NUL (it goes into an env file)" }]);
  const t = drainTiming(app.scaling);
  const envLines = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const fetchSecrets = Object.entries(secretParameters).map(
    ([k, param]) =>
      `printf '%s=%s\\n' ${k} "$(aws ssm get-parameter --region "$REGION" --with-decryption --name ${shellQuote(param)} --query Parameter.Value --output text)" >> "$ENV_FILE"`,
  );
  const imds = `TOKEN=$(curl -fsS -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')`;
  const md = (p: string) => `curl -fsS -H "X-aws-ec2-metadata-token: $TOKEN" http://169.254.169.254/latest/${p}`;
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
    "cat > /etc/systemd/system/scaleplane-drain.service <<'UNIT'",
    "[Unit]",
    "Description=scaleplane drain watcher",
    "After=docker.service",
    "[Service]",
    "ExecStart=/usr/local/bin/scaleplane-drain",
    "Restart=on-failure",
    "[Install]",
    "WantedBy=multi-user.target",
    "UNIT",
    "systemctl daemon-reload",
    "systemctl enable --now scaleplane-drain.service",
    "",
  ].join("\n");
}
