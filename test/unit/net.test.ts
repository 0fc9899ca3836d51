import fc from "fast-check";
import { cidrHost, cidrSubnet, layoutSubnets, parseCidr } from "../../core/net";

describe("core/net", () => {
  it("computes hosts and subnets", () => {
    expect(cidrHost("10.42.128.0/20", 10)).toBe("10.42.128.10");
    expect(cidrSubnet("10.42.0.0/16", 20, 8)).toBe("10.42.128.0/20");
    expect(parseCidr("10.42.1.7/16")).toEqual({ base: parseCidr("10.42.0.0/16").base, prefix: 16 });
  });

  it("refuses bad CIDRs and out-of-range hosts with the value named", () => {
    expect(() => parseCidr("10.0.0/16")).toThrow('not an IPv4 CIDR: "10.0.0/16"');
    expect(() => parseCidr("300.0.0.0/16")).toThrow("not an IPv4 CIDR");
    expect(() => cidrHost("10.0.0.0/28", 16)).toThrow("host 16 is outside 10.0.0.0/28 (16 addresses)");
    expect(() => cidrSubnet("10.0.0.0/16", 20, 16)).toThrow("has 16 /20 subnets");
    expect(() => layoutSubnets("10.0.0.0/16", [])).toThrow("between 1 and 8 zones");
  });

  it("lays out one public and one private subnet per zone, disjoint and inside the VPC", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 16, max: 24 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 255 }),
        (prefix, n, second) => {
          const vpc = `10.${second}.0.0/${prefix}`;
          const zones = Array.from({ length: n }, (_, i) => `zone-${i}`);
          const layout = layoutSubnets(vpc, zones);
          const { base, prefix: p } = parseCidr(vpc);
          const ranges = layout
            .flatMap((z) => [z.publicCidr, z.privateCidr])
            .map((c) => {
              const r = parseCidr(c);
              return [r.base, r.base + 2 ** (32 - r.prefix)] as const;
            });
          for (const [lo, hi] of ranges) {
            expect(lo).toBeGreaterThanOrEqual(base);
            expect(hi).toBeLessThanOrEqual(base + 2 ** (32 - p));
          }
          const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
          for (let i = 1; i < sorted.length; i++) expect(sorted[i][0]).toBeGreaterThanOrEqual(sorted[i - 1][1]);
          expect(layout.map((z) => z.zone)).toEqual(zones);
        },
      ),
      { numRuns: 300 },
    );
  });
});
