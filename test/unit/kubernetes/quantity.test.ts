import { kubernetesQuantities, parseQuantity } from "../../../core/kubernetes/quantity";

describe("parseQuantity", () => {
  it.each([
    ["250m", 0.25],
    ["1", 1],
    ["1.5", 1.5],
    ["12345n", 0.000012345],
    ["500u", 0.0005],
    ["0", 0],
    [".5", 0.5],
    ["2k", 2000],
  ])("cpu %s = %d cores", (text, cores) => {
    expect(parseQuantity(text)).toBeCloseTo(cores, 12);
  });

  it.each([
    ["128Mi", 128 * 1024 * 1024],
    ["1Gi", 1024 ** 3],
    ["1G", 1e9],
    ["512Ki", 512 * 1024],
    ["1.5Gi", 1.5 * 1024 ** 3],
    ["1e3", 1000],
    ["12E-1", 1.2],
    ["129M", 129e6],
    ["1Ti", 1024 ** 4],
  ])("memory %s = %d bytes", (text, bytes) => {
    expect(parseQuantity(text)).toBeCloseTo(bytes, 6);
  });

  it("round-trips the quantities the components write", () => {
    const q = kubernetesQuantities({ cpu: 0.25, memoryMb: 256 });
    expect(parseQuantity(q.cpu)).toBe(0.25);
    expect(parseQuantity(q.memory)).toBe(256 * 1024 * 1024);
  });

  it.each(["", "abc", "1mi", "Mi", "1 Gi", "1.2.3", "--1", "1KiB"])("refuses %j, naming the value", (text) => {
    expect(() => parseQuantity(text, "pod web-1 cpu usage")).toThrow(
      /^pod web-1 cpu usage: .* is not a Kubernetes quantity/,
    );
  });
});
