/**
 * Load-balancer policies: the internet-facing ALB serves HTTPS only with a current TLS policy,
 * delivers access logs and is protected from deletion in prod, and its log bucket records who
 * read or deleted the logs (S3 server access logging to a separate bucket, which
 * policies/storage.ts holds to being locked down); the instances behind the platform (etcd
 * members) have detailed monitoring in prod. The constants come from core/app/alb.ts, the same
 * module the AWS builder uses.
 */
import { CURRENT_TLS_POLICIES } from "../core/app/alb";
import { T, arr, inProd, obj, prodSchema, resourcePolicy, s3Buckets, stackPolicy, str, type EnvConfig } from "./lib";

const LISTENER = "aws:lb/listener:Listener";
const ALB = "aws:lb/loadBalancer:LoadBalancer";
const current: readonly string[] = CURRENT_TLS_POLICIES;

export const albHttpsOnly = resourcePolicy(
  {
    name: "alb-https-only",
    description:
      "Load balancer listeners serve HTTPS with a current TLS policy; a plain HTTP listener may only redirect to HTTPS.",
    enforcementLevel: "mandatory",
  },
  [LISTENER],
  (props, args, report) => {
    const protocol = str(props.protocol) ?? "HTTP";
    if (protocol === "HTTP") {
      const actions = arr(props.defaultActions).map(obj);
      const redirectsToHttps =
        actions.length > 0 && actions.every((a) => a?.type === "redirect" && obj(a.redirect)?.protocol === "HTTPS");
      if (!redirectsToHttps)
        report(
          `Listener ${args.name} serves plain HTTP; make it redirect to HTTPS (type "redirect", protocol "HTTPS") and serve the app on an HTTPS listener (scaleplane:aws.loadBalancer.certificateArn).`,
        );
    } else if (protocol === "HTTPS" || protocol === "TLS") {
      const policy = str(props.sslPolicy);
      if (!policy || !current.includes(policy))
        report(
          `Listener ${args.name} uses TLS policy ${policy ?? "(none)"}, which allows outdated protocols or ciphers; set sslPolicy (scaleplane:aws.loadBalancer.sslPolicy) to one of ${current.join(", ")}.`,
        );
    }
  },
);

export const albAccessLogsProd = stackPolicy<EnvConfig>(
  {
    name: "alb-access-logs-prod",
    description: "In prod load balancers deliver access logs to S3.",
    enforcementLevel: "mandatory",
    configSchema: prodSchema,
  },
  (tree, args, report, cfg) => {
    for (const r of inProd(tree, ALB, args, cfg.environment)) {
      // AWS writes a network load balancer's access logs only for TLS listeners: a TCP-only NLB
      // (the MetricsStore's internal one) has none to keep.
      if (r.props.loadBalancerType === "network") continue;
      // The bucket name is often unknown before create (an auto-named bucket): `enabled` decides.
      if (obj(r.props.accessLogs)?.enabled !== true)
        report(
          `Load balancer ${r.name} keeps no access logs in prod; set scaleplane:aws.loadBalancer.accessLogs true (an encrypted, private S3 bucket with a retention rule is created).`,
          r.urn,
        );
    }
  },
);

export const albLogBucketAccessLogged = stackPolicy(
  {
    name: "alb-log-bucket-access-logged",
    description:
      "A load balancer's access-log bucket logs its own access (S3 server access logging, AWS Security Hub S3.9) to a separate bucket.",
    enforcementLevel: "mandatory",
  },
  (tree, _args, report) => {
    const albs = tree.ofType(ALB).filter((r) => obj(r.props.accessLogs)?.enabled === true);
    if (albs.length === 0) return;
    const buckets = s3Buckets(tree.resources);
    for (const r of albs) {
      // Not known yet (a bucket named at create): nothing to join.
      const name = str(obj(r.props.accessLogs)?.bucket);
      if (!name) continue;
      const logsTo = buckets.get(name)?.logsTo ?? [];
      if (logsTo.length === 0)
        report(
          `Load balancer ${r.name} delivers its access logs to bucket ${name}, which records no access of its own: nobody could tell who read or deleted the logs. Enable its server access logging (aws.s3.BucketLogging) to a separate, locked-down bucket (the AutoscalingGroup creates <group>-alb-logs-access); a bucket managed outside this stack is guarded where it is managed (disable this policy here).`,
          r.urn,
        );
      else if (logsTo.includes(name))
        report(
          `Load balancer ${r.name} delivers its access logs to bucket ${name}, which logs its own access to itself: every delivery is logged again, an endless loop of logs. Log to a separate bucket.`,
          r.urn,
        );
    }
  },
);

export const albDeletionProtectionProd = stackPolicy<EnvConfig>(
  {
    name: "alb-deletion-protection-prod",
    description: "In prod load balancers have deletion protection on.",
    enforcementLevel: "mandatory",
    configSchema: prodSchema,
  },
  (tree, args, report, cfg) => {
    for (const r of inProd(tree, ALB, args, cfg.environment))
      if (r.props.enableDeletionProtection !== true)
        report(
          `Load balancer ${r.name} has no deletion protection in prod; set scaleplane:aws.loadBalancer.deletionProtection true (enableDeletionProtection).`,
          r.urn,
        );
  },
);

export const ec2DetailedMonitoringProd = stackPolicy<EnvConfig>(
  {
    name: "ec2-detailed-monitoring-prod",
    description: "In prod EC2 instances (the etcd members) publish 1-minute CloudWatch metrics.",
    enforcementLevel: "advisory",
    configSchema: prodSchema,
  },
  (tree, args, report, cfg) => {
    for (const r of inProd(tree, T.awsInstance, args, cfg.environment))
      if (r.props.monitoring !== true)
        report(
          `EC2 instance ${r.name} has only 5-minute metrics in prod; set monitoring true (scaleplane:configService.detailedMonitoring) so a stalled member shows before it costs an election.`,
          r.urn,
        );
  },
);

export const loadBalancerPolicies = [
  albHttpsOnly,
  albAccessLogsProd,
  albLogBucketAccessLogged,
  albDeletionProtectionProd,
  ec2DetailedMonitoringProd,
];
