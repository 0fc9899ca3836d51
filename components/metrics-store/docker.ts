/**
 * MetricsStore on Docker: `metrics.replicas` containers of the local image
 * `scaleplane/metrics-store` (images/metrics-store, `npm run images`) next to the shards, on the
 * config service's and the database's networks, each publishing its port on 127.0.0.1 only. The
 * database password is uploaded as a file (never an environment variable).
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import {
  METRICS_PASSWORD_FILE,
  METRICS_PROBE,
  metricsHealthCommand,
  metricsHostPorts,
  metricsLabels,
} from "../../core/metrics/spec";
import { SECRET_FILE_PERMISSIONS } from "../../core/secret-files";
import { stackScopedName } from "../../core/naming";
import { HOST_IP, dockerLabels } from "../shared/docker";
import type { MetricsBuildContext, MetricsBuildResult, MetricsStoreDockerArgs } from "./args";

const seconds = (s: number) => `${s}s`;

export function createDockerMetricsStore(ctx: MetricsBuildContext, args: MetricsStoreDockerArgs): MetricsBuildResult {
  const { name, metrics: m, parent } = ctx;
  const scope = stackScopedName(m.name, pulumi.getStack());
  const hostPorts = metricsHostPorts(m);
  const containers = hostPorts.map(
    (hostPort, i) =>
      new docker.Container(
        `${name}-${i}`,
        {
          name: `${scope}-${i}`,
          image: m.image,
          restart: "unless-stopped",
          envs: ctx.env.apply((env) => [
            ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
            `METRICS_DATABASE_PASSWORD_FILE=${METRICS_PASSWORD_FILE}`,
          ]),
          uploads: [{ file: METRICS_PASSWORD_FILE, content: ctx.password, permissions: SECRET_FILE_PERMISSIONS }],
          networksAdvanced: args.networks.map((n) => ({ name: n, aliases: [`${scope}-${i}`, scope] })),
          ports: [{ internal: m.port, external: hostPort, ip: HOST_IP, protocol: "tcp" }],
          healthcheck: {
            tests: ["CMD", ...metricsHealthCommand(m)],
            interval: seconds(METRICS_PROBE.intervalSeconds),
            timeout: seconds(METRICS_PROBE.timeoutSeconds),
            retries: METRICS_PROBE.failureThreshold,
            startPeriod: seconds(METRICS_PROBE.startPeriodSeconds),
          },
          memory: m.memoryMb,
          cpus: String(m.cpu),
          labels: dockerLabels({ ...metricsLabels(m), "scaleplane.io/instance": String(i) }),
        },
        { parent, additionalSecretOutputs: ["uploads"] },
      ),
  );
  return {
    endpoints: pulumi.output(hostPorts.map((_, i) => `http://${scope}-${i}:${m.port}`)),
    hostEndpoints: pulumi.output(hostPorts.map((p) => `http://${HOST_IP}:${p}`)),
    containers,
  };
}
