import { accountOfArn, S3_LOGGING_SERVICE, serverAccessLogTargetPolicy } from "../../../core/app/alb";

describe("accountOfArn", () => {
  it("reads the account of an ARN that carries one, and none from an S3 bucket ARN or garbage", () => {
    expect(accountOfArn("arn:aws:ec2:eu-west-1:123456789012:security-group/sg-0abc")).toBe("123456789012");
    expect(accountOfArn("arn:aws:iam::210987654321:role/app")).toBe("210987654321");
    expect(accountOfArn("arn:aws-us-gov:ec2:us-gov-west-1:123456789012:security-group/sg-1")).toBe("123456789012");
    expect(accountOfArn("arn:aws:s3:::my-bucket")).toBeUndefined();
    expect(accountOfArn("sg-0abc")).toBeUndefined();
    expect(accountOfArn("arn:aws:ec2:eu-west-1:12345:security-group/sg-0abc")).toBeUndefined();
  });
});

describe("serverAccessLogTargetPolicy", () => {
  const policy = serverAccessLogTargetPolicy("arn:aws:s3:::audit", "web", "arn:aws:s3:::web-logs", "123456789012") as {
    Statement: Record<string, unknown>[];
  };

  it("allows only S3's logging service to put objects below the prefix, for the source bucket of the account", () => {
    const allows = policy.Statement.filter((s) => s.Effect === "Allow");
    expect(allows).toEqual([
      {
        Sid: "S3ServerAccessLogDelivery",
        Effect: "Allow",
        Principal: { Service: S3_LOGGING_SERVICE },
        Action: "s3:PutObject",
        Resource: "arn:aws:s3:::audit/web/*",
        Condition: {
          ArnLike: { "aws:SourceArn": "arn:aws:s3:::web-logs" },
          StringEquals: { "aws:SourceAccount": "123456789012" },
        },
      },
    ]);
  });

  it("denies every request without TLS on the bucket and its objects", () => {
    expect(policy.Statement.filter((s) => s.Effect === "Deny")).toEqual([
      {
        Sid: "TlsOnly",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: ["arn:aws:s3:::audit", "arn:aws:s3:::audit/*"],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
    ]);
  });
});
