/**
 * CacheCluster under the mock runtime on every target, and the Platform wiring it: docker
 * containers of the local Redis image with the password as an uploaded file and ports on
 * 127.0.0.1 only; ElastiCache groups encrypted at rest and in transit with the auth token a
 * secret, one per zone in turn; a StatefulSet behind a headless Service; the app's environment.
 */
import * as pulumi from "@pulumi/pulumi";
import { TOKENS } from "../../../core/tokens";
import { CacheCluster } from "../../../components/cache-cluster";
import { Platform } from "../../../components/platform";
import { installMocks, settle, valueOf } from "../../../scripts/lib/offline";
import { isSecretInput, plainInputs, TEST_PASSWORD } from "../../support/inputs";

const rec = installMocks({ stack: "unit-cache" });
const CONTAINER = "docker:index/container:Container";
const GROUP = "aws:elasticache/replicationGroup:ReplicationGroup";
const STS = "kubernetes:apps/v1:StatefulSet";
const SVC = "kubernetes:core/v1:Service";

const local = new CacheCluster("local", {
  target: "docker",
  cache: { nodes: 3, maxMemoryMb: 64 },
  authToken: TEST_PASSWORD,
  docker: { portBase: 36379 },
});
const cloud = new CacheCluster("cloud", {
  target: "aws",
  environment: "prod",
  cache: { name: "kv", nodes: 3, engine: "valkey", engineVersion: "8.0" },
  aws: {
    vpcId: "vpc-1",
    subnets: [
      { id: "s-a", cidr: "10.0.0.0/24", zone: "eu-west-1a" },
      { id: "s-b", cidr: "10.0.1.0/24", zone: "eu-west-1b" },
    ],
    clientSecurityGroupIds: ["sg-app"],
  },
});
const pods = new CacheCluster("pods", { target: "kubernetes", cache: { nodes: 2 }, kubernetes: { namespace: "ns" } });
const platform = new Platform("shop", { config: { target: "docker", cache: { nodes: 2 } } });

beforeAll(settle);

describe("CacheCluster on docker", () => {
  it("runs one container per node on the local Redis image, password as a file, port on 127.0.0.1", () => {
    const cs = rec.ofType(CONTAINER).filter((c) => c.name.startsWith("local-"));
    expect(cs.map((c) => c.name).sort()).toEqual(["local-cache-0", "local-cache-1", "local-cache-2"]);
    const c0 = plainInputs(rec.one(CONTAINER, "local-cache-0").inputs);
    expect(c0.image).toBe("scaleplane/redis:7.0.15");
    expect(c0.ports).toEqual([{ internal: 6379, external: 36379, ip: "127.0.0.1", protocol: "tcp" }]);
    expect(c0.envs).toEqual(["REDIS_PASSWORD_FILE=/run/secrets/redis-password"]);
    expect(c0.command).toEqual(expect.arrayContaining(["--maxmemory", "64mb", "--maxmemory-policy", "volatile-lfu"]));
    expect(JSON.stringify(c0.command)).not.toContain(TEST_PASSWORD);
    expect(isSecretInput(rec.one(CONTAINER, "local-cache-0").inputs.uploads)).toBe(true);
    expect(rec.one(TOKENS.cache, "local").inputs).toMatchObject({ auth: true, target: "docker" });
  });
  it("publishes the nodes as the app reaches them and the host endpoints", async () => {
    expect(await valueOf(local.nodes)).toEqual([
      { name: "cache-0", host: "cache-unit-cache-cache-0", port: 6379, weight: 1 },
      { name: "cache-1", host: "cache-unit-cache-cache-1", port: 6379, weight: 1 },
      { name: "cache-2", host: "cache-unit-cache-cache-2", port: 6379, weight: 1 },
    ]);
    expect(await valueOf(local.hostEndpoints)).toEqual({
      "cache-0": "127.0.0.1:36379",
      "cache-1": "127.0.0.1:36380",
      "cache-2": "127.0.0.1:36381",
    });
    expect(await valueOf(local.clusterName)).toBe("cache-unit-cache");
  });
  it("refuses a bad section naming the key", () => {
    expect(
      () =>
        new CacheCluster("bad", { target: "docker", cache: { nodes: 2, replicas: 3 }, docker: { portBase: 40000 } }),
    ).toThrow(/cache\.replicas: must be ≤ the node count \(2\)/);
  });
});

describe("CacheCluster on aws", () => {
  it("creates an encrypted, authenticated ElastiCache group per node, one per zone in turn", () => {
    const groups = rec.ofType(GROUP).filter((g) => g.name.startsWith("cloud-"));
    expect(groups).toHaveLength(3);
    const zones = groups.map((g) => plainInputs(g.inputs).preferredCacheClusterAzs[0]);
    expect(zones).toEqual(["eu-west-1a", "eu-west-1b", "eu-west-1a"]);
    for (const g of groups) {
      expect(plainInputs(g.inputs)).toMatchObject({
        engine: "valkey",
        atRestEncryptionEnabled: true,
        transitEncryptionEnabled: true,
        numCacheClusters: 1,
      });
      expect(isSecretInput(g.inputs.authToken)).toBe(true);
    }
    const sg = plainInputs(rec.one("aws:ec2/securityGroup:SecurityGroup", "cloud-sg").inputs);
    expect(sg.ingress).toEqual([expect.objectContaining({ fromPort: 6379, securityGroups: ["sg-app"] })]);
    expect(cloud.tls).toBe(true);
  });
});

describe("CacheCluster on kubernetes", () => {
  it("runs a StatefulSet behind a headless Service, password from a secretKeyRef", () => {
    const sts = plainInputs(rec.one(STS, "pods-sts").inputs);
    expect(sts.spec.replicas).toBe(2);
    const c = sts.spec.template.spec.containers[0];
    expect(c.args.slice(0, 2)).toEqual(["--requirepass", "$(REDIS_PASSWORD)"]);
    expect(c.env[0].valueFrom.secretKeyRef.key).toBe("password");
    expect(plainInputs(rec.one(SVC, "pods-svc").inputs).spec.clusterIP).toBe("None");
    expect(pods.config.nodes).toBe(2);
  });
});

describe("Platform with a cache section", () => {
  it("creates the CacheCluster and gives the app its nodes, cluster name and password (secret)", async () => {
    expect(platform.cache).toBeDefined();
    // on docker the app's containers are made by its scaler: their spec travels in the scaler's inputs
    const appSide = rec.resources.filter((r) => r.name.startsWith("shop-app"));
    const text = JSON.stringify(appSide.map((r) => plainInputs(r.inputs)));
    expect(await valueOf(platform.cache!.nodes)).toHaveLength(2);
    const cacheNet = await valueOf(platform.cache!.networkName);
    expect(text).toContain("SCALEPLANE_CACHE_NODES");
    expect(text).toContain("SCALEPLANE_CACHE_CLUSTER");
    expect(text).toContain(cacheNet!);
    expect(pulumi.Output.isInstance(platform.cache!.authToken)).toBe(true);
  });
});
