/**
 * Where etcd members go on each target, computed purely: the cluster settings from the validated
 * config, the cluster name, fixed private IPs from a subnet CIDR (AWS), member placement over
 * subnets/zones, member hosts per target. No Pulumi, no I/O.
 */
import type { ConfigServiceConfig } from "../config";
import { etcdMemberName, type EtcdClusterSettings } from "./spec";
import { MEMBER_COUNTS } from "./membership";
import { stackScopedName } from "../naming";
import { cidrHost, parseCidr } from "../net";

/**
 * The most members a cluster can grow to. Certificates name every host up to this count, so a
 * TLS cluster scales without new certificates (which a running cluster cannot take in place).
 */
export const MAX_MEMBERS = Math.max(...MEMBER_COUNTS);

/** The settings core/etcd/spec.ts takes, from the validated configService section. */
export function etcdSettings(cs: ConfigServiceConfig, clusterName: string, dataDir?: string): EtcdClusterSettings {
  return {
    clusterName,
    clientPort: cs.clientPort,
    peerPort: cs.peerPort,
    heartbeatIntervalMs: cs.heartbeatIntervalMs,
    electionTimeoutMs: cs.electionTimeoutMs,
    tls: cs.tls,
    ...(dataDir !== undefined ? { dataDir } : {}),
    ...(cs.quotaBackendBytes !== undefined ? { quotaBackendBytes: cs.quotaBackendBytes } : {}),
  };
}

/**
 * Cluster name (initial cluster token, container/StatefulSet/instance name prefix): the service
 * name plus the stack, as a DNS label of at most 40 characters, so two stacks never join each other.
 */
export const etcdClusterName = (serviceName: string, stack: string): string => stackScopedName(serviceName, stack);

/**
 * The fixed private IP of the `slot`-th etcd member in a subnet: counted down from the top of the
 * subnet (AWS reserves the first four addresses and the last one; dynamic ENI addresses are less
 * likely up there). Slot 0 = broadcast − 10, slot 1 = one below, ... Needs at least a /27.
 */
export function fixedMemberIp(cidr: string, slot: number): string {
  const { prefix } = parseCidr(cidr);
  if (prefix > 27) throw new Error(`subnet ${cidr} is too small for fixed etcd member addresses: use a /27 or larger`);
  if (!Number.isInteger(slot) || slot < 0 || slot > 7)
    throw new Error(`member slot must be 0..7 within one subnet; got ${slot}`);
  return cidrHost(cidr, 2 ** (32 - prefix) - 1 - 10 - slot);
}

/** Member i goes to subnet i mod n (round-robin over zones); its slot is its rank within that subnet. */
export function placeMembers<S extends { cidr: string; zone: string }>(
  subnets: readonly S[],
  members: number,
): { subnet: S; ip: string; index: number }[] {
  if (subnets.length === 0) throw new Error("at least one subnet is required to place etcd members");
  return Array.from({ length: members }, (_, index) => {
    const subnet = subnets[index % subnets.length];
    return { subnet, index, ip: fixedMemberIp(subnet.cidr, Math.floor(index / subnets.length)) };
  });
}

/** Docker: member i's container name (also its host on the network) is the member name. */
export const dockerMemberHosts = (clusterName: string, members: number): string[] =>
  Array.from({ length: members }, (_, i) => etcdMemberName(clusterName, i));

/** Kubernetes: the StatefulSet's headless peer Service. */
export const kubernetesPeerService = (clusterName: string) => `${clusterName}-peer`;

/**
 * Kubernetes: member hosts as pod DNS names with the namespace left as `$(POD_NAMESPACE)` (the
 * kubelet expands it in container args), so the flags are computed without knowing the namespace.
 */
export const kubernetesMemberHosts = (clusterName: string, members: number, namespace = "$(POD_NAMESPACE)"): string[] =>
  Array.from(
    { length: members },
    (_, i) => `${etcdMemberName(clusterName, i)}.${kubernetesPeerService(clusterName)}.${namespace}.svc`,
  );

/** Kubernetes: the template identity every pod of the StatefulSet runs with. */
export const kubernetesMemberTemplate = (clusterName: string) => ({
  name: "$(POD_NAME)",
  host: `$(POD_NAME).${kubernetesPeerService(clusterName)}.$(POD_NAMESPACE).svc`,
});

/**
 * Kubernetes: how many members of `clusterName` in `namespace` a stack's previous deployment
 * published, from its `configEndpoints` output (read back through a StackReference to the stack
 * itself; the lock of a cluster deployed before the lock existed compares with it). An entry counts
 * when its URL's host is one of the cluster's member hosts (any index below {@link MAX_MEMBERS}),
 * whatever its scheme and port: a TLS or client-port change must not hide the members. Endpoints
 * of another cluster, namespace or target count 0.
 *
 * @param previousEndpoints the previous `configEndpoints` output: `undefined`/`null` when the stack
 *   was never deployed (or before the output existed) → 0.
 * @throws Error when it is anything but an array of http(s) URLs: a malformed record must stop the
 *   update (fail closed) rather than count 0 members and let any member count through.
 */
export function kubernetesDeployedMembers(previousEndpoints: unknown, clusterName: string, namespace: string): number {
  if (previousEndpoints === undefined || previousEndpoints === null) return 0;
  const malformed = (why: string): never => {
    throw new Error(
      `the stack's previous \`configEndpoints\` output is malformed (${why}); expected the etcd client URLs of its last deployment, got ${JSON.stringify(previousEndpoints)}. ` +
        `The etcd member-count lock cannot tell how many members are deployed; fix the stack's outputs (\`pulumi stack output configEndpoints\`) before changing it`,
    );
  };
  if (!Array.isArray(previousEndpoints)) return malformed("not an array");
  const hosts = new Set(kubernetesMemberHosts(clusterName, MAX_MEMBERS, namespace));
  const found = new Set<string>();
  previousEndpoints.forEach((e: unknown, i) => {
    if (typeof e !== "string") return malformed(`entry ${i} is not a string`);
    let url: URL;
    try {
      url = new URL(e);
    } catch {
      return malformed(`entry ${i} is not a URL`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") return malformed(`entry ${i} is not an http(s) URL`);
    if (hosts.has(url.hostname)) found.add(url.hostname);
  });
  return found.size;
}
