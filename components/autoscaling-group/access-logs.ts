/**
 * The load balancer's access-log buckets on AWS (core/app/alb.ts says why each setting):
 *
 * - the log bucket (`<group>-alb-logs`): SSE-S3, public access blocked, ACLs disabled, logs expired
 *   after the retention, a policy that lets only Elastic Load Balancing write below the prefix; it
 *   records its own requests (S3 server access logging, Security Hub S3.9) in
 * - the audit bucket (`<group>-alb-logs-access`): locked down the same way, with a policy that
 *   lets only S3's logging service deliver, only the log bucket's records of this account, only
 *   over TLS; records kept as long as the logs they audit; and no server access logging of its
 *   own (a log target that logs loops, AWS advises against it).
 *
 * Names and parents of the log bucket's resources are those it had inside aws.ts (URNs unchanged).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import {
  accountOfArn,
  albLogDeliveryPolicy,
  SERVER_ACCESS_LOG_ENCRYPTION,
  serverAccessLogTargetPolicy,
  type LoadBalancerSettings,
} from "../../core/app/alb";

/** What the load balancer and the group's result need of the log buckets. */
export interface AccessLogBuckets {
  /** The bucket the load balancer delivers to. */
  bucket: aws.s3.Bucket;
  /** Its policy: the load balancer must be created after it (ELB test-writes at create). */
  policy: aws.s3.BucketPolicy;
  /** Key prefix of the load balancer's logs. */
  prefix: string;
  /** The bucket that records the log bucket's own requests. */
  auditBucket: aws.s3.Bucket;
}

/**
 * Creates both buckets. `accountArn` is any ARN of the stack's AWS account (the account ends up in
 * the audit bucket's policy as aws:SourceAccount; taken from a resource rather than looked up, so
 * an offline plan needs no credentials).
 */
export function createAccessLogBuckets(
  name: string,
  logs: NonNullable<LoadBalancerSettings["accessLogs"]>,
  keepOnDelete: boolean,
  accountArn: pulumi.Input<string>,
  tags: Record<string, string>,
  opts: pulumi.CustomResourceOptions,
): AccessLogBuckets {
  const bucket = new aws.s3.Bucket(`${name}-alb-logs`, { forceDestroy: !keepOnDelete, tags }, opts);
  const block = lockDown(`${name}-alb-logs`, bucket.id, opts);
  expireAfter(`${name}-alb-logs`, bucket.id, "expire-access-logs", logs.prefix, logs.retentionDays, opts);
  const policy = new aws.s3.BucketPolicy(
    `${name}-alb-logs`,
    {
      bucket: bucket.id,
      policy: bucket.arn.apply((arn) => JSON.stringify(albLogDeliveryPolicy(logs.region, arn, logs.prefix))),
    },
    { ...opts, dependsOn: [block] },
  );

  // The audit bucket. Its resources refer to it (and the logging to both buckets) by name, as the
  // load balancer refers to the log bucket: names are known before create, so policies can link
  // them in a preview and offline.
  const audit = `${name}-alb-logs-access`;
  const auditBucket = new aws.s3.Bucket(audit, { forceDestroy: !keepOnDelete, tags }, opts);
  const auditBlock = lockDown(audit, auditBucket.bucket, opts);
  expireAfter(audit, auditBucket.bucket, "expire-server-access-logs", logs.prefix, logs.retentionDays, opts);
  const account = pulumi.output(accountArn).apply((arn) => {
    const id = accountOfArn(arn);
    if (!id) throw new Error(`${audit}: no AWS account in ${arn}`);
    return id;
  });
  const auditPolicy = new aws.s3.BucketPolicy(
    audit,
    {
      bucket: auditBucket.bucket,
      policy: pulumi
        .all([auditBucket.arn, bucket.arn, account])
        .apply(([target, source, id]) => JSON.stringify(serverAccessLogTargetPolicy(target, logs.prefix, source, id))),
    },
    { ...opts, dependsOn: [auditBlock] },
  );
  new aws.s3.BucketLogging(
    `${name}-alb-logs`,
    {
      bucket: bucket.bucket,
      targetBucket: auditBucket.bucket,
      targetPrefix: `${logs.prefix}/`,
      // <prefix>/<account>/<region>/<bucket>/YYYY/MM/DD/…: partitions by day for Athena.
      targetObjectKeyFormat: { partitionedPrefix: { partitionDateSource: "EventTime" } },
    },
    // Records start once the audit bucket accepts them.
    { ...opts, dependsOn: [auditPolicy] },
  );
  return { bucket, policy, prefix: logs.prefix, auditBucket };
}

/**
 * Default encryption SSE-S3 (the only one ELB and S3 log delivery support), every form of public
 * access blocked, objects owned by the bucket owner (ACLs disabled). Returns the public access
 * block: the bucket policy waits for it (S3 refuses concurrent changes of one bucket's settings).
 */
function lockDown(
  name: string,
  bucket: pulumi.Input<string>,
  opts: pulumi.CustomResourceOptions,
): aws.s3.BucketPublicAccessBlock {
  new aws.s3.BucketServerSideEncryptionConfiguration(
    name,
    { bucket, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: SERVER_ACCESS_LOG_ENCRYPTION } }] },
    opts,
  );
  const block = new aws.s3.BucketPublicAccessBlock(
    name,
    {
      bucket,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    },
    opts,
  );
  new aws.s3.BucketOwnershipControls(name, { bucket, rule: { objectOwnership: "BucketOwnerEnforced" } }, opts);
  return block;
}

/** Objects below `prefix/` expire after `days`. */
function expireAfter(
  name: string,
  bucket: pulumi.Input<string>,
  id: string,
  prefix: string,
  days: number,
  opts: pulumi.CustomResourceOptions,
): void {
  new aws.s3.BucketLifecycleConfiguration(
    name,
    { bucket, rules: [{ id, status: "Enabled", filter: { prefix: `${prefix}/` }, expiration: { days } }] },
    opts,
  );
}
