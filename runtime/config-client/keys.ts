/** Typed config keys: a key name bound to the zod schema of its value. */
import type { z } from "zod";
import { ShardMapSchema } from "../../core/sharding/shard-map";

export interface ConfigKey<S extends z.ZodType> {
  /** Key name below the client's prefix, e.g. `shard-map`. */
  readonly name: string;
  readonly schema: S;
}

const KEY_RE = /^[A-Za-z0-9][A-Za-z0-9._\-/]*$/;

/** Declares a typed key; names are plain paths (letters, digits, `._-/`). */
export function configKey<S extends z.ZodType>(name: string, schema: S): ConfigKey<S> {
  if (!KEY_RE.test(name))
    throw new Error(`configKey: name ${JSON.stringify(name)} must match ${KEY_RE} (letters, digits, . _ - /)`);
  return { name, schema };
}

/** Where the shard map lives; its epoch is inside the value. */
export const SHARD_MAP_KEY = configKey("shard-map", ShardMapSchema);
