/** AutoscalingGroup on target kubernetes, under the offline mock runtime (invokes throw). */
import { TOKENS } from "../../../core/tokens";
import { AutoscalingGroup } from "../../../components/autoscaling-group";
import { DRAIN_OVERRUN_SECONDS, EXIT_GRACE_SECONDS } from "../../../core/app";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { installMocks, settle, valueOf } from "../../../scripts/lib/offline";
// Shared unit-test helpers (they create no resources, so importing them before installMocks is fine).
import { errorKeys, whereFound } from "../../support/inputs";

const rec = installMocks({ stack: "unit-k8s" });

const SECRET = "pg-password-do-not-leak";
const provider = new k8s.Provider("cluster", { kubeconfig: "{}" });
const web = new AutoscalingGroup(
  "web",
  {
    target: "kubernetes",
    app: {
      name: "web",
      image: "scaleplane/sample-app:0.1.0",
      port: 8081,
      healthCheckPath: "/healthz",
      minSize: 2,
      desiredSize: 4,
      maxSize: 12,
      cpu: 0.25,
      memoryMb: 384,
      env: { MODE: "demo" },
      scaling: {
        cpuTargetPercent: 60,
        memoryTargetPercent: 70,
        scaleUpCooldownSeconds: 30,
        scaleDownCooldownSeconds: 240,
        healthCheckGraceSeconds: 20,
        drainSeconds: 25,
      },
    },
    env: { SCALEPLANE_CONFIG_ENDPOINTS: pulumi.output("http://config-0.config:2379") },
    secretEnv: { SCALEPLANE_DATABASE_PASSWORD: pulumi.output(SECRET) },
    kubernetes: { namespace: "apps" },
  },
  { providers: { kubernetes: provider } },
);
// No secrets: no Secret object.
new AutoscalingGroup("plain", {
  target: "kubernetes",
  app: { name: "plain", minSize: 1, maxSize: 3 },
  kubernetes: { namespace: "apps" },
});

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const T = {
  deployment: "kubernetes:apps/v1:Deployment",
  service: "kubernetes:core/v1:Service",
  hpa: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
  pdb: "kubernetes:policy/v1:PodDisruptionBudget",
  secret: "kubernetes:core/v1:Secret",
};
const deployment = () => rec.one(T.deployment, "web-deployment").inputs as Obj;
const container = () => deployment().spec.template.spec.containers[0] as Obj;

beforeAll(settle);

