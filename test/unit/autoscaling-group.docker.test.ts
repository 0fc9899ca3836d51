/** AutoscalingGroup on target docker, under the offline mock runtime (invokes throw). */
import { installMocks, settle, valueOf } from "../../scripts/lib/offline";
// Shared unit-test helpers (they create no resources, so importing them before installMocks is fine).
import { errorKeys, whereFound } from "../support/inputs";

const rec = installMocks({ stack: "unit-docker" });
const { AutoscalingGroup } = require("../../components/autoscaling-group") as typeof import("../../components/autoscaling-group");
const { DRAIN_OVERRUN_SECONDS, EXIT_GRACE_SECONDS } = require("../../core/app") as typeof import("../../core/app");
const pulumi = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");

const SECRET = "docker-db-password";
const web = new AutoscalingGroup("web", {
  target: "docker",
  app: { name: "web", port: 8080, minSize: 2, desiredSize: 3, maxSize: 6, cpu: 0.5, memoryMb: 256, scaling: { healthCheckGraceSeconds: 15, drainSeconds: 10 } },
  env: { SCALEPLANE_CONFIG_ENDPOINTS: pulumi.output("http://config-0:2379") },
  secretEnv: { SCALEPLANE_DATABASE_PASSWORD: pulumi.output(SECRET) },
  docker: { portBase: 18080, networks: [pulumi.output("config-net"), "db-net"] },
});
// Without secrets the env stays plain (inspectable), with the default image.
new AutoscalingGroup("solo", { target: "docker", app: { name: "solo", minSize: 1, maxSize: 1 }, docker: { portBase: 19080 } });

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const CONTAINER = "docker:index/container:Container";
const NETWORK = "docker:index/network:Network";
const webContainers = () => rec.ofType(CONTAINER).filter((r) => r.name.startsWith("web-"));
const unwrapSecret = (v: unknown): { secret: boolean; value: unknown } =>
  v && typeof v === "object" && (v as Obj)[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig ? { secret: true, value: (v as Obj).value } : { secret: false, value: v };

beforeAll(settle);

describe("AutoscalingGroup on docker", () => {
  it("runs desiredSize containers named <group>-<i> under the component", () => {
    const comp = rec.one("scaleplane:autoscaling:AutoscalingGroup", "web");
    expect(webContainers().map((r) => r.inputs.name)).toEqual(["web-0", "web-1", "web-2"]);
    for (const c of webContainers()) expect(rec.parentOf(c)?.urn).toBe(comp.urn);
    expect(rec.one(CONTAINER, "web-0").inputs.image).toBe("scaleplane/sample-app:0.1.0");
  });

  it("publishes each app port on 127.0.0.1 only, at portBase + i", () => {
    const ports = webContainers().map((r) => r.inputs.ports);
    expect(ports).toEqual([
      [{ internal: 8080, external: 18080, ip: "127.0.0.1", protocol: "tcp" }],
      [{ internal: 8080, external: 18081, ip: "127.0.0.1", protocol: "tcp" }],
      [{ internal: 8080, external: 18082, ip: "127.0.0.1", protocol: "tcp" }],
    ]);
    for (const r of rec.ofType(CONTAINER)) for (const p of r.inputs.ports as Obj[]) expect(p.ip).toBe("127.0.0.1");
  });

  it("health-checks /health with the grace period as start period", () => {
    expect(rec.one(CONTAINER, "web-1").inputs.healthcheck).toEqual({
      tests: ["CMD", "curl", "-fsS", "-o", "/dev/null", "--max-time", "3", "http://127.0.0.1:8080/health"],
      interval: "10s",
      timeout: "3s",
      retries: 3,
      startPeriod: "15s",
    });
  });

  it("limits CPU and memory, restarts, and gives the drain its time on stop", () => {
    expect(rec.one(CONTAINER, "web-0").inputs).toMatchObject({
      cpus: "0.5",
      memory: 256,
      memorySwap: 256,
      restart: "unless-stopped",
      stopSignal: "SIGTERM",
      stopTimeout: 10 + DRAIN_OVERRUN_SECONDS + EXIT_GRACE_SECONDS,
      destroyGraceSeconds: 10 + DRAIN_OVERRUN_SECONDS + EXIT_GRACE_SECONDS,
    });
  });

  it("joins its own network and the extra networks", () => {
    const net = rec.one(NETWORK, "web-net");
    expect(net.inputs).toMatchObject({ name: "web-net", driver: "bridge" });
    expect(rec.one(CONTAINER, "web-2").inputs.networksAdvanced).toEqual([
      { name: "web-net", aliases: ["web-2", "web"] },
      { name: "config-net", aliases: ["web-2"] },
      { name: "db-net", aliases: ["web-2"] },
    ]);
    expect(rec.one(CONTAINER, "solo-0").inputs.networksAdvanced).toEqual([{ name: "solo-net", aliases: ["solo-0", "solo"] }]);
  });

  it("labels containers for the group (no secret in labels) and holds the env as a secret when it carries one", () => {
    const c = rec.one(CONTAINER, "web-1").inputs;
    expect(c.labels).toEqual(
      expect.arrayContaining([
        { label: "scaleplane.group", value: "web" },
        { label: "scaleplane.instance", value: "1" },
      ]),
    );
    // The password is in each container's env, as a secret, and nowhere in plain text (labels included).
    expect(whereFound(rec, rec.one("scaleplane:autoscaling:AutoscalingGroup", "web").urn, SECRET)).toEqual({ anywhere: ["web-0.envs", "web-1.envs", "web-2.envs"], inPlainText: [] });
    const envs = unwrapSecret(c.envs);
    expect(envs.secret).toBe(true);
    expect(envs.value).toEqual(
      expect.arrayContaining(["SCALEPLANE_CONFIG_ENDPOINTS=http://config-0:2379", "PORT=8080", "DRAIN_SECONDS=10", `DRAIN_MAX_SECONDS=${10 + DRAIN_OVERRUN_SECONDS}`, `SCALEPLANE_DATABASE_PASSWORD=${SECRET}`]),
    );
    const solo = unwrapSecret(rec.one(CONTAINER, "solo-0").inputs.envs);
    expect(solo.secret).toBe(false);
    expect(solo.value).toEqual(["PORT=8080", "DRAIN_SECONDS=30", `DRAIN_MAX_SECONDS=${30 + DRAIN_OVERRUN_SECONDS}`]);
  });

  it("publishes the 127.0.0.1 endpoints, names and size", async () => {
    expect(await valueOf(web.endpoints)).toEqual(["http://127.0.0.1:18080", "http://127.0.0.1:18081", "http://127.0.0.1:18082"]);
    expect(await valueOf(web.instanceNames)).toEqual(["web-0", "web-1", "web-2"]);
    expect(await valueOf(web.instanceCount)).toBe(3);
    expect(await valueOf(web.groupName)).toBe("web-net");
  });

  it("validates before creating anything, naming the argument", async () => {
    expect(errorKeys(() => new AutoscalingGroup("bad-1", { target: "docker", app: {} }))).toEqual(["docker"]);
    expect(errorKeys(() => new AutoscalingGroup("bad-2", { target: "docker", app: { minSize: 3, maxSize: 3 }, docker: { portBase: 65534 } }))).toEqual(["docker.portBase"]);
    expect(errorKeys(() => new AutoscalingGroup("bad-3", { target: "docker", app: { memoryMb: 16 }, docker: { portBase: 20000 } }))).toEqual(["app.memoryMb"]);
    expect(errorKeys(() => new AutoscalingGroup("bad-4", { target: "docker", app: { colour: "red" } as never, docker: { portBase: 20000 } }))).toEqual(["app.colour"]);
    expect(errorKeys(() => new AutoscalingGroup("bad-5", { target: "podman" as never, app: {} }))).toEqual(["target"]);
    expect(errorKeys(() => new AutoscalingGroup("bad-6", { target: "docker", app: {}, secretEnv: { "A B": "x" }, docker: { portBase: 20000 } }))).toEqual(["secretEnv.A B"]);
    await settle();
    expect(rec.resources.filter((r) => r.name.startsWith("bad-"))).toEqual([]);
  });
});
