/**
 * The scaleplane-guard policy pack. Creating the PolicyPack starts the analyzer's gRPC server and
 * prints its port (that is how `pulumi preview --policy-pack policies` and `npm run check` talk to
 * it), so this is the only file that creates one. The policies live in the area modules.
 */
import { PolicyPack } from "@pulumi/policy";
import { allPolicies } from "./catalog";

new PolicyPack("scaleplane-guard", {
  description: "scaleplane: autoscaling groups, the etcd config service and sharded PostgreSQL kept available, private and recoverable.",
  enforcementLevel: "advisory",
  policies: allPolicies,
});
