import { RaftConfigService } from "../../../components/raft-config-service";
import { installMocks, settle, valueOf } from "../../../scripts/lib/offline";
import { inputsByKey, isSecretInput as isSecretValue } from "../../support/inputs";

const rec = installMocks({ stack: "k8s" });
const raw = inputsByKey(rec);

import { ETCD_TLS_DIR, etcdClusterSpec, etcdMemberArgs } from "../../../core/etcd/spec";
import { etcdSettings, kubernetesMemberHosts, kubernetesMemberTemplate } from "../../../core/etcd/placement";
import { ConfigServiceSchema } from "../../../core/config";

const cs = new RaftConfigService("cfg", {
  target: "kubernetes",
  configService: { name: "cfg", members: 5, storageGb: 20 },
  kubernetes: { namespace: "platform", storageClass: "fast", zones: ["z1", "z2", "z3"] },
});
new RaftConfigService("sec", {
  target: "kubernetes",
  configService: { name: "sec", members: 3, tls: true },
  kubernetes: { namespace: "platform" },
});

beforeAll(settle);

interface Container {
  args: string[];
  env: { name: string }[];
  readinessProbe: { httpGet?: unknown; exec?: { command: string[] } };
  volumeMounts: unknown[];
}
interface PodSpec {
  containers: Container[];
  affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: unknown[] } };
  topologySpreadConstraints: unknown[];
}
type Sts = {
  spec: {
    replicas: number;
    podManagementPolicy: string;
    serviceName: string;
    template: { spec: PodSpec };
    volumeClaimTemplates: { spec: Record<string, unknown> }[];
  };
};
type Obj = { metadata: unknown; spec: Record<string, unknown> };

describe("RaftConfigService on kubernetes", () => {
  const sts = () => rec.one("kubernetes:apps/v1:StatefulSet", "cfg").inputs as unknown as Sts;

  it("runs a Parallel StatefulSet whose pods use the shared builder's flags for the pod-DNS template identity", () => {
    const s = sts();
    expect(s.spec).toMatchObject({ replicas: 5, podManagementPolicy: "Parallel", serviceName: "cfg-k8s-peer" });
    const settings = etcdSettings(
      ConfigServiceSchema.parse({ name: "cfg", members: 5 }),
      "cfg-k8s",
      "/var/lib/etcd/data",
    );
    const spec = etcdClusterSpec(settings, kubernetesMemberHosts("cfg-k8s", 5));
    const c = s.spec.template.spec.containers[0];
    expect(c.args).toEqual(etcdMemberArgs(settings, kubernetesMemberTemplate("cfg-k8s"), spec.members, "new"));
    expect(c.args).toContain("--name=$(POD_NAME)");
    expect(c.args).toContain("--initial-advertise-peer-urls=http://$(POD_NAME).cfg-k8s-peer.$(POD_NAMESPACE).svc:2380");
    expect(c.env.map((e: { name: string }) => e.name)).toEqual(["POD_NAME", "POD_NAMESPACE"]);
    expect(c.readinessProbe.httpGet).toEqual({ path: "/health", port: 2379 });
  });

  it("spreads members: required anti-affinity per node, hard zone spread when zones are given", () => {
    const pod = sts().spec.template.spec;
    const anti = pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution;
    expect(anti).toEqual([expect.objectContaining({ topologyKey: "kubernetes.io/hostname" })]);
    expect(pod.topologySpreadConstraints).toEqual([
      expect.objectContaining({
        topologyKey: "topology.kubernetes.io/zone",
        maxSkew: 1,
        whenUnsatisfiable: "DoNotSchedule",
      }),
    ]);
    const sec = (rec.one("kubernetes:apps/v1:StatefulSet", "sec").inputs as unknown as Sts).spec.template.spec;
    expect(sec.topologySpreadConstraints).toEqual([]);
  });

  it("has a headless peer Service publishing not-ready addresses, a client Service, a PDB of 1 and a PVC per member", () => {
    const peer = rec.one("kubernetes:core/v1:Service", "cfg-peer").inputs as unknown as Obj;
    expect(peer.metadata).toMatchObject({ name: "cfg-k8s-peer", namespace: "platform" });
    expect(peer.spec).toMatchObject({ clusterIP: "None", publishNotReadyAddresses: true });
    const client = rec.one("kubernetes:core/v1:Service", "cfg-client").inputs as unknown as Obj;
    expect(client.spec.ports).toEqual([{ name: "client", port: 2379, targetPort: 2379 }]);
    expect(
      (rec.one("kubernetes:policy/v1:PodDisruptionBudget", "cfg-pdb").inputs as unknown as Obj).spec.maxUnavailable,
    ).toBe(1);
    expect(sts().spec.volumeClaimTemplates[0].spec).toMatchObject({
      storageClassName: "fast",
      resources: { requests: { storage: "20Gi" } },
    });
  });

  it("exposes member client URLs with the namespace resolved", async () => {
    expect(await valueOf(cs.clientEndpoints)).toEqual(
      [0, 1, 2, 3, 4].map((i) => `http://cfg-k8s-${i}.cfg-k8s-peer.platform.svc:2379`),
    );
  });

  it("with TLS: a Secret (secret data) mounted at the TLS dir, exec probes with certificates, SANs for the pod DNS names", () => {
    const secret = rec.one("kubernetes:core/v1:Secret", "sec-tls");
    expect(secret.inputs.metadata).toMatchObject({ name: "sec-k8s-tls", namespace: "platform" });
    const rawData = raw.get("kubernetes:core/v1:Secret::sec-tls")!.stringData as Record<string, unknown>;
    // @pulumi/kubernetes sends the whole stringData as one secret.
    expect(isSecretValue(rawData)).toBe(true);
    const pod = (rec.one("kubernetes:apps/v1:StatefulSet", "sec").inputs as unknown as Sts).spec.template.spec;
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: "tls", mountPath: ETCD_TLS_DIR, readOnly: true });
    expect(pod.containers[0].args).toContain("--client-cert-auth=true");
    expect(pod.containers[0].readinessProbe.exec?.command).toContain("endpoint");
    const csr = rec.one("tls:index/certRequest:CertRequest", "sec-peer-csr").inputs;
    expect(csr.dnsNames).toContain("*.sec-k8s-peer.platform.svc");
  });

  it("refuses a missing kubernetes block naming it", () => {
    // @ts-expect-error -- the type requires the target's block; a JavaScript caller gets the ConfigError
    expect(() => new RaftConfigService("bad", { target: "kubernetes", configService: {} })).toThrow(
      /kubernetes: is required for target kubernetes \(RaftConfigService "[a-z0-9-]+"\); it is missing/,
    );
  });
});
