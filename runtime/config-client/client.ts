/**
 * ConfigClient: typed get/put/watch over etcd (npm etcd3) with zod-checked values, a deadline
 * on every unary call, leader election with fencing tokens, and the shard map changed only by
 * compare-and-swap on its epoch.
 *
 * etcd3's own retry of failed calls is turned off: a retried put can apply twice (once before
 * and once after someone else's write), which callers could not tell apart from a lost update.
 * Callers retry explicitly; a call that hit its deadline is reported as ConfigDeadlineError
 * ("may or may not have happened").
 */
import { readFileSync } from "node:fs";
import { noop } from "cockatiel";
import {
  Etcd3,
  GRPCDeadlineExceededError,
  GRPCUnavailableError,
  type IOptions,
  type IKeyValue,
  type Watcher,
} from "etcd3";
import type { CallOptions } from "@grpc/grpc-js";
import pino, { type Logger } from "pino";
import { z } from "zod";
import { ShardMapSchema, type ShardMap } from "../../core/sharding/shard-map";
import { ConfigDeadlineError, ConfigUnavailableError, ConfigValidationError, StaleEpochError } from "./errors";
import { SHARD_MAP_KEY, type ConfigKey } from "./keys";
import { Leadership } from "./leadership";
import { revision } from "./revision";
import type { CallOpts, ClientSession } from "./session";

const PemSchema = z.union([z.string().min(1), z.instanceof(Buffer)]);

/** Options of {@link ConfigClient.create}. */
export const ConfigClientOptionsSchema = z.strictObject({
  /** Client URLs of the members, e.g. `http://127.0.0.1:2379` (https when tls is given). */
  endpoints: z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, "must be http(s)://host:port")).min(1),
  /** Client TLS: CA, and the client certificate/key when the cluster requires client auth. PEM text, a Buffer, or a file path. */
  tls: z
    .strictObject({ ca: PemSchema, cert: PemSchema.optional(), key: PemSchema.optional() })
    .refine((t) => (t.cert === undefined) === (t.key === undefined), "cert and key must be given together")
    .optional(),
  /** Deadline of every unary call, in ms. @default 2000 */
  deadlineMs: z.number().int().min(10).max(600_000).default(2000),
  /** Time to establish a connection, in ms. @default 2000 */
  dialTimeoutMs: z.number().int().min(10).max(600_000).default(2000),
  /** Prefix of every key this client reads and writes. @default "/scaleplane/" */
  prefix: z
    .string()
    .regex(/^\/[A-Za-z0-9._\-/]*\/$/, "must start and end with /")
    .default("/scaleplane/"),
});
export type ConfigClientOptions = z.input<typeof ConfigClientOptionsSchema> & {
  /** pino logger. @default pino({ name: "config-client" }) at SCALEPLANE_LOG_LEVEL or "info" */
  logger?: Logger;
};

export type { CallOpts } from "./session";

/** A value with its etcd revisions. */
export interface Versioned<T> {
  value: T;
  /** Revision of the last change of this key. */
  modRevision: number;
  /** Revision at which this key was created. */
  createRevision: number;
}

const toPem = (v: string | Buffer): Buffer =>
  Buffer.isBuffer(v) ? v : v.includes("-----BEGIN") ? Buffer.from(v) : readFileSync(v);

const issuesOf = (e: z.ZodError): string[] =>
  e.issues.map((i) => `${i.path.length ? i.path.join(".") : "(value)"}: ${i.message}`);

export class ConfigClient implements ClientSession {
  private readonly closeHooks = new Set<() => void>();
  /** The underlying etcd3 client (for admin work such as member lists). */
  readonly etcd: Etcd3;
  readonly prefix: string;
  readonly deadlineMs: number;
  readonly log: Logger;

  private constructor(etcd: Etcd3, prefix: string, deadlineMs: number, log: Logger) {
    this.etcd = etcd;
    this.prefix = prefix;
    this.deadlineMs = deadlineMs;
    this.log = log;
  }

