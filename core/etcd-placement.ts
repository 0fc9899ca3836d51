/**
 * Where etcd members go on each target, computed purely: the cluster settings from the validated
 * config, the cluster name, fixed private IPs from a subnet CIDR (AWS), member placement over
 * subnets/zones, member hosts per target. No Pulumi, no I/O.
 */
import type { ConfigServiceConfig } from "./config";
import { etcdMemberName, type EtcdClusterSettings } from "./etcd";
import { MEMBER_COUNTS } from "./etcd-membership";
import { stackScopedName } from "./naming";
import { cidrHost, parseCidr } from "./net";

/**
 * The most members a cluster can grow to. Certificates name every host up to this count, so a
 * TLS cluster scales without new certificates (which a running cluster cannot take in place).
 */
export const MAX_MEMBERS = Math.max(...MEMBER_COUNTS);

/** The settings core/etcd.ts takes, from the validated configService section. */
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
