/** Platform on docker: the three components wired together (offline mock runtime). */
import { installMocks, settle } from "../../scripts/lib/offline";
import { plainInputs } from "../support/inputs";

const rec = installMocks({ stack: "unit-platform-docker" });
const pulumi = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
const { Platform } = require("../../components/platform") as typeof import("../../components/platform");

const platform = new Platform("sp", { config: { target: "docker", database: { shards: 3, replicationFactor: 2, consistency: "quorum" } } });

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const CONTAINER = "docker:index/container:Container";
const isSecret = (v: unknown) => typeof v === "object" && v !== null && (v as Obj)[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig;
const envOf = (name: string): Record<string, string> =>
  Object.fromEntries((plainInputs(rec.one(CONTAINER, name).inputs.envs) as string[]).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));

beforeAll(settle);

describe("Platform on docker", () => {
  it("puts the three components under the platform", () => {
    const root = rec.one("scaleplane:platform:Platform", "sp");
    for (const type of ["scaleplane:autoscaling:AutoscalingGroup", "scaleplane:config:RaftConfigService", "scaleplane:database:ShardedDatabase"]) {
      expect(rec.parentOf(rec.one(type))?.urn).toBe(root.urn);
    }
  });

  it("joins every app instance to the config-service and database networks", () => {
    const net = (type: string) => rec.childrenOf(rec.one(type)).find((r) => r.type === "docker:index/network:Network")!.inputs.name;
    const etcdNet = net("scaleplane:config:RaftConfigService");
    const dbNet = net("scaleplane:database:ShardedDatabase");
    const app = rec.childrenOf(rec.one("scaleplane:autoscaling:AutoscalingGroup")).filter((r) => r.type === CONTAINER);
    expect(app).toHaveLength(2);
    for (const c of app) {
      const joined = (c.inputs.networksAdvanced as Obj[]).map((n) => n.name);
      expect(joined).toEqual(expect.arrayContaining([etcdNet, dbNet]));
    }
  });

  it("hands the app the etcd endpoints and the shard map, and the password only as a secret", async () => {
    const env = envOf("sp-app-0");
    const endpoints = await new Promise<string[]>((r) => platform.configEndpoints.apply(r));
    expect(env.SCALEPLANE_CONFIG_ENDPOINTS.split(",")).toEqual(endpoints);
    expect(endpoints).toHaveLength(3);
    const map = JSON.parse(env.SCALEPLANE_SHARD_MAP);
    expect(map).toMatchObject({ epoch: 0, replicationFactor: 2, consistency: "quorum" });
    expect(map.shards.map((s: Obj) => s.name)).toEqual(["shard-0", "shard-1", "shard-2"]);
    expect(env.SCALEPLANE_DATABASE_PASSWORD).toMatch(/^mock-sp-db-password-x+$/);
    expect(isSecret(rec.one(CONTAINER, "sp-app-0").inputs.envs)).toBe(true);
    expect(JSON.stringify(map)).not.toContain(env.SCALEPLANE_DATABASE_PASSWORD);
  });
});
