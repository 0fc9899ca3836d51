/**
 * ShardedDatabase on Kubernetes under the mock runtime: a credentials Secret, per shard a
 * StatefulSet (PVC template, non-root postgres, pg_isready probes, password from the Secret) and a
 * Service, the shard map of Service DNS names, and the password only as a secret.
 */
import { TOKENS } from "../../../core/tokens";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { ShardedDatabase } from "../../../components/sharded-database";
import { installMocks, settle, valueOf } from "../../../scripts/lib/offline";
import { TEST_PASSWORD, isSecretInput, plainInputs, whereFound } from "../../support/inputs";

const rec = installMocks({ stack: "unit-k8s" });

const STS = "kubernetes:apps/v1:StatefulSet";
const SVC = "kubernetes:core/v1:Service";
const SECRET = "kubernetes:core/v1:Secret";
const COMPONENT = TOKENS.database;

const provider = new k8s.Provider("kube", {});
const orders = new ShardedDatabase(
  "orders",
  {
    target: "kubernetes",
    database: {
      name: "orders",
      shards: [{ name: "a", weight: 3 }, { name: "b" }],
      storageGb: 50,
      replicationFactor: 2,
      virtualNodes: 32,
      consistency: "all",
    },
    password: TEST_PASSWORD,
    resources: { cpu: 0.25, memoryMb: 512 },
    kubernetes: { namespace: pulumi.output("data"), storageClass: "fast-ssd" },
  },
  { provider },
);
const plain = new ShardedDatabase("plain", {
  target: "kubernetes",
  database: { shards: 1 },
  kubernetes: { namespace: "default" },
});

beforeAll(settle);

const inputsOf = (type: string, name: string) => plainInputs(rec.one(type, name).inputs);
const podOf = (name: string) => inputsOf(STS, name).spec.template.spec;
const postgresOf = (name: string) => podOf(name).containers.find((c: { name: string }) => c.name === "postgres");

