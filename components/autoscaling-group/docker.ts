/**
 * Docker target of the AutoscalingGroup. Two shapes:
 *
 * - Autoscaled (`docker.scaling` given, as the Platform does): the group network, the HAProxy load
 *   balancer published on one 127.0.0.1 port (core/app/haproxy.ts config, runtime-API reconfiguration),
 *   two leader-elected scaling controllers (image scaleplane/scaler, Docker socket mounted) on the
 *   config service's network, and the ManagedInstanceGroup resource that hands them the launch spec and
 *   policy (core/scaling/docker.ts) and waits for the group to be in range. The app containers
 *   are the controllers', not Pulumi's: they come and go with the load.
 * - Fixed (no config service to lead through): one container per instance (core/app/docker.ts
 *   `dockerInstances`), each published on 127.0.0.1 only; the policy pack only accepts it with
 *   app.maxSize = app.minSize.
 *
 * Secrets never go into container env, labels or etcd (`docker inspect` would show them): a fixed
 * instance gets each as a file (core/secret-files.ts, uploaded before the first start, mode 0400,
 * owned by the app user APP_UID) and only `<NAME>_FILE` in its env; autoscaled, the controllers
 * get them as root-only files (SCALER_SECRETS_DIR) and copy them the same way into every instance
 * they create, and the ManagedInstanceGroup gets them as a secret input (kept in memory only, for a
 * reconcile pass it runs itself). Physical names are stack-scoped: one Docker host runs several
 * stacks.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { DockerInstanceSpec } from "../../core/app";
import { DOCKER_SOCKET, dockerScalingSpec } from "../../core/scaling/docker";
import { APP_UID } from "../../core/app/spec";
import { SCALER_SECRETS_DIR, SECRET_FILE_PERMISSIONS, secretFileEnv, secretFiles } from "../../core/secret-files";
import { ManagedInstanceGroup } from "../../providers/instance-group";
import { dockerLabels, HOST_IP } from "../shared/docker";
import type {
  AutoscalingGroupDockerArgs,
  AutoscalingGroupDockerScalingArgs,
  DockerGroupResult,
  GroupBuildContext,
} from "./args";

const envList = (env: Record<string, string>): string[] => Object.entries(env).map(([k, v]) => `${k}=${v}`);

/**
 * The secret files of a container as docker.Container `uploads`: written before the first start,
 * mode 0400, owned by `uid` (the user the image runs as). Each value stays a Pulumi secret.
 */
const secretUploads = (secretEnv: Record<string, pulumi.Output<string>>, files: Record<string, string>, uid: number) =>
  Object.entries(files).map(([k, file]) => ({
    file,
    content: pulumi.secret(secretEnv[k]),
    permissions: SECRET_FILE_PERMISSIONS,
    owner: String(uid),
    group: String(uid),
  }));

/**
 * Creates the group under `ctx.parent`: autoscaled when `args.scaling` is given, else the fixed
 * `instances` (core/app/docker.ts, names already stack-scoped with `scope`).
 */
export function createDockerGroup(
  ctx: GroupBuildContext,
  args: AutoscalingGroupDockerArgs,
  instances: DockerInstanceSpec[],
  scope: string,
): DockerGroupResult {
  const { name, parent } = ctx;
  const network = new docker.Network(
    `${name}-net`,
    { name: `${scope}-net`, driver: "bridge", labels: dockerLabels({ "scaleplane.group": name }) },
    { parent },
  );
  return args.scaling
    ? createAutoscaledGroup(ctx, args, args.scaling, scope, network)
    : createFixedGroup(ctx, args, instances, network);
}