  /** Validates the options (errors name the option) and creates the client; it connects lazily. */
  static create(options: ConfigClientOptions): ConfigClient {
    const { logger, ...rest } = options;
    const parsed = ConfigClientOptionsSchema.safeParse(rest);
    if (!parsed.success)
      throw new Error(
        `ConfigClient options invalid: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
      );
    const o = parsed.data;
    if (o.tls && o.endpoints.some((e) => e.startsWith("http://")))
      throw new Error("ConfigClient options invalid: endpoints must be https:// when tls is given");
    const deadlineMs = o.deadlineMs;
    const etcdOptions: IOptions = {
      hosts: o.endpoints,
      dialTimeout: o.dialTimeoutMs,
      // every unary call gets a deadline; streams (watch, lease keepalive) must not
      defaultCallOptions: (ctx): CallOptions => (ctx.isStream ? {} : { deadline: Date.now() + deadlineMs }),
      faultHandling: { global: noop },
      ...(o.tls
        ? {
            credentials: {
              rootCertificate: toPem(o.tls.ca),
              ...(o.tls.key ? { privateKey: toPem(o.tls.key) } : {}),
              ...(o.tls.cert ? { certChain: toPem(o.tls.cert) } : {}),
            },
          }
        : {}),
    };
    const log = logger ?? pino({ name: "config-client", level: process.env.SCALEPLANE_LOG_LEVEL ?? "info" });
    return new ConfigClient(new Etcd3(etcdOptions), o.prefix, deadlineMs, log.child({ endpoints: o.endpoints }));
  }

  /** The full etcd key of a key name. */
  fullKey(name: string): string {
    return `${this.prefix}${name}`;
  }

  /** gRPC call options with a deadline. */
  callOptions(opts?: CallOpts): CallOptions {
    return { deadline: Date.now() + (opts?.deadlineMs ?? this.deadlineMs) };
  }

  /** Runs one call, mapping transport failures to ConfigDeadlineError / ConfigUnavailableError. */
  async call<T>(operation: string, fn: () => Promise<T>, opts?: CallOpts): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof GRPCDeadlineExceededError)
        throw new ConfigDeadlineError(operation, opts?.deadlineMs ?? this.deadlineMs, e);
      if (
        e instanceof GRPCUnavailableError ||
        (e instanceof Error && /unavailable|connect|no leader|not.*leader|timed out/i.test(e.message))
      )
        throw new ConfigUnavailableError(operation, e);
      throw e;
    }
  }

  /** Serializes and validates a value for `key`; throws ConfigValidationError before any write. */
  encode<S extends z.ZodType>(key: ConfigKey<S>, value: z.input<S>): string {
    const r = key.schema.safeParse(value);
    if (!r.success) throw new ConfigValidationError(this.fullKey(key.name), issuesOf(r.error), "write");
    return JSON.stringify(r.data);
  }

  /** Parses a stored value; throws ConfigValidationError naming the key when it does not match. */
  decode<S extends z.ZodType>(key: ConfigKey<S>, raw: Buffer | string): z.output<S> {
    let json: unknown;
    try {
      json = JSON.parse(raw.toString());
    } catch {
      throw new ConfigValidationError(this.fullKey(key.name), ["not JSON"], "read");
    }
    const r = key.schema.safeParse(json);
    if (!r.success) throw new ConfigValidationError(this.fullKey(key.name), issuesOf(r.error), "read");
    return r.data;
  }

  private versioned<S extends z.ZodType>(key: ConfigKey<S>, kv: IKeyValue): Versioned<z.output<S>> {
    return {
      value: this.decode(key, kv.value),
      modRevision: revision(kv.mod_revision),
      createRevision: revision(kv.create_revision),
    };
  }

  /** Reads `key` (linearizable read); undefined when absent. */
  async get<S extends z.ZodType>(key: ConfigKey<S>, opts?: CallOpts): Promise<z.output<S> | undefined> {
    return (await this.getVersioned(key, opts))?.value;
  }

  /** Reads `key` with its revisions; undefined when absent. */
  async getVersioned<S extends z.ZodType>(
    key: ConfigKey<S>,
    opts?: CallOpts,
  ): Promise<Versioned<z.output<S>> | undefined> {
    const full = this.fullKey(key.name);
    const res = await this.call(`get ${full}`, () => this.etcd.get(full).options(this.callOptions(opts)).exec(), opts);
    const kv = res.kvs[0];
    return kv ? this.versioned(key, kv) : undefined;
  }

  /** Validates and writes `value`; resolves with the revision of the write once the cluster committed it. */
  async put<S extends z.ZodType>(key: ConfigKey<S>, value: z.input<S>, opts?: CallOpts): Promise<number> {
    const full = this.fullKey(key.name);
    const body = this.encode(key, value);
    const res = await this.call(
      `put ${full}`,
      () => this.etcd.put(full).value(body).options(this.callOptions(opts)).exec(),
      opts,
    );
    return revision(res.header.revision);
  }

  /** Deletes `key`; resolves with whether it existed. */
  async delete<S extends z.ZodType>(key: ConfigKey<S>, opts?: CallOpts): Promise<boolean> {
    const full = this.fullKey(key.name);
    const res = await this.call(
      `delete ${full}`,
      () => this.etcd.delete().key(full).options(this.callOptions(opts)).exec(),
      opts,
    );
    return revision(res.deleted) > 0;
  }

  /**
   * Watches `key` from the next change on: `onChange(value, revision)` for every put (value
   * validated; an invalid one goes to `onError`) and `onChange(undefined, revision)` on delete.
   * The watch reconnects across member failures (etcd3 resumes from the last seen revision).
   */
  async watch<S extends z.ZodType>(
    key: ConfigKey<S>,
    onChange: (value: z.output<S> | undefined, revision: number) => void,
    onError: (e: Error) => void = (e) => this.log.warn({ err: e, key: key.name }, "watch error"),
  ): Promise<{ close(): Promise<void> }> {
    const full = this.fullKey(key.name);
    const watcher: Watcher = await this.call(`watch ${full}`, () => this.etcd.watch().key(full).create());
    watcher.on("put", (kv) => {
      try {
        onChange(this.decode(key, kv.value), revision(kv.mod_revision));
      } catch (e) {
        onError(e as Error);
      }
    });
    watcher.on("delete", (kv) => onChange(undefined, revision(kv.mod_revision)));
    watcher.on("error", (e) => onError(e));
    watcher.on("disconnected", (e) => this.log.warn({ err: e, key: full }, "watch disconnected; reconnecting"));
    return { close: () => watcher.cancel() };
  }

  /**
   * Campaigns for leadership of `electionName` as `candidateId`; resolves once elected (or
   * rejects after `timeoutMs`, withdrawing the candidacy). The returned Leadership carries the
   * fencing token: the create revision of its election key, strictly increasing across leaders.
   * `ttlSeconds` is the lease TTL: how long leadership outlives a crashed holder (@default 10).
   */
  async campaign(
    electionName: string,
    candidateId: string,
    options: { ttlSeconds?: number; timeoutMs?: number } = {},
  ): Promise<Leadership> {
    if (!/^[A-Za-z0-9._-]+$/.test(electionName))
      throw new Error(`campaign: electionName ${JSON.stringify(electionName)} must be letters, digits, . _ -`);
    if (candidateId === "") throw new Error("campaign: candidateId must not be empty");
    return Leadership.campaign(this, electionName, candidateId, options.ttlSeconds ?? 10, options.timeoutMs);
  }

  /** The current leader's candidate id of `electionName`, if any. */
  async leader(electionName: string, opts?: CallOpts): Promise<string | undefined> {
    return this.call(
      `leader ${electionName}`,
      () => this.etcd.namespace(this.prefix).election(electionName).leader(),
      opts,
    );
  }

  /** The stored shard map (validated), or undefined before initShardMap. */
  async getShardMap(opts?: CallOpts): Promise<ShardMap | undefined> {
    return this.get(SHARD_MAP_KEY, opts);
  }

  /** Stores `map` only if no shard map exists yet; resolves with the stored map either way. */
  async initShardMap(map: ShardMap, opts?: CallOpts): Promise<{ created: boolean; map: ShardMap }> {
    const full = this.fullKey(SHARD_MAP_KEY.name);
    const body = this.encode(SHARD_MAP_KEY, map);
    const res = await this.call(
      `init ${full}`,
      () =>
        this.etcd
          .if(full, "Create", "==", 0)
          .then(this.etcd.put(full).value(body))
          .else(this.etcd.get(full))
          .options(this.callOptions(opts))
          .commit(),
      opts,
    );
    if (res.succeeded) {
      this.log.info({ epoch: map.epoch, shards: map.shards.length }, "shard map initialised");
      return { created: true, map: ShardMapSchema.parse(map) };
    }
    const kv = res.responses[0]?.response_range?.kvs[0];
    if (!kv) throw new Error(`init ${full}: transaction failed but returned no current value`);
    return { created: false, map: this.decode(SHARD_MAP_KEY, kv.value) };
  }

  /**
   * Changes the shard map by compare-and-swap: reads it, checks its epoch is `expectedEpoch`,
   * applies `mutate` to a copy, sets the epoch to expectedEpoch + 1, validates, and writes it
   * only if the key was not modified since the read. A stale epoch (ours or a concurrent
   * writer's) throws StaleEpochError with the epoch actually stored. With `fence`, the write also
   * requires that leadership to still be current (FencingError otherwise).
   */
  async updateShardMap(
    expectedEpoch: number,
    mutate: (map: ShardMap) => ShardMap,
    opts?: CallOpts & { fence?: Leadership },
  ): Promise<ShardMap> {
    const full = this.fullKey(SHARD_MAP_KEY.name);
    const current = await this.getVersioned(SHARD_MAP_KEY, opts);
    if (!current) throw new StaleEpochError(expectedEpoch, undefined);
    if (current.value.epoch !== expectedEpoch) throw new StaleEpochError(expectedEpoch, current.value.epoch);
    const next = { ...mutate(structuredClone(current.value)), epoch: expectedEpoch + 1 };
    const body = this.encode(SHARD_MAP_KEY, next);
    const compareMod = { key: full, target: "Mod" as const, value: current.modRevision };
    const ok = opts?.fence
      ? await opts.fence.fencedTxn(`update ${full}`, [compareMod], [{ key: full, value: body }], opts)
      : (
          await this.call(
            `update ${full}`,
            () =>
              this.etcd
                .if(full, "Mod", "==", current.modRevision)
                .then(this.etcd.put(full).value(body))
                .options(this.callOptions(opts))
                .commit(),
            opts,
          )
        ).succeeded;
    if (!ok) {
      const now = await this.get(SHARD_MAP_KEY, opts);
      throw new StaleEpochError(expectedEpoch, now?.epoch);
    }
    this.log.info({ from: expectedEpoch, to: next.epoch }, "shard map updated");
    return ShardMapSchema.parse(next);
  }

  /** Closes connections (leaderships should be resigned first, or they last until their TTL). */
  close(): void {
    for (const fn of this.closeHooks) fn();
    this.closeHooks.clear();
    this.etcd.close();
  }

  /** Runs `fn` when the client closes, before its connections do; the result unregisters it. */
  onClose(fn: () => void): () => void {
    this.closeHooks.add(fn);
    return () => this.closeHooks.delete(fn);
  }
}
