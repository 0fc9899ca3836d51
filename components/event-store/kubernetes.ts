/** EventStore on Kubernetes: the master key in a Secret of the platform's namespace. */
import * as k8s from "@pulumi/kubernetes";
import type { EventStoreBuildContext, EventStoreKubernetesArgs, KubernetesEventStoreResult } from "./args";

/** Key of the master key in the Secret. */
export const MASTER_KEY_SECRET_KEY = "master-key";

export function createKubernetesEventStore(
  ctx: EventStoreBuildContext,
  args: EventStoreKubernetesArgs,
): KubernetesEventStoreResult {
  const secret = new k8s.core.v1.Secret(
    `${ctx.name}-master-key`,
    {
      metadata: {
        name: `${ctx.events.name}-master-key`,
        namespace: args.namespace,
        labels: { "app.kubernetes.io/part-of": "scaleplane", "scaleplane.io/events": ctx.events.name },
      },
      type: "Opaque",
      stringData: { [MASTER_KEY_SECRET_KEY]: ctx.masterKey },
    },
    { parent: ctx.parent },
  );
  return { secret };
}
