/**
 * Secret-handling policies: secrets reach workloads through secret stores (Kubernetes Secrets,
 * SSM SecureString), never as plain values in pod specs, ConfigMaps, parameters or user data.
 */
import { T, arr, containerName, K8S_WORKLOADS, obj, podContainers, resourcePolicy, str } from "./lib";

/** Names that hold secrets (environment variables, parameter names, ConfigMap keys). */
export const SECRET_NAME = /(PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY|API_KEY|CREDENTIAL)/i;

export const k8sSecretEnvFromSecretRef = resourcePolicy(
  {
    name: "k8s-secret-env-from-secret-ref",
    description:
      "Pod environment variables that hold secrets come from a Secret (valueFrom.secretKeyRef), never a literal value.",
    enforcementLevel: "mandatory",
  },
  K8S_WORKLOADS,
  (props, args, report) => {
    podContainers(props).forEach((c, i) => {
      for (const e of arr(c.env).map(obj)) {
        const name = str(e?.name);
        if (!e || !name || !SECRET_NAME.test(name)) continue;
        if (e.value !== undefined || !obj(obj(e.valueFrom)?.secretKeyRef))
          report(
            `${args.name} container ${containerName(c, i)} sets ${name} as a plain value; store it in a Secret and use env[].valueFrom.secretKeyRef.`,
          );
      }
    });
  },
);

export const k8sNoSecretsInConfigMaps = resourcePolicy(
  {
    name: "k8s-no-secrets-in-configmaps",
    description: "ConfigMaps hold no secret-looking keys (passwords, tokens, keys); those belong in Secrets.",
    enforcementLevel: "mandatory",
  },
  ["kubernetes:core/v1:ConfigMap"],
  (props, args, report) => {
    const keys = [...Object.keys(obj(props.data) ?? {}), ...Object.keys(obj(props.binaryData) ?? {})].filter((k) =>
      SECRET_NAME.test(k),
    );
    if (keys.length > 0)
      report(
        `ConfigMap ${args.name} holds secret-looking key(s) ${keys.join(", ")}; move them to a Secret (kubernetes:core/v1:Secret).`,
      );
  },
);

export const ssmSecureStringForSecrets = resourcePolicy(
  {
    name: "ssm-secure-string-for-secrets",
    description: "SSM parameters whose names look like secrets are SecureString (KMS-encrypted).",
    enforcementLevel: "mandatory",
  },
  [T.awsSsmParameter],
  (props, args, report) => {
    const name = str(props.name) ?? args.name;
    if (SECRET_NAME.test(name) && props.type !== "SecureString")
      report(`SSM parameter ${name} holds a secret as type ${str(props.type) ?? "unset"}; set type "SecureString".`);
  },
);

/**
 * Shell assignments `NAME=value` (at the start of a word, so `--initial-cluster-token=x` flags are
 * not assignments) of secret-looking names to a literal (not `$VAR` / `$(command)`).
 */
export function literalSecretAssignments(script: string): string[] {
  const out: string[] = [];
  for (const m of script.matchAll(/(?<=^|[\s;&|(])([A-Za-z_][A-Za-z0-9_]*)=(["']?)([^\s"']*)/gm)) {
    const [, name, , value] = m;
    if (SECRET_NAME.test(name) && value !== "" && !value.startsWith("$")) out.push(name);
  }
  return [...new Set(out)];
}

/** User data as text: launch templates carry it base64-encoded, instances usually plain. */
function userDataText(props: Record<string, unknown>): string {
  const raw = str(props.userData) ?? "";
  const b64 = /^[A-Za-z0-9+/]+={0,2}$/.test(raw) && raw.length % 4 === 0;
  return b64 ? Buffer.from(raw, "base64").toString("utf8") : raw;
}

export const noSecretsInUserData = resourcePolicy(
  {
    name: "no-secrets-in-user-data",
    description:
      "EC2 user data assigns no secret a literal value (anyone with ec2:DescribeInstanceAttribute reads user data); read secrets at boot from SSM SecureString.",
    enforcementLevel: "mandatory",
  },
  [T.awsLaunchTemplate, T.awsInstance],
  (props, args, report) => {
    const leaked = literalSecretAssignments(userDataText(props));
    if (leaked.length > 0)
      report(
        `${args.name} user data sets ${leaked.join(", ")} to a literal value; store the value in an SSM SecureString parameter and read it at boot (aws ssm get-parameter --with-decryption).`,
      );
  },
);

export const secretsPolicies = [
  k8sSecretEnvFromSecretRef,
  k8sNoSecretsInConfigMaps,
  ssmSecureStringForSecrets,
  noSecretsInUserData,
];
