import {
  etcdClusterSpec,
  etcdMemberArgs,
  faultTolerance,
  quorum,
  type EtcdClusterSettings,
} from "../../../core/etcd/spec";

const settings: EtcdClusterSettings = {
  clusterName: "config",
  clientPort: 2379,
  peerPort: 2380,
  heartbeatIntervalMs: 100,
  electionTimeoutMs: 1000,
  tls: false,
};

const flag = (args: string[], name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

describe("core/etcd member specs", () => {
  it("gives every member the same initial cluster and its own advertised URLs", () => {
    const spec = etcdClusterSpec(settings, ["config-0", "config-1", "config-2"]);
    expect(spec.initialCluster).toBe(
      "config-0=http://config-0:2380,config-1=http://config-1:2380,config-2=http://config-2:2380",
    );
    expect(spec.clientEndpoints).toEqual(["http://config-0:2379", "http://config-1:2379", "http://config-2:2379"]);
    for (const m of spec.members) {
      expect(flag(m.args, "name")).toBe(m.name);
      expect(flag(m.args, "initial-cluster")).toBe(spec.initialCluster);
      expect(flag(m.args, "initial-advertise-peer-urls")).toBe(`http://${m.host}:2380`);
      expect(flag(m.args, "advertise-client-urls")).toBe(`http://${m.host}:2379`);
      expect(flag(m.args, "initial-cluster-token")).toBe("config");
      expect(flag(m.args, "initial-cluster-state")).toBe("new");
      expect(flag(m.args, "heartbeat-interval")).toBe("100");
      expect(flag(m.args, "election-timeout")).toBe("1000");
      // pre-vote: a restarted or partitioned member cannot force an election by bumping its term
      expect(flag(m.args, "pre-vote")).toBe("true");
    }
  });

  it("switches every URL to https and adds mutual TLS when tls is on", () => {
    const [m] = etcdClusterSpec({ ...settings, tls: true }, ["10.0.128.10"]).members;
    expect(m.clientUrl).toBe("https://10.0.128.10:2379");
    expect(flag(m.args, "listen-peer-urls")).toBe("https://0.0.0.0:2380");
    expect(flag(m.args, "client-cert-auth")).toBe("true");
    expect(flag(m.args, "peer-client-cert-auth")).toBe("true");
    expect(flag(m.args, "peer-trusted-ca-file")).toBe("/etc/etcd/tls/ca.crt");
  });

  it("joins an existing cluster with state existing", () => {
    const args = etcdMemberArgs(
      settings,
      { name: "config-3", host: "config-3" },
      [
        { name: "config-0", host: "config-0" },
        { name: "config-3", host: "config-3" },
      ],
      "existing",
    );
    expect(flag(args, "initial-cluster-state")).toBe("existing");
    expect(flag(args, "pre-vote")).toBe("true");
    expect(flag(args, "initial-cluster")).toBe("config-0=http://config-0:2380,config-3=http://config-3:2380");
  });

  it("counts Raft majorities right", () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(quorum)).toEqual([1, 2, 2, 3, 3, 4, 4]);
    expect([1, 3, 5, 7].map(faultTolerance)).toEqual([0, 1, 2, 3]);
    expect(faultTolerance(4)).toBe(faultTolerance(3));
  });
});
