/**
 * Issue 9 item 5 on aws: the etcd members install the etcd version `configService.image` is tagged
 * with (the same etcd as docker and kubernetes run), and every AMI follows the instance type's
 * architecture (Graviton types boot arm64 images). Offline mock runtime.
 */
import { AutoscalingGroup } from "../../../components/autoscaling-group";
import { RaftConfigService } from "../../../components/raft-config-service";
import { installMocks, settle } from "../../../scripts/lib/offline";
import { errorKeys } from "../../support/inputs";

const rec = installMocks({ stack: "prod" });
const subnets = [
  { id: "subnet-a", cidr: "10.42.0.0/20", zone: "us-east-1a" },
  { id: "subnet-b", cidr: "10.42.16.0/20", zone: "us-east-1b" },
];
const etcdAws = { vpcId: "vpc-1", subnets, clientSecurityGroupIds: ["sg-app"] };
const network = { vpcId: "vpc-1", subnets, publicSubnetIds: ["pub-a", "pub-b"] };

new RaftConfigService("x86", {
  target: "aws",
  configService: { name: "x86", members: 3, image: "scaleplane/etcd:3.4.23" },
  aws: etcdAws,
});
new RaftConfigService("grv", {
  target: "aws",
  configService: { name: "grv", members: 3, image: "registry.local/etcd:v3.4.23", instanceType: "m7g.large" },
  aws: etcdAws,
});
new AutoscalingGroup("web", {
  target: "aws",
  app: { name: "web", minSize: 1, maxSize: 2, instanceType: "t4g.small" },
  aws: network,
});
new AutoscalingGroup("mixg", {
  target: "aws",
  app: {
    name: "mixg",
    minSize: 1,
    maxSize: 4,
    mixedInstances: {
      instanceTypes: ["m7g.large", "c7g.large"],
      onDemandBaseCapacity: 1,
      onDemandPercentageAboveBase: 20,
    },
    instanceType: "m7g.large",
  },
  aws: network,
});

beforeAll(settle);

const lt = (name: string) => rec.one("aws:ec2/launchTemplate:LaunchTemplate", name).inputs;

describe("etcd on aws runs the image's etcd version", () => {
  it("installs Debian's etcd-server pinned to the image tag's version and holds it", () => {
    for (const [name, version] of [
      ["x86", "3.4.23"],
      ["grv", "3.4.23"],
    ]) {
      const userData = rec.one("aws:ec2/instance:Instance", `${name}-0`).inputs.userData as string;
      expect(userData).toContain(`apt-get install -y -q 'etcd-server=${version}-*' awscli`);
      expect(userData).toContain("apt-mark hold etcd-server");
      expect(userData).not.toMatch(/install -y -q etcd-server /);
    }
  });

  it("refuses an image without a version tag on aws, naming configService.image", () => {
    expect(
      errorKeys(
        () =>
          new RaftConfigService("bad", {
            target: "aws",
            configService: { name: "bad", image: "scaleplane/etcd:latest" },
            aws: etcdAws,
          }),
      ),
    ).toEqual(["configService.image"]);
  });
});

describe("AMIs follow the instance type's architecture", () => {
  it("etcd members: Debian amd64 for t3, arm64 for Graviton m7g", () => {
    expect(lt("x86-lt").imageId).toBe("resolve:ssm:/aws/service/debian/release/bookworm/latest/amd64");
    expect(lt("grv-lt").imageId).toBe("resolve:ssm:/aws/service/debian/release/bookworm/latest/arm64");
  });

  it("app instances: Amazon Linux arm64 for t4g and for an all-Graviton mixed group", () => {
    expect(lt("web-lt").imageId).toBe(
      "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64",
    );
    expect(lt("mixg-lt").imageId).toBe(
      "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64",
    );
  });

  it("refuses mixed instance types of two architectures (one AMI cannot boot both), naming the key", () => {
    expect(
      errorKeys(
        () =>
          new AutoscalingGroup("mixbad", {
            target: "aws",
            app: {
              name: "mixbad",
              minSize: 1,
              maxSize: 4,
              mixedInstances: { instanceTypes: ["m7g.large", "m6i.large"] },
            },
            aws: network,
          }),
      ),
    ).toEqual(["app.mixedInstances.instanceTypes"]);
  });
});
