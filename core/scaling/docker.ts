/**
 * The Docker AutoscalingGroup as a really autoscaled group, pure: what the component creates
 * (the group network, the HAProxy load balancer published on one 127.0.0.1 port, two
 * leader-elected scaling controllers) and what it hands the ManagedInstanceGroup resource (the launch
 * spec of an instance and the scaling policy). The app containers themselves are not Pulumi
 * resources: the controller owns them, as an Auto Scaling group owns its instances.
 *
 * The policy is core/app/scaling.ts `appScalingPolicyInput`: `app.scaling.engine` (hpa by default)
 * on CPU and memory with the Kubernetes target's `behavior`, so a group scales alike on both
 * targets, and `app.scaling.engineSettings` merged over it.
 */
import type { AppConfig } from "../config";
import { drainTiming, probes } from "../app/spec";
import { appScalingPolicyInput } from "../app/scaling";
import { hostPortRange } from "../ports";
import { haproxyConfig, lbSlots, LB_ADMIN_SOCKET, LB_FRONTEND_PORT } from "../app/haproxy";
import type { LaunchSpecInput } from "./reconcile";
import type { ScalingPolicyInput } from "./policy";

/** Local images (built by `npm run images`). */
export const LB_IMAGE = "scaleplane/load-balancer:2.6-fenced";
export const SCALER_IMAGE = "scaleplane/scaler:0.2.2";
/** The image whose POST /shutdown is the drain's optional fast path (runtime/sample-app). */
export const SAMPLE_APP_IMAGE_PREFIX = "scaleplane/sample-app:";
/** Controller replicas: one leads, one stands by. */
export const CONTROLLER_REPLICAS = 2;
/** Leadership lease TTL: a crashed leader is replaced within it. */
export const CONTROLLER_LEASE_TTL_SECONDS = 10;
/** Seconds between the controller's decisions on the Docker target. */
export const CONTROLLER_PERIOD_SECONDS = 15;
/** Where the controllers reach the Docker engine (bind-mounted socket). */
export const DOCKER_SOCKET = "/var/run/docker.sock";

/** File the controller touches every few seconds while its event loop turns (its container healthcheck). */
export const SCALER_HEARTBEAT_FILE = "/tmp/scaler-heartbeat";
/** Seconds between heartbeats; the healthcheck fails after three missed ones. */
export const SCALER_HEARTBEAT_SECONDS = 5;

/** A container healthcheck (Docker's fields). */
export interface HealthcheckSpec {
  test: string[];
  interval: string;
  timeout: string;
  retries: number;
  startPeriod: string;
}

export interface DockerScalingSpec {
  /** The group's physical name: container names `<group>-<seq>`, etcd keys `autoscaling/<group>/...`. */
  group: string;
  /** The group's network (the LB reaches the instances there). */
  network: string;
  lb: {
    name: string;
    image: string;
    /** The config travels in HAPROXY_CONFIG (images/load-balancer/entrypoint.sh writes it). */
    env: Record<string, string>;
    /** 127.0.0.1 port clients use. */
    hostPort: number;
    containerPort: number;
    slots: number;
    labels: Record<string, string>;
    /** HAProxy answers on its admin socket. */
    healthcheck: HealthcheckSpec;
    cpus: string;
    memoryMb: number;
  };
  controllers: {
    name: string;
    image: string;
    env: Record<string, string>;
    labels: Record<string, string>;
    healthcheck: HealthcheckSpec;
    cpus: string;
    memoryMb: number;
  }[];
  /** The launch spec without what comes from Outputs (env, extra networks, secrets). */
  launchSpec: Omit<LaunchSpecInput, "group" | "env" | "secretEnv">;
  policy: ScalingPolicyInput;
  /** How clients reach the group. */
  endpoint: string;
}

/**
 * The autoscaled Docker group of component `group` (logical name) with physical prefix `scope`;
 * the LB publishes on 127.0.0.1:`portBase`.
 */
