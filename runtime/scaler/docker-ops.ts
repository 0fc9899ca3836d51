/**
 * The Docker side of the scaling controller (dockerode): the group's containers, commands run
 * inside them, and their resource figures from Docker's stats API.
 *
 * Why `docker exec` for every conversation with an instance or the load balancer: the sample
 * app accepts `/shutdown` from loopback only, HAProxy's runtime API listens on a unix socket
 * that no network reaches, and the same code then runs in the controller's container and in the
 * ManagedInstanceGroup provider on the deploying host (which may only reach 127.0.0.1). The controller
 * needs the Docker socket anyway to create and remove instances.
 */
import type Docker from "dockerode";
import { forceRemoveContainer, isNotFound } from "../docker/containers";
import type { LaunchSpec } from "../../core/scaling/reconcile";
import { SECRET_FILE_MODE, secretFileEnv, tarArchive } from "../../core/secret-files";

/** Labels the controller puts on every instance it creates. */
export const LABEL_GROUP = "scaleplane.group";
export const LABEL_MANAGED = "scaleplane.managed-by";
export const MANAGED_BY = "scaleplane-scaler";
/** The launch spec's hash an instance was created from, and the fencing token of the leader that created it. */
export const LABEL_SPEC_HASH = "scaleplane.spec-hash";
export const LABEL_FENCING_TOKEN = "scaleplane.fencing-token";

/** One instance container as Docker reports it. */
export interface GroupContainer {
  name: string;
  id: string;
  running: boolean;
  /** IP address on the group's (first) network. */
  ip?: string;
}

