/**
 * IPv4 CIDR arithmetic for subnet layout and fixed member addresses. Pure.
 */

/** Parses `a.b.c.d/p`; throws naming the value on anything else. */
export function parseCidr(cidr: string): { base: number; prefix: number } {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  const octets = m ? m.slice(1, 5).map(Number) : [];
  const prefix = m ? Number(m[5]) : -1;
  if (!m || octets.some((o) => o > 255) || prefix > 32) throw new Error(`not an IPv4 CIDR: ${JSON.stringify(cidr)}`);
  const ip = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  return { base: ip - (ip % size), prefix };
}

export function formatIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
}

/** The `n`th address of a CIDR (0 = network address); throws when outside it. */
export function cidrHost(cidr: string, n: number): string {
  const { base, prefix } = parseCidr(cidr);
  const size = 2 ** (32 - prefix);
  if (!Number.isInteger(n) || n < 0 || n >= size) throw new Error(`host ${n} is outside ${cidr} (${size} addresses)`);
  return formatIpv4(base + n);
}

/** The `index`th subnet of `newPrefix` bits inside `cidr`. */
export function cidrSubnet(cidr: string, newPrefix: number, index: number): string {
  const { base, prefix } = parseCidr(cidr);
  if (newPrefix < prefix || newPrefix > 32) throw new Error(`cannot split ${cidr} into /${newPrefix} subnets`);
  const count = 2 ** (newPrefix - prefix);
  if (!Number.isInteger(index) || index < 0 || index >= count)
    throw new Error(`${cidr} has ${count} /${newPrefix} subnets; index ${index} is out of range`);
  return `${formatIpv4(base + index * 2 ** (32 - newPrefix))}/${newPrefix}`;
}

/** A zone's public and private subnet. */
export interface ZoneSubnets {
  zone: string;
  publicCidr: string;
  privateCidr: string;
}

/**
 * Splits a VPC CIDR into one public and one private subnet per zone: 16 equal slices; public
 * subnets take slices 0..n-1, private subnets 8..8+n-1 (so zones can be added later without
 * renumbering). Up to 8 zones.
 */
export function layoutSubnets(vpcCidr: string, zones: readonly string[]): ZoneSubnets[] {
  const { prefix } = parseCidr(vpcCidr);
  if (zones.length < 1 || zones.length > 8)
    throw new Error(`zones: between 1 and 8 zones are supported; got ${zones.length}`);
  if (prefix > 24) throw new Error(`vpcCidr ${vpcCidr}: at most /24 (each zone subnet is 1/16 of it)`);
  const sub = prefix + 4;
  return zones.map((zone, i) => ({
    zone,
    publicCidr: cidrSubnet(vpcCidr, sub, i),
    privateCidr: cidrSubnet(vpcCidr, sub, 8 + i),
  }));
}
