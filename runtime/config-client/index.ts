/** The config-service client: typed keys, election with fencing, shard map CAS. */
export {
  ConfigClient,
  ConfigClientOptionsSchema,
  type ConfigClientOptions,
  type CallOpts,
  type Versioned,
} from "./client";
export { Leadership, type TxnCompare, type TxnWrite } from "./leadership";
export { configKey, SHARD_MAP_KEY, type ConfigKey } from "./keys";
export { revision } from "./revision";
export * from "./errors";