function createAutoscaledGroup(
  ctx: GroupBuildContext,
  args: AutoscalingGroupDockerArgs,
  scaling: AutoscalingGroupDockerScalingArgs,
  scope: string,
  network: docker.Network,
): DockerGroupResult {
  const { name, app, parent } = ctx;
  const spec = dockerScalingSpec(name, scope, app, args.portBase);
  const loadBalancer = new docker.Container(
    `${name}-lb`,
    {
      name: spec.lb.name,
      image: spec.lb.image,
      hostname: spec.lb.name,
      envs: envList(spec.lb.env),
      ports: [{ internal: spec.lb.containerPort, external: spec.lb.hostPort, ip: HOST_IP, protocol: "tcp" }],
      networksAdvanced: [{ name: network.name, aliases: [spec.lb.name, app.name] }],
      healthcheck: {
        tests: spec.lb.healthcheck.test,
        interval: spec.lb.healthcheck.interval,
        timeout: spec.lb.healthcheck.timeout,
        retries: spec.lb.healthcheck.retries,
        startPeriod: spec.lb.healthcheck.startPeriod,
      },
      cpus: spec.lb.cpus,
      memory: spec.lb.memoryMb,
      memorySwap: spec.lb.memoryMb,
      restart: "unless-stopped",
      labels: dockerLabels(spec.lb.labels),
      mustRun: true,
    },
    { parent },
  );
  const endpoints = pulumi.output(scaling.configService.clientEndpoints).apply((e) => e.join(","));
  const controllerSecrets = secretFiles(Object.keys(ctx.secretEnv), SCALER_SECRETS_DIR);
  const controllers = spec.controllers.map(
    (c, i) =>
      new docker.Container(
        `${name}-scaler-${i}`,
        {
          name: c.name,
          image: c.image,
          hostname: c.name,
          envs: endpoints.apply((e) => envList({ ...c.env, SCALER_CONFIG_ENDPOINTS: e, SCALER_SECRETS_DIR })),
          networksAdvanced: [{ name: scaling.configService.network, aliases: [c.name] }],
          volumes: [{ hostPath: DOCKER_SOCKET, containerPath: DOCKER_SOCKET }],
          // The instances' secrets, as root-only files the controller copies into each instance.
          uploads: secretUploads(ctx.secretEnv, controllerSecrets, 0),
          healthcheck: {
            tests: c.healthcheck.test,
            interval: c.healthcheck.interval,
            timeout: c.healthcheck.timeout,
            retries: c.healthcheck.retries,
            startPeriod: c.healthcheck.startPeriod,
          },
          cpus: c.cpus,
          memory: c.memoryMb,
          memorySwap: c.memoryMb,
          restart: "unless-stopped",
          stopSignal: "SIGTERM",
          labels: dockerLabels(c.labels),
          mustRun: true,
        },
        { parent, additionalSecretOutputs: ["uploads"] },
      ),
  );
  const secretNames = Object.keys(ctx.secretEnv);
  const instanceGroup = new ManagedInstanceGroup(
    `${name}-scaling`,
    {
      group: spec.group,
      configEndpoints: scaling.configService.publishedEndpoints,
      launchSpec: pulumi
        .all([ctx.env, network.name, pulumi.all(args.networks ?? [])])
        .apply(([env, net, extra]) => ({ ...spec.launchSpec, env, networks: [net, ...extra] })),
      secretEnv: pulumi.secret(
        pulumi.all(ctx.secretEnv).apply((s) => Object.fromEntries(secretNames.map((k) => [k, s[k]]))),
      ),
      policy: spec.policy,
      lbSlots: spec.lb.slots,
    },
    // Created after its controllers and the LB; on destroy deleted first, so they drain the instances.
    { parent, dependsOn: [loadBalancer, ...controllers] },
  );
  return {
    endpoints: pulumi.output([spec.endpoint]),
    instanceNames: [],
    groupName: network.name,
    network,
    containers: [],
    loadBalancerContainer: loadBalancer,
    controllers,
    instanceGroup,
  };
}

function createFixedGroup(
  ctx: GroupBuildContext,
  args: AutoscalingGroupDockerArgs,
  instances: DockerInstanceSpec[],
  network: docker.Network,
): DockerGroupResult {
  const { app, parent } = ctx;
  // Secrets as files (core/secret-files.ts): the env only names them (`<NAME>_FILE`).
  const files = secretFiles(Object.keys(ctx.secretEnv));
  const containerEnv = ctx.env.apply((plain) => envList({ ...plain, ...secretFileEnv(files) }));
  const uploads = secretUploads(ctx.secretEnv, files, APP_UID);
  const containers = instances.map(
    (inst) =>
      new docker.Container(
        inst.resourceName,
        {
          name: inst.name,
          image: app.image,
          hostname: inst.name,
          envs: containerEnv,
          uploads,
          ports: [{ internal: inst.containerPort, external: inst.hostPort, ip: HOST_IP, protocol: "tcp" }],
          networksAdvanced: [
            { name: network.name, aliases: [inst.name, app.name] },
            ...(args.networks ?? []).map((n) => ({ name: n, aliases: [inst.name] })),
          ],
          healthcheck: {
            tests: inst.healthcheck.test,
            interval: inst.healthcheck.interval,
            timeout: inst.healthcheck.timeout,
            retries: inst.healthcheck.retries,
            startPeriod: inst.healthcheck.startPeriod,
          },
          cpus: inst.cpus,
          memory: inst.memoryMb,
          memorySwap: inst.memoryMb,
          restart: "unless-stopped",
          stopSignal: inst.stopSignal,
          stopTimeout: inst.stopTimeoutSeconds,
          destroyGraceSeconds: inst.stopTimeoutSeconds,
          labels: dockerLabels(inst.labels),
          mustRun: true,
        },
        { parent, deleteBeforeReplace: true, additionalSecretOutputs: ["uploads"] },
      ),
  );
  return {
    endpoints: pulumi.output(instances.map((i) => i.endpoint)),
    instanceNames: instances.map((i) => i.name),
    groupName: network.name,
    network,
    containers,
  };
}
