/** EventStore on AWS: the master key in a Secrets Manager secret (KMS-encrypted, recoverable after deletion). */
import * as aws from "@pulumi/aws";
import type { AwsEventStoreResult, EventStoreAwsArgs, EventStoreBuildContext } from "./args";

export function createAwsEventStore(ctx: EventStoreBuildContext, args: EventStoreAwsArgs): AwsEventStoreResult {
  const tags = {
    "scaleplane:component": "event-store",
    "scaleplane:events": ctx.events.name,
    "scaleplane:environment": ctx.environment,
  };
  const secret = new aws.secretsmanager.Secret(
    `${ctx.name}-master-key`,
    {
      namePrefix: `${ctx.scope}-master-key-`,
      description: `${ctx.events.name}: master key of the event store (wraps every stream's data key)`,
      kmsKeyId: args.kmsKeyId,
      recoveryWindowInDays: ctx.events.masterKeyRecoveryDays,
      tags,
    },
    { parent: ctx.parent },
  );
  new aws.secretsmanager.SecretVersion(
    `${ctx.name}-master-key`,
    { secretId: secret.id, secretString: ctx.masterKey },
    { parent: ctx.parent, additionalSecretOutputs: ["secretString"] },
  );
  return { secret };
}
