/**
 * The scaleplane-guard policy pack's entry file. Creating the PolicyPack starts the analyzer's
 * gRPC server and prints its port (that is how `pulumi preview --policy-pack policies` and
 * `npm run check` talk to it), so this is the only file that creates one; the policies and their
 * options live in policies/guard.ts (`scaleplaneGuard`), which other packs can import.
 */
import { PolicyPack } from "@pulumi/policy";
import { PACK_NAME, scaleplaneGuard } from "./guard";

new PolicyPack(PACK_NAME, scaleplaneGuard());
