/** Arguments of the Platform. Providers are resource options (`providers: { aws, kubernetes }`), never arguments. */
import type { PlatformConfigInput } from "../../core/config";

export interface PlatformArgs {
  /**
   * The platform configuration, exactly as under the `scaleplane:` config namespace (see
   * core/config.ts for every field and its default). Validated in the constructor: a bad value
   * throws a ConfigError naming `scaleplane:<section>.<field>` before any resource is created.
   */
  config: PlatformConfigInput;
}
