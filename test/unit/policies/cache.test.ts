import { cacheAuthRequired, cacheEncrypted, noPublicCacheIngress } from "../../../policies/cache";
import { k8sDataServicesInternal } from "../../../policies/network";
import { runResource } from "./fake-args";

const GROUP = "aws:elasticache/replicationGroup:ReplicationGroup";

describe("cache-encrypted", () => {
  it("passes a group encrypted at rest and in transit", async () => {
    expect(
      (await runResource(cacheEncrypted, GROUP, { atRestEncryptionEnabled: true, transitEncryptionEnabled: true }))
        .messages,
    ).toEqual([]);
  });
  it("names what is off", async () => {
    expect(
      (await runResource(cacheEncrypted, GROUP, { atRestEncryptionEnabled: true }, { name: "c0" })).messages,
    ).toEqual([
      "ElastiCache replication group c0 is not encrypted (transitEncryptionEnabled off); set both true (at-rest encryption cannot be turned on later without a new group).",
    ]);
  });
});

describe("cache-auth-required", () => {
  it("fails a group without an auth token", async () => {
    expect((await runResource(cacheAuthRequired, GROUP, {}, { name: "c0" })).messages[0]).toMatch(
      /without credentials/,
    );
    expect((await runResource(cacheAuthRequired, GROUP, { authToken: "[secret]" })).messages).toEqual([]);
  });
  it("fails a cache StatefulSet whose Redis has no password, passes one with --requirepass", async () => {
    const sts = (args: string[]) => ({
      metadata: { labels: { "scaleplane.io/cache": "cache" } },
      spec: { template: { spec: { containers: [{ name: "redis", command: ["redis-server"], args }] } } },
    });
    expect(
      (await runResource(cacheAuthRequired, "kubernetes:apps/v1:StatefulSet", sts(["--port", "6379"]))).messages[0],
    ).toMatch(/without a password/);
    expect(
      (
        await runResource(
          cacheAuthRequired,
          "kubernetes:apps/v1:StatefulSet",
          sts(["--requirepass", "$(REDIS_PASSWORD)"]),
        )
      ).messages,
    ).toEqual([]);
  });
  it("checks Docker cache containers for the password file and ignores other containers", async () => {
    const labels = [{ label: "scaleplane.io/cache", value: "cache" }];
    const container = "docker:index/container:Container";
    expect((await runResource(cacheAuthRequired, container, { labels, envs: [] })).messages[0]).toMatch(
      /without a password/,
    );
    expect(
      (
        await runResource(cacheAuthRequired, container, {
          labels,
          envs: ["REDIS_PASSWORD_FILE=/run/secrets/redis-password"],
        })
      ).messages,
    ).toEqual([]);
    expect((await runResource(cacheAuthRequired, container, { envs: [] })).messages).toEqual([]);
  });
});

describe("no-public-cache-ingress", () => {
  it("refuses 0.0.0.0/0 on 6379", async () => {
    const sg = { ingress: [{ protocol: "tcp", fromPort: 6379, toPort: 6379, cidrBlocks: ["0.0.0.0/0"] }] };
    expect(
      (await runResource(noPublicCacheIngress, "aws:ec2/securityGroup:SecurityGroup", sg, { name: "sg" })).messages[0],
    ).toMatch(/opens Redis port\(s\) 6379 to 0.0.0.0\/0/);
  });
});

describe("Redis behind Kubernetes Services (k8s-data-services-internal)", () => {
  it("refuses a LoadBalancer Service on 6379", async () => {
    const svc = { spec: { type: "LoadBalancer", ports: [{ port: 6379 }] } };
    expect(
      (await runResource(k8sDataServicesInternal, "kubernetes:core/v1:Service", svc, { name: "redis" })).messages[0],
    ).toMatch(/exposes data port\(s\) 6379/);
  });
});
