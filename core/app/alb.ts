/**
 * The internet-facing load balancer of an AWS app group, as data: which listeners it has (HTTPS
 * with a current TLS policy, HTTP only as a redirect), whether access logs are delivered and how
 * long they are kept, deletion protection, and the S3 bucket policy that lets Elastic Load
 * Balancing deliver the logs. Pure: the AWS builder (components/autoscaling-group/aws.ts) turns it
 * into resources and the policy pack (policies/load-balancer.ts) checks the same constants.
 *
 * Why HTTPS everywhere: a listener that forwards plain HTTP exposes every request and session
 * cookie on the path to the load balancer. With no certificate configured (allowed outside prod
 * only) the builder imports a self-signed certificate, so dev and LocalStack stacks have the same
 * listener shape as prod and the policy pack can hold every stack to "HTTPS only".
 *
 * Who read or deleted the access logs: the log bucket records its own requests (S3 server access
 * logging, AWS Security Hub control S3.9) in a second bucket, the audit bucket. That bucket is
 * locked down ({@link serverAccessLogTargetPolicy}: only S3's logging service may write, only for
 * the log bucket of this account, only over TLS; public access blocked; ACLs disabled; SSE-S3,
 * the only default encryption S3 log delivery supports) and logs nowhere itself, as AWS advises
 * for every target bucket: logging to itself makes each delivery a request that is logged again
 * (an endless loop of logs about logs), and logging to a third bucket only moves the question to
 * that bucket. Changes to its policy and settings are in CloudTrail's management events; reads
 * of its objects need CloudTrail data events, an account-level trail outside this stack. Security
 * Hub reports S3.9 for the audit bucket: suppress that finding with this reason.
 */

/** ALB TLS policies considered current (TLS 1.2+ with forward secrecy; TLS 1.3 where named). */
export const CURRENT_TLS_POLICIES = [
  "ELBSecurityPolicy-TLS13-1-2-2021-06",
  "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
  "ELBSecurityPolicy-TLS13-1-3-2021-06",
  "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
  "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
  "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
  "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
] as const;

/** The TLS policy of the HTTPS listener unless `aws.loadBalancer.sslPolicy` says otherwise (AWS's recommended default). */
export const DEFAULT_TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/** HTTPS port of the load balancer. */
export const HTTPS_PORT = 443;

/**
 * Elastic Load Balancing's log-delivery account per region, for regions opened before August 2022
 * (AWS "Enable access logs for your Application Load Balancer", as of 2026-12). Regions opened
 * later accept only the log-delivery service principal, which {@link albLogDeliveryPolicy} uses
 * for every region not listed here.
 */
export const ELB_LOG_DELIVERY_ACCOUNTS: Readonly<Record<string, string>> = {
  "us-east-1": "127311923021",
  "us-east-2": "033677994240",
  "us-west-1": "027434742980",
  "us-west-2": "797873946194",
  "af-south-1": "098369216593",
  "ap-east-1": "754344448648",
  "ap-south-1": "718504428378",
  "ap-northeast-1": "582318560864",
  "ap-northeast-2": "600734575887",
  "ap-northeast-3": "383597477331",
  "ap-southeast-1": "114774131450",
  "ap-southeast-2": "783225319266",
  "ca-central-1": "985666609251",
  "eu-central-1": "054676820928",
  "eu-west-1": "156460612806",
  "eu-west-2": "652711504416",
  "eu-west-3": "009996457667",
  "eu-south-1": "635631232127",
  "eu-north-1": "897822967062",
  "me-south-1": "076674570225",
  "sa-east-1": "507241528517",
};

/** The log-delivery service principal of regions opened since August 2022. */
export const ELB_LOG_DELIVERY_SERVICE = "logdelivery.elasticloadbalancing.amazonaws.com";

/** The part of the `aws` config section this module reads (core/config.ts `AwsConfig` fits; kept structural so config.ts can import the constants above). */
export interface LoadBalancerConfig {
  region: string;
  loadBalancer: {
    certificateArn?: string;
    sslPolicy: string;
    accessLogs?: boolean;
    accessLogRetentionDays: number;
    deletionProtection?: boolean;
  };
}

