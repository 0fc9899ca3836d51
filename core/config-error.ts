/**
 * The error every config and argument check throws: one problem per bad key, each naming the key
 * as the user writes it. Its own module (not core/config.ts) so that schemas core/config.ts
 * composes, such as core/scaling/policy.ts, can throw it without an import cycle.
 */
import type { z } from "zod";

/** One problem in a config, with the user-facing key path. */
export interface ConfigProblem {
  /** e.g. `scaleplane:configService.members` */
  key: string;
  message: string;
}

/** Thrown for an invalid configuration; `message` lists every problem, one per line, key first. */
export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p.key}: ${p.message}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Throws a ConfigError for one argument/key (`app.mixedInstances`, `aws.subnets[0].cidr`, ...). */
export function configFail(key: string, message: string): never {
  throw new ConfigError([{ key, message }]);
}

/**
 * Validates one section (e.g. a component's `app` argument) with its schema; errors name
 * `<prefix>.<path>` (e.g. `app.minSize`).
 */
export function parseSection<S extends z.ZodType>(schema: S, raw: unknown, prefix: string): z.output<S> {
  const result = schema.safeParse(raw ?? {});
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.flatMap((i) =>
      (i.code === "unrecognized_keys" ? i.keys.map((k) => [...i.path, k]) : [i.path]).map((path) => ({
        key: [prefix, ...path]
          .map((p, n) => (typeof p === "number" ? `[${p}]` : n === 0 ? String(p) : `.${String(p)}`))
          .join(""),
        message: i.message,
      })),
    ),
  );
}
