/**
 * The stack's own previous deployment, read through a StackReference to the stack itself.
 *
 * Why: on kubernetes nothing at deploy time soundly reads what is deployed now (a
 * `StatefulSet.get` fails the deployment when the object does not exist, pulumi-kubernetes has no
 * read invoke, and dynamic providers do not get the kubernetes provider's credentials; see
 * components/raft-config-service/kubernetes.ts). What Pulumi does know is the outputs the stack's
 * last update exported: a StackReference naming the current stack reads them (the update in
 * progress has not replaced them yet; they are exported when the program ends). A stack never
 * deployed has no outputs. The program passes `configEndpoints` of the last deployment to the
 * Platform, so the etcd member-count lock of a cluster deployed before the lock existed knows its
 * member count in the lock's first `up`.
 *
 * The reference is a read of the builtin `pulumi:pulumi:StackReference` resource (no cloud call,
 * no credentials, shown as a read in previews). It is Pulumi's record, not a read of the cluster:
 * a `kubectl scale` behind Pulumi's back, or an update that failed after changing a resource but
 * before exporting its outputs, is not in it.
 *
 * The name is fully qualified (`<organization>/<project>/<stack>`): a bare stack name would resolve
 * in the user's default organization on Pulumi Cloud, possibly another stack. A self-managed backend
 * still in the legacy (not project-scoped) layout cannot parse a qualified name and fails the
 * update (pulumi/pulumi#18569); `pulumi state upgrade` moves it to the project-scoped layout.
 */
import * as pulumi from "@pulumi/pulumi";

/** The fully qualified name of the stack being deployed (`<organization>/<project>/<stack>`). */
export const currentStackName = (): string => `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;

/**
 * A StackReference to the stack being deployed: its outputs are those of the stack's last update
 * (`{}` when it was never deployed). Create it in the program, once per stack (no parent: it
 * belongs to no component).
 *
 * @param name resource name of the reference (unique in the stack).
 * @example
 * const previous = previousDeployment(`${name}-previous`);
 * new Platform(name, { config, deployedConfigEndpoints: previous.getOutput("configEndpoints") });
 */
export function previousDeployment(name: string, opts?: pulumi.CustomResourceOptions): pulumi.StackReference {
  return new pulumi.StackReference(name, { name: currentStackName() }, opts);
}
