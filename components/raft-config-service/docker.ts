/**
 * RaftConfigService on Docker: a private bridge network (unless one is given) and ONE
 * EtcdMembership resource that owns the member containers (providers/etcd-membership/docker-members.ts).
 *
 * Why not one docker.Container per member: growing a static set of containers from 3 to 5 would
 * start the new ones with `--initial-cluster-state new` (a second cluster) or require hand-editing
 * flags; shrinking would stop a member without removing it from the Raft configuration (the
 * cluster would count a dead voter against its quorum). EtcdMembership adds members as learners
 * and removes them through etcd, one at a time (core/etcd/membership.ts). Its inputs carry the
 * full member spec (image, core/etcd/spec.ts flags, 127.0.0.1 ports) so `npm run plan` shows them.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { etcdClusterSpec } from "../../core/etcd/spec";
import { MAX_MEMBERS, dockerMemberHosts, etcdSettings } from "../../core/etcd/placement";
import { hostPortRange } from "../../core/ports";
import { EtcdMembership } from "../../providers/etcd-membership";
import { HOST_IP, dockerLabels } from "../shared/docker";
import type { DockerEtcdResult, EtcdBuildContext, RaftConfigServiceDockerArgs } from "./args";

/** Creates the network (unless given) and the EtcdMembership under `ctx.parent`. */
export function createDockerEtcd(ctx: EtcdBuildContext, args: RaftConfigServiceDockerArgs): DockerEtcdResult {
  const { name, cs, clusterName, parent } = ctx;
  const labels = {
    "app.kubernetes.io/part-of": "scaleplane",
    "scaleplane.io/config-service": cs.name,
    ...(args.labels ?? {}),
  };
  let network: docker.Network | undefined;
  let networkName: pulumi.Output<string>;
  if (args.network === undefined) {
    network = new docker.Network(
      `${name}-net`,
      { name: `${clusterName}-net`, driver: "bridge", labels: dockerLabels(labels) },
      { parent },
    );
    networkName = network.name;
  } else networkName = pulumi.output(args.network);
  const hostPorts = hostPortRange("docker.portBase", args.portBase, cs.members);

  const settings = etcdSettings(cs, clusterName);
  const hosts = dockerMemberHosts(clusterName, cs.members);
  const spec = etcdClusterSpec(settings, hosts);
  // SANs for every member the cluster may grow to: scaling never needs new certificates.
  const certs = cs.tls
    ? ctx.tls({ dnsNames: [...dockerMemberHosts(clusterName, MAX_MEMBERS), "localhost"], ipAddresses: [HOST_IP] })
    : undefined;

  const membership = new EtcdMembership(
    `${name}-members`,
    {
      clusterName,
      settings,
      image: cs.image,
      etcdBinary: cs.etcdBinary,
      network: networkName,
      members: spec.members.map((m, i) => ({ name: m.name, host: m.host, hostPort: hostPorts[i], args: m.args })),
      labels,
      // Key material only inside a secret Output; the provider never returns it.
      tls: certs
        ? pulumi.secret(
            pulumi
              .all([
                certs.ca,
                certs.serverCert,
                certs.serverKey,
                certs.peerCert,
                certs.peerKey,
                certs.clientCert,
                certs.clientKey,
              ])
              .apply(([ca, serverCert, serverKey, peerCert, peerKey, clientCert, clientKey]) => ({
                ca,
                serverCert,
                serverKey,
                peerCert,
                peerKey,
                clientCert,
                clientKey,
              })),
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
    network,
    membership,
  };
}
