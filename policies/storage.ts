/**
 * Storage policies: an S3 bucket that receives server access logs (the records of who read,
 * wrote or deleted what in another bucket: AWS Security Hub S3.9) is an audit trail and is held
 * to that: nobody but S3's logging service may write to it, and only for the stack's own source
 * buckets; TLS only; no public access; no ACLs; SSE-S3.
 *
 * Why such a bucket must not log its own access (and why S3.9 is not asked of it): logging to
 * itself makes every delivery a request that is logged again, an endless loop of logs about logs;
 * logging to yet another bucket only moves the question to that one. AWS advises that a target
 * bucket have no server access logging; its settings changes are in CloudTrail's management
 * events, and reads of its objects can be recorded by CloudTrail data events (an account-level
 * trail). Suppress Security Hub's S3.9 finding on it with this reason. The constants come from
 * core/app/alb.ts, the module the AWS builder uses.
 */
import { S3_LOGGING_SERVICE, SERVER_ACCESS_LOG_ENCRYPTION } from "../core/app/alb";
import {
  conditionKeys,
  list,
  obj,
  PUBLIC_ACCESS_BLOCK_FLAGS,
  s3Buckets,
  stackPolicy,
  statements,
  str,
  type BucketSettings,
  type Props,
} from "./lib";

/** What is wrong with a server-access-log target's policy documents (empty: nothing). */
export function targetPolicyProblems(policies: readonly (Props | undefined)[]): string[] {
  if (policies.length === 0)
    return [
      `it has no bucket policy: grant ${S3_LOGGING_SERVICE} s3:PutObject with aws:SourceAccount and aws:SourceArn conditions and deny requests without TLS`,
    ];
  if (policies.some((d) => d === undefined)) return ["its bucket policy is not a JSON policy document"];
  const all = policies.flatMap((d) => statements(d as Props));
  const problems: string[] = [];
  const allows = all.filter((s) => s.Effect === "Allow");
  const delivery = allows.filter((s) => {
    const p = obj(s.Principal);
    return p !== undefined && Object.keys(p).length === 1 && list(p.Service).includes(S3_LOGGING_SERVICE);
  });
  if (delivery.length === 0) problems.push(`it grants ${S3_LOGGING_SERVICE} nothing, so no log is delivered`);
  for (const s of allows) {
    const p = obj(s.Principal);
    const services = list(p?.Service);
    if (s.NotPrincipal !== undefined || s.NotAction !== undefined || !delivery.includes(s) || services.length !== 1) {
      problems.push(
        `statement ${str(s.Sid) ?? "(no Sid)"} allows ${JSON.stringify(s.Principal ?? s.NotPrincipal)}: only ${S3_LOGGING_SERVICE} may be allowed`,
      );
      continue;
    }
    const actions = list(s.Action);
    if (actions.length !== 1 || actions[0] !== "s3:PutObject")
      problems.push(
        `statement ${str(s.Sid) ?? "(no Sid)"} allows ${JSON.stringify(s.Action)}: log delivery needs s3:PutObject only`,
      );
    const keys = conditionKeys(s);
    const missing = ["aws:SourceAccount", "aws:SourceArn"].filter((k) => !keys.has(k.toLowerCase()));
    if (missing.length > 0)
      problems.push(
        `statement ${str(s.Sid) ?? "(no Sid)"} lacks ${missing.join(" and ")}: without them any bucket (of any account) could deliver logs here`,
      );
  }
  const tlsOnly = all.some((s) => {
    if (s.Effect !== "Deny") return false;
    const principal = s.Principal === "*" || list(obj(s.Principal)?.AWS).includes("*");
    const everything = list(s.Action).some((a) => a === "s3:*" || a === "*");
    const secure = obj(obj(s.Condition)?.Bool)?.["aws:SecureTransport"];
    return principal && everything && (secure === "false" || secure === false);
  });
  if (!tlsOnly)
    problems.push('it does not deny requests without TLS (Deny "s3:*" to "*" when aws:SecureTransport is false)');
  return problems;
}

/** Everything that keeps `b` from being a locked-down server-access-log target. */
function targetProblems(b: BucketSettings): string[] {
  const problems: string[] = [];
  if (b.logsTo.length > 0)
    problems.push(
      b.logsTo.includes(b.name)
        ? "it logs its own access to itself: every delivery is logged again, an endless loop of logs; turn its server access logging off"
        : `it logs its own access to ${b.logsTo.join(", ")}: AWS advises no server access logging on a log target (that only moves the question to the next bucket); turn it off`,
    );
  const open = PUBLIC_ACCESS_BLOCK_FLAGS.filter((f) => !b.publicAccessBlocked.has(f));
  if (open.length > 0)
    problems.push(`its public access block does not set ${open.join(", ")} (aws.s3.BucketPublicAccessBlock)`);
  if (b.encryption.length === 0 || b.encryption.some((a) => a !== SERVER_ACCESS_LOG_ENCRYPTION))
    problems.push(
      `its default encryption is ${b.encryption.join(", ") || "not set"}: set ${SERVER_ACCESS_LOG_ENCRYPTION} (SSE-S3, the only default encryption S3 log delivery supports)`,
    );
  if (b.ownership.length === 0 || b.ownership.some((o) => o !== "BucketOwnerEnforced"))
    problems.push(
      `its object ownership is ${b.ownership.join(", ") || "not set"}: set BucketOwnerEnforced (ACLs off; the bucket policy alone grants delivery)`,
    );
  return [...problems, ...targetPolicyProblems(b.policies)];
}

export const s3AccessLogTargetLockedDown = stackPolicy(
  {
    name: "s3-log-target-locked-down",
    description:
      "A bucket that receives S3 server access logs is locked down: public access blocked, SSE-S3, BucketOwnerEnforced, a policy allowing only logging.s3.amazonaws.com (s3:PutObject with aws:SourceAccount and aws:SourceArn) and denying requests without TLS, and no server access logging of its own (to itself it loops).",
    enforcementLevel: "mandatory",
  },
  (tree, _args, report) => {
    const buckets = s3Buckets(tree.resources);
    const targets = new Set([...buckets.values()].flatMap((b) => b.logsTo));
    for (const name of targets) {
      const b = buckets.get(name);
      // A target this stack neither creates nor configures is guarded where it is managed.
      if (!b || b.configuredBy.length === 0) continue;
      const sources = [...buckets.values()].filter((s) => s.logsTo.includes(name)).map((s) => s.name);
      const problems = targetProblems(b);
      if (problems.length > 0)
        report(
          `Bucket ${name} receives the server access logs of ${sources.join(", ")}, but ${problems.join("; ")}.`,
          (b.resource ?? b.configuredBy[0]).urn,
        );
    }
  },
);

export const storagePolicies = [s3AccessLogTargetLockedDown];
