import {
  k8sNoSecretsInConfigMaps,
  k8sSecretEnvFromSecretRef,
  literalSecretAssignments,
  noSecretsInUserData,
  ssmSecureStringForSecrets,
} from "../../../policies/secrets";
import { runResource } from "./fake-args";

const DEP = "kubernetes:apps/v1:Deployment";
const pod = (env: unknown[]) => ({ spec: { template: { spec: { containers: [{ name: "app", env }] } } } });

describe("k8s-secret-env-from-secret-ref", () => {
  it("passes a password from a secretKeyRef and plain non-secret values", async () => {
    const env = [
      { name: "DATABASE_PASSWORD", valueFrom: { secretKeyRef: { name: "app-env", key: "DATABASE_PASSWORD" } } },
      { name: "PORT", value: "8080" },
    ];
    expect((await runResource(k8sSecretEnvFromSecretRef, DEP, pod(env))).messages).toEqual([]);
  });
  it("fails a literal password", async () => {
    expect(
      (
        await runResource(k8sSecretEnvFromSecretRef, DEP, pod([{ name: "DATABASE_PASSWORD", value: "hunter2" }]), {
          name: "app",
        })
      ).messages,
    ).toEqual([
      "app container app sets DATABASE_PASSWORD as a plain value; store it in a Secret and use env[].valueFrom.secretKeyRef.",
    ]);
  });
});

describe("k8s-no-secrets-in-configmaps", () => {
  const CM = "kubernetes:core/v1:ConfigMap";
  it("passes plain settings", async () => {
    expect((await runResource(k8sNoSecretsInConfigMaps, CM, { data: { LOG_LEVEL: "info" } })).messages).toEqual([]);
  });
  it("fails a token in a ConfigMap", async () => {
    expect(
      (
        await runResource(
          k8sNoSecretsInConfigMaps,
          CM,
          { data: { API_TOKEN: "x", LOG_LEVEL: "info" } },
          { name: "cfg" },
        )
      ).messages,
    ).toEqual([
      "ConfigMap cfg holds secret-looking key(s) API_TOKEN; move them to a Secret (kubernetes:core/v1:Secret).",
    ]);
  });
});

describe("ssm-secure-string-for-secrets", () => {
  const P = "aws:ssm/parameter:Parameter";
  it("passes a SecureString password and a String endpoint", async () => {
    expect(
      (
        await runResource(ssmSecureStringForSecrets, P, {
          name: "/scaleplane/app/DATABASE_PASSWORD",
          type: "SecureString",
        })
      ).messages,
    ).toEqual([]);
    expect(
      (await runResource(ssmSecureStringForSecrets, P, { name: "/scaleplane/app/ENDPOINTS", type: "String" })).messages,
    ).toEqual([]);
  });
  it("fails a String password", async () => {
    expect(
      (await runResource(ssmSecureStringForSecrets, P, { name: "/scaleplane/app/DATABASE_PASSWORD", type: "String" }))
        .messages,
    ).toEqual([
      'SSM parameter /scaleplane/app/DATABASE_PASSWORD holds a secret as type String; set type "SecureString".',
    ]);
  });
});

describe("no-secrets-in-user-data", () => {
  const LT = "aws:ec2/launchTemplate:LaunchTemplate";
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  it("finds literal assignments, not ones read at boot", () => {
    expect(
      literalSecretAssignments(
        'export DB_PASSWORD="$(aws ssm get-parameter --with-decryption)"\nPORT=8080\nAPI_TOKEN=abc',
      ),
    ).toEqual(["API_TOKEN"]);
    expect(literalSecretAssignments("etcd --initial-cluster-token=sp-prod-config --name=m0")).toEqual([]);
    expect(literalSecretAssignments("env DB_PASSWORD='s3cret' app")).toEqual(["DB_PASSWORD"]);
  });
  it("passes user data that reads the secret from SSM", async () => {
    expect(
      (
        await runResource(noSecretsInUserData, LT, {
          userData: b64(
            "DATABASE_PASSWORD=$(aws ssm get-parameter --name /p --with-decryption --query Parameter.Value --output text)",
          ),
        })
      ).messages,
    ).toEqual([]);
  });
  it("fails a literal password in base64 user data", async () => {
    expect(
      (
        await runResource(
          noSecretsInUserData,
          LT,
          { userData: b64("#!/bin/sh\nexport DATABASE_PASSWORD=hunter2\n") },
          { name: "lt" },
        )
      ).messages,
    ).toEqual([
      "lt user data sets DATABASE_PASSWORD to a literal value; store the value in an SSM SecureString parameter and read it at boot (aws ssm get-parameter --with-decryption).",
    ]);
  });
});
