import { s3AccessLogTargetLockedDown, targetPolicyProblems } from "../../../policies/storage";
import { S3 } from "../../../policies/lib";
import { serverAccessLogTargetPolicy } from "../../../core/app/alb";
import { runStack, urn, type FakeResource } from "./fake-args";

const ACCOUNT = "123456789012";
const SOURCE = "app-alb-logs";
const TARGET = "app-alb-logs-access";
const arn = (bucket: string) => `arn:aws:s3:::${bucket}`;
const goodPolicy = () => JSON.stringify(serverAccessLogTargetPolicy(arn(TARGET), "app", arn(SOURCE), ACCOUNT));

/** A source bucket logging to a target, the target locked down as the AutoscalingGroup does it; `change` edits the target's resources. */
function stack(change: (target: Record<string, FakeResource>) => void = () => {}): FakeResource[] {
  const target: Record<string, FakeResource> = {
    bucket: { type: S3.bucket, name: TARGET, props: { bucket: TARGET } },
    block: {
      type: S3.publicAccessBlock,
      name: TARGET,
      props: {
        bucket: TARGET,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
    },
    sse: {
      type: S3.encryption,
      name: TARGET,
      props: { bucket: TARGET, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] },
    },
    ownership: {
      type: S3.ownership,
      name: TARGET,
      props: { bucket: TARGET, rule: { objectOwnership: "BucketOwnerEnforced" } },
    },
    policy: { type: S3.policy, name: TARGET, props: { bucket: TARGET, policy: goodPolicy() } },
  };
  change(target);
  return [
    { type: S3.bucket, name: SOURCE, props: { bucket: SOURCE } },
    { type: S3.logging, name: SOURCE, props: { bucket: SOURCE, targetBucket: TARGET, targetPrefix: "app/" } },
    ...Object.values(target),
  ];
}

describe("s3-log-target-locked-down", () => {
  it("passes a target that is locked down and logs nowhere itself (what the AutoscalingGroup builds)", async () => {
    expect((await runStack(s3AccessLogTargetLockedDown, stack())).messages).toEqual([]);
  });

  it("passes a stack without server access logging, and a target the stack does not manage", async () => {
    expect(
      (await runStack(s3AccessLogTargetLockedDown, [{ type: S3.bucket, name: "b", props: { bucket: "b" } }])).messages,
    ).toEqual([]);
    const external = [{ type: S3.logging, name: "l", props: { bucket: "mine", targetBucket: "central-logs" } }];
    expect((await runStack(s3AccessLogTargetLockedDown, external)).messages).toEqual([]);
  });

  it("fails a target that logs its own access: to itself (a loop) or elsewhere (AWS advises against it)", async () => {
    const self = await runStack(
      s3AccessLogTargetLockedDown,
      stack((t) => {
        t.logging = { type: S3.logging, name: TARGET, props: { bucket: TARGET, targetBucket: TARGET } };
      }),
    );
    expect(self.messages).toEqual([
      `Bucket ${TARGET} receives the server access logs of ${SOURCE}, ${TARGET}, but it logs its own access to itself: every delivery is logged again, an endless loop of logs; turn its server access logging off.`,
    ]);
    const chained = await runStack(
      s3AccessLogTargetLockedDown,
      stack((t) => {
        t.bucket.props = { bucket: TARGET, logging: { targetBucket: "third" } };
      }),
    );
    expect(chained.messages).toEqual([
      `Bucket ${TARGET} receives the server access logs of ${SOURCE}, but it logs its own access to third: AWS advises no server access logging on a log target (that only moves the question to the next bucket); turn it off.`,
    ]);
    expect(chained.urns).toEqual([urn({ type: S3.bucket, name: TARGET })]);
  });

  it("fails a target whose public access, encryption or object ownership is open, naming each", async () => {
    const out = await runStack(
      s3AccessLogTargetLockedDown,
      stack((t) => {
        t.block.props = { ...t.block.props, restrictPublicBuckets: false, ignorePublicAcls: undefined };
        t.sse.props = { bucket: TARGET, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms" } }] };
        delete t.ownership;
      }),
    );
    expect(out.messages).toEqual([
      `Bucket ${TARGET} receives the server access logs of ${SOURCE}, but its public access block does not set ignorePublicAcls, restrictPublicBuckets (aws.s3.BucketPublicAccessBlock); its default encryption is aws:kms: set AES256 (SSE-S3, the only default encryption S3 log delivery supports); its object ownership is not set: set BucketOwnerEnforced (ACLs off; the bucket policy alone grants delivery).`,
    ]);
  });

  it("reads the legacy inline settings of a bucket resource too", async () => {
    const inline = [
      { type: S3.logging, name: SOURCE, props: { bucket: SOURCE, targetBucket: TARGET } },
      {
        type: S3.bucketV2,
        name: TARGET,
        props: {
          bucket: TARGET,
          serverSideEncryptionConfigurations: [
            { rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] },
          ],
          policy: goodPolicy(),
        },
      },
    ];
    // Encryption and policy inline are read (not reported); block and ownership are missing.
    expect((await runStack(s3AccessLogTargetLockedDown, inline)).messages).toEqual([
      `Bucket ${TARGET} receives the server access logs of ${SOURCE}, but its public access block does not set blockPublicAcls, blockPublicPolicy, ignorePublicAcls, restrictPublicBuckets (aws.s3.BucketPublicAccessBlock); its object ownership is not set: set BucketOwnerEnforced (ACLs off; the bucket policy alone grants delivery).`,
    ]);
  });

  it("fails a target without a bucket policy", async () => {
    const out = await runStack(
      s3AccessLogTargetLockedDown,
      stack((t) => delete t.policy),
    );
    expect(out.messages).toEqual([
      `Bucket ${TARGET} receives the server access logs of ${SOURCE}, but it has no bucket policy: grant logging.s3.amazonaws.com s3:PutObject with aws:SourceAccount and aws:SourceArn conditions and deny requests without TLS.`,
    ]);
  });
});