/** Every container the controller created for `group` (running or not). */
export async function listGroup(docker: Docker, group: string): Promise<GroupContainer[]> {
  const list = await docker.listContainers({
    all: true,
    filters: { label: [`${LABEL_GROUP}=${group}`, `${LABEL_MANAGED}=${MANAGED_BY}`] },
  });
  return list.map((c) => {
    const net = Object.values(c.NetworkSettings?.Networks ?? {})[0] as { IPAddress?: string } | undefined;
    return {
      name: (c.Names[0] ?? c.Id).replace(/^\//, ""),
      id: c.Id,
      running: c.State === "running",
      ...(net?.IPAddress ? { ip: net.IPAddress } : {}),
    };
  });
}

/** The IP of a container on `network` (undefined when it is not attached or not running). */
export async function ipOn(docker: Docker, name: string, network: string): Promise<string | undefined> {
  try {
    const info = await docker.getContainer(name).inspect();
    return info.NetworkSettings.Networks[network]?.IPAddress || undefined;
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

/**
 * Creates and starts instance `name` from the launch spec; an existing container of that name is
 * reused. Secrets travel as files (core/secret-files.ts): `secrets` holds the values (the
 * controller's own secret files), copied into the container before its first start, mode 0400,
 * owned by `spec.runAsUser`; its env names only the files (`<NAME>_FILE`).
 */
export async function launchInstance(
  docker: Docker,
  spec: LaunchSpec,
  name: string,
  secrets: Readonly<Record<string, string>>,
  fencingToken?: number,
): Promise<void> {
  const [first, ...more] = spec.networks;
  for (const k of Object.keys(spec.secretFiles))
    if (secrets[k] === undefined)
      throw new Error(`instance ${name}: secret ${k} is not available to this controller (SCALER_SECRETS_DIR)`);
  const env = { ...spec.env, ...secretFileEnv(spec.secretFiles) };
  let container = docker.getContainer(name);
  try {
    await container.inspect();
  } catch (e) {
    if (!isNotFound(e)) throw e;
    container = await docker.createContainer({
      name,
      Hostname: name,
      Image: spec.image,
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      Labels: {
        ...spec.labels,
        [LABEL_GROUP]: spec.group,
        [LABEL_MANAGED]: MANAGED_BY,
        [LABEL_SPEC_HASH]: spec.specHash,
        ...(fencingToken !== undefined ? { [LABEL_FENCING_TOKEN]: String(fencingToken) } : {}),
        "scaleplane.component": "autoscaling-group",
      },
      ExposedPorts: { [`${spec.port}/tcp`]: {} },
      // The image's own STOPSIGNAL (SIGTERM when it declares none): stopInstance sends it.
      StopTimeout: spec.stopTimeoutSeconds,
      HostConfig: {
        NetworkMode: first,
        NanoCpus: Math.round(spec.cpus * 1e9),
        Memory: spec.memoryMb * 1024 * 1024,
        MemorySwap: spec.memoryMb * 1024 * 1024,
        // A drained instance exits 0 and stays stopped; a crash is restarted a few times.
        RestartPolicy: { Name: "on-failure", MaximumRetryCount: 3 },
      },
      NetworkingConfig: { EndpointsConfig: { [first]: { Aliases: [name] } } },
    });
    for (const n of more) await docker.getNetwork(n).connect({ Container: name, EndpointConfig: { Aliases: [name] } });
    const files = Object.entries(spec.secretFiles).map(([k, path]) => ({
      path,
      content: secrets[k],
      mode: SECRET_FILE_MODE,
      uid: spec.runAsUser,
      gid: spec.runAsUser,
    }));
    if (files.length > 0) await container.putArchive(tarArchive(files), { path: "/" });
  }
  const info = await container.inspect();
  if (!info.State.Running) await container.start();
}

/** What a pass needs of a running instance: its address on the group's network, start time, stop signal. */
export async function inspectInstance(
  docker: Docker,
  name: string,
  network: string,
): Promise<{ ip?: string; startedAtMs?: number; stopSignal: string; exitCode?: number; running: boolean }> {
  const info = await docker.getContainer(name).inspect();
  const started = Date.parse(info.State.StartedAt);
  return {
    ...(info.NetworkSettings.Networks[network]?.IPAddress
      ? { ip: info.NetworkSettings.Networks[network].IPAddress }
      : {}),
    ...(Number.isFinite(started) && started > 0 ? { startedAtMs: started } : {}),
    stopSignal: (info.Config as { StopSignal?: string }).StopSignal || "SIGTERM",
    running: info.State.Running,
    ...(info.State.Running ? {} : { exitCode: info.State.ExitCode }),
  };
}

/**
 * Sends the instance its stop signal (the image's STOPSIGNAL, SIGTERM by default) and returns at
 * once: the grace before SIGKILL is counted by the caller's records (so it survives a new leader),
 * like `docker stop -t` but resumable. Absent or already stopped is fine.
 */
export async function stopInstance(docker: Docker, name: string): Promise<void> {
  try {
    const info = await docker.getContainer(name).inspect();
    if (!info.State.Running) return;
    const signal = (info.Config as { StopSignal?: string }).StopSignal || "SIGTERM";
    await docker.getContainer(name).kill({ signal });
  } catch (e) {
    if (!isNotFound(e) && !/is not running/i.test(String((e as Error).message))) throw e;
  }
}

/** SIGKILL: only for an instance still running after its stop grace. */
export async function killInstance(docker: Docker, name: string): Promise<void> {
  try {
    await docker.getContainer(name).kill({ signal: "SIGKILL" });
  } catch (e) {
    if (!isNotFound(e) && !/is not running/i.test(String((e as Error).message))) throw e;
  }
}

/** Removes a container (forcefully: it exited, or it belongs to no record); absent is fine. */
export async function removeContainer(docker: Docker, name: string): Promise<void> {
  await forceRemoveContainer(docker, name, { v: true });
}

/** Runs `cmd` in a running container; resolves with its exit code and stdout (stderr appended). */
export async function execIn(
  docker: Docker,
  name: string,
  cmd: string[],
  timeoutMs = 5000,
): Promise<{ exitCode: number; output: string }> {
  const exec = await docker.getContainer(name).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  const { PassThrough } = await import("node:stream");
  const out = new PassThrough();
  out.on("data", (d: Buffer) => chunks.push(d));
  docker.modem.demuxStream(stream, out, out);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      stream.destroy();
      reject(new Error(`docker exec ${cmd.join(" ")} in ${name}: no result within ${timeoutMs} ms`));
    }, timeoutMs);
    stream.on("end", () => {
      clearTimeout(timer);
      resolve();
    });
    stream.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
  const info = await exec.inspect();
  return { exitCode: info.ExitCode ?? -1, output: Buffer.concat(chunks).toString("utf8") };
}

/**
 * An HTTP request to the instance's own port, made from inside it (curl, present in the app
 * image): status code and body. Status 0 when the app does not answer.
 */
export async function httpInside(
  docker: Docker,
  name: string,
  port: number,
  method: "GET" | "POST",
  path: string,
  timeoutSeconds = 3,
): Promise<{ status: number; body: string }> {
  const marker = "\n__scaleplane_status=";
  const r = await execIn(
    docker,
    name,
    [
      "curl",
      "-sS",
      "-X",
      method,
      "--max-time",
      String(timeoutSeconds),
      "-w",
      `${marker}%{http_code}`,
      `http://127.0.0.1:${port}${path}`,
    ],
    (timeoutSeconds + 3) * 1000,
  );
  const at = r.output.lastIndexOf(marker);
  if (at < 0) return { status: 0, body: r.output };
  return { status: Number(r.output.slice(at + marker.length).trim()) || 0, body: r.output.slice(0, at) };
}

/** One raw stats sample of a container (cumulative counters). */
export interface StatsSample {
  atMs: number;
  cpuTotalNs: number;
  systemNs: number;
  onlineCpus: number;
  memoryUsage: number;
  memoryLimit: number;
  /** The container's CPU limit in CPUs (NanoCpus / 1e9), 0 when unlimited. */
  cpuLimit: number;
}

/** A one-shot stats sample (no 1 s wait: CPU% comes from two samples, see cpuPercentBetween). */
export async function statsSample(docker: Docker, name: string, cpuLimit: number): Promise<StatsSample> {
  const s = (await docker.getContainer(name).stats({ stream: false, "one-shot": true } as never)) as unknown as {
    cpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage?: number; online_cpus?: number };
    memory_stats: { usage?: number; limit?: number; stats?: { inactive_file?: number; total_inactive_file?: number } };
  };
  const cache = s.memory_stats.stats?.inactive_file ?? s.memory_stats.stats?.total_inactive_file ?? 0;
  return {
    atMs: Date.now(),
    cpuTotalNs: s.cpu_stats.cpu_usage.total_usage,
    systemNs: s.cpu_stats.system_cpu_usage ?? 0,
    onlineCpus: s.cpu_stats.online_cpus ?? 1,
    memoryUsage: Math.max(0, (s.memory_stats.usage ?? 0) - cache),
    memoryLimit: s.memory_stats.limit ?? 0,
    cpuLimit,
  };
}
