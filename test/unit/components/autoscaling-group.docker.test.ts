/** AutoscalingGroup on target docker, under the offline mock runtime (invokes throw). */
import { TOKENS } from "../../../core/tokens";
import { AutoscalingGroup } from "../../../components/autoscaling-group";
import { DRAIN_OVERRUN_SECONDS, EXIT_GRACE_SECONDS } from "../../../core/app";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, settle, valueOf } from "../../../scripts/lib/offline";
// Shared unit-test helpers (they create no resources, so importing them before installMocks is fine).
import { errorKeys, whereFound } from "../../support/inputs";

const rec = installMocks({ stack: "unit-docker" });

const SECRET = "docker-db-password";
const web = new AutoscalingGroup("web", {
  target: "docker",
  app: {
    name: "web",
    port: 8080,
    minSize: 2,
    desiredSize: 3,
    maxSize: 6,
    cpu: 0.5,
    memoryMb: 256,
    scaling: { healthCheckGraceSeconds: 15, drainSeconds: 10 },
  },
  env: { SCALEPLANE_CONFIG_ENDPOINTS: pulumi.output("http://config-0:2379") },
  secretEnv: { SCALEPLANE_DATABASE_PASSWORD: pulumi.output(SECRET) },
  docker: { portBase: 18080, networks: [pulumi.output("config-net"), "db-net"] },
});
// Autoscaled: a load balancer, two controllers and a ManagedInstanceGroup; the controllers own the app containers.
const auto = new AutoscalingGroup("auto", {
  target: "docker",
  app: {
    name: "auto",
    minSize: 2,
    maxSize: 6,
    cpu: 0.5,
    memoryMb: 256,
    scaling: { scaleDownCooldownSeconds: 120, drainSeconds: 10 },
  },
  env: { SCALEPLANE_CONFIG_ENDPOINTS: pulumi.output("http://config-0:2379") },
  secretEnv: { SCALEPLANE_DATABASE_PASSWORD: pulumi.output(SECRET) },
  docker: {
    portBase: 28080,
    networks: ["config-net", "db-net"],
    scaling: {
      configService: {
        clientEndpoints: ["http://config-0:2379", "http://config-1:2379"],
        publishedEndpoints: ["http://127.0.0.1:12379"],
        network: "config-net",
      },
    },
  },
});
// Without secrets the env stays plain (inspectable), with the default image.
new AutoscalingGroup("solo", {
  target: "docker",
  app: { name: "solo", minSize: 1, maxSize: 1 },
  docker: { portBase: 19080 },
});

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const CONTAINER = "docker:index/container:Container";
const NETWORK = "docker:index/network:Network";
const webContainers = () => rec.ofType(CONTAINER).filter((r) => r.name.startsWith("web-"));
const unwrapSecret = (v: unknown): { secret: boolean; value: unknown } =>
  v && typeof v === "object" && (v as Obj)[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig
    ? { secret: true, value: (v as Obj).value }
    : { secret: false, value: v };

beforeAll(settle);

describe("AutoscalingGroup on docker", () => {
  it("runs desiredSize containers <group>-<i>, named <app>-<stack>-<i> (stack-scoped on a shared host), under the component", () => {
    const comp = rec.one(TOKENS.autoscalingGroup, "web");
    expect(webContainers().map((r) => r.name)).toEqual(["web-0", "web-1", "web-2"]);
    expect(webContainers().map((r) => r.inputs.name)).toEqual([
      "web-unit-docker-0",
      "web-unit-docker-1",
      "web-unit-docker-2",
    ]);
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
    for (const r of rec.ofType(CONTAINER))
      for (const p of (r.inputs.ports ?? []) as Obj[]) expect(p.ip).toBe("127.0.0.1");
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
    expect(net.inputs).toMatchObject({ name: "web-unit-docker-net", driver: "bridge" });
    expect(rec.one(CONTAINER, "web-2").inputs.networksAdvanced).toEqual([
      { name: "web-unit-docker-net", aliases: ["web-unit-docker-2", "web"] },
      { name: "config-net", aliases: ["web-unit-docker-2"] },
      { name: "db-net", aliases: ["web-unit-docker-2"] },
    ]);
    expect(rec.one(CONTAINER, "solo-0").inputs.networksAdvanced).toEqual([
      { name: "solo-unit-docker-net", aliases: ["solo-unit-docker-0", "solo"] },
    ]);
  });

  it("labels containers for the group (no secret in labels) and holds the env as a secret when it carries one", () => {
    const c = rec.one(CONTAINER, "web-1").inputs;
    expect(c.labels).toEqual(
      expect.arrayContaining([
        { label: "scaleplane.group", value: "web" },
        { label: "scaleplane.instance", value: "1" },
      ]),
    );
    // The password is a secret file of each container (uploads), nowhere in plain text (labels and env included).
    expect(whereFound(rec, rec.one(TOKENS.autoscalingGroup, "web").urn, SECRET)).toEqual({
      anywhere: ["web-0.uploads", "web-1.uploads", "web-2.uploads"],
      inPlainText: [],
    });
    expect(unwrapSecret(c.envs).value).toEqual(
      expect.arrayContaining([
        "SCALEPLANE_CONFIG_ENDPOINTS=http://config-0:2379",
        "PORT=8080",
        "DRAIN_SECONDS=10",
        `DRAIN_MAX_SECONDS=${10 + DRAIN_OVERRUN_SECONDS}`,
        "SCALEPLANE_DATABASE_PASSWORD_FILE=/run/secrets/scaleplane/SCALEPLANE_DATABASE_PASSWORD",
      ]),
    );
    const solo = unwrapSecret(rec.one(CONTAINER, "solo-0").inputs.envs);
    expect(solo.secret).toBe(false);
    expect(solo.value).toEqual(["PORT=8080", "DRAIN_SECONDS=30", `DRAIN_MAX_SECONDS=${30 + DRAIN_OVERRUN_SECONDS}`]);
  });

  it("publishes the 127.0.0.1 endpoints, names and size", async () => {
    expect(await valueOf(web.endpoints)).toEqual([
      "http://127.0.0.1:18080",
      "http://127.0.0.1:18081",
      "http://127.0.0.1:18082",
    ]);
    expect(await valueOf(web.instanceNames)).toEqual(["web-unit-docker-0", "web-unit-docker-1", "web-unit-docker-2"]);
    expect(await valueOf(web.instanceCount)).toBe(3);
    expect(await valueOf(web.groupName)).toBe("web-unit-docker-net");
    // The children a user extends: the network and the containers here, nothing of other targets.
    expect(web.network).toBeDefined();
    expect(web.containers).toHaveLength(3);
    expect(web.loadBalancer).toBeUndefined();
    expect(web.deployment).toBeUndefined();
  });

  it("validates before creating anything, naming the argument", async () => {
    // @ts-expect-error -- the type requires the target's block; a JavaScript caller gets the ConfigError
    expect(errorKeys(() => new AutoscalingGroup("bad-1", { target: "docker", app: {} }))).toEqual(["docker"]);
    expect(
      errorKeys(
        () =>
          new AutoscalingGroup("bad-2", {
            target: "docker",
            app: { minSize: 3, maxSize: 3 },
            docker: { portBase: 65534 },
          }),
      ),
    ).toEqual(["docker.portBase"]);
    expect(
      errorKeys(
        () => new AutoscalingGroup("bad-3", { target: "docker", app: { memoryMb: 16 }, docker: { portBase: 20000 } }),
      ),
    ).toEqual(["app.memoryMb"]);
    expect(
      errorKeys(
        () =>
          new AutoscalingGroup("bad-4", {
            target: "docker",
            app: { colour: "red" } as never,
            docker: { portBase: 20000 },
          }),
      ),
    ).toEqual(["app.colour"]);
    expect(errorKeys(() => new AutoscalingGroup("bad-5", { target: "podman", app: {} } as never))).toEqual(["target"]);
    expect(
      errorKeys(
        () =>
          new AutoscalingGroup("bad-6", {
            target: "docker",
            app: {},
            secretEnv: { "A B": "x" },
            docker: { portBase: 20000 },
          }),
      ),
    ).toEqual(["secretEnv.A B"]);
    expect(
      errorKeys(
        () =>
          new AutoscalingGroup("bad-7", {
            target: "docker",
            app: {},
            docker: {
              portBase: 70000,
              scaling: { configService: { clientEndpoints: [], publishedEndpoints: [], network: "n" } },
            },
          }),
      ),
    ).toEqual(["docker.portBase"]);
    await settle();
    expect(rec.resources.filter((r) => r.name.startsWith("bad-"))).toEqual([]);
  });
});

describe("AutoscalingGroup on docker, autoscaled (docker.scaling)", () => {
  const POLICY = "pulumi-nodejs:dynamic/autoscaling:ManagedInstanceGroup";
  const children = () => rec.childrenOf(rec.one(TOKENS.autoscalingGroup, "auto"));

  it("creates the network, one load balancer, two controllers and the ManagedInstanceGroup: no app container of its own", async () => {
    expect(
      children()
        .map((r) => `${r.type} ${r.name}`)
        .sort(),
    ).toEqual(
      [
        `${NETWORK} auto-net`,
        `${CONTAINER} auto-lb`,
        `${CONTAINER} auto-scaler-0`,
        `${CONTAINER} auto-scaler-1`,
        `${POLICY} auto-scaling`,
      ].sort(),
    );
    expect(auto.containers).toEqual([]);
    expect(auto.controllers).toHaveLength(2);
    expect(auto.instanceGroup).toBeDefined();
    expect(auto.scalingPolicy).toBe(auto.instanceGroup); // the deprecated name of the property
    // Renamed from ScalingPolicy: the old type is an alias, so existing stacks keep the resource.
    const aliases = (auto.instanceGroup as unknown as { __aliases: pulumi.Input<string>[] }).__aliases;
    const urns = await Promise.all(aliases.map((a) => valueOf(pulumi.output(a))));
    expect(urns.some((u) => u.includes("pulumi-nodejs:dynamic/autoscaling:ScalingPolicy::auto-scaling"))).toBe(true);
    expect(await valueOf(auto.instanceNames)).toEqual([]);
  });

  it("clients use one 127.0.0.1 port: the HAProxy load balancer with a pool of disabled slots", async () => {
    const lb = rec.one(CONTAINER, "auto-lb").inputs;
    expect(lb).toMatchObject({
      name: "auto-unit-docker-lb",
      image: "scaleplane/load-balancer:2.6-fenced",
      ports: [{ internal: 8080, external: 28080, ip: "127.0.0.1", protocol: "tcp" }],
      restart: "unless-stopped",
    });
    const cfg = (lb.envs as string[]).find((e) => e.startsWith("HAPROXY_CONFIG="))!;
    expect(cfg).toContain("server-template slot 1-64 127.0.0.1:8080 check disabled");
    expect((lb.healthcheck as Obj).tests[0]).toBe("CMD-SHELL");
    expect(await valueOf(auto.endpoints)).toEqual(["http://127.0.0.1:28080"]);
  });

  it("runs two controllers of the group on the config service's network with the Docker socket and the secrets as root-only files", () => {
    for (const i of [0, 1]) {
      const c = rec.one(CONTAINER, `auto-scaler-${i}`).inputs;
      expect(c.image).toBe("scaleplane/scaler:0.2.2");
      expect(c.networksAdvanced).toEqual([{ name: "config-net", aliases: [`auto-unit-docker-scaler-${i}`] }]);
      expect(c.volumes).toEqual([{ hostPath: "/var/run/docker.sock", containerPath: "/var/run/docker.sock" }]);
      expect(c.envs).toEqual(
        expect.arrayContaining([
          "SCALER_GROUP=auto-unit-docker",
          `SCALER_ID=auto-unit-docker-scaler-${i}`,
          "SCALER_CONFIG_ENDPOINTS=http://config-0:2379,http://config-1:2379",
          "SCALER_SECRETS_DIR=/run/secrets/scaler",
        ]),
      );
      expect(JSON.stringify(c.envs)).not.toContain(SECRET);
    }
    expect(whereFound(rec, rec.one(TOKENS.autoscalingGroup, "auto").urn, SECRET).inPlainText).toEqual([]);
  });

  it("hands the ManagedInstanceGroup the launch spec (no secret value) and the app's range, targets and HPA behaviour", () => {
    const p = rec.one(POLICY, "auto-scaling");
    expect(p.inputs.group).toBe("auto-unit-docker");
    expect(p.inputs.configEndpoints).toEqual(["http://127.0.0.1:12379"]);
    expect(p.inputs.lbSlots).toBe(64);
    expect(p.inputs.launchSpec).toMatchObject({
      image: "scaleplane/sample-app:0.1.0",
      port: 8080,
      healthPath: "/health",
      networks: ["auto-unit-docker-net", "config-net", "db-net"],
      loadBalancer: "auto-unit-docker-lb",
      drainSeconds: 10,
      drainMaxSeconds: 10 + DRAIN_OVERRUN_SECONDS,
      stopTimeoutSeconds: 10 + DRAIN_OVERRUN_SECONDS + EXIT_GRACE_SECONDS,
    });
    expect((p.inputs.launchSpec as Obj).env).toMatchObject({
      SCALEPLANE_CONFIG_ENDPOINTS: "http://config-0:2379",
      PORT: "8080",
    });
    expect(JSON.stringify(p.inputs.launchSpec)).not.toContain(SECRET);
    expect(unwrapSecret(p.inputs.secretEnv)).toEqual({ secret: true, value: { SCALEPLANE_DATABASE_PASSWORD: SECRET } });
    expect(p.inputs.policy).toMatchObject({
      engine: "hpa",
      minSize: 2,
      maxSize: 6,
      metrics: ["cpu", "memory"],
      hpa: { behavior: { scaleDown: { stabilizationWindowSeconds: 120 } } },
    });
  });
});
