/** The Platform's Kubernetes piece: the namespace every object of the platform lives in. */
import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";

/** Creates the namespace `namespace` under `parent` (the cluster: the parent's `kubernetes` provider). */
export function createPlatformNamespace(
  name: string,
  namespace: string,
  parent: pulumi.Resource,
): k8s.core.v1.Namespace {
  return new k8s.core.v1.Namespace(
    `${name}-ns`,
    { metadata: { name: namespace, labels: { "app.kubernetes.io/part-of": "scaleplane" } } },
    { parent },
  );
}
