/**
 * What the Pulumi engine would receive for each registered resource, before the mock runtime
 * unwraps secrets: lets unit tests assert that a value travels as a secret (encrypted in state),
 * which scripts/lib/offline.ts' recording (secrets unwrapped) cannot show. Call after installMocks.
 */
import * as pulumi from "@pulumi/pulumi";

/** The SDK's marker of a secret value in a serialized property struct. */
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const SIG_KEY = "4dabf18193072939515e22adb298388d";

/** Raw (serialized) inputs by `type::name`. */
export function captureRawInputs(): Map<string, Record<string, unknown>> {
  const raw = new Map<string, Record<string, unknown>>();
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    registerResource(req: { getType(): string; getName(): string; getObject(): { toJavaScript(): Record<string, unknown> } | undefined }, cb: unknown): void;
  };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    raw.set(`${req.getType()}::${req.getName()}`, req.getObject()?.toJavaScript() ?? {});
    register(req, cb);
  };
  return raw;
}

/** Whether a serialized property value is a secret. */
export const isSecretValue = (v: unknown): boolean => typeof v === "object" && v !== null && (v as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;

/** Every property path in a serialized value holding a plain (non-secret) string matching `re`. */
export function plainMatches(v: unknown, re: RegExp, path = ""): string[] {
  if (isSecretValue(v)) return [];
  if (typeof v === "string") return re.test(v) ? [path] : [];
  if (Array.isArray(v)) return v.flatMap((x, i) => plainMatches(x, re, `${path}[${i}]`));
  if (v && typeof v === "object") return Object.entries(v).flatMap(([k, x]) => plainMatches(x, re, path ? `${path}.${k}` : k));
  return [];
}
