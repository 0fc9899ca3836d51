/**
 * etcd members as Docker containers (dockerode). The imperative shell under the EtcdMembership
 * provider (docker target) and the chaos tests: the member's command line always comes from
 * core/etcd/spec.ts; this module only runs it.
 *
 * One member = one container named after the member's host (its DNS name on the cluster's private
 * network), one named volume `<member>-data` mounted at the data dir (stable identity: the member
 * ID and Raft log survive container stop/start/recreate), the client port published on 127.0.0.1
 * only (never on 0.0.0.0), labels naming the cluster and member. TLS material, when given, is
 * copied into the container's filesystem (`ETCD_TLS_DIR`) before the first start: it never
 * appears in the container's environment, command line, labels or in anything this module returns.
 *
 * API (stable; used by test/chaos):
 * - `ensureNetwork(docker, name, labels)` / `removeNetwork(docker, name)`
 * - `createMember(docker, spec)`: volume + container + TLS files + start → {@link DockerMemberInfo}
 * - `startMember` / `stopMember` / `restartMember` / `killMember` (by member host/container name)
 * - `removeMember(docker, name, {volume})`: container (and by default its data volume)
 * - `inspectMember(docker, name)` → info or undefined; `listMembers(docker, clusterName)`
 * - `removeCluster(docker, clusterName)`: every member container and volume of a cluster
 * - `publishedEndpoint(hostPort, tls)`: `http(s)://127.0.0.1:<port>`
 */
import { tarArchive } from "../../core/secret-files";
import type Docker from "dockerode";
import { forceRemoveContainer, isNotFound } from "../../runtime/docker/containers";
import { ETCD_TLS_DIR, scheme } from "../../core/etcd/spec";

/** Labels every member container and volume carries. */
export const LABEL_CLUSTER = "scaleplane.etcd.cluster";
export const LABEL_MEMBER = "scaleplane.etcd.member";
export const LABEL_MANAGED = "scaleplane.managed-by";

/** PEM material a member needs when the cluster runs with TLS (file names per ETCD_TLS_FILES). */
export interface EtcdTlsMaterial {
  ca: string;
  serverCert: string;
  serverKey: string;
  peerCert: string;
  peerKey: string;
}

/** Everything needed to run one member container. */
export interface DockerMemberSpec {
  /** Cluster name (label; the member list of a cluster is found by it). */
  clusterName: string;
  /** etcd member name (`--name`). */
  name: string;
  /** Container name and DNS alias on `network`: the host in the member's peer/client URLs. */
  host: string;
  /** etcd flags from core/etcd/spec.ts `etcdMemberArgs` (without the binary). */
  args: string[];
  /** Local image (no registry): e.g. `scaleplane/etcd:3.4.23`. */
  image: string;
  /** Path of the etcd binary in the image. */
  etcdBinary: string;
  /** Docker network the members share (created with {@link ensureNetwork}). */
  network: string;
  /** etcd's client port inside the container (settings.clientPort). */
  clientPort: number;
  /** Host port the client port is published on, bound to 127.0.0.1 only. */
  hostPort: number;
  /** Data dir inside the container (settings.dataDir). @default "/var/lib/etcd" */
  dataDir?: string;
  /** Extra labels (e.g. `scaleplane.test=1`); put on the container and its volume. */
  labels?: Record<string, string>;
  /** TLS material: written into the container's filesystem before its first start. */
  tls?: EtcdTlsMaterial;
}

/** What Docker knows about a member container. */
export interface DockerMemberInfo {
  name: string;
  host: string;
  containerId: string;
  running: boolean;
  /** Host port (127.0.0.1) of the client port, if published. */
  hostPort?: number;
  volume: string;
  labels: Record<string, string>;
}

/** The data volume of a member. */
export const memberVolumeName = (host: string) => `${host}-data`;

/** How a process on this machine reaches a member's published client port. */
export const publishedEndpoint = (hostPort: number, tls: boolean) => `${scheme(tls)}://127.0.0.1:${hostPort}`;

const isNotModified = (e: unknown) => (e as { statusCode?: number }).statusCode === 304;

/** Creates the bridge network if it does not exist (idempotent). */
export async function ensureNetwork(docker: Docker, name: string, labels: Record<string, string> = {}): Promise<void> {
  const existing = await docker.listNetworks({ filters: { name: [name] } });
  if (existing.some((n) => n.Name === name)) return;
  await docker.createNetwork({
    Name: name,
    Driver: "bridge",
    CheckDuplicate: true,
    Labels: { [LABEL_MANAGED]: "scaleplane", ...labels },
  });
}