describe("AutoscalingGroup on kubernetes", () => {
  it("creates Deployment, Service, HPA, PDB and Secret under the component, in the namespace, with the provider", () => {
    const comp = rec.one(TOKENS.autoscalingGroup, "web");
    for (const [type, name] of [
      [T.deployment, "web-deployment"],
      [T.service, "web-svc"],
      [T.hpa, "web-hpa"],
      [T.pdb, "web-pdb"],
      [T.secret, "web-secret"],
    ]) {
      const r = rec.one(type, name);
      expect(rec.parentOf(r)?.urn).toBe(comp.urn);
      expect((r.inputs.metadata as Obj).namespace).toBe("apps");
      expect(r.provider).toMatch(/::cluster::/);
    }
    expect(rec.ofType(T.secret).map((r) => r.name)).toEqual(["web-secret"]);
  });

  it("never sets replicas: the HPA owns the count", () => {
    expect(deployment().spec.replicas).toBeUndefined();
    expect(rec.one(T.deployment, "plain-deployment").inputs.spec).not.toHaveProperty("replicas");
  });

  it("probes the health path: readiness fast, liveness after the grace and slower than a drain", () => {
    const c = container();
    expect(c.readinessProbe).toMatchObject({
      httpGet: { path: "/healthz", port: "http" },
      periodSeconds: 5,
      failureThreshold: 2,
    });
    expect(c.livenessProbe).toMatchObject({ httpGet: { path: "/healthz", port: "http" }, initialDelaySeconds: 20 });
    expect(c.livenessProbe.periodSeconds * c.livenessProbe.failureThreshold).toBeGreaterThan(
      25 + DRAIN_OVERRUN_SECONDS,
    );
    expect(c.ports).toEqual([{ name: "http", containerPort: 8081, protocol: "TCP" }]);
  });

  it("drains: preStop starts the drain and the grace period outlasts drainSeconds", () => {
    const c = container();
    expect(c.lifecycle.preStop.exec.command).toEqual(["curl", "-fsS", "-X", "POST", "http://127.0.0.1:8081/shutdown"]);
    const grace = deployment().spec.template.spec.terminationGracePeriodSeconds;
    expect(grace).toBe(25 + DRAIN_OVERRUN_SECONDS + EXIT_GRACE_SECONDS);
    expect(grace).toBeGreaterThan(25);
    expect(deployment().spec.strategy.rollingUpdate).toEqual({ maxUnavailable: 0, maxSurge: "25%" });
  });

  it("sizes pods from cpu/memoryMb (requests = limits) and runs them non-root, unprivileged", () => {
    const c = container();
    expect(c.resources).toEqual({
      requests: { cpu: "250m", memory: "384Mi" },
      limits: { cpu: "250m", memory: "384Mi" },
    });
    const pod = deployment().spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
    expect(c.securityContext).toMatchObject({
      privileged: false,
      allowPrivilegeEscalation: false,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
    });
  });

  it("passes plain env by value and the secret only through a secretKeyRef", () => {
    const env = container().env as Obj[];
    expect(env).toEqual(
      expect.arrayContaining([
        { name: "MODE", value: "demo" },
        { name: "SCALEPLANE_CONFIG_ENDPOINTS", value: "http://config-0.config:2379" },
        { name: "PORT", value: "8081" },
        { name: "DRAIN_SECONDS", value: "25" },
        {
          name: "SCALEPLANE_DATABASE_PASSWORD",
          valueFrom: { secretKeyRef: { name: "web-env", key: "SCALEPLANE_DATABASE_PASSWORD" } },
        },
      ]),
    );
    expect(whereFound(rec, rec.one(TOKENS.autoscalingGroup, "web").urn, SECRET)).toEqual({
      anywhere: ["web-secret.stringData"],
      inPlainText: [],
    });
    const secret = rec.one(T.secret, "web-secret").inputs as Obj;
    expect(secret.metadata.name).toBe("web-env");
    expect(secret.stringData).toEqual({
      [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig,
      value: { SCALEPLANE_DATABASE_PASSWORD: SECRET },
    });
  });

  it("scales with an autoscaling/v2 HPA on CPU and memory, behaviour from the cooldowns", () => {
    const spec = (rec.one(T.hpa, "web-hpa").inputs as Obj).spec;
    expect(spec.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: "web" });
    expect(spec).toMatchObject({ minReplicas: 2, maxReplicas: 12 });
    expect(spec.metrics).toEqual([
      { type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 60 } } },
      { type: "Resource", resource: { name: "memory", target: { type: "Utilization", averageUtilization: 70 } } },
    ]);
    expect(spec.behavior.scaleUp.stabilizationWindowSeconds).toBe(30);
    expect(spec.behavior.scaleDown.stabilizationWindowSeconds).toBe(240);
    expect(spec.behavior.scaleDown.policies.length).toBeGreaterThan(0);
    expect((rec.one(T.hpa, "plain-hpa").inputs as Obj).spec.minReplicas).toBe(1);
  });

  it("keeps a disruption budget and a Service on the pods' labels", () => {
    const selector = deployment().spec.selector.matchLabels;
    expect(deployment().spec.template.metadata.labels).toMatchObject(selector);
    expect((rec.one(T.pdb, "web-pdb").inputs as Obj).spec).toEqual({
      maxUnavailable: 1,
      selector: { matchLabels: selector },
    });
    const svc = (rec.one(T.service, "web-svc").inputs as Obj).spec;
    expect(svc).toMatchObject({
      type: "ClusterIP",
      selector,
      ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }],
    });
  });

  it("publishes the Service DNS URL", async () => {
    expect(await valueOf(web.endpoints)).toEqual(["http://web.apps.svc.cluster.local"]);
    expect(await valueOf(web.securityGroupId)).toBeUndefined();
    expect(await valueOf(web.instanceCount)).toBe(4);
  });

  it("names the missing kubernetes block and refuses AWS-only settings", () => {
    // @ts-expect-error -- the type requires the target's block; a JavaScript caller gets the ConfigError
    expect(errorKeys(() => new AutoscalingGroup("bad-1", { target: "kubernetes", app: {} }))).toEqual(["kubernetes"]);
    expect(
      errorKeys(
        () =>
          new AutoscalingGroup("bad-2", {
            target: "kubernetes",
            app: { mixedInstances: { instanceTypes: ["t3.small"] } },
            kubernetes: { namespace: "x" },
          }),
      ),
    ).toEqual(["app.mixedInstances"]);
    expect(
      errorKeys(
        () =>
          new AutoscalingGroup("bad-3", {
            target: "kubernetes",
            app: { healthCheckPath: "health" },
            kubernetes: { namespace: "x" },
          }),
      ),
    ).toEqual(["app.healthCheckPath"]);
  });
});

describe("AutoscalingGroup on kubernetes: the children a user extends", () => {
  it("exposes the Deployment, Service, HPA and PDB; nothing of other targets", () => {
    expect(web.deployment).toBeDefined();
    expect(web.service).toBeDefined();
    expect(web.hpa).toBeDefined();
    expect(web.podDisruptionBudget).toBeDefined();
    expect([web.loadBalancer, web.autoScalingGroup, web.network]).toEqual([undefined, undefined, undefined]);
  });
});