/** What the AWS builder creates for the load balancer. */
export interface LoadBalancerSettings {
  /** ACM certificate of the HTTPS listener; undefined: import a self-signed one (never in prod). */
  certificateArn?: string;
  /** TLS policy of the HTTPS listener. */
  sslPolicy: string;
  /** Access logs to an encrypted, private S3 bucket, kept this many days; undefined: off. */
  accessLogs?: { retentionDays: number; region: string; prefix: string };
  /** ALB deletion protection. */
  deletionProtection: boolean;
}

/** The load-balancer settings of a stack: `aws.loadBalancer`, with prod defaults for logs and deletion protection. */
export function loadBalancerSettings(
  aws: LoadBalancerConfig,
  environment: string,
  prefix: string,
): LoadBalancerSettings {
  const lb = aws.loadBalancer;
  const prod = environment === "prod";
  return {
    ...(lb.certificateArn ? { certificateArn: lb.certificateArn } : {}),
    sslPolicy: lb.sslPolicy,
    ...((lb.accessLogs ?? prod)
      ? { accessLogs: { retentionDays: lb.accessLogRetentionDays, region: aws.region, prefix } }
      : {}),
    deletionProtection: lb.deletionProtection ?? prod,
  };
}

/**
 * The bucket policy that lets Elastic Load Balancing write access logs below `prefix` of the
 * bucket, and nothing else: the region's delivery account where one exists, else the delivery
 * service principal; TLS required for every request.
 */
export function albLogDeliveryPolicy(region: string, bucketArn: string, prefix: string): object {
  const account = ELB_LOG_DELIVERY_ACCOUNTS[region];
  const principal = account ? { AWS: `arn:aws:iam::${account}:root` } : { Service: ELB_LOG_DELIVERY_SERVICE };
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "ElbLogDelivery",
        Effect: "Allow",
        Principal: principal,
        Action: "s3:PutObject",
        Resource: `${bucketArn}/${prefix}/AWSLogs/*`,
      },
      tlsOnly(bucketArn),
    ],
  };
}

/** The service principal that delivers S3 server access logs. */
export const S3_LOGGING_SERVICE = "logging.s3.amazonaws.com";

/** The default encryption S3 server access log delivery supports on its target bucket (SSE-S3). */
export const SERVER_ACCESS_LOG_ENCRYPTION = "AES256";

/** The account of an ARN (`arn:<partition>:<service>:<region>:<account>:<resource>`); undefined when it carries none (S3 buckets). */
export function accountOfArn(arn: string): string | undefined {
  const account = arn.split(":")[4];
  return account && /^\d{12}$/.test(account) ? account : undefined;
}

/**
 * The policy of a server-access-log target bucket: S3's logging service may write below `prefix`,
 * and only the logs of `sourceBucketArn` in `account` (aws:SourceArn, aws:SourceAccount: no other
 * bucket, nor a bucket of the same name in another account, can have its logs delivered here);
 * TLS required for every request. Nothing else is allowed by the bucket's own policy.
 */
export function serverAccessLogTargetPolicy(
  targetBucketArn: string,
  prefix: string,
  sourceBucketArn: string,
  account: string,
): object {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "S3ServerAccessLogDelivery",
        Effect: "Allow",
        Principal: { Service: S3_LOGGING_SERVICE },
        Action: "s3:PutObject",
        Resource: `${targetBucketArn}/${prefix}/*`,
        Condition: {
          ArnLike: { "aws:SourceArn": sourceBucketArn },
          StringEquals: { "aws:SourceAccount": account },
        },
      },
      tlsOnly(targetBucketArn),
    ],
  };
}

/** The statement that refuses every request to the bucket and its objects made without TLS. */
function tlsOnly(bucketArn: string): object {
  return {
    Sid: "TlsOnly",
    Effect: "Deny",
    Principal: "*",
    Action: "s3:*",
    Resource: [bucketArn, `${bucketArn}/*`],
    Condition: { Bool: { "aws:SecureTransport": "false" } },
  };
}
