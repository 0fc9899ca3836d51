/**
 * The config-service client of a dynamic provider's operations (bundled into each provider, see
 * ./bundled-operations.ts): a short deadline per call, and its logs on stderr, since the
 * provider host's stdout carries its port and the `pulumi.log` lines.
 */
import pino from "pino";
import { ConfigClient } from "../runtime/config-client";

/** A client of the config service at `etcdEndpoints` under `etcdPrefix`. */
export function providerConfigClient(i: { etcdEndpoints: string[]; etcdPrefix: string }): ConfigClient {
  return ConfigClient.create({
    endpoints: i.etcdEndpoints,
    prefix: i.etcdPrefix,
    deadlineMs: 5000,
    logger: pino({ level: "warn" }, pino.destination(2)),
  });
}
