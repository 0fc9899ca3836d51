/**
 * Reads the platform configuration from the Pulumi stack config (namespace `scaleplane`) and
 * validates it with core/config.ts. The only place the program touches raw config.
 */
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE, configWarnings, parsePlatformConfig, type PlatformConfig } from "../core/config";

/** Pulumi hands config values to programs as strings; structured values arrive as JSON. */
function decode(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/**
 * The validated platform config of the current stack. Throws a ConfigError naming every bad key
 * (`scaleplane:<section>.<field>`) before any resource is created.
 */
export function loadPlatformConfig(): PlatformConfig {
  const raw: Record<string, unknown> = {};
  const prefix = `${CONFIG_NAMESPACE}:`;
  for (const [key, value] of Object.entries(pulumi.runtime.allConfig())) {
    if (!key.startsWith(prefix)) continue;
    const name = key.slice(prefix.length);
    // target and environment are plain strings; everything else is JSON (numbers, objects).
    raw[name] = name === "target" || name === "environment" ? value : decode(value);
  }
  const config = parsePlatformConfig(raw);
  // Valid but probably unintended settings (refused in prod): warn, naming the key.
  for (const w of configWarnings(config, raw)) void pulumi.log.warn(`${w.key}: ${w.message}`);
  return config;
}
