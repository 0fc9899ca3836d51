/**
 * S3 buckets of a stack as the policies see them: each bucket's settings gathered from the bucket
 * resource (inline settings of `aws.s3.Bucket`/`BucketV2`) and from the separate resources that
 * configure it (`BucketLogging`, `BucketPublicAccessBlock`, `BucketServerSideEncryptionConfiguration`,
 * `BucketOwnershipControls`, `BucketPolicy`, V2 variants included), joined by bucket name: the
 * value every one of them carries (`bucket`, a logging's `targetBucket`, a load balancer's
 * `accessLogs.bucket`). An autonamed bucket's name is set by the provider before create, so it is
 * known in a preview; a resource that refers to a bucket by a value not known yet is not joined.
 */
import type { PolicyResource } from "@pulumi/policy";
import { arr, obj, str, type Props } from "./props";

/** The S3 resource types read here. */
export const S3 = {
  bucket: "aws:s3/bucket:Bucket",
  bucketV2: "aws:s3/bucketV2:BucketV2",
  logging: "aws:s3/bucketLogging:BucketLogging",
  loggingV2: "aws:s3/bucketLoggingV2:BucketLoggingV2",
  publicAccessBlock: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
  encryption: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
  encryptionV2: "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
  ownership: "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
  policy: "aws:s3/bucketPolicy:BucketPolicy",
} as const;

/** The four settings of an S3 public access block. */
export const PUBLIC_ACCESS_BLOCK_FLAGS = [
  "blockPublicAcls",
  "blockPublicPolicy",
  "ignorePublicAcls",
  "restrictPublicBuckets",
] as const;

/** One bucket and what the stack sets on it. */
export interface BucketSettings {
  name: string;
  /** The bucket resource, when this stack creates the bucket. */
  resource?: PolicyResource;
  /** Every resource of the stack that configures the bucket (the bucket resource first). */
  configuredBy: PolicyResource[];
  /** Buckets its server access logs go to. */
  logsTo: string[];
  /** Public access block flags that are set true. */
  publicAccessBlocked: Set<string>;
  /** Default encryption algorithms (`AES256`, `aws:kms`, …). */
  encryption: string[];
  /** S3 Object Ownership settings. */
  ownership: string[];
  /** Bucket policy documents (parsed JSON; `undefined` where the text is not JSON). */
  policies: (Props | undefined)[];
}

/** The stack's buckets by name. */
export function s3Buckets(resources: readonly PolicyResource[]): Map<string, BucketSettings> {
  const buckets = new Map<string, BucketSettings>();
  const of = (name: string): BucketSettings => {
    let b = buckets.get(name);
    if (!b) {
      b = {
        name,
        configuredBy: [],
        logsTo: [],
        publicAccessBlocked: new Set(),
        encryption: [],
        ownership: [],
        policies: [],
      };
      buckets.set(name, b);
    }
    return b;
  };
  // Bucket resources first, so `configuredBy` starts with the bucket itself.
  const ordered = [...resources].sort((a, b) => Number(isBucket(b)) - Number(isBucket(a)));
  for (const r of ordered) {
    const p = r.props;
    const name = str(p.bucket);
    if (!name) continue;
    switch (r.type) {
      case S3.bucket:
      case S3.bucketV2: {
        const b = of(name);
        b.resource = r;
        b.configuredBy.push(r);
        for (const l of [obj(p.logging), ...arr(p.loggings).map(obj)]) {
          const target = str(l?.targetBucket);
          if (target) b.logsTo.push(target);
        }
        const sse = [obj(p.serverSideEncryptionConfiguration), ...arr(p.serverSideEncryptionConfigurations).map(obj)];
        for (const c of sse) for (const rule of [obj(c?.rule), ...arr(c?.rules).map(obj)]) addEncryption(b, rule);
        if (p.policy !== undefined && p.policy !== "") b.policies.push(parsePolicy(p.policy));
        break;
      }
      case S3.logging:
      case S3.loggingV2: {
        const b = of(name);
        b.configuredBy.push(r);
        const target = str(p.targetBucket);
        if (target) b.logsTo.push(target);
        break;
      }
      case S3.publicAccessBlock: {
        const b = of(name);
        b.configuredBy.push(r);
        for (const f of PUBLIC_ACCESS_BLOCK_FLAGS) if (p[f] === true) b.publicAccessBlocked.add(f);
        break;
      }
      case S3.encryption:
      case S3.encryptionV2: {
        const b = of(name);
        b.configuredBy.push(r);
        for (const rule of arr(p.rules).map(obj)) addEncryption(b, rule);
        break;
      }
      case S3.ownership: {
        const b = of(name);
        b.configuredBy.push(r);
        const setting = str(obj(p.rule)?.objectOwnership);
        if (setting) b.ownership.push(setting);
        break;
      }
      case S3.policy: {
        const b = of(name);
        b.configuredBy.push(r);
        b.policies.push(parsePolicy(p.policy));
        break;
      }
    }
  }
  return buckets;
}

const isBucket = (r: PolicyResource) => r.type === S3.bucket || r.type === S3.bucketV2;

function addEncryption(b: BucketSettings, rule: Props | undefined): void {
  const algorithm = str(obj(rule?.applyServerSideEncryptionByDefault)?.sseAlgorithm);
  if (algorithm) b.encryption.push(algorithm);
}

function parsePolicy(v: unknown): Props | undefined {
  if (typeof v !== "string") return obj(v);
  try {
    return obj(JSON.parse(v));
  } catch {
    return undefined;
  }
}

/** A policy's statements (one statement may stand alone). */
export function statements(doc: Props): Props[] {
  const s = doc.Statement;
  return (Array.isArray(s) ? s : [s]).map(obj).filter((x): x is Props => x !== undefined);
}

/** A string-or-list IAM field as a list. */
export const list = (v: unknown): string[] => (Array.isArray(v) ? v : [v]).filter((x) => typeof x === "string");

/** The condition keys a statement tests, lower-cased (IAM condition keys are case-insensitive), under any operator. */
export function conditionKeys(statement: Props): Set<string> {
  const keys = new Set<string>();
  for (const tests of Object.values(obj(statement.Condition) ?? {}))
    for (const k of Object.keys(obj(tests) ?? {})) keys.add(k.toLowerCase());
  return keys;
}
