/** Arguments of the Platform. Providers are resource options (`providers: { aws, kubernetes }`), never arguments. */
import type * as pulumi from "@pulumi/pulumi";
import type { PlatformConfigInput } from "../../core/config";

export interface PlatformArgs {
  /**
   * The platform configuration, exactly as under the `scaleplane:` config namespace (see
   * core/config.ts for every field and its default). Validated in the constructor: a bad value
   * throws a ConfigError naming `scaleplane:<section>.<field>` before any resource is created.
   */
  config: PlatformConfigInput;
  /**
   * Target kubernetes: the config-service endpoints (`configEndpoints`) this stack's last
   * deployment published, e.g. `previousDeployment(...).getOutput("configEndpoints")` (a
   * StackReference to the stack itself). The etcd member-count lock counts this cluster's members
   * among them while it has no record, so a cluster deployed before the lock existed cannot change
   * its member count in the lock's first `up` (RaftConfigService `kubernetes.deployedEndpoints`).
   * Ignored on other targets.
   * @default undefined (no previous deployment known: the lock's first `up` accepts any valid count)
   */
  deployedConfigEndpoints?: pulumi.Input<string[] | undefined>;
}
