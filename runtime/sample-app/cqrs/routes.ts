/**
 * The sample app's CQRS routes, served when the platform deploys the event store
 * (`SCALEPLANE_EVENTS` set): commands append events to an account's stream (the aggregate's
 * invariants decide, the append's expected version guards against a concurrent command), queries
 * read the `sample_accounts` projection, which the app's instances run themselves (one
 * leader-elected runner per shard among them).
 *
 *   POST /accounts/<id>   {"type":"open","owner":"..."} | {"type":"deposit","amount":100} | {"type":"withdraw",...} | {"type":"close"}
 *                         → 200 {version} | 409 refused (invariant) | 409 conflict (concurrent command: retry)
 *   GET  /accounts/<id>   → the read model row (eventually consistent) | 404
 *   GET  /accounts/<id>/state → the aggregate folded from its snapshot and events (strongly consistent)
 *   DELETE /accounts/<id> → crypto-shreds the account's stream and purges its read-model rows
 *
 * Loaded lazily by main.ts, so an app without the event store never loads the etcd client.
 */
import type * as http from "node:http";
import { hostname } from "node:os";
import { EVENTS_MASTER_KEY_ENV, settingsFromEnv } from "../../../core/events/settings";
import { ConfigClient } from "../../config-client";
import {
  EventStore,
  StreamDeletedError,
  WrongExpectedVersionError,
  runProjections,
  type ProjectionRunners,
} from "../../event-store";
import { loadAggregate } from "../../event-store/snapshots";
import { AccountRefused, decideAccount, type AccountCommand } from "./account";
import { ACCOUNTS_TABLE, accountAggregate, accountStream, sampleProjections } from "./projections";

export interface CqrsApp {
  /** Serves `/accounts/...`; resolves false for other paths. */
  handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<boolean>;
  close(): Promise<void>;
}

const readBody = (req: http.IncomingMessage): Promise<unknown> =>
  new Promise((resolve, reject) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => {
      body += c;
      if (body.length > 65_536) req.destroy(new Error("body too large"));
    });
    req.on("end", () => {
      try {
        resolve(body === "" ? {} : JSON.parse(body));
      } catch {
        reject(new AccountRefused("the body must be JSON"));
      }
    });
    req.on("error", reject);
  });

const send = (res: http.ServerResponse, status: number, value: unknown) => {
  res.statusCode = status;
  res.setHeader("content-type", "application/json");
  res.end(`${JSON.stringify(value)}\n`);
};

/** Connects to the event store named by the environment; undefined when it is not deployed. */
export async function createCqrs(env: Record<string, string | undefined>): Promise<CqrsApp | undefined> {
  const settings = settingsFromEnv(env);
  if (!settings) return undefined;
  const endpoints = (env.SCALEPLANE_CONFIG_ENDPOINTS ?? "").split(",").filter(Boolean);
  const masterKey = env[EVENTS_MASTER_KEY_ENV];
  if (endpoints.length === 0 || !masterKey || !env.SCALEPLANE_DATABASE_USER || !env.SCALEPLANE_DATABASE_PASSWORD)
    throw new Error(
      `the event store needs SCALEPLANE_CONFIG_ENDPOINTS, SCALEPLANE_DATABASE_USER, SCALEPLANE_DATABASE_PASSWORD and ${EVENTS_MASTER_KEY_ENV}`,
    );
  const config = ConfigClient.create({
    endpoints,
    ...(env.SCALEPLANE_CONFIG_PREFIX ? { prefix: env.SCALEPLANE_CONFIG_PREFIX } : {}),
  });
  const projections = sampleProjections(settings.snapshotEvery);
  const store = await EventStore.connect({
    config,
    user: env.SCALEPLANE_DATABASE_USER,
    password: env.SCALEPLANE_DATABASE_PASSWORD,
    masterKey,
    projections,
  });
  const runners: ProjectionRunners = runProjections(store, projections, {
    config,
    candidateId: `${hostname()}-${process.pid}`,
    ttlSeconds: settings.leaseTtlSeconds,
    batchSize: settings.projectionBatchSize,
  });
  const snapshots = projections[1].name;

  async function command(id: string, cmd: AccountCommand): Promise<{ version: number }> {
    const stream = accountStream(id);
    for (let attempt = 0; ; attempt++) {
      const { state, version } = await loadAggregate(store, stream, accountAggregate, snapshots);
      const events = decideAccount(state, cmd);
      try {
        const r = await store.append(stream, events, { expectedVersion: version });
        return { version: r.version };
      } catch (e) {
        // a concurrent command moved the stream: decide again on the new state
        if (e instanceof WrongExpectedVersionError && attempt < 3) continue;
        throw e;
      }
    }
  }

  return {
    async handle(req, res, url) {
      const m = /^\/accounts\/([A-Za-z0-9_-]{1,64})(\/state)?$/.exec(url.pathname);
      if (!m) return false;
      const [, id, state] = m;
      try {
        if (req.method === "POST" && !state) send(res, 200, await command(id, (await readBody(req)) as AccountCommand));
        else if (req.method === "GET" && state) {
          const a = await loadAggregate(store, accountStream(id), accountAggregate, snapshots);
          send(res, a.version === 0 ? 404 : 200, a);
        } else if (req.method === "GET") {
          const shard = store.shardOf(accountStream(id));
          const r = await store.withShard(shard, (c) =>
            c.query(
              `SELECT owner, balance::float8 AS balance, status, version FROM "${ACCOUNTS_TABLE}" WHERE stream = $1`,
              [accountStream(id)],
            ),
          );
          if (r.rows[0]) send(res, 200, r.rows[0]);
          else send(res, 404, { error: `no account ${id} (yet: the read model follows the events)` });
        } else if (req.method === "DELETE" && !state)
          send(res, (await store.deleteStream(accountStream(id))) ? 200 : 404, { deleted: id });
        else send(res, 405, { error: `${req.method} is not served on ${url.pathname}` });
      } catch (e) {
        if (e instanceof AccountRefused) send(res, 409, { refused: e.reason });
        else if (e instanceof WrongExpectedVersionError) send(res, 409, { conflict: e.message });
        else if (e instanceof StreamDeletedError) send(res, 410, { error: e.message });
        else throw e;
      }
      return true;
    },
    async close() {
      await runners.stop();
      await store.close();
      config.close();
    },
  };
}
