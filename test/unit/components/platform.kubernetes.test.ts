/** Platform on kubernetes: one namespace for everything, zones handed to the etcd StatefulSet. */
import { Platform } from "../../../components/platform";
import { installMocks, settle } from "../../../scripts/lib/offline";
import { plainInputs } from "../../support/inputs";

const rec = installMocks({ stack: "unit-platform-k8s" });

new Platform("sp", {
  config: {
    target: "kubernetes",
    kubernetes: { namespace: "shop", zones: ["z-a", "z-b", "z-c"] },
    database: { shards: 2, replicationFactor: 2, consistency: "quorum" },
  },
});

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

beforeAll(settle);

describe("Platform on kubernetes", () => {
  it("creates the namespace and puts every namespaced object in it", () => {
    expect(rec.one("kubernetes:core/v1:Namespace").inputs.metadata).toMatchObject({ name: "shop" });
    const namespaced = rec.resources.filter(
      (r) => r.type.startsWith("kubernetes:") && r.type !== "kubernetes:core/v1:Namespace",
    );
    expect(namespaced.length).toBeGreaterThan(8);
    for (const r of namespaced) expect((r.inputs.metadata as Obj).namespace).toBe("shop");
  });

  it("spreads the etcd members over the configured zones", () => {
    const sts = rec.ofType("kubernetes:apps/v1:StatefulSet").find((r) => r.name === "sp-config")!;
    expect(JSON.stringify(sts.inputs.spec)).toContain("topology.kubernetes.io/zone");
  });

  it("hands the app the etcd Service endpoints and the database password through a Secret", () => {
    const dep = rec.one("kubernetes:apps/v1:Deployment", "sp-app-deployment");
    const env = (plainInputs(dep.inputs.spec).template.spec.containers[0].env as Obj[]) ?? [];
    const byName = Object.fromEntries(env.map((e) => [e.name, e]));
    expect(byName.SCALEPLANE_CONFIG_ENDPOINTS.value).toMatch(/^http:\/\/config-unit-platform-k8s-0\./);
    expect(byName.SCALEPLANE_DATABASE_PASSWORD.value).toBeUndefined();
    expect(byName.SCALEPLANE_DATABASE_PASSWORD.valueFrom.secretKeyRef).toBeDefined();
  });
});
