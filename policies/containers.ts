/**
 * Container policies (Kubernetes pods and Docker containers): health checks on, no privileged
 * mode, CPU and memory bounded.
 */
import {
  T,
  arr,
  containerName,
  K8S_WORKLOADS,
  mainContainers,
  num,
  obj,
  podContainers,
  resourcePolicy,
  str,
} from "./lib";

export const k8sProbesConfigured = resourcePolicy(
  {
    name: "k8s-probes-configured",
    description: "Every long-running container of a Deployment or StatefulSet has a readiness and a liveness probe.",
    enforcementLevel: "mandatory",
  },
  K8S_WORKLOADS,
  (props, args, report) => {
    mainContainers(props).forEach((c, i) => {
      const missing = ["readinessProbe", "livenessProbe"].filter((p) => !obj(c[p]));
      if (missing.length > 0)
        report(
          `${args.name} container ${containerName(c, i)} has no ${missing.join(" and no ")}; add ${missing.join(" and ")} (e.g. httpGet on the health path) so Kubernetes stops routing to and restarts broken pods.`,
        );
    });
  },
);

export const dockerHealthcheckConfigured = resourcePolicy(
  {
    name: "docker-healthcheck-configured",
    description: "Docker containers declare a healthcheck command.",
    enforcementLevel: "mandatory",
  },
  [T.dockerContainer],
  (props, args, report) => {
    const tests = arr(obj(props.healthcheck)?.tests).map(String);
    if (tests.length === 0 || tests[0] === "NONE")
      report(
        `Container ${args.name} has no healthcheck; set healthcheck.tests (e.g. ["CMD", "curl", "-fsS", "http://127.0.0.1:8080/health"]) with an interval and retries.`,
      );
  },
);

export const noPrivilegedContainers = resourcePolicy(
  {
    name: "no-privileged-containers",
    description: "No container runs privileged (Kubernetes securityContext.privileged, Docker privileged).",
    enforcementLevel: "mandatory",
  },
  [...K8S_WORKLOADS, T.dockerContainer],
  (props, args, report) => {
    if (args.type === T.dockerContainer) {
      if (props.privileged === true)
        report(
          `Container ${args.name} runs privileged; remove privileged (grant single capabilities with capabilities.adds if one is really needed).`,
        );
      return;
    }
    podContainers(props).forEach((c, i) => {
      if (obj(c.securityContext)?.privileged === true)
        report(
          `${args.name} container ${containerName(c, i)} runs privileged; set securityContext.privileged false (add single capabilities if one is really needed).`,
        );
    });
  },
);

export const containerResourceLimits = resourcePolicy(
  {
    name: "container-resource-limits",
    description:
      "Containers have a memory limit and a CPU limit or request (Kubernetes resources; Docker memory and cpus/cpuShares).",
    enforcementLevel: "advisory",
  },
  [...K8S_WORKLOADS, T.dockerContainer],
  (props, args, report) => {
    if (args.type === T.dockerContainer) {
      const missing = [
        ...((num(props.memory) ?? 0) > 0 ? [] : ["memory"]),
        ...(str(props.cpus) || num(props.cpuShares) || num(props.cpuQuota) ? [] : ["cpus"]),
      ];
      if (missing.length > 0)
        report(
          `Container ${args.name} has no ${missing.join(" or ")} limit; set ${missing.join(" and ")} so one container cannot starve the host.`,
        );
      return;
    }
    podContainers(props).forEach((c, i) => {
      const res = obj(c.resources) ?? {};
      const limits = obj(res.limits) ?? {};
      const requests = obj(res.requests) ?? {};
      const missing = [
        ...(limits.memory !== undefined ? [] : ["limits.memory"]),
        ...(limits.cpu !== undefined || requests.cpu !== undefined ? [] : ["limits.cpu or requests.cpu"]),
      ];
      if (missing.length > 0)
        report(
          `${args.name} container ${containerName(c, i)} has no ${missing.join(" and no ")}; set resources.${missing.join(" and resources.")} so the scheduler can place it and one pod cannot starve a node.`,
        );
    });
  },
);

export const containerPolicies = [
  k8sProbesConfigured,
  dockerHealthcheckConfigured,
  noPrivilegedContainers,
  containerResourceLimits,
];
