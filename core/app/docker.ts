/**
 * The autoscaling group's Docker spec: one container per instance, published on 127.0.0.1 only,
 * with a healthcheck, limits and a SIGTERM drain window. Pure.
 */
import type { AppConfig } from "../config";
import { hostPortRange } from "../ports";
import { desiredCapacity, drainTiming, localHealthUrl, probes } from "./spec";

/** One app container on the Docker target. */
export interface DockerInstanceSpec {
  index: number;
  /** Logical (Pulumi) resource name: `<group>-<i>`. */
  resourceName: string;
  /** Container name: `<scope>-<i>` (`scope` is the stack-scoped physical prefix; the group name by default). */
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

/**
 * The `desiredCapacity` containers of a group: names, 127.0.0.1 host ports `portBase + i`,
 * health, limits, drain. `scope` prefixes the container names (a Docker host is shared by stacks).
 */
export function dockerInstances(
  group: string,
  app: AppConfig,
  portBase: number,
  scope: string = group,
): DockerInstanceSpec[] {
  const ports = hostPortRange("docker.portBase", portBase, desiredCapacity(app));
  const live = probes(app).liveness;
  const t = drainTiming(app.scaling);
  return ports.map((hostPort, index) => {
    return {
      index,
      resourceName: `${group}-${index}`,
      name: `${scope}-${index}`,
      hostPort,
      containerPort: app.port,
      endpoint: `http://127.0.0.1:${hostPort}`,
      healthcheck: {
        test: [
          "CMD",
          "curl",
          "-fsS",
          "-o",
          "/dev/null",
          "--max-time",
          String(live.timeoutSeconds),
          localHealthUrl(app),
        ],
        interval: `${live.periodSeconds}s`,
        timeout: `${live.timeoutSeconds}s`,
        retries: 3,
        startPeriod: `${app.scaling.healthCheckGraceSeconds}s`,
      },
      cpus: String(app.cpu),
      memoryMb: app.memoryMb,
      stopSignal: "SIGTERM",
      stopTimeoutSeconds: t.stopGraceSeconds,
      labels: {
        "scaleplane.component": "autoscaling-group",
        "scaleplane.group": group,
        "scaleplane.app": app.name,
        "scaleplane.instance": String(index),
      },
    };
  });
}
