import fc from "fast-check";
import { etcdClusterName, fixedMemberIp, placeMembers } from "../../../core/etcd/placement";
import { parseCidr } from "../../../core/net";

describe("etcd placement (pure)", () => {
  it("computes fixed member IPs from the top of the subnet, inside it and clear of AWS-reserved addresses", () => {
    expect(fixedMemberIp("10.42.0.0/20", 0)).toBe("10.42.15.245");
    expect(fixedMemberIp("10.42.0.0/20", 3)).toBe("10.42.15.242");
    expect(fixedMemberIp("192.168.1.0/24", 0)).toBe("192.168.1.245");
    expect(fixedMemberIp("10.0.0.32/27", 7)).toBe("10.0.0.46");
    expect(() => fixedMemberIp("10.0.0.0/28", 0)).toThrow(/too small.*\/27/);
    expect(() => fixedMemberIp("10.0.0.0/33", 0)).toThrow(/not an IPv4 CIDR/);
    expect(() => fixedMemberIp("10.0.0.0/24", 8)).toThrow(/slot/);
  });

  it("property: every fixed IP lies in its subnet, not in the reserved first 4 / last address, distinct per slot", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 16, max: 27 }), (addr, prefix) => {
        const cidr = `${[24, 16, 8, 0].map((s) => Math.floor(addr / 2 ** s) % 256).join(".")}/${prefix}`;
        const { base: network, prefix: p } = parseCidr(cidr);
        const size = 2 ** (32 - p);
        const ips = Array.from({ length: 8 }, (_, slot) => fixedMemberIp(cidr, slot));
        expect(new Set(ips).size).toBe(8);
        for (const ip of ips) {
          const n = ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);
          expect(n).toBeGreaterThanOrEqual(network + 4);
          expect(n).toBeLessThan(network + size - 1);
        }
      }),
    );
  });

  it("places members round-robin over subnets with one slot per member within a subnet", () => {
    const subnets = [
      { cidr: "10.0.0.0/24", zone: "a" },
      { cidr: "10.0.1.0/24", zone: "b" },
      { cidr: "10.0.2.0/24", zone: "c" },
    ];
    expect(placeMembers(subnets, 5).map((p) => `${p.subnet.zone}:${p.ip}`)).toEqual([
      "a:10.0.0.245",
      "b:10.0.1.245",
      "c:10.0.2.245",
      "a:10.0.0.244",
      "b:10.0.1.244",
    ]);
    expect(() => placeMembers([], 3)).toThrow(/at least one subnet/);
  });

  it("names clusters per stack as a DNS label of at most 40 characters", () => {
    expect(etcdClusterName("config", "dev")).toBe("config-dev");
    expect(etcdClusterName("config", "My_Stack.2")).toBe("config-my-stack-2");
    const long = etcdClusterName("config", "x".repeat(80));
    expect(long.length).toBeLessThanOrEqual(40);
    expect(long).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });
});
