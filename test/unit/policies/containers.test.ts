import {
  containerResourceLimits,
  dockerHealthcheckConfigured,
  k8sProbesConfigured,
  noPrivilegedContainers,
} from "../../../policies/containers";
import { runResource } from "./fake-args";

const DEP = "kubernetes:apps/v1:Deployment";
const STS = "kubernetes:apps/v1:StatefulSet";
const C = "docker:index/container:Container";
const pod = (container: Record<string, unknown>, init: Record<string, unknown>[] = []) => ({
  spec: { template: { spec: { containers: [{ name: "app", ...container }], initContainers: init } } },
});
const probe = { httpGet: { path: "/health", port: 8080 } };

describe("k8s-probes-configured", () => {
  it("passes both probes (init containers need none)", async () => {
    expect(
      (
        await runResource(
          k8sProbesConfigured,
          DEP,
          pod({ readinessProbe: probe, livenessProbe: probe }, [{ name: "init" }]),
        )
      ).messages,
    ).toEqual([]);
  });
  it("fails a container without a liveness probe", async () => {
    expect(
      (await runResource(k8sProbesConfigured, STS, pod({ readinessProbe: probe }), { name: "db" })).messages,
    ).toEqual([
      "db container app has no livenessProbe; add livenessProbe (e.g. httpGet on the health path) so Kubernetes stops routing to and restarts broken pods.",
    ]);
  });
  it("fails a container without any probe", async () => {
    expect((await runResource(k8sProbesConfigured, DEP, pod({}), { name: "web" })).messages).toEqual([
      "web container app has no readinessProbe and no livenessProbe; add readinessProbe and livenessProbe (e.g. httpGet on the health path) so Kubernetes stops routing to and restarts broken pods.",
    ]);
  });
});

describe("docker-healthcheck-configured", () => {
  it("passes a healthcheck", async () => {
    expect(
      (await runResource(dockerHealthcheckConfigured, C, { healthcheck: { tests: ["CMD", "pg_isready"] } })).messages,
    ).toEqual([]);
  });
  it("fails a missing or NONE healthcheck", async () => {
    const msg =
      'Container c has no healthcheck; set healthcheck.tests (e.g. ["CMD", "curl", "-fsS", "http://127.0.0.1:8080/health"]) with an interval and retries.';
    expect((await runResource(dockerHealthcheckConfigured, C, {}, { name: "c" })).messages).toEqual([msg]);
    expect(
      (await runResource(dockerHealthcheckConfigured, C, { healthcheck: { tests: ["NONE"] } }, { name: "c" })).messages,
    ).toEqual([msg]);
  });
});

describe("no-privileged-containers", () => {
  it("passes unprivileged containers", async () => {
    expect((await runResource(noPrivilegedContainers, C, { privileged: false })).messages).toEqual([]);
    expect(
      (await runResource(noPrivilegedContainers, DEP, pod({ securityContext: { privileged: false } }))).messages,
    ).toEqual([]);
  });
  it("fails a privileged Docker container", async () => {
    expect((await runResource(noPrivilegedContainers, C, { privileged: true }, { name: "c" })).messages).toEqual([
      "Container c runs privileged; remove privileged (grant single capabilities with capabilities.adds if one is really needed).",
    ]);
  });
  it("fails a privileged init container", async () => {
    expect(
      (
        await runResource(
          noPrivilegedContainers,
          DEP,
          pod({}, [{ name: "sysctl", securityContext: { privileged: true } }]),
          { name: "web" },
        )
      ).messages,
    ).toEqual([
      "web container sysctl runs privileged; set securityContext.privileged false (add single capabilities if one is really needed).",
    ]);
  });
});

describe("container-resource-limits", () => {
  it("passes bounded containers", async () => {
    expect((await runResource(containerResourceLimits, C, { memory: 256, cpus: "0.5" })).messages).toEqual([]);
    expect(
      (
        await runResource(
          containerResourceLimits,
          STS,
          pod({ resources: { requests: { cpu: "250m" }, limits: { memory: "1Gi" } } }),
        )
      ).messages,
    ).toEqual([]);
  });
  it("fails a Docker container without limits", async () => {
    expect((await runResource(containerResourceLimits, C, {}, { name: "c" })).messages).toEqual([
      "Container c has no memory or cpus limit; set memory and cpus so one container cannot starve the host.",
    ]);
  });
  it("fails a pod without a memory limit", async () => {
    expect(
      (await runResource(containerResourceLimits, DEP, pod({ resources: { limits: { cpu: "1" } } }), { name: "web" }))
        .messages,
    ).toEqual([
      "web container app has no limits.memory; set resources.limits.memory so the scheduler can place it and one pod cannot starve a node.",
    ]);
  });
});
