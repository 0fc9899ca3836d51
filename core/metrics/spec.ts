/**
 * The MetricsStore service's pure spec: names, labels, environment, probes and the EC2 boot
 * script, from the `metrics` config section. Every target (Docker, Kubernetes, AWS) builds its
 * resources from these. Pure.
 */
import type { MetricsConfig } from "../config";
import { imdsRead, imdsToken, shellQuote, ssmGetSecureString, systemdUnit } from "../aws/boot-script";
import { amazonLinuxAmi, commonArchitecture } from "../aws/ec2-arch";
import { configFail } from "../config-error";

/** Where the database password file is mounted in a store container. */
export const METRICS_PASSWORD_FILE = "/run/secrets/metrics-db-password";

/** Probe timings of the store (HTTP /health; /ready once the shard map is followed). */
export const METRICS_PROBE = { intervalSeconds: 10, timeoutSeconds: 3, failureThreshold: 3, startPeriodSeconds: 20 };

/** Labels of the store's resources. */
export function metricsLabels(m: MetricsConfig): Record<string, string> {
  return {
    "app.kubernetes.io/name": "metrics-store",
    "app.kubernetes.io/component": "metrics-store",
    "app.kubernetes.io/part-of": "scaleplane",
    "scaleplane.io/metrics": m.name,
  };
}

/** The store's plain environment (runtime/metrics-store/main.ts documents each variable). */
export function metricsEnv(
  m: MetricsConfig,
  input: { configEndpoints: readonly string[]; databaseUser: string; configPrefix?: string },
): Record<string, string> {
  return {
    METRICS_CONFIG_ENDPOINTS: input.configEndpoints.join(","),
    METRICS_DATABASE_USER: input.databaseUser,
    METRICS_PORT: String(m.port),
    METRICS_OUT_OF_ORDER_WINDOW_SECONDS: String(m.outOfOrderWindowSeconds),
    METRICS_ADMIN_API: String(m.adminApi),
    METRICS_RETENTION: `${m.retention.rawDays},${m.retention.oneMinuteDays},${m.retention.oneHourDays}`,
    ...(input.configPrefix ? { METRICS_CONFIG_PREFIX: input.configPrefix } : {}),
  };
}

/** The container healthcheck: Node's fetch of /health (the image has no curl). */
export function metricsHealthCommand(m: MetricsConfig): string[] {
  return [
    "node",
    "-e",
    `fetch("http://127.0.0.1:${m.port}/health").then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`,
  ];
}

/** Host ports of the Docker instances: `hostPort + i`, 127.0.0.1 only. */
export function metricsHostPorts(m: MetricsConfig): number[] {
  if (m.hostPort + m.replicas - 1 > 65535)
    configFail("metrics.hostPort", `hostPort + replicas - 1 must be ≤ 65535; got ${m.hostPort} + ${m.replicas} - 1`);
  return Array.from({ length: m.replicas }, (_, i) => m.hostPort + i);
}

/** The AMI of the store instances (Amazon Linux 2023 for metrics.instanceType's architecture). */
export function metricsAmi(m: MetricsConfig): string {
  const common = commonArchitecture([m.instanceType]);
  if ("error" in common) configFail("metrics.instanceType", common.error);
  return amazonLinuxAmi(common.arch);
}

/**
 * The EC2 boot script of a store instance: Docker, the store's environment (the password read
 * from its SSM SecureString with the instance role, never in the script), and a systemd unit
 * running the image with the port published on the instance.
 */
export function metricsUserData(m: MetricsConfig, env: Record<string, string>, passwordParameter: string): string {
  for (const [k, v] of Object.entries(env))
    if (/[\r\n\0]/.test(v)) configFail(`metrics env ${k}`, "must not contain a newline or NUL");
  return [
    "#!/bin/bash",
    "set -euo pipefail",
    imdsToken(),
    `REGION=$(${imdsRead("meta-data/placement/region")})`,
    "dnf install -y docker",
    "systemctl enable --now docker",
    "install -d -m 0700 /etc/scaleplane",
    "cat > /etc/scaleplane/metrics.env <<'ENV'",
    ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
    "ENV",
    "# the password file is mounted where the store looks by default (METRICS_PASSWORD_FILE)",
    `umask 077; ${ssmGetSecureString(passwordParameter)} > /etc/scaleplane/metrics-db-password`,
    ...systemdUnit({
      name: "scaleplane-metrics",
      description: "scaleplane metrics store",
      after: "docker.service",
      wants: "docker.service",
      execStart: `/usr/bin/docker run --rm --name metrics-store --env-file /etc/scaleplane/metrics.env -v /etc/scaleplane/metrics-db-password:${METRICS_PASSWORD_FILE}:ro -p ${m.port}:${m.port} ${shellQuote(m.image)}`,
      serviceLines: ["Restart=always", "RestartSec=2"],
    }),
    "systemctl daemon-reload",
    "systemctl enable --now scaleplane-metrics",
    "",
  ].join("\n");
}
