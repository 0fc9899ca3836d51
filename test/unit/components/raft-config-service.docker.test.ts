import { TOKENS } from "../../../core/tokens";
import { RaftConfigService } from "../../../components/raft-config-service";
import { installMocks, settle } from "../../../scripts/lib/offline";
import { inputsByKey, isSecretInput as isSecretValue, plainMatches } from "../../support/inputs";

const rec = installMocks({ stack: "dev" });
const raw = inputsByKey(rec);

import { ETCD_TLS_FILES, etcdClusterSpec } from "../../../core/etcd/spec";
import { dockerMemberHosts, etcdSettings } from "../../../core/etcd/placement";
import { ConfigServiceSchema } from "../../../core/config";

const MEMBERSHIP = "pulumi-nodejs:dynamic/etcd:EtcdMembership";

const plain = new RaftConfigService("cfg", {
  target: "docker",
  configService: { name: "cfg", members: 3, image: "scaleplane/etcd:3.4.23", etcdBinary: "/usr/bin/etcd" },
  docker: { portBase: 12379 },
});
const secure = new RaftConfigService("sec", {
  target: "docker",
  configService: { name: "sec", members: 5, tls: true },
  docker: { portBase: 13379 },
});

beforeAll(settle);

describe("RaftConfigService on docker", () => {
  it("creates a private network and ONE EtcdMembership owning the members", () => {
    const comp = rec.one(TOKENS.configService, "cfg");
    const net = rec.one("docker:index/network:Network", "cfg-net");
    expect(net.parentUrn).toBe(comp.urn);
    expect(net.inputs).toMatchObject({ name: "cfg-dev-net", driver: "bridge" });
    const m = rec.one(MEMBERSHIP, "cfg-members");
    expect(m.parentUrn).toBe(comp.urn);
    expect(rec.ofType("docker:index/container:Container")).toHaveLength(0);
    expect(m.inputs).toMatchObject({
      clusterName: "cfg-dev",
      image: "scaleplane/etcd:3.4.23",
      etcdBinary: "/usr/bin/etcd",
      network: "cfg-dev-net",
    });
    expect(typeof m.inputs.__provider).toBe("string");
  });

  it("gives every member the flags of the shared builder and a 127.0.0.1 port portBase + i", () => {
    const settings = etcdSettings(ConfigServiceSchema.parse({ name: "cfg", members: 3 }), "cfg-dev");
    const spec = etcdClusterSpec(settings, dockerMemberHosts("cfg-dev", 3));
    const members = rec.one(MEMBERSHIP, "cfg-members").inputs.members as {
      name: string;
      host: string;
      hostPort: number;
      args: string[];
    }[];
    expect(members).toEqual(
      spec.members.map((m, i) => ({ name: m.name, host: m.host, hostPort: 12379 + i, args: m.args })),
    );
    expect(members[2].args).toContain(
      "--initial-cluster=cfg-dev-0=http://cfg-dev-0:2380,cfg-dev-1=http://cfg-dev-1:2380,cfg-dev-2=http://cfg-dev-2:2380",
    );
    expect(members[0].args).toContain("--initial-cluster-state=new");
    expect(rec.one(MEMBERSHIP, "cfg-members").inputs.settings).toEqual(settings);
  });

  it("exposes endpoints as apps reach them and the member names", async () => {
    const { valueOf } = await import("../../../scripts/lib/offline");
    expect(await valueOf(plain.clientEndpoints)).toEqual([
      "http://cfg-dev-0:2379",
      "http://cfg-dev-1:2379",
      "http://cfg-dev-2:2379",
    ]);
    expect(await valueOf(plain.memberNames)).toEqual(["cfg-dev-0", "cfg-dev-1", "cfg-dev-2"]);
    expect(await valueOf(plain.networkName)).toBe("cfg-dev-net");
    expect(await valueOf(plain.caCertificate)).toBeUndefined();
    expect(rec.ofType("tls:index/privateKey:PrivateKey").filter((r) => r.name.startsWith("cfg-"))).toHaveLength(0);
  });

  it("with TLS: https URLs, TLS flags, certificates from @pulumi/tls, key material only as a secret input", async () => {
    const m = rec.one(MEMBERSHIP, "sec-members");
    const members = m.inputs.members as { args: string[] }[];
    expect(members).toHaveLength(5);
    for (const a of members.map((x) => x.args)) {
      expect(a).toEqual(
        expect.arrayContaining([
          `--cert-file=${ETCD_TLS_FILES.serverCert}`,
          `--peer-key-file=${ETCD_TLS_FILES.peerKey}`,
          "--client-cert-auth=true",
          "--peer-client-cert-auth=true",
        ]),
      );
      expect(a).toContain("--listen-client-urls=https://0.0.0.0:2379");
    }
    const csr = rec.one("tls:index/certRequest:CertRequest", "sec-server-csr");
    // Every host up to 7 members: growing 5 → 7 keeps the certificates.
    expect(csr.inputs.dnsNames).toEqual([...dockerMemberHosts("sec-dev", 7), "localhost"]);
    expect(csr.inputs.ipAddresses).toEqual(["127.0.0.1"]);
    expect(rec.one("tls:index/selfSignedCert:SelfSignedCert", "sec-ca").inputs.isCaCertificate).toBe(true);
    const rawInputs = raw.get(`${MEMBERSHIP}::sec-members`)!;
    expect(isSecretValue(rawInputs.tls)).toBe(true);
    expect(plainMatches(rawInputs, /PRIVATE KEY/)).toEqual([]);
    const { valueOf } = await import("../../../scripts/lib/offline");
    expect(await valueOf(secure.clientEndpoints)).toEqual(
      dockerMemberHosts("sec-dev", 5).map((h) => `https://${h}:2379`),
    );
    expect(await (secure.clientPrivateKey as unknown as { isSecret: Promise<boolean> }).isSecret).toBe(true);
  });

  it("refuses bad arguments before creating anything, naming the key", () => {
    expect(
      () =>
        new RaftConfigService("bad1", { target: "docker", configService: { members: 4 }, docker: { portBase: 14000 } }),
    ).toThrow(/configService\.members: must be an odd member count/);
    // @ts-expect-error -- the type requires the target's block; a JavaScript caller gets the ConfigError
    expect(() => new RaftConfigService("bad2", { target: "docker", configService: {} })).toThrow(
      /docker: is required for target docker \(RaftConfigService "[a-z0-9-]+"\); it is missing/,
    );
    expect(
      () =>
        new RaftConfigService("bad3", {
          target: "docker",
          environment: "prod",
          configService: { members: 1 },
          docker: { portBase: 14000 },
        }),
    ).toThrow(/configService\.members: must be 3, 5 or 7 in prod/);
    expect(
      () => new RaftConfigService("bad4", { target: "docker", configService: {}, docker: { portBase: 80 } }),
    ).toThrow(/docker\.portBase/);
  });

  it("registers nothing for refused arguments", async () => {
    await settle();
    expect(rec.resources.filter((r) => r.name.startsWith("bad"))).toEqual([]);
  });
});

describe("RaftConfigService on docker: the children a user extends", () => {
  it("exposes the network and the membership resource; nothing of other targets", () => {
    expect(plain.network).toBeDefined();
    expect(plain.membership).toBeDefined();
    expect([plain.securityGroup, plain.statefulSet]).toEqual([undefined, undefined]);
  });
});
