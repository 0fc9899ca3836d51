/**
 * The CPU architecture of an EC2 instance type, and the AMIs that match it. Pure.
 *
 * Why: an AMI boots only on its own architecture. Graviton types (`t4g`, `m7g`, `c6gn`, `x2gd`,
 * `a1`, ...) are arm64; a launch template with an x86_64 AMI and a Graviton type never boots. The
 * AMIs are SSM public parameters, so the architecture picks the parameter path.
 */

export type Ec2Architecture = "arm64" | "x86_64";

/** `<family letters><generation><attribute letters>[-flex].<size>`, e.g. `c6gn.xlarge`. */
const TYPE_RE = /^([a-z]+)(\d+)([a-z-]*)\.([a-z0-9-]+)$/;

/**
 * The architecture of an instance type: arm64 for Graviton (a `g` among the attribute letters
 * after the generation: t4g, m6gd, c6gn, x2gd, im4gn, is4gen, g5g, hpc7g) and the first-generation
 * `a1`; x86_64 otherwise (including `g5`, `g4dn`, `gr6`, whose `g` is the family). Throws for a
 * string that is not an instance type.
 */
export function ec2Architecture(instanceType: string): Ec2Architecture {
  const m = TYPE_RE.exec(instanceType);
  if (!m) throw new Error(`${JSON.stringify(instanceType)} is not an EC2 instance type (e.g. t3.small, m7g.large)`);
  const [, family, generation, attributes] = m;
  if (family === "a" && generation === "1") return "arm64";
  return attributes.replace(/-.*$/, "").includes("g") ? "arm64" : "x86_64";
}

/** Amazon Linux 2023 (the app instances) for an architecture, as an SSM-resolved image id. */
export const amazonLinuxAmi = (arch: Ec2Architecture): string =>
  `resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${arch}`;

/** Debian 12 (the etcd members) for an architecture, as an SSM-resolved image id (Debian names x86_64 `amd64`). */
export const debianAmi = (arch: Ec2Architecture): string =>
  `resolve:ssm:/aws/service/debian/release/bookworm/latest/${arch === "arm64" ? "arm64" : "amd64"}`;

/** The one architecture of several instance types (a launch template has one AMI), or a message saying which differ. */
export function commonArchitecture(instanceTypes: readonly string[]): { arch: Ec2Architecture } | { error: string } {
  const archs = instanceTypes.map((t) => [t, ec2Architecture(t)] as const);
  const kinds = new Set(archs.map(([, a]) => a));
  if (kinds.size <= 1) return { arch: archs[0]?.[1] ?? "x86_64" };
  return {
    error: `must all have one CPU architecture (one AMI serves them all); got ${archs.map(([t, a]) => `${t} (${a})`).join(", ")}`,
  };
}
