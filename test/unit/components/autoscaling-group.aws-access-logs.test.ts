/**
 * The AWS AutoscalingGroup's access-log buckets under the offline mock runtime: the log bucket
 * records its own requests (S3 server access logging) in a separate audit bucket, locked down and
 * logging nowhere itself; the policy pack accepts what the builder makes.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { PolicyResource } from "@pulumi/policy";
import { AutoscalingGroup } from "../../../components/autoscaling-group";
import { installMocks, settle, type RecordedResource } from "../../../scripts/lib/offline";

const rec = installMocks({ stack: "unit-aws-logs" });

const network = {
  vpcId: "vpc-1",
  subnets: ["a", "b"].map((z, i) => ({ id: `subnet-${z}`, cidr: `10.42.${128 + 16 * i}.0/20`, zone: `us-east-1${z}` })),
  publicSubnetIds: ["pub-a", "pub-b"],
};
const app = (name: string) => ({ name, minSize: 1, maxSize: 2 });
const loadBalancer = (deletionProtection: boolean) => ({
  sslPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06",
  accessLogs: { retentionDays: 30, region: "us-east-1", prefix: "web" },
  deletionProtection,
});

// The options each child of "web" was created with (dependsOn is not visible to the mock).
const dependsOn = new Map<string, string[]>();
const web = new AutoscalingGroup(
  "web",
  { target: "aws", app: app("web"), aws: { ...network, loadBalancer: loadBalancer(true) } },
  {
    transformations: [
      (a: pulumi.ResourceTransformationArgs) => {
        const deps = ([] as unknown[]).concat(a.opts.dependsOn ?? []) as { __pulumiType: string; __name: string }[];
        dependsOn.set(
          `${a.type}::${a.name}`,
          deps.map((d) => `${d.__pulumiType}::${d.__name}`),
        );
        return undefined;
      },
    ],
  },
);
new AutoscalingGroup("dev", { target: "aws", app: app("dev"), aws: { ...network, loadBalancer: loadBalancer(false) } });
new AutoscalingGroup("bare", { target: "aws", app: app("bare"), aws: network });

beforeAll(settle);

const S3 = (t: string) => `aws:s3/${t}`;
const one = (type: string, name: string) => rec.one(S3(type), name).inputs;

describe("AutoscalingGroup on aws: the access-log bucket's own access log", () => {
  it("logs the log bucket's requests to the audit bucket, partitioned by event day, once the audit bucket accepts them", () => {
    expect(one("bucketLogging:BucketLogging", "web-alb-logs")).toEqual({
      bucket: "web-alb-logs",
      targetBucket: "web-alb-logs-access",
      targetPrefix: "web/",
      targetObjectKeyFormat: { partitionedPrefix: { partitionDateSource: "EventTime" } },
    });
    expect(dependsOn.get(`${S3("bucketLogging:BucketLogging")}::web-alb-logs`)).toEqual([
      `${S3("bucketPolicy:BucketPolicy")}::web-alb-logs-access`,
    ]);
    expect(dependsOn.get(`${S3("bucketPolicy:BucketPolicy")}::web-alb-logs-access`)).toEqual([
      `${S3("bucketPublicAccessBlock:BucketPublicAccessBlock")}::web-alb-logs-access`,
    ]);
    // The load balancer and the logging name the buckets alike: policies join them by name.
    expect(
      (rec.one("aws:lb/loadBalancer:LoadBalancer", "web-alb").inputs.accessLogs as { bucket: string }).bucket,
    ).toBe("web-alb-logs");
  });

  it("locks the audit bucket down: SSE-S3, public access blocked, ACLs off, expiry with the logs it audits, kept with a protected load balancer", () => {
    expect(
      one("bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "web-alb-logs-access"),
    ).toEqual({
      bucket: "web-alb-logs-access",
      rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }],
    });
    expect(one("bucketPublicAccessBlock:BucketPublicAccessBlock", "web-alb-logs-access")).toEqual({
      bucket: "web-alb-logs-access",
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    expect(one("bucketOwnershipControls:BucketOwnershipControls", "web-alb-logs-access").rule).toEqual({
      objectOwnership: "BucketOwnerEnforced",
    });
    expect(one("bucketLifecycleConfiguration:BucketLifecycleConfiguration", "web-alb-logs-access").rules).toEqual([
      { id: "expire-server-access-logs", status: "Enabled", filter: { prefix: "web/" }, expiration: { days: 30 } },
    ]);
    expect(one("bucket:Bucket", "web-alb-logs-access").forceDestroy).toBe(false);
    expect(one("bucket:Bucket", "dev-alb-logs-access").forceDestroy).toBe(true);
  });

  it("lets only S3's logging service write, only the log bucket's records of the stack's account (from the ALB security group's ARN), only over TLS", () => {
    const policy = JSON.parse(one("bucketPolicy:BucketPolicy", "web-alb-logs-access").policy as string);
    expect(policy.Statement).toEqual([
      {
        Sid: "S3ServerAccessLogDelivery",
        Effect: "Allow",
        Principal: { Service: "logging.s3.amazonaws.com" },
        Action: "s3:PutObject",
        Resource: "arn:aws:mock:us-east-1:000000000000:web-alb-logs-access/web/*",
        Condition: {
          ArnLike: { "aws:SourceArn": "arn:aws:mock:us-east-1:000000000000:web-alb-logs" },
          StringEquals: { "aws:SourceAccount": "000000000000" },
        },
      },
      expect.objectContaining({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
    ]);
  });

  it("gives the audit bucket no server access logging of its own (a log target that logs loops), and no buckets without access logs", () => {
    const logged = rec.ofType(S3("bucketLogging:BucketLogging")).map((r) => r.inputs.bucket);
    expect(logged.sort()).toEqual(["dev-alb-logs", "web-alb-logs"]);
    expect(rec.resources.filter((r) => r.name.startsWith("bare-alb-logs"))).toEqual([]);
    expect(web.accessLogBucket).toBeDefined();
  });

  it("satisfies the pack's S3 policies as built (and fails them with the audit bucket's policy removed)", async () => {
    const { albLogBucketAccessLogged } = await import("../../../policies/load-balancer");
    const { s3AccessLogTargetLockedDown } = await import("../../../policies/storage");
    const asPolicyResources = (rs: RecordedResource[]): PolicyResource[] =>
      rs.map(
        (r) =>
          ({
            type: r.type,
            name: r.name,
            urn: r.urn,
            props: r.inputs,
            opts: { parent: r.parentUrn },
          }) as unknown as PolicyResource,
      );
    const run = async (rs: RecordedResource[]) => {
      const messages: string[] = [];
      const args = {
        resources: asPolicyResources(rs),
        stackTags: new Map(),
        getConfig: () => ({}),
        notApplicable: () => undefined as never,
      };
      for (const p of [albLogBucketAccessLogged, s3AccessLogTargetLockedDown])
        await p.validateStack(args as never, (m: string) => messages.push(m));
      return messages;
    };
    expect(await run(rec.resources)).toEqual([]);
    const withoutPolicy = rec.resources.filter(
      (r) => !(r.type === S3("bucketPolicy:BucketPolicy") && r.name === "web-alb-logs-access"),
    );
    expect(await run(withoutPolicy)).toEqual([
      expect.stringMatching(
        /^Bucket web-alb-logs-access receives the server access logs of web-alb-logs, but it has no bucket policy/,
      ),
    ]);
    const withoutLogging = rec.resources.filter(
      (r) => !(r.type === S3("bucketLogging:BucketLogging") && r.name === "web-alb-logs"),
    );
    expect(await run(withoutLogging)).toEqual([
      expect.stringMatching(
        /^Load balancer web-alb delivers its access logs to bucket web-alb-logs, which records no access of its own/,
      ),
    ]);
  });
});
