/**
 * Docker target of the AutoscalingGroup: a bridge network `${name}-net` and one container per
 * instance (core/app.ts `dockerInstances`), each published on 127.0.0.1 only, with a healthcheck,
 * CPU/memory limits, a restart policy and a SIGTERM drain window. Secrets go into the container
 * env as Pulumi secrets, never into labels.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { DockerInstanceSpec } from "../../../core/app";
import type { AutoscalingGroupDockerArgs, GroupBuildContext, GroupBuildResult } from "../../autoscaling-group";

const envList = (env: Record<string, string>): string[] => Object.entries(env).map(([k, v]) => `${k}=${v}`);

export function createDockerGroup(ctx: GroupBuildContext, args: AutoscalingGroupDockerArgs, instances: DockerInstanceSpec[]): GroupBuildResult {
  const { name, app, parent } = ctx;
  const network = new docker.Network(
    `${name}-net`,
    { name: `${name}-net`, driver: "bridge", labels: [{ label: "scaleplane.group", value: name }] },
    { parent },
  );
  const secretNames = Object.keys(ctx.secretEnv);
  // The whole env list becomes a secret as soon as one entry is (Pulumi marks the array secret).
  const envs = pulumi
    .all([ctx.env, pulumi.all(ctx.secretEnv)])
    .apply(([plain, secret]) => [...envList(plain), ...envList(Object.fromEntries(secretNames.map((k) => [k, secret[k]])))]);
  const containerEnv = secretNames.length > 0 ? pulumi.secret(envs) : envs;

  for (const inst of instances) {
    new docker.Container(
      inst.name,
      {
        name: inst.name,
        image: app.image,
        hostname: inst.name,
        envs: containerEnv,
        ports: [{ internal: inst.containerPort, external: inst.hostPort, ip: "127.0.0.1", protocol: "tcp" }],
        networksAdvanced: [
          { name: network.name, aliases: [inst.name, app.name] },
          ...(args.networks ?? []).map((n) => ({ name: n, aliases: [inst.name] })),
        ],
        healthcheck: { tests: inst.healthcheck.test, interval: inst.healthcheck.interval, timeout: inst.healthcheck.timeout, retries: inst.healthcheck.retries, startPeriod: inst.healthcheck.startPeriod },
        cpus: inst.cpus,
        memory: inst.memoryMb,
        memorySwap: inst.memoryMb,
        restart: "unless-stopped",
        stopSignal: inst.stopSignal,
        stopTimeout: inst.stopTimeoutSeconds,
        destroyGraceSeconds: inst.stopTimeoutSeconds,
        labels: Object.entries(inst.labels).map(([label, value]) => ({ label, value })),
        mustRun: true,
      },
      { parent, deleteBeforeReplace: true },
    );
  }

  return {
    endpoints: pulumi.output(instances.map((i) => i.endpoint)),
    instanceNames: instances.map((i) => i.name),
    groupName: network.name,
  };
}
