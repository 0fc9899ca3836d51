/**
 * etcd member specs: the one pure builder every target (Docker, Kubernetes, AWS) and the
 * EtcdMembership provider use to produce an etcd member's command line. No I/O.
 */

/** etcd member counts we deploy: odd, so a majority survives (n-1)/2 failures. */
export const ETCD_MEMBER_COUNTS = [1, 3, 5, 7] as const;

/** Where TLS material lives inside a member (same layout on every target). */
export const ETCD_TLS_DIR = "/etc/etcd/tls";
export const ETCD_TLS_FILES = {
  ca: `${ETCD_TLS_DIR}/ca.crt`,
  serverCert: `${ETCD_TLS_DIR}/server.crt`,
  serverKey: `${ETCD_TLS_DIR}/server.key`,
  peerCert: `${ETCD_TLS_DIR}/peer.crt`,
  peerKey: `${ETCD_TLS_DIR}/peer.key`,
} as const;

/** A member's identity: its etcd name and the host name/IP its peers and clients reach it at. */
export interface EtcdMemberIdentity {
  name: string;
  host: string;
}

/** Cluster-wide settings shared by every member. */
export interface EtcdClusterSettings {
  /** Cluster name; also the initial cluster token, so two clusters never join each other. */
  clusterName: string;
  clientPort: number;
  peerPort: number;
  heartbeatIntervalMs: number;
  electionTimeoutMs: number;
  /** Peer and client TLS with client-certificate auth. */
  tls: boolean;
  /** @default "/var/lib/etcd" */
  dataDir?: string;
  /** Address the member binds on. @default "0.0.0.0" */
  listenHost?: string;
  quotaBackendBytes?: number;
}

/** Everything a target needs to run one member. */
export interface EtcdMemberSpec extends EtcdMemberIdentity {
  index: number;
  peerUrl: string;
  clientUrl: string;
  /** etcd command-line flags (without the binary). */
  args: string[];
}

/** A whole cluster: members plus what clients need. */
export interface EtcdClusterSpec {
  settings: EtcdClusterSettings;
  members: EtcdMemberSpec[];
  /** `name=peerUrl,...`: the --initial-cluster value. */
  initialCluster: string;
  /** Client URLs of every member. */
  clientEndpoints: string[];
}

export const scheme = (tls: boolean): "http" | "https" => (tls ? "https" : "http");

/** `host:port` with IPv6 literals bracketed. */
const hostPort = (host: string, port: number) => (host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`);

export const peerUrl = (s: EtcdClusterSettings, host: string) => `${scheme(s.tls)}://${hostPort(host, s.peerPort)}`;
export const clientUrl = (s: EtcdClusterSettings, host: string) => `${scheme(s.tls)}://${hostPort(host, s.clientPort)}`;

/** `--initial-cluster` from a member list. */
export function initialClusterFlag(s: EtcdClusterSettings, members: readonly EtcdMemberIdentity[]): string {
  return members.map((m) => `${m.name}=${peerUrl(s, m.host)}`).join(",");
}

/**
 * The flags of one member. `member` may be a template (e.g. Kubernetes `$(POD_NAME)`); `cluster`
 * is the member list the member starts with (for a new cluster: all of them; for a member added
 * to a running cluster: the current members plus itself, with `state: "existing"`).
 */
export function etcdMemberArgs(
  s: EtcdClusterSettings,
  member: EtcdMemberIdentity,
  cluster: readonly EtcdMemberIdentity[],
  state: "new" | "existing" = "new",
): string[] {
  const listen = s.listenHost ?? "0.0.0.0";
  const sch = scheme(s.tls);
  const args = [
    `--name=${member.name}`,
    `--data-dir=${s.dataDir ?? "/var/lib/etcd"}`,
    `--listen-peer-urls=${sch}://${hostPort(listen, s.peerPort)}`,
    `--listen-client-urls=${sch}://${hostPort(listen, s.clientPort)}`,
    `--initial-advertise-peer-urls=${peerUrl(s, member.host)}`,
    `--advertise-client-urls=${clientUrl(s, member.host)}`,
    `--initial-cluster=${initialClusterFlag(s, cluster)}`,
    `--initial-cluster-token=${s.clusterName}`,
    `--initial-cluster-state=${state}`,
    `--heartbeat-interval=${s.heartbeatIntervalMs}`,
    `--election-timeout=${s.electionTimeoutMs}`,
    "--auto-compaction-mode=periodic",
    "--auto-compaction-retention=1h",
    // Pre-vote (off by default in 3.4): a member that was partitioned or restarted asks first
    // whether it could win before it bumps its term, so its return never forces an election.
    "--pre-vote=true",
    "--logger=zap",
  ];
  if (s.quotaBackendBytes !== undefined) args.push(`--quota-backend-bytes=${s.quotaBackendBytes}`);
  if (s.tls) {
    const f = ETCD_TLS_FILES;
    args.push(
      `--cert-file=${f.serverCert}`,
      `--key-file=${f.serverKey}`,
      `--trusted-ca-file=${f.ca}`,
      "--client-cert-auth=true",
      `--peer-cert-file=${f.peerCert}`,
      `--peer-key-file=${f.peerKey}`,
      `--peer-trusted-ca-file=${f.ca}`,
      "--peer-client-cert-auth=true",
    );
  }
  return args;
}

/** Member names: `<cluster>-0`, `<cluster>-1`, ... (stable identities across restarts). */
export const etcdMemberName = (clusterName: string, index: number) => `${clusterName}-${index}`;

/**
 * The spec of a new cluster of `hosts.length` members; `hosts[i]` is how member i is reached
 * (a container name, a pod DNS name or a fixed private IP).
 */
export function etcdClusterSpec(s: EtcdClusterSettings, hosts: readonly string[]): EtcdClusterSpec {
  if (hosts.length < 1) throw new Error("etcdClusterSpec: at least one member host is required");
  const ids = hosts.map((host, i) => ({ name: etcdMemberName(s.clusterName, i), host }));
  return {
    settings: s,
    members: ids.map((m, index) => ({
      ...m,
      index,
      peerUrl: peerUrl(s, m.host),
      clientUrl: clientUrl(s, m.host),
      args: etcdMemberArgs(s, m, ids),
    })),
    initialCluster: initialClusterFlag(s, ids),
    clientEndpoints: ids.map((m) => clientUrl(s, m.host)),
  };
}

/**
 * The etcd version an image reference is tagged with (`scaleplane/etcd:3.4.23` → `3.4.23`), or
 * undefined when the tag is not a version. Targets that do not run the image (aws installs
 * Debian's etcd-server) pin the package to this version, so every target runs the same etcd.
 */
export function etcdVersionOfImage(image: string): string | undefined {
  const tag = /:([^:/@]+)$/.exec(image.replace(/@sha256:[0-9a-f]+$/, ""))?.[1];
  return tag && /^\d+\.\d+\.\d+$/.test(tag.replace(/^v/, "")) ? tag.replace(/^v/, "") : undefined;
}

/** Votes needed for a Raft majority of `voters` voting members: ⌊n/2⌋ + 1. */
export const quorum = (voters: number): number => Math.floor(voters / 2) + 1;

/** How many voting members may fail with the cluster still available. */
export const faultTolerance = (voters: number): number => voters - quorum(voters);
