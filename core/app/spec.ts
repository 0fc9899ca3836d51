/**
 * The autoscaling group's target-independent spec: capacity, drain timing, the instance
 * environment and health checks. The per-target specs (docker.ts, kubernetes.ts, aws.ts) build on
 * these; nothing here touches Pulumi or does I/O.
 */
import { ConfigError, type AppConfig, type ScalingConfig } from "../config";

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
  return {
    drainSeconds: scaling.drainSeconds,
    drainMaxSeconds,
    stopGraceSeconds: drainMaxSeconds + EXIT_GRACE_SECONDS,
  };
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The plain environment of every instance: `app.env`, then `extra` (the component's `env`), then
 * PORT/DRAIN_SECONDS/DRAIN_MAX_SECONDS. Names must be shell-safe; a reserved name, or a name that
 * is also a secret, is refused with the argument named.
 */
export function instanceEnv(
  app: AppConfig,
  extra: Record<string, string> = {},
  secretNames: readonly string[] = [],
): Record<string, string> {
  const problems: { key: string; message: string }[] = [];
  const check = (arg: string, name: string) => {
    if (!ENV_NAME.test(name))
      problems.push({
        key: `${arg}.${name}`,
        message: "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)",
      });
    else if ((RESERVED_ENV as readonly string[]).includes(name))
      problems.push({
        key: `${arg}.${name}`,
        message: `is set by scaleplane (${RESERVED_ENV.join(", ")} come from app.port and app.scaling); remove it`,
      });
  };
  for (const k of Object.keys(app.env)) check("app.env", k);
  for (const k of Object.keys(extra)) check("env", k);
  for (const k of secretNames) {
    check("secretEnv", k);
    if (k in app.env || k in extra)
      problems.push({
        key: `secretEnv.${k}`,
        message: "is also a plain environment variable (app.env or env); set it in one place",
      });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const t = drainTiming(app.scaling);
  return {
    ...app.env,
    ...extra,
    PORT: String(app.port),
    DRAIN_SECONDS: String(t.drainSeconds),
    DRAIN_MAX_SECONDS: String(t.drainMaxSeconds),
  };
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
  /** Passed checks in a row that make it ready again. */
  successThreshold: number;
}

/**
 * Readiness: quick to take a draining instance (503) out of rotation. Liveness: slow enough that
 * a drain (health 503 for up to drainMaxSeconds) never gets the instance killed mid-drain.
 */
export function probes(app: AppConfig): { readiness: ProbeSpec; liveness: ProbeSpec } {
  const base = { path: app.healthCheckPath, port: app.port, timeoutSeconds: 3 };
  const livenessPeriod = 10;
  return {
    readiness: { ...base, periodSeconds: 5, failureThreshold: 2, successThreshold: 1, initialDelaySeconds: 0 },
    liveness: {
      ...base,
      periodSeconds: livenessPeriod,
      failureThreshold: Math.ceil(drainTiming(app.scaling).drainMaxSeconds / livenessPeriod) + 1,
      successThreshold: 1,
      initialDelaySeconds: app.scaling.healthCheckGraceSeconds,
    },
  };
}
