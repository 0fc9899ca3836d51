/** Platform on docker: the three components wired together (offline mock runtime). */
import { TOKENS } from "../../../core/tokens";
import * as pulumi from "@pulumi/pulumi";
import { Platform } from "../../../components/platform";
import { installMocks, settle } from "../../../scripts/lib/offline";
import { plainInputs } from "../../support/inputs";

const rec = installMocks({ stack: "unit-platform-docker" });

const platform = new Platform("sp", {
  config: { target: "docker", database: { shards: 3, replicationFactor: 2, consistency: "quorum" } },
});

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const CONTAINER = "docker:index/container:Container";
const SCALING_POLICY = "pulumi-nodejs:dynamic/autoscaling:ManagedInstanceGroup";
const isSecret = (v: unknown) =>
  typeof v === "object" && v !== null && (v as Obj)[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig;

beforeAll(settle);

describe("Platform on docker", () => {
  it("puts the three components under the platform", () => {
    const root = rec.one(TOKENS.platform, "sp");
    for (const type of [TOKENS.autoscalingGroup, TOKENS.configService, TOKENS.database]) {
      expect(rec.parentOf(rec.one(type))?.urn).toBe(root.urn);
    }
  });

  it("autoscales the app: instances (created by its controllers from the launch spec) join the config-service and database networks", () => {
    const net = (type: string) =>
      rec.childrenOf(rec.one(type)).find((r) => r.type === "docker:index/network:Network")!.inputs.name;
    const etcdNet = net(TOKENS.configService);
    const dbNet = net(TOKENS.database);
    const group = rec.one(TOKENS.autoscalingGroup);
    const policy = rec.one(SCALING_POLICY);
    expect(rec.parentOf(policy)?.urn).toBe(group.urn);
    const spec = plainInputs(policy.inputs.launchSpec) as Obj;
    expect(spec.networks).toEqual([net(TOKENS.autoscalingGroup), etcdNet, dbNet]);
    // the controllers lead through the config service: they join its network
    const controllers = rec.childrenOf(group).filter((r) => r.type === CONTAINER && r.name.includes("-scaler-"));
    expect(controllers).toHaveLength(2);
    for (const c of controllers) expect((c.inputs.networksAdvanced as Obj[]).map((n) => n.name)).toEqual([etcdNet]);
    expect(plainInputs(policy.inputs.policy)).toMatchObject({ minSize: 2, maxSize: 10 });
  });

  it("hands the app the etcd endpoints and the shard map, and the password only as a secret", async () => {
    const policy = rec.one(SCALING_POLICY);
    const env = (plainInputs(policy.inputs.launchSpec) as Obj).env as Record<string, string>;
    const endpoints = await new Promise<string[]>((r) => platform.configEndpoints.apply(r));
    expect(env.SCALEPLANE_CONFIG_ENDPOINTS.split(",")).toEqual(endpoints);
    expect(endpoints).toHaveLength(3);
    const map = JSON.parse(env.SCALEPLANE_SHARD_MAP);
    expect(map).toMatchObject({ epoch: 0, replicationFactor: 2, consistency: "quorum" });
    expect(map.shards.map((s: Obj) => s.name)).toEqual(["shard-0", "shard-1", "shard-2"]);
    // the password: a secret input of the ManagedInstanceGroup and of the controllers' secret files, never in the launch spec
    expect(isSecret(policy.inputs.secretEnv)).toBe(true);
    const password = (plainInputs(policy.inputs.secretEnv) as Record<string, string>).SCALEPLANE_DATABASE_PASSWORD;
    expect(password).toMatch(/^mock-sp-db-password-x+$/);
    expect(JSON.stringify(plainInputs(policy.inputs.launchSpec))).not.toContain(password);
    expect(JSON.stringify(map)).not.toContain(password);
  });
});