describe("the policy of a server-access-log target", () => {
  const doc = (statements: object[]) => ({ Version: "2012-10-17", Statement: statements });
  const delivery = {
    Sid: "Logs",
    Effect: "Allow",
    Principal: { Service: "logging.s3.amazonaws.com" },
    Action: "s3:PutObject",
    Resource: `${arn(TARGET)}/app/*`,
    Condition: { ArnLike: { "aws:SourceArn": arn(SOURCE) }, StringEquals: { "aws:SourceAccount": ACCOUNT } },
  };
  const tls = {
    Sid: "TlsOnly",
    Effect: "Deny",
    Principal: "*",
    Action: "s3:*",
    Resource: [arn(TARGET), `${arn(TARGET)}/*`],
    Condition: { Bool: { "aws:SecureTransport": "false" } },
  };

  it("accepts the builder's policy, and condition keys in any case", () => {
    expect(targetPolicyProblems([JSON.parse(goodPolicy())])).toEqual([]);
    const lower = {
      ...delivery,
      Condition: { StringEquals: { "aws:sourceaccount": ACCOUNT, "aws:sourcearn": arn(SOURCE) } },
    };
    expect(targetPolicyProblems([doc([lower, tls])])).toEqual([]);
  });

  it("refuses a delivery grant without aws:SourceAccount or aws:SourceArn", () => {
    expect(
      targetPolicyProblems([doc([{ ...delivery, Condition: { ArnLike: { "aws:SourceArn": arn(SOURCE) } } }, tls])]),
    ).toEqual([
      "statement Logs lacks aws:SourceAccount: without them any bucket (of any account) could deliver logs here",
    ]);
    expect(targetPolicyProblems([doc([{ ...delivery, Condition: undefined }, tls])])).toEqual([
      "statement Logs lacks aws:SourceAccount and aws:SourceArn: without them any bucket (of any account) could deliver logs here",
    ]);
  });

  it("refuses any other principal or action, and a policy without the TLS deny", () => {
    const reader = {
      Sid: "Readers",
      Effect: "Allow",
      Principal: { AWS: "arn:aws:iam::123456789012:root" },
      Action: "s3:GetObject",
    };
    expect(targetPolicyProblems([doc([delivery, reader, tls])])).toEqual([
      'statement Readers allows {"AWS":"arn:aws:iam::123456789012:root"}: only logging.s3.amazonaws.com may be allowed',
    ]);
    expect(targetPolicyProblems([doc([{ ...delivery, Action: ["s3:PutObject", "s3:DeleteObject"] }, tls])])).toEqual([
      'statement Logs allows ["s3:PutObject","s3:DeleteObject"]: log delivery needs s3:PutObject only',
    ]);
    expect(targetPolicyProblems([doc([delivery])])).toEqual([
      'it does not deny requests without TLS (Deny "s3:*" to "*" when aws:SecureTransport is false)',
    ]);
    expect(targetPolicyProblems([doc([tls])])).toEqual([
      "it grants logging.s3.amazonaws.com nothing, so no log is delivered",
    ]);
    expect(targetPolicyProblems([undefined])).toEqual(["its bucket policy is not a JSON policy document"]);
  });
});
