/**
 * Shared by the component unit tests (one test file per target, one mock runtime each): recorded
 * inputs keep Pulumi's secret markers, so tests can tell what travels as a secret, find where a
 * password goes, and collect ConfigError keys.
 */
import { ConfigError } from "../../core/config";
import type { Recording } from "../../scripts/lib/offline";

/** A password the tests pass in, easy to find in recorded inputs. */
export const TEST_PASSWORD = "Zq7xTestPassw0rdForShards";

/** How the engine protocol marks a secret value: `{[SIG_KEY]: SECRET_SIG, value}`. */
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

const isSecretWrapper = (v: unknown): v is { value: unknown } =>
  typeof v === "object" && v !== null && (v as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;

/** Replaces every secret value by `replace(value)`, recursively. */
function mapSecrets(v: unknown, replace: (secret: unknown) => unknown): unknown {
  if (isSecretWrapper(v)) return replace(v.value);
  if (Array.isArray(v)) return v.map((x) => mapSecrets(x, replace));
  if (typeof v === "object" && v !== null)
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mapSecrets(x, replace)]));
  return v;
}

/** The inputs with secret values unwrapped (to assert on what the provider receives). */
export const plainInputs = (v: unknown): any => mapSecrets(v, (s) => mapSecrets(s, (x) => x)); // eslint-disable-line @typescript-eslint/no-explicit-any

/** The inputs with every secret value blanked out: what anyone reading non-secret state sees. */
export const withoutSecrets = (v: unknown): unknown => mapSecrets(v, () => "[secret]");

/** True when the value as sent to the engine is marked secret. */
export const isSecretInput = (v: unknown): boolean => isSecretWrapper(v);

/** Every property path in a recorded value holding a plain (non-secret) string matching `re`. */
export function plainMatches(v: unknown, re: RegExp, path = ""): string[] {
  if (isSecretWrapper(v)) return [];
  if (typeof v === "string") return re.test(v) ? [path] : [];
  if (Array.isArray(v)) return v.flatMap((x, i) => plainMatches(x, re, `${path}[${i}]`));
  if (v && typeof v === "object")
    return Object.entries(v).flatMap(([k, x]) => plainMatches(x, re, path ? `${path}.${k}` : k));
  return [];
}

/** Recorded inputs by `type::name` (secret markers kept). */
export const inputsByKey = (rec: Recording) => ({
  get(key: string): Record<string, unknown> | undefined {
    const at = key.lastIndexOf("::");
    return rec.resources.find((r) => r.type === key.slice(0, at) && r.name === key.slice(at + 2))?.inputs;
  },
});

/** The resources of the tree under `rootUrn` (the root included). */
export function treeOf(rec: Recording, rootUrn: string): Recording["resources"] {
  const inTree = (urn: string | undefined): boolean =>
    urn !== undefined && (urn === rootUrn || inTree(rec.resources.find((r) => r.urn === urn)?.parentUrn));
  return rec.resources.filter((r) => inTree(r.urn));
}

/**
 * Every resource under `rootUrn` and its input keys that contain `needle`, once with secrets
 * unwrapped (where it travels) and once with secrets blanked (where it would leak).
 */
export function whereFound(
  rec: Recording,
  rootUrn: string,
  needle: string,
): { anywhere: string[]; inPlainText: string[] } {
  const find = (view: (v: unknown) => unknown) =>
    treeOf(rec, rootUrn).flatMap((r) =>
      Object.keys(r.inputs)
        .filter((k) => JSON.stringify(view(r.inputs[k]) ?? null).includes(needle))
        .map((k) => `${r.name}.${k}`),
    );
  return { anywhere: find(plainInputs).sort(), inPlainText: find(withoutSecrets).sort() };
}

/** The keys of the ConfigError `fn` throws (fails the test if it throws anything else or nothing). */
export function errorKeys(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map((p) => p.key);
    throw e;
  }
  throw new Error("expected a ConfigError");
}
