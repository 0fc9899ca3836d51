/**
 * kubernetesDeployedMembers (core/etcd/placement.ts): the member count a kubernetes stack's last
 * deployment published in its `configEndpoints` output, which the member-count lock compares with
 * in its first `up`. Counts this cluster's member hosts only, whatever the scheme or port (a TLS
 * switch must not make a 3-member cluster look empty); anything but a list of URLs fails closed.
 */
import fc from "fast-check";
import { ConfigServiceSchema } from "../../../core/config";
import { ETCD_MEMBER_COUNTS, clientUrl } from "../../../core/etcd/spec";
import {
  MAX_MEMBERS,
  dockerMemberHosts,
  etcdClusterName,
  etcdSettings,
  kubernetesDeployedMembers,
  kubernetesMemberHosts,
} from "../../../core/etcd/placement";

/** The endpoints RaftConfigService publishes on kubernetes (components/raft-config-service/kubernetes.ts). */
const published = (cluster: string, members: number, ns: string, tls: boolean, clientPort = 2379): string[] => {
  const cs = ConfigServiceSchema.parse({ members, tls, clientPort });
  const settings = etcdSettings(cs, cluster);
  return kubernetesMemberHosts(cluster, members, ns).map((h) => clientUrl(settings, h));
};

const label = fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/);
const members = fc.constantFrom(...ETCD_MEMBER_COUNTS);

describe("kubernetesDeployedMembers", () => {
  it("counts the members a deployment of m members published as m, with and without TLS, on any client port", () => {
    fc.assert(
      fc.property(
        label,
        label,
        label,
        members,
        fc.boolean(),
        fc.integer({ min: 1024, max: 65535 }),
        (svc, stack, ns, m, tls, port) => {
          const cluster = etcdClusterName(svc, stack);
          expect(kubernetesDeployedMembers(published(cluster, m, ns, tls, port), cluster, ns)).toBe(m);
        },
      ),
    );
  });

  it("a TLS switch or a client-port change between deployments keeps the count (3 -> 5 is seen as 3)", () => {
    const previous = published("cfg-k8s", 3, "scaleplane", false, 2379);
    expect(previous[0]).toBe("http://cfg-k8s-0.cfg-k8s-peer.scaleplane.svc:2379");
    expect(kubernetesDeployedMembers(previous, "cfg-k8s", "scaleplane")).toBe(3);
    expect(kubernetesDeployedMembers(published("cfg-k8s", 3, "scaleplane", true, 12379), "cfg-k8s", "scaleplane")).toBe(
      3,
    );
    // Every index a cluster can reach counts, up to the largest cluster.
    expect(
      kubernetesDeployedMembers(published("cfg-k8s", MAX_MEMBERS, "scaleplane", true), "cfg-k8s", "scaleplane"),
    ).toBe(MAX_MEMBERS);
  });

  it("endpoints of another cluster, namespace or target count 0", () => {
    fc.assert(
      fc.property(label, label, members, fc.boolean(), (ns, other, m, tls) => {
        fc.pre(other !== ns);
        const eps = published("cfg-k8s", m, ns, tls);
        expect(kubernetesDeployedMembers(eps, "cfg-k8s", other)).toBe(0); // another namespace
        expect(kubernetesDeployedMembers(eps, "cfg-k8sx", ns)).toBe(0); // another cluster name
        expect(kubernetesDeployedMembers(eps, "cfg-k8", ns)).toBe(0); // a prefix of it
      }),
    );
    // The same cluster on docker (container names) or with other hosts.
    const docker = dockerMemberHosts("cfg-k8s", 3).map((h) => `http://${h}:2379`);
    expect(kubernetesDeployedMembers(docker, "cfg-k8s", "scaleplane")).toBe(0);
    expect(
      kubernetesDeployedMembers(["https://10.0.0.5:2379", "http://127.0.0.1:12379"], "cfg-k8s", "scaleplane"),
    ).toBe(0);
  });

  it("counts each member once, and only this cluster's among mixed endpoints", () => {
    const eps = published("cfg-k8s", 3, "scaleplane", false);
    const tlsEps = published("cfg-k8s", 3, "scaleplane", true);
    expect(kubernetesDeployedMembers([...eps, ...tlsEps, ...eps], "cfg-k8s", "scaleplane")).toBe(3);
    expect(
      kubernetesDeployedMembers([...eps, ...published("other-k8s", 5, "scaleplane", false)], "cfg-k8s", "scaleplane"),
    ).toBe(3);
  });

  it("no previous output (never deployed, or deployed before the output existed) is 0; so is an empty list", () => {
    expect(kubernetesDeployedMembers(undefined, "cfg-k8s", "scaleplane")).toBe(0);
    expect(kubernetesDeployedMembers(null, "cfg-k8s", "scaleplane")).toBe(0);
    expect(kubernetesDeployedMembers([], "cfg-k8s", "scaleplane")).toBe(0);
  });

  it("a malformed output fails closed, naming the output and what was found (never 0)", () => {
    const bad: [unknown, RegExp][] = [
      ["http://cfg-k8s-0.cfg-k8s-peer.scaleplane.svc:2379", /not an array.*got "http:\/\/cfg-k8s-0/],
      [{ 0: "http://x:2379" }, /not an array/],
      [3, /not an array.*got 3/],
      [["http://cfg-k8s-0.cfg-k8s-peer.scaleplane.svc:2379", 7], /entry 1 is not a string/],
      [["cfg-k8s-0.cfg-k8s-peer.scaleplane.svc"], /entry 0 is not a URL/],
      [["cfg-k8s-0.cfg-k8s-peer.scaleplane.svc:2379"], /entry 0 is not an http\(s\) URL/],
      [["unix:///run/etcd.sock"], /entry 0 is not an http\(s\) URL/],
    ];
    for (const [value, why] of bad) {
      expect(() => kubernetesDeployedMembers(value, "cfg-k8s", "scaleplane")).toThrow(
        /^the stack's previous `configEndpoints` output is malformed/,
      );
      expect(() => kubernetesDeployedMembers(value, "cfg-k8s", "scaleplane")).toThrow(why);
    }
  });
});
