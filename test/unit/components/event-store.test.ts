/**
 * EventStore under the mock runtime on every target: the master key (generated or given) only as
 * a secret, where each target keeps secrets; the settings the app reads; bad config refused by
 * key before anything is created; and the Platform wiring (events.enabled gives the app its
 * settings and the key as a secret).
 */
import * as pulumi from "@pulumi/pulumi";
import { EventStore } from "../../../components/event-store";
import { Platform } from "../../../components/platform";
import { TOKENS } from "../../../core/tokens";
import { installMocks, settle, valueOf } from "../../../scripts/lib/offline";
import { isSecretInput, plainInputs, withoutSecrets } from "../../support/inputs";

const rec = installMocks({ stack: "unit-events" });
const KEY = Buffer.alloc(32, 7).toString("base64");
const shardMap = {
  epoch: 0,
  vnodesPerWeight: 150,
  replicationFactor: 1,
  consistency: "one" as const,
  shards: [{ name: "shard-0", weight: 1, host: "db", port: 5432, database: "scaleplane" }],
};

const docker = new EventStore("ev-docker", { target: "docker", events: { snapshotEvery: 25 }, shardMap });
const k8s = new EventStore("ev-k8s", {
  target: "kubernetes",
  events: { name: "ledger" },
  shardMap,
  masterKey: KEY,
  kubernetes: { namespace: "data" },
});
const aws = new EventStore("ev-aws", {
  target: "aws",
  events: { masterKeyRecoveryDays: 14 },
  shardMap,
  aws: {},
  environment: "prod",
});
const platform = new Platform("sp", { config: { target: "docker", events: { enabled: true } } });
const without = new Platform("bare", {
  config: { target: "docker", docker: { appPortBase: 28080, etcdPortBase: 22379, databasePortBase: 25432 } },
});

beforeAll(settle);

describe("EventStore", () => {
  it("on docker: a generated master key (secret) and the settings", async () => {
    const c = rec.one(TOKENS.eventStore, "ev-docker");
    expect(rec.childrenOf(c).map((r) => r.type)).toEqual(["random:index/randomBytes:RandomBytes"]);
    expect(await valueOf(docker.settings)).toEqual({
      name: "events",
      snapshotEvery: 25,
      projectionBatchSize: 500,
      leaseTtlSeconds: 10,
    });
    expect(await pulumi.isSecret(docker.masterKey)).toBe(true);
  });

  it("on kubernetes: the given key in a Secret of the namespace, never in plain inputs", () => {
    const s = rec.one("kubernetes:core/v1:Secret", "ev-k8s-master-key");
    expect(plainInputs(s.inputs).metadata).toMatchObject({ name: "ledger-master-key", namespace: "data" });
    expect(isSecretInput(s.inputs.stringData)).toBe(true);
    expect(JSON.stringify(withoutSecrets(s.inputs))).not.toContain(KEY);
    expect(k8s.config.name).toBe("ledger");
  });

  it("on aws: a Secrets Manager secret with the configured recovery window, the value as a secret", () => {
    const s = plainInputs(rec.one("aws:secretsmanager/secret:Secret", "ev-aws-master-key").inputs);
    expect(s.recoveryWindowInDays).toBe(14);
    const v = rec.one("aws:secretsmanager/secretVersion:SecretVersion", "ev-aws-master-key");
    expect(isSecretInput(v.inputs.secretString)).toBe(true);
    expect(aws.config.masterKeyRecoveryDays).toBe(14);
  });

  it("refuses bad config by key before registering anything", () => {
    expect(() => new EventStore("bad", { target: "docker", events: { snapshotEvery: 0 }, shardMap })).toThrow(
      /events\.snapshotEvery: must be a whole number/,
    );
    expect(() => new EventStore("bad2", { target: "docker", events: {}, shardMap, masterKey: "short" })).toThrow(
      /masterKey/,
    );
    expect(rec.ofType(TOKENS.eventStore).map((r) => r.name)).not.toContain("bad");
  });

  it("Platform with events.enabled wires the settings and the key (as a secret) into the app", async () => {
    expect(platform.events).toBeInstanceOf(EventStore);
    expect(without.events).toBeUndefined();
    const ev = rec.one(TOKENS.eventStore, "sp-events");
    expect(rec.parentOf(ev)?.type).toBe(TOKENS.platform);
    // whatever carries the app's environment (container envs, the controller's settings) carries the events settings too
    const carriers = (prefix: string) =>
      rec.resources
        .filter(
          (r) => r.name.startsWith(prefix) && JSON.stringify(withoutSecrets(r.inputs)).includes("SCALEPLANE_SHARD_MAP"),
        )
        .map((r) => JSON.stringify(withoutSecrets(r.inputs)));
    expect(carriers("sp-app").length).toBeGreaterThan(0);
    for (const text of carriers("sp-app")) expect(text).toContain("SCALEPLANE_EVENTS");
    for (const text of carriers("bare-app")) expect(text).not.toContain("SCALEPLANE_EVENTS");
    expect(await pulumi.isSecret(platform.events!.masterKey)).toBe(true);
  });
});
