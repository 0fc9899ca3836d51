/**
 * The mock runtime's recording (scripts/lib/offline.ts) keeps parents, not dependencies: this
 * notes the dependency URNs each registration sends to the engine (explicit dependsOn included),
 * keyed `<type>::<name>`. Call it after installMocks, before the program registers resources.
 */
import * as pulumi from "@pulumi/pulumi";

export function recordDependencies(): Map<string, string[]> {
  const dependencies = new Map<string, string[]>();
  type Req = { getType(): string; getName(): string; getDependenciesList(): string[] };
  const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource(req: Req, cb: unknown): void };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    dependencies.set(`${req.getType()}::${req.getName()}`, req.getDependenciesList());
    register(req, cb);
  };
  return dependencies;
}
