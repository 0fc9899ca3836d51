/**
 * `npm run plan -- --stack <name>`: runs index.ts offline under Pulumi's mock runtime with the
 * stack's config (Pulumi.yaml defaults + stacks/Pulumi.<stack>.yaml) and prints the resource
 * tree (type, name, key inputs, children indented under their parent) and a count per type.
 * No Pulumi CLI, no credentials, no cloud calls. Bad config exits 1 naming the key.
 */
import { Command } from "commander";
import type { RecordedResource, Recording } from "./lib/offline";
import { listStacks, runStackOffline, stackOfArgs } from "./lib/stack";

/** Inputs worth showing in a tree line, in this order, when present. */
const KEY_INPUTS = [
  "image",
  "imageId",
  "instanceType",
  "minSize",
  "maxSize",
  "desiredCapacity",
  "healthCheckType",
  "engine",
  "engineVersion",
  "instanceClass",
  "allocatedStorage",
  "storageEncrypted",
  "publiclyAccessible",
  "backupRetentionPeriod",
  "multiAz",
  "cidrBlock",
  "availabilityZone",
  "privateIp",
  "port",
  "protocol",
  "policyType",
  "members",
  "replicas",
  "target",
  "environment",
];

function summarize(r: RecordedResource): string {
  const parts: string[] = [];
  for (const k of KEY_INPUTS) {
    const v = r.inputs[k];
    if (v === undefined || v === null || typeof v === "object") continue;
    parts.push(`${k}=${String(v)}`);
  }
  const spec = r.inputs.spec as Record<string, unknown> | undefined;
  if (spec && typeof spec === "object" && typeof spec.replicas === "number") parts.push(`replicas=${spec.replicas}`);
  const members = r.inputs.members as { name?: string; hostPort?: number }[] | undefined;
  if (Array.isArray(members))
    parts.push(`members=${members.map((m) => (m.hostPort ? `${m.name}(127.0.0.1:${m.hostPort})` : m.name)).join(",")}`);
  const ports = r.inputs.ports as { ip?: string; external?: number; internal?: number }[] | undefined;
  if (Array.isArray(ports) && ports.length > 0)
    parts.push(`ports=${ports.map((p) => `${p.ip ?? "*"}:${p.external ?? "?"}->${p.internal}`).join(",")}`);
  return parts.length > 0 ? `  ${parts.join(" ")}` : "";
}

export function renderTree(rec: Recording): string {
  const lines: string[] = [];
  const walk = (r: RecordedResource, depth: number) => {
    lines.push(`${"  ".repeat(depth)}${r.custom ? "+" : "*"} ${r.type}  ${r.name}${summarize(r)}`);
    for (const c of rec.childrenOf(r)) walk(c, depth + 1);
  };
  const urns = new Set(rec.resources.map((r) => r.urn));
  for (const root of rec.resources.filter((r) => !r.parentUrn || !urns.has(r.parentUrn))) walk(root, 0);
  lines.push("", "count  type");
  for (const [type, n] of rec.countByType()) lines.push(`${String(n).padStart(5)}  ${type}`);
  lines.push(`${String(rec.resources.length).padStart(5)}  total (* component, + resource)`);
  return lines.join("\n");
}

async function main(): Promise<string> {
  const program = new Command("plan")
    .description("Run the Pulumi program offline for a stack and print the resource tree")
    .option("-s, --stack <name>", `stack name (${listStacks().join(", ")})`)
    .option(
      "--stack-file <path>",
      "use this stack file instead of stacks/Pulumi.<stack>.yaml; the stack name defaults to Pulumi.<name>.yaml's <name>",
    )
    .option("--json", "print the recorded resources as JSON")
    .parse();
  const opts = program.opts<{ stack?: string; stackFile?: string; json?: boolean }>();
  const { stack, stackFile } = stackOfArgs(opts);
  const run = await runStackOffline(stack, { stackFile });
  if (opts.json) return `${JSON.stringify(run.recording.resources, null, 2)}\n`;
  return `stack ${stack} (${run.config["scaleplane:target"] ?? "docker"})\n\n${renderTree(run.recording)}\n`;
}

// Exit explicitly (the Pulumi runtime keeps handles open), but only once stdout has been flushed:
// a large tree written to a pipe would otherwise be cut off.
main().then(
  (text) => process.stdout.write(text, () => process.exit(0)),
  (e: unknown) => {
    console.error(`plan failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
