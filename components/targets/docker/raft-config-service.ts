/**
 * RaftConfigService on Docker: a private bridge network (unless one is given) and ONE
 * EtcdMembership resource that owns the member containers (runtime/etcd/docker-members.ts).
 *
 * Why not one docker.Container per member: growing a static set of containers from 3 to 5 would
 * start the new ones with `--initial-cluster-state new` (a second cluster) or require hand-editing
 * flags; shrinking would stop a member without removing it from the Raft configuration (the
 * cluster would count a dead voter against its quorum). EtcdMembership adds members as learners
 * and removes them through etcd, one at a time (core/etcd-membership.ts). Its inputs carry the
 * full member spec (image, core/etcd.ts flags, 127.0.0.1 ports) so `npm run plan` shows them.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { etcdClusterSpec } from "../../../core/etcd";
import { MAX_MEMBERS, dockerMemberHosts, etcdSettings } from "../../../core/etcd-placement";
import { EtcdMembership } from "../../../providers/etcd-membership";
import type { EtcdBuildContext, EtcdBuildResult, RaftConfigServiceDockerArgs } from "../../raft-config-service";

/** The only host address member client ports are published on. */
export const HOST_IP = "127.0.0.1";

export function createDockerEtcd(ctx: EtcdBuildContext, args: RaftConfigServiceDockerArgs): EtcdBuildResult {
  const { name, cs, clusterName, parent } = ctx;
  const labels = { "app.kubernetes.io/part-of": "scaleplane", "scaleplane.io/config-service": cs.name, ...(args.labels ?? {}) };
  const networkName =
    args.network !== undefined
      ? pulumi.output(args.network)
      : new docker.Network(
          `${name}-net`,
          { name: `${clusterName}-net`, driver: "bridge", labels: Object.entries(labels).map(([label, value]) => ({ label, value })) },
          { parent },
        ).name;

  const settings = etcdSettings(cs, clusterName);
  const hosts = dockerMemberHosts(clusterName, cs.members);
  const spec = etcdClusterSpec(settings, hosts);
  // SANs for every member the cluster may grow to: scaling never needs new certificates.
  const certs = cs.tls ? ctx.tls({ dnsNames: [...dockerMemberHosts(clusterName, MAX_MEMBERS), "localhost"], ipAddresses: [HOST_IP] }) : undefined;

  const membership = new EtcdMembership(
    `${name}-members`,
    {
      clusterName,
      settings,
      image: cs.image,
      etcdBinary: cs.etcdBinary,
      network: networkName,
      members: spec.members.map((m, i) => ({ name: m.name, host: m.host, hostPort: args.portBase + i, args: m.args })),
      labels,
      // Key material only inside a secret Output; the provider never returns it.
      tls: certs
        ? pulumi.secret(
            pulumi.all([certs.ca, certs.serverCert, certs.serverKey, certs.peerCert, certs.peerKey, certs.clientCert, certs.clientKey]).apply(
              ([ca, serverCert, serverKey, peerCert, peerKey, clientCert, clientKey]) => ({ ca, serverCert, serverKey, peerCert, peerKey, clientCert, clientKey }),
            ),
          )
        : undefined,
    },
    { parent },
  );

  return {
    clientEndpoints: membership.clientEndpoints.apply((e) => e ?? spec.clientEndpoints),
    memberNames: spec.members.map((m) => m.name),
    publishedEndpoints: membership.publishedEndpoints,
    networkName,
    tls: certs,
  };
}
