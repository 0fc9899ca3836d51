/** The scaling controller's environment (see main.ts for the variables). Dependency-free. */
import { hostname } from "node:os";

/** The controller's settings from its environment; errors name the variable. */
export function settingsFromEnv(env: NodeJS.ProcessEnv): {
  group: string;
  endpoints: string[];
  id: string;
  ttlSeconds: number;
  prefix?: string;
} {
  const need = (k: string) => {
    const v = env[k];
    if (v === undefined || v.trim() === "") throw new Error(`${k} is required`);
    return v.trim();
  };
  const group = need("SCALER_GROUP");
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(group))
    throw new Error(`SCALER_GROUP must be a lower-case DNS label; got ${JSON.stringify(group)}`);
  const endpoints = need("SCALER_CONFIG_ENDPOINTS")
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e.length > 0);
  const ttlRaw = env.SCALER_LEASE_TTL_SECONDS ?? "10";
  const ttlSeconds = Number(ttlRaw);
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 2 || ttlSeconds > 300)
    throw new Error(
      `SCALER_LEASE_TTL_SECONDS must be a whole number of seconds from 2 to 300; got ${JSON.stringify(ttlRaw)}`,
    );
  return {
    group,
    endpoints,
    id: env.SCALER_ID?.trim() || hostname(),
    ttlSeconds,
    ...(env.SCALER_CONFIG_PREFIX ? { prefix: env.SCALER_CONFIG_PREFIX } : {}),
  };
}