describe("ShardedDatabase on kubernetes", () => {
  it("creates one Secret and a StatefulSet and a Service per shard under the component, through the given provider", () => {
    const component = rec.one(COMPONENT, "orders");
    const children = rec.childrenOf(component);
    expect(children.map((r) => `${r.type} ${r.name}`).sort()).toEqual(
      [
        `${SECRET} orders-credentials`,
        ...["a", "b"].flatMap((s) => [`${STS} orders-${s}`, `${SVC} orders-${s}`]),
      ].sort(),
    );
    for (const r of children) expect(r.provider).toMatch(/::kube::/);
  });

  it("keeps the password in the Secret's data, as a secret", () => {
    const secret = rec.one(SECRET, "orders-credentials").inputs;
    expect(isSecretInput(secret.stringData)).toBe(true);
    expect(plainInputs(secret)).toMatchObject({
      type: "Opaque",
      metadata: { name: "orders-credentials", namespace: "data" },
      stringData: { password: TEST_PASSWORD },
    });
  });

  it("gives the pods the password through a secretKeyRef, never as a literal", () => {
    for (const s of ["a", "b"]) {
      const env = postgresOf(`orders-${s}`).env as { name: string; value?: string; valueFrom?: unknown }[];
      expect(env.find((e) => e.name === "POSTGRES_PASSWORD")).toEqual({
        name: "POSTGRES_PASSWORD",
        valueFrom: { secretKeyRef: { name: "orders-credentials", key: "password" } },
      });
      expect(
        env
          .filter((e) => e.value !== undefined)
          .map((e) => e.name)
          .sort(),
      ).toEqual(["PGDATA", "PGPORT", "POSTGRES_DB", "POSTGRES_USER"]);
    }
    const found = whereFound(rec, rec.one(COMPONENT, "orders").urn, TEST_PASSWORD);
    expect(found.anywhere).toEqual(["orders-credentials.stringData"]);
    expect(found.inPlainText).toEqual([]);
  });

  it("gives every shard one replica and its own PVC of the configured size and class, with PGDATA on it", () => {
    const sts = inputsOf(STS, "orders-a");
    expect(sts.metadata).toMatchObject({ name: "orders-unit-k8s-a", namespace: "data" });
    expect(sts.spec.replicas).toBe(1);
    expect(sts.spec.serviceName).toBe("orders-unit-k8s-a");
    expect(sts.spec.volumeClaimTemplates).toEqual([
      expect.objectContaining({
        metadata: expect.objectContaining({ name: "data" }),
        spec: {
          accessModes: ["ReadWriteOnce"],
          storageClassName: "fast-ssd",
          resources: { requests: { storage: "50Gi" } },
        },
      }),
    ]);
    const pg = postgresOf("orders-a");
    expect(pg.image).toBe("postgres:15");
    expect(pg.volumeMounts).toEqual([{ name: "data", mountPath: "/var/lib/postgresql/data" }]);
    expect(pg.env).toEqual(expect.arrayContaining([{ name: "PGDATA", value: "/var/lib/postgresql/data/pgdata" }]));
    // Without a storage class the cluster default applies.
    expect(inputsOf(STS, "plain-shard-0").spec.volumeClaimTemplates[0].spec.storageClassName).toBeUndefined();
  });

  it("runs postgres as non-root with pg_isready probes and resource requests", () => {
    const pod = podOf("orders-b");
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 999, fsGroup: 999 });
    const pg = postgresOf("orders-b");
    const pgIsReady = ["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-U", "scaleplane", "-d", "app"];
    for (const probe of ["readinessProbe", "livenessProbe", "startupProbe"])
      expect(pg[probe].exec.command).toEqual(pgIsReady);
    expect(pg.resources).toEqual({ requests: { cpu: "250m", memory: "512Mi" }, limits: { memory: "512Mi" } });
    expect(pg.securityContext).toMatchObject({ allowPrivilegeEscalation: false });
  });

  it("selects each shard's pod with its Service on the database port", () => {
    for (const s of ["a", "b"]) {
      const svc = inputsOf(SVC, `orders-${s}`);
      const sts = inputsOf(STS, `orders-${s}`);
      expect(svc.metadata).toMatchObject({ name: `orders-unit-k8s-${s}`, namespace: "data" });
      expect(svc.spec.ports).toEqual([{ name: "postgres", port: 5432, targetPort: "postgres", protocol: "TCP" }]);
      expect(svc.spec.selector).toEqual(sts.spec.selector.matchLabels);
      expect(sts.spec.template.metadata.labels).toMatchObject(svc.spec.selector);
      expect(svc.spec.selector["scaleplane.io/shard"]).toBe(s);
    }
  });

  it("publishes the shard map with the Services' cluster DNS names and the config's ring settings", async () => {
    expect(await valueOf(orders.shardMap)).toEqual({
      epoch: 0,
      maxClockOffsetMs: 500,
      vnodesPerWeight: 32,
      replicationFactor: 2,
      consistency: "all",
      shards: [
        { name: "a", weight: 3, host: "orders-unit-k8s-a.data.svc.cluster.local", port: 5432, database: "app" },
        { name: "b", weight: 1, host: "orders-unit-k8s-b.data.svc.cluster.local", port: 5432, database: "app" },
      ],
    });
    expect((await valueOf(plain.shardMap)).shards.map((s) => s.host)).toEqual([
      "db-unit-k8s-shard-0.default.svc.cluster.local",
    ]);
    expect(await pulumi.isSecret(orders.password)).toBe(true);
    expect(JSON.stringify(await valueOf(orders.shardMap))).not.toContain(TEST_PASSWORD);
  });
});

describe("ShardedDatabase on kubernetes: the children a user extends", () => {
  it("exposes the credentials Secret, a StatefulSet and a Service per shard; no Docker network name", async () => {
    expect(orders.credentialsSecret).toBeDefined();
    expect(orders.statefulSets).toHaveLength(2);
    expect(orders.services).toHaveLength(2);
    expect(orders.instances).toBeUndefined();
    expect(await valueOf(orders.networkName)).toBeUndefined();
  });
});
