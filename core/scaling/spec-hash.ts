/**
 * The launch spec's hash: what an instance is created from, so a changed spec (image, env,
 * limits, networks, a rotated secret) is seen on every instance and replaced (a rollout). Pure: the
 * secrets enter only as a digest the caller derived with a slow KDF (the values are never stored,
 * and the digest alone does not reveal them), and fields that only steer the controller (drain
 * timing, rollout settings, the load balancer's name) are left out so changing them rolls nothing.
 */
import { createHash } from "node:crypto";
import type { LaunchSpecInput } from "./reconcile";

/** Fields of the launch spec that shape an instance. */
const INSTANCE_FIELDS = [
  "group",
  "image",
  "port",
  "healthPath",
  "env",
  "secretFiles",
  "runAsUser",
  "cpus",
  "memoryMb",
  "networks",
  "labels",
] as const;

/** JSON with object keys sorted (the same spec always gives the same text). */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v !== null && typeof v === "object")
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(v);
}

/** sha256 over the instance fields and the secrets' digest, hex (first 32 characters). */
export function launchSpecHash(spec: Partial<LaunchSpecInput>, secretsDigest: string): string {
  const fields = Object.fromEntries(INSTANCE_FIELDS.map((k) => [k, spec[k]]));
  return createHash("sha256").update(canonicalJson({ fields, secretsDigest })).digest("hex").slice(0, 32);
}
