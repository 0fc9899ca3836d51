/**
 * How `pulumi up` resizes a running cache on docker (providers/cache-topology): the CacheCluster's
 * CacheTopology child gets the nodes as the app reaches them and depends on every node container
 * (a node exists before a client routes to it; a removed one is deleted by the engine at the end,
 * after the topology's update); the Platform passes the config service's published endpoints, gives
 * the app no node list (a resize rolls no app instance) and creates the app after the topology.
 */
import { CacheCluster } from "../../../components/cache-cluster";
import { Platform } from "../../../components/platform";
import { installMocks, settle, valueOf } from "../../../scripts/lib/offline";
import { recordDependencies } from "../../support/dependencies";
import { cacheNodesOf } from "../../../scripts/lib/cache-status";
import { plainInputs, TEST_PASSWORD } from "../../support/inputs";

const rec = installMocks({ stack: "unit-topology" });

const dependencies = recordDependencies();

const TOPOLOGY = "pulumi-nodejs:dynamic/cache:CacheTopology";
const CONTAINER = "docker:index/container:Container";

const withTopology = new CacheCluster("kv", {
  target: "docker",
  cache: { nodes: 3, replicas: 2, viewLeaseMs: 1500, nearCache: { ttlMs: 80 } },
  authToken: TEST_PASSWORD,
  docker: { portBase: 36379, configEndpoints: ["http://127.0.0.1:12379"] },
});
const without = new CacheCluster("plain", {
  target: "docker",
  cache: { name: "plain", nodes: 2, port: 7001 },
  docker: { portBase: 36479 },
});
const platform = new Platform("shop", { config: { target: "docker", cache: { nodes: 2 } } });

beforeAll(settle);

describe("CacheCluster on docker with the config service's endpoints", () => {
  it("publishes the topology from the nodes as the app reaches them, with the clients' timings", async () => {
    const t = rec.one(TOPOLOGY, "kv-topology");
    expect(rec.parentOf(t)?.name).toBe("kv");
    expect(plainInputs(t.inputs)).toMatchObject({
      etcdEndpoints: ["http://127.0.0.1:12379"],
      cluster: "cache-unit-topology",
      nodes: await valueOf(withTopology.nodes),
      replicas: 2,
      viewLeaseMs: 1500,
      nearTtlMs: 80,
    });
    // no secret reaches the provider (it touches etcd only)
    expect(JSON.stringify(t.inputs)).not.toContain(TEST_PASSWORD);
  });

  it("depends on every node container", () => {
    const containers = rec.ofType(CONTAINER).filter((c) => c.name.startsWith("kv-"));
    expect(containers).toHaveLength(3);
    expect(dependencies.get(`${TOPOLOGY}::kv-topology`)).toEqual(expect.arrayContaining(containers.map((c) => c.urn)));
  });

  it("is absent without endpoints (the first client then creates the topology)", () => {
    expect(without.topology).toBeUndefined();
    expect(rec.ofType(TOPOLOGY).map((r) => r.name)).not.toContain("plain-topology");
  });
});

describe("npm run status on these nodes", () => {
  it("probes each node container at the port redis-server listens on (cache.port), not Redis's default", () => {
    const plain = cacheNodesOf(rec).filter((n) => n.container.startsWith("plain-"));
    expect(plain).toHaveLength(2);
    expect(plain.map((n) => [n.port, n.hostPort])).toEqual([
      [7001, 36479],
      [7001, 36480],
    ]);
  });
});

describe("Platform on docker with a cache", () => {
  it("resizes through the topology: endpoints of the config service, no node list for the app, the app after the topology", async () => {
    const t = rec.one(TOPOLOGY, "shop-cache-topology");
    expect(plainInputs(t.inputs).etcdEndpoints).toEqual(await valueOf(platform.configService.publishedEndpoints));
    const app = rec.resources.filter((r) => r.name.startsWith("shop-app"));
    const text = JSON.stringify(app.map((r) => plainInputs(r.inputs)));
    expect(text).toContain("SCALEPLANE_CACHE_CLUSTER");
    expect(text).not.toContain("SCALEPLANE_CACHE_NODES");
    const group = app.find((r) => r.name === "shop-app")!;
    expect(dependencies.get(`${group.type}::shop-app`)).toContain(t.urn);
  });
});