export function dockerScalingSpec(group: string, scope: string, app: AppConfig, portBase: number): DockerScalingSpec {
  const [hostPort] = hostPortRange("docker.portBase", portBase, 1);
  const t = drainTiming(app.scaling);
  const { readiness, liveness } = probes(app);
  const network = `${scope}-net`;
  const lbName = `${scope}-lb`;
  const labels = (role: string) => ({
    "scaleplane.component": "autoscaling-group",
    "scaleplane.group": group,
    "scaleplane.app": app.name,
    "scaleplane.role": role,
  });
  const slots = lbSlots(app.maxSize);
  return {
    group: scope,
    network,
    lb: {
      name: lbName,
      image: LB_IMAGE,
      env: {
        HAPROXY_CONFIG: haproxyConfig({
          slots,
          backendPort: app.port,
          healthPath: app.healthCheckPath,
          // The readiness probe, as HAProxy's check: a failure threshold like a Kubernetes probe's.
          check: {
            intervalSeconds: readiness.periodSeconds,
            timeoutSeconds: readiness.timeoutSeconds,
            fall: readiness.failureThreshold,
            rise: readiness.successThreshold,
          },
        }),
      },
      hostPort,
      containerPort: LB_FRONTEND_PORT,
      slots,
      labels: labels("load-balancer"),
      healthcheck: {
        test: [
          "CMD-SHELL",
          `echo 'show info' | socat -t 2 stdio unix-connect:${LB_ADMIN_SOCKET} | grep -q '^Name: HAProxy'`,
        ],
        interval: "10s",
        timeout: "3s",
        retries: 3,
        startPeriod: "5s",
      },
      cpus: "0.5",
      memoryMb: 128,
    },
    controllers: Array.from({ length: CONTROLLER_REPLICAS }, (_, i) => {
      const name = `${scope}-scaler-${i}`;
      return {
        name,
        image: SCALER_IMAGE,
        env: { SCALER_GROUP: scope, SCALER_ID: name, SCALER_LEASE_TTL_SECONDS: String(CONTROLLER_LEASE_TTL_SECONDS) },
        labels: labels("scaling-controller"),
        healthcheck: {
          test: [
            "CMD-SHELL",
            `test $(( $(date +%s) - $(stat -c %Y ${SCALER_HEARTBEAT_FILE}) )) -lt ${3 * SCALER_HEARTBEAT_SECONDS}`,
          ],
          interval: `${SCALER_HEARTBEAT_SECONDS * 2}s`,
          timeout: "3s",
          retries: 3,
          startPeriod: "10s",
        },
        cpus: "0.25",
        memoryMb: 192,
      };
    }),
    launchSpec: {
      image: app.image,
      port: app.port,
      healthPath: app.healthCheckPath,
      cpus: app.cpu,
      memoryMb: app.memoryMb,
      networks: [network],
      labels: { "scaleplane.app": app.name },
      loadBalancer: lbName,
      drainSeconds: t.drainSeconds,
      drainMaxSeconds: t.drainMaxSeconds,
      healthCheckGraceSeconds: app.scaling.healthCheckGraceSeconds,
      stopTimeoutSeconds: t.stopGraceSeconds,
      rollout: { maxSurge: app.rollout.maxSurge, minHealthyPercent: app.rollout.minHealthyPercent },
      // Down this long (the liveness probe's budget): replaced.
      unhealthyReplaceSeconds: liveness.periodSeconds * liveness.failureThreshold,
      ...(app.image.startsWith(SAMPLE_APP_IMAGE_PREFIX) ? { shutdownPath: "/shutdown", metricsPath: "/metrics" } : {}),
    },
    policy: appScalingPolicyInput(app, CONTROLLER_PERIOD_SECONDS),
    endpoint: `http://127.0.0.1:${hostPort}`,
  };
}
