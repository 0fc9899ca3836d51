import { amazonLinuxAmi, commonArchitecture, debianAmi, ec2Architecture } from "../../../core/aws/ec2-arch";
import { etcdVersionOfImage } from "../../../core/etcd/spec";

describe("ec2Architecture", () => {
  it.each([
    ["t4g.micro", "arm64"],
    ["m7g.large", "arm64"],
    ["c6gn.xlarge", "arm64"],
    ["m6gd.2xlarge", "arm64"],
    ["x2gd.medium", "arm64"],
    ["im4gn.large", "arm64"],
    ["is4gen.medium", "arm64"],
    ["g5g.xlarge", "arm64"],
    ["hpc7g.4xlarge", "arm64"],
    ["a1.medium", "arm64"],
    ["t3.small", "x86_64"],
    ["m5dn.large", "x86_64"],
    ["g5.xlarge", "x86_64"],
    ["g4dn.xlarge", "x86_64"],
    ["g4ad.xlarge", "x86_64"],
    ["gr6.4xlarge", "x86_64"],
    ["m7i-flex.large", "x86_64"],
    ["c7a.large", "x86_64"],
    ["r7iz.large", "x86_64"],
  ])("%s is %s", (type, arch) => expect(ec2Architecture(type)).toBe(arch));

  it("refuses what is not an instance type", () => {
    expect(() => ec2Architecture("large")).toThrow(/not an EC2 instance type/);
  });

  it("picks the AMI parameter of the architecture (Debian calls x86_64 amd64)", () => {
    expect(debianAmi("arm64")).toBe("resolve:ssm:/aws/service/debian/release/bookworm/latest/arm64");
    expect(debianAmi("x86_64")).toBe("resolve:ssm:/aws/service/debian/release/bookworm/latest/amd64");
    expect(amazonLinuxAmi("arm64")).toMatch(/al2023-ami-kernel-default-arm64$/);
    expect(amazonLinuxAmi("x86_64")).toMatch(/al2023-ami-kernel-default-x86_64$/);
  });

  it("a mix of architectures has no common AMI", () => {
    expect(commonArchitecture(["m7g.large", "c7g.large"])).toEqual({ arch: "arm64" });
    expect(commonArchitecture(["m7g.large", "m5.large"])).toEqual({
      error: expect.stringMatching(/m7g.large \(arm64\), m5.large \(x86_64\)/),
    });
  });
});

describe("etcdVersionOfImage", () => {
  it.each([
    ["scaleplane/etcd:3.4.23", "3.4.23"],
    ["registry.local:5000/etcd:v3.5.9", "3.5.9"],
    ["quay.io/coreos/etcd:v3.4.23@sha256:" + "a".repeat(64), "3.4.23"],
    ["scaleplane/etcd:latest", undefined],
    ["scaleplane/etcd", undefined],
    ["registry.local:5000/etcd", undefined],
  ])("%s → %s", (image, version) => expect(etcdVersionOfImage(image)).toBe(version));
});
