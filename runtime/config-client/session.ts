/**
 * What a Leadership needs from its client: the etcd handle, the key prefix, the logger and the
 * call wrapper. An interface here (implemented by ConfigClient) keeps client.ts → leadership.ts
 * one-way: leadership.ts never imports client.ts.
 */
import type { CallOptions } from "@grpc/grpc-js";
import type { Etcd3 } from "etcd3";
import type { Logger } from "pino";
import type { z } from "zod";
import type { ConfigKey } from "./keys";

/** Per-call options. */
export interface CallOpts {
  /** Overrides the client's deadline for this call, in ms. */
  deadlineMs?: number;
}

/** The client surface Leadership uses (see ConfigClient for the behaviour). */
export interface ClientSession {
  readonly etcd: Etcd3;
  readonly prefix: string;
  readonly log: Logger;
  fullKey(name: string): string;
  callOptions(opts?: CallOpts): CallOptions;
  call<T>(operation: string, fn: () => Promise<T>, opts?: CallOpts): Promise<T>;
  encode<S extends z.ZodType>(key: ConfigKey<S>, value: z.input<S>): string;
  /** Runs `fn` when the client closes, before its connections do; the result unregisters it. */
  onClose(fn: () => void): () => void;
}
