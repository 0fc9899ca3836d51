/**
 * The scaleplane-guard pack as the Pulumi engine sees it: policies/index.ts in its own process,
 * serving the Analyzer gRPC API. GetAnalyzerInfo lists the catalog; Analyze and AnalyzeStack
 * return the policies' diagnostics with their enforcement levels.
 */
import { TOKENS } from "../../../core/tokens";
import { Analyzer } from "../../../scripts/check";
import type { RecordedResource } from "../../../scripts/lib/offline";
import { allPolicies } from "../../../policies/catalog";

const res = (type: string, name: string, inputs: Record<string, unknown>, parentUrn?: string): RecordedResource => ({
  urn: `urn:pulumi:t::scaleplane::${type}::${name}`,
  type,
  name,
  custom: !type.startsWith("scaleplane:"),
  inputs,
  parentUrn,
});

describe("the scaleplane-guard analyzer over gRPC", () => {
  let analyzer: Analyzer;
  beforeAll(async () => {
    analyzer = await Analyzer.start();
  });
  afterAll(() => analyzer?.close());

  it("serves every policy of the catalog with its level and config defaults", async () => {
    const served = await analyzer.policies();
    expect(served.map((p) => [p.name, p.level]).sort()).toEqual(
      allPolicies.map((p) => [p.name, p.enforcementLevel]).sort(),
    );
    expect(served.find((p) => p.name === "db-backup-retention")?.defaults).toEqual({ minBackupDays: 7 });
  });

  it("analyzes a resource and a stack (parents linked through URNs)", async () => {
    await analyzer.configure();
    const platform = res(TOKENS.platform, "p", {
      environment: "prod",
      config: JSON.stringify({ environment: "prod", configService: { members: 3, tls: false } }),
    });
    const cs = res(TOKENS.configService, "p-config", {}, platform.urn);
    const members = [0, 1, 2].map((i) =>
      res(
        "docker:index/container:Container",
        `p-config-${i}`,
        { command: ["etcd", "--listen-client-urls=https://0.0.0.0:2379"], privileged: i === 0 },
        cs.urn,
      ),
    );
    const all = new Map([platform, cs, ...members].map((r) => [r.urn, r]));

    const one = await analyzer.analyze(members[0], all);
    expect(one.filter((v) => v.policy === "no-privileged-containers")).toEqual([
      {
        policy: "no-privileged-containers",
        level: "mandatory",
        resource: "p-config-0",
        type: "docker:index/container:Container",
        urn: members[0].urn,
        message:
          "Container p-config-0 runs privileged; remove privileged (grant single capabilities with capabilities.adds if one is really needed).",
      },
    ]);

    const stack = await analyzer.analyzeStack([platform, cs, ...members], all);
    expect(stack.map((v) => [v.policy, v.resource, v.message])).toEqual([
      [
        "etcd-tls-prod",
        "p-config",
        "RaftConfigService p-config serves etcd without TLS in prod; set scaleplane:configService.tls to true.",
      ],
    ]);
  });
});

describe("the pack under the Pulumi SDK's own policy-pack host", () => {
  it("loads (ts-node, type-checked) and serves every policy, as `pulumi preview --policy-pack policies` runs it", async () => {
    const pack = await Analyzer.start({ runner: "pulumi", timeoutMs: 240_000 });
    try {
      expect((await pack.policies()).map((p) => p.name).sort()).toEqual(allPolicies.map((p) => p.name).sort());
    } finally {
      pack.close();
    }
  });
});