/** Removes a network if it exists. */
export async function removeNetwork(docker: Docker, name: string): Promise<void> {
  try {
    await docker.getNetwork(name).remove();
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
}

async function requireImage(docker: Docker, image: string): Promise<void> {
  try {
    await docker.getImage(image).inspect();
  } catch (e) {
    if (isNotFound(e))
      throw new Error(
        `etcd image ${image} is not present in the local Docker engine (there is no registry here): build it with \`npm run images\``,
      );
    throw e;
  }
}

/**
 * Creates and starts one member: its data volume (kept if it exists: a recreated container
 * resumes the member), its container and, with `spec.tls`, the TLS files. Fails if a container of
 * that name exists.
 */
export async function createMember(docker: Docker, spec: DockerMemberSpec): Promise<DockerMemberInfo> {
  await requireImage(docker, spec.image);
  const labels = {
    [LABEL_MANAGED]: "scaleplane",
    [LABEL_CLUSTER]: spec.clusterName,
    [LABEL_MEMBER]: spec.name,
    ...spec.labels,
  };
  const volume = memberVolumeName(spec.host);
  await docker.createVolume({ Name: volume, Labels: labels });
  const portKey = `${spec.clientPort}/tcp`;
  const container = await docker.createContainer({
    name: spec.host,
    Hostname: spec.host,
    Image: spec.image,
    Entrypoint: [spec.etcdBinary],
    Cmd: spec.args,
    Labels: labels,
    ExposedPorts: { [portKey]: {} },
    HostConfig: {
      Binds: [`${volume}:${spec.dataDir ?? "/var/lib/etcd"}`],
      PortBindings: { [portKey]: [{ HostIp: "127.0.0.1", HostPort: String(spec.hostPort) }] },
      NetworkMode: spec.network,
      RestartPolicy: { Name: "unless-stopped" },
    },
    NetworkingConfig: { EndpointsConfig: { [spec.network]: { Aliases: [spec.host, spec.name] } } },
  });
  try {
    if (spec.tls) await container.putArchive(tlsArchive(spec.tls), { path: "/" });
    await container.start();
  } catch (e) {
    await container.remove({ force: true }).catch(() => undefined);
    throw e;
  }
  const info = await inspectMember(docker, spec.host);
  if (!info) throw new Error(`etcd member container ${spec.host} vanished right after it was created`);
  return info;
}

/** Starts a stopped member container (idempotent). */
export async function startMember(docker: Docker, host: string): Promise<void> {
  try {
    await docker.getContainer(host).start();
  } catch (e) {
    if (!isNotModified(e)) throw e;
  }
}

/** Stops a member container gracefully (SIGTERM, then SIGKILL after `timeoutSeconds`; idempotent). */
export async function stopMember(docker: Docker, host: string, opts: { timeoutSeconds?: number } = {}): Promise<void> {
  try {
    await docker.getContainer(host).stop({ t: opts.timeoutSeconds ?? 10 });
  } catch (e) {
    if (!isNotModified(e) && !isNotFound(e)) throw e;
  }
}

/** Restarts a member container. */
export async function restartMember(
  docker: Docker,
  host: string,
  opts: { timeoutSeconds?: number } = {},
): Promise<void> {
  await docker.getContainer(host).restart({ t: opts.timeoutSeconds ?? 10 });
}

/** SIGKILLs a member container (crash simulation; the restart policy does not restart it). */
export async function killMember(docker: Docker, host: string): Promise<void> {
  try {
    await docker.getContainer(host).kill({ signal: "SIGKILL" });
  } catch (e) {
    if (!isNotFound(e) && (e as { statusCode?: number }).statusCode !== 409) throw e;
  }
}

/** Removes a member container and (unless `volume: false`) its data volume. Idempotent. */
export async function removeMember(docker: Docker, host: string, opts: { volume?: boolean } = {}): Promise<void> {
  await forceRemoveContainer(docker, host);
  if (opts.volume !== false) {
    try {
      await docker.getVolume(memberVolumeName(host)).remove();
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
}

/** What Docker knows about a member container, or undefined if there is none. */
export async function inspectMember(docker: Docker, host: string): Promise<DockerMemberInfo | undefined> {
  let c: Docker.ContainerInspectInfo;
  try {
    c = await docker.getContainer(host).inspect();
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
  const labels = c.Config.Labels ?? {};
  const ports = Object.values(c.HostConfig.PortBindings ?? {}) as { HostIp: string; HostPort: string }[][];
  const binding = ports.flat().find((p) => p.HostIp === "127.0.0.1");
  return {
    name: labels[LABEL_MEMBER] ?? host,
    host: c.Name.replace(/^\//, ""),
    containerId: c.Id,
    running: c.State.Running,
    hostPort: binding ? Number(binding.HostPort) : undefined,
    volume: memberVolumeName(host),
    labels,
  };
}

/** Every member container of a cluster (running or not), by name. */
export async function listMembers(docker: Docker, clusterName: string): Promise<DockerMemberInfo[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${LABEL_CLUSTER}=${clusterName}`] } });
  const infos = await Promise.all(list.map((c) => inspectMember(docker, (c.Names[0] ?? c.Id).replace(/^\//, ""))));
  return infos
    .filter((i): i is DockerMemberInfo => i !== undefined)
    .sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }));
}

/** Removes every member container and data volume of a cluster. */
export async function removeCluster(docker: Docker, clusterName: string): Promise<void> {
  for (const m of await listMembers(docker, clusterName)) await removeMember(docker, m.host);
  const vols = await docker.listVolumes({ filters: { label: [`${LABEL_CLUSTER}=${clusterName}`] } });
  for (const v of vols.Volumes ?? [])
    await docker
      .getVolume(v.Name)
      .remove()
      .catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)));
}

/** A tar of `etc/etcd/tls/*` for putArchive at "/" (core/secret-files.ts): keys 0600, certificates 0644, root-owned. */
function tlsArchive(tls: EtcdTlsMaterial): Buffer {
  const files: [string, string, number][] = [
    ["ca.crt", tls.ca, 0o644],
    ["server.crt", tls.serverCert, 0o644],
    ["server.key", tls.serverKey, 0o600],
    ["peer.crt", tls.peerCert, 0o644],
    ["peer.key", tls.peerKey, 0o600],
  ];
  return tarArchive(
    files.map(([file, content, mode]) => ({ path: `${ETCD_TLS_DIR}/${file}`, content, mode, uid: 0, gid: 0 })),
  );
}
