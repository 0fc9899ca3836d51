/**
 * What is really there for an etcd cluster on Docker, as the EtcdMembership provider reconciles
 * and refreshes from it: the containers and volumes carrying the cluster's label, and etcd's member
 * list read from INSIDE a running member container (`docker exec etcdctl`).
 *
 * Why exec: refresh (the provider's `read`) gets only the resource's state, and the state holds no
 * client key (secrets never go into dynamic-provider state). A member container already holds
 * a certificate and key etcd accepts for client auth (the server certificate carries the
 * client_auth usage), so etcdctl run there lists the members over the container's own loopback:
 * no key material ever leaves the container or passes through the provider.
 */
import type Docker from "dockerode";
import { ETCD_TLS_FILES } from "../../core/etcd/spec";
import type { ObservedContainer } from "../../core/etcd/reconcile";
import { LABEL_CLUSTER, listMembers } from "./docker-members";

/** A member as `etcdctl member list` reports it (IDs converted to decimal, as etcd3 gives them). */
export interface ListedMember {
  ID: string;
  name: string;
  peerURLs: string[];
  isLearner: boolean;
}

/** Containers of the cluster (running or not), by their label. */
export async function clusterContainers(docker: Docker, clusterName: string): Promise<ObservedContainer[]> {
  return (await listMembers(docker, clusterName)).map((m) => ({ host: m.host, running: m.running }));
}

/** Names of the volumes carrying the cluster's label. */
export async function clusterVolumes(docker: Docker, clusterName: string): Promise<string[]> {
  const vols = await docker.listVolumes({ filters: { label: [`${LABEL_CLUSTER}=${clusterName}`] } });
  return (vols.Volumes ?? []).map((v) => v.Name).sort();
}

/** Runs a command in a container; resolves with stdout, rejects with stderr on a non-zero exit. */
export async function execIn(docker: Docker, container: string, cmd: string[], timeoutMs = 10_000): Promise<string> {
  const exec = await docker.getContainer(container).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const sink = (to: Buffer[]) =>
    ({ write: (b: Buffer) => to.push(Buffer.from(b)) }) as unknown as NodeJS.WritableStream;
  docker.modem.demuxStream(stream, sink(out), sink(err));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      stream.destroy();
      reject(new Error(`${cmd.join(" ")} in ${container} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    stream.on("end", () => (clearTimeout(timer), resolve()));
    stream.on("close", () => (clearTimeout(timer), resolve()));
    stream.on("error", (e: Error) => (clearTimeout(timer), reject(e)));
  });
  const { ExitCode } = await exec.inspect();
  if (ExitCode !== 0)
    throw new Error(`${cmd.join(" ")} in ${container} exited ${ExitCode}: ${Buffer.concat(err).toString().trim()}`);
  return Buffer.concat(out).toString();
}

/**
 * Parses `etcdctl member list -w simple`: `<hex id>, <started|unstarted>, <name>, <peer urls>,
 * <client urls>, <isLearner>` per line (URLs joined by ","). IDs become decimal strings.
 */
export function parseMemberList(text: string): ListedMember[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .map((line) => {
      const f = line.split(", ");
      if (f.length < 6 || !/^[0-9a-f]+$/i.test(f[0]))
        throw new Error(`unexpected etcdctl member list line: ${JSON.stringify(line)}`);
      return {
        ID: BigInt(`0x${f[0]}`).toString(10),
        name: f[2],
        peerURLs: f[3].split(",").filter(Boolean),
        isLearner: f[5] === "true",
      };
    });
}

/**
 * etcd's member list, read by etcdctl inside the first running container of `hosts` that answers,
 * through that member's own client port on its loopback (with its own TLS files when `tls`).
 */
export async function memberListViaExec(
  docker: Docker,
  hosts: readonly string[],
  o: { clientPort: number; tls: boolean },
): Promise<ListedMember[]> {
  const f = ETCD_TLS_FILES;
  const cmd = [
    "etcdctl",
    `--endpoints=${o.tls ? "https" : "http"}://127.0.0.1:${o.clientPort}`,
    "--command-timeout=3s",
    ...(o.tls ? [`--cacert=${f.ca}`, `--cert=${f.serverCert}`, `--key=${f.serverKey}`] : []),
    "member",
    "list",
    "-w",
    "simple",
  ];
  const errors: string[] = [];
  for (const host of hosts) {
    try {
      return parseMemberList(await execIn(docker, host, cmd));
    } catch (e) {
      errors.push(`${host}: ${(e as Error).message}`);
    }
  }
  throw new Error(`no member container answered etcdctl member list (${errors.join("; ") || "no containers"})`);
}
