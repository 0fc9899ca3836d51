/**
 * Physical names that must be unique beyond one stack (Docker container, network and volume names
 * on a host; RDS identifiers in an account and region). Pure.
 */

/** Lowercase DNS-label characters only, single hyphens, no hyphen at either end. */
const clean = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-+|-+$/g, "");

/**
 * `<name>-<stack>`, cleaned to a DNS label and cut to `maxLength` (default 40, leaving room for
 * suffixes such as `-shard-3-data` within 63 characters).
 */
export function stackScopedName(name: string, stack: string, maxLength = 40): string {
  return `${clean(name)}-${clean(stack)}`.replace(/-+/g, "-").slice(0, maxLength).replace(/-+$/g, "");
}
