/**
 * Host port ranges on the Docker target: every component publishes instance i on
 * 127.0.0.1:(portBase + i). One check for all of them, so the rule and its message are the same
 * for the app, the config service and the database. Pure.
 */
import { ConfigError } from "./config";

/** Lowest host port a component may publish on (below it are privileged ports). */
export const MIN_HOST_PORT = 1024;
/** Highest TCP port. */
export const MAX_PORT = 65535;

/**
 * The `count` host ports `portBase, portBase + 1, …`. Throws a ConfigError naming `key` (e.g.
 * `docker.portBase`) when `portBase` is not a whole number ≥ 1024 or the range passes 65535.
 */
export function hostPortRange(key: string, portBase: number, count: number): number[] {
  const n = Math.max(count, 1);
  if (!Number.isInteger(portBase) || portBase < MIN_HOST_PORT || portBase + n - 1 > MAX_PORT)
    throw new ConfigError([
      {
        key,
        message: `must be a whole number ≥ ${MIN_HOST_PORT} with room for ${n} port(s) (portBase + ${n - 1} ≤ ${MAX_PORT}); got ${JSON.stringify(portBase)}`,
      },
    ]);
  return Array.from({ length: count }, (_, i) => portBase + i);
}
