/** AutoscalingGroup on kubernetes with `scaling.engine: predictive`: the in-cluster min-replicas scaler, under the offline mock runtime. */
import { TOKENS } from "../../../core/tokens";
import { AutoscalingGroup } from "../../../components/autoscaling-group";
import { SCALER_IMAGE } from "../../../core/scaling/docker";
import { parseScalingPolicy } from "../../../core/scaling";
import * as k8s from "@pulumi/kubernetes";
import { installMocks, settle } from "../../../scripts/lib/offline";

const rec = installMocks({ stack: "unit-k8s-predictive" });

const provider = new k8s.Provider("cluster", { kubeconfig: "{}" });
new AutoscalingGroup(
  "web",
  {
    target: "kubernetes",
    app: {
      name: "web",
      minSize: 1,
      maxSize: 12,
      scaling: {
        cpuTargetPercent: 60,
        engine: "predictive",
        engineSettings: { predictive: { forecastOnly: true, warmupSeconds: 240 } },
      },
    },
    kubernetes: { namespace: "apps" },
  },
  { providers: { kubernetes: provider } },
);
// Forecast and scale: the scaler owns the HPA's minReplicas. Children's resource options are
// recorded by a transformation (the mocks do not see options).
const ignored = new Map<string, string[] | undefined>();
new AutoscalingGroup(
  "owner",
  {
    target: "kubernetes",
    app: { name: "owner", minSize: 2, maxSize: 8, scaling: { engine: "predictive" } },
    kubernetes: { namespace: "apps" },
  },
  {
    providers: { kubernetes: provider },
    transformations: [
      (a) => {
        ignored.set(a.name, a.opts.ignoreChanges);
        return undefined;
      },
    ],
  },
);
// The default engine (hpa): no scaler.
new AutoscalingGroup("plain", {
  target: "kubernetes",
  app: { name: "plain", minSize: 1, maxSize: 3 },
  kubernetes: { namespace: "apps" },
});

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const T = {
  deployment: "kubernetes:apps/v1:Deployment",
  sa: "kubernetes:core/v1:ServiceAccount",
  role: "kubernetes:rbac.authorization.k8s.io/v1:Role",
  binding: "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
  hpa: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
};
const scaler = () => rec.one(T.deployment, "web-scaler").inputs as Obj;
const container = () => scaler().spec.template.spec.containers[0] as Obj;
const env = () => Object.fromEntries((container().env as Obj[]).map((e) => [e.name, e.value ?? e.valueFrom]));

beforeAll(settle);

describe("AutoscalingGroup on kubernetes, engine predictive", () => {
  it("adds a ServiceAccount, Role, RoleBinding and a one-replica scaler Deployment under the component, in the namespace", () => {
    const comp = rec.one(TOKENS.autoscalingGroup, "web");
    for (const [type, name] of [
      [T.sa, "web-scaler-sa"],
      [T.role, "web-scaler-role"],
      [T.binding, "web-scaler-binding"],
      [T.deployment, "web-scaler"],
    ]) {
      const r = rec.one(type, name);
      expect(rec.parentOf(r)?.urn).toBe(comp.urn);
      expect((r.inputs.metadata as Obj).namespace).toBe("apps");
      expect(r.provider).toMatch(/::cluster::/);
    }
    expect(scaler().spec.replicas).toBe(1);
    expect(scaler().spec.template.spec.serviceAccountName).toBe("web-scaler");
  });

  it("the default engine gets no scaler", () => {
    expect(
      rec
        .ofType(T.deployment)
        .map((r) => r.name)
        .sort(),
    ).toEqual(["owner-deployment", "owner-scaler", "plain-deployment", "web-deployment", "web-scaler"]);
    expect(
      rec
        .ofType(T.role)
        .map((r) => r.name)
        .sort(),
    ).toEqual(["owner-scaler-role", "web-scaler-role"]);
  });

  it("grants only get/patch of the group's HPA and reading its pods and pod metrics", () => {
    expect(rec.one(T.role, "web-scaler-role").inputs.rules).toEqual([
      {
        apiGroups: ["autoscaling"],
        resources: ["horizontalpodautoscalers"],
        verbs: ["get", "patch"],
        resourceNames: [(rec.one(T.hpa, "web-hpa").inputs.metadata as Obj).name],
      },
      { apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] },
      { apiGroups: ["metrics.k8s.io"], resources: ["pods"], verbs: ["get", "list"] },
    ]);
    const b = rec.one(T.binding, "web-scaler-binding").inputs as Obj;
    expect(b.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "web-scaler" });
    expect(b.subjects).toEqual([{ kind: "ServiceAccount", name: "web-scaler", namespace: "apps" }]);
  });

  it("runs the scaler image's kubernetes-min-replicas entry with the HPA, the pods' selector and the group's policy", () => {
    expect(container().image).toBe(SCALER_IMAGE);
    expect(container().command).toEqual(["node", "/app/scaler.js", "kubernetes-min-replicas"]);
    const e = env();
    expect(e.SCALER_NAMESPACE).toEqual({ fieldRef: { fieldPath: "metadata.namespace" } });
    expect(e.SCALER_HPA).toBe("web");
    const podLabels = (rec.one(T.deployment, "web-deployment").inputs as Obj).spec.template.metadata.labels as Obj;
    for (const kv of (e.SCALER_POD_SELECTOR as string).split(","))
      expect(podLabels[kv.split("=")[0]]).toBe(kv.split("=")[1]);
    const policy = parseScalingPolicy(JSON.parse(e.SCALER_POLICY as string));
    expect(policy).toMatchObject({
      engine: "predictive",
      minSize: 1,
      maxSize: 12,
      targets: { cpuPercent: 60 },
      predictive: { forecastOnly: true, warmupSeconds: 240 },
    });
    // The HPA's own floor matches the policy's.
    expect((rec.one(T.hpa, "web-hpa").inputs as Obj).spec.minReplicas).toBe(policy.minSize);
  });

  it("has probes, resource limits and an unprivileged, read-only container", () => {
    const c = container();
    expect(c.readinessProbe.httpGet).toEqual({ path: "/healthz", port: "health" });
    expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "health" });
    expect(c.ports).toEqual([{ name: "health", containerPort: Number(env().SCALER_HEALTH_PORT), protocol: "TCP" }]);
    expect(c.resources.limits).toEqual({ cpu: "200m", memory: "128Mi" });
    expect(c.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
    });
  });

  it("a scaler that patches minReplicas owns it: `up` ignores the field there and nowhere else", () => {
    expect(ignored.get("owner-hpa")).toEqual(["spec.minReplicas"]);
    expect(ignored.get("owner-deployment")).toBeUndefined();
    // Created at the configured floor; the scaler raises it ahead of load from then on.
    expect(rec.one(T.hpa, "owner-hpa").inputs.spec).toMatchObject({ minReplicas: 2, maxReplicas: 8 });
  });
});
