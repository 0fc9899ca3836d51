/**
 * Fenced actions: a leader re-checks its lease immediately before every Docker or HAProxy action.
 *
 * A fenced etcd write proves leadership only at the moment it commits; a leader frozen right after
 * it (SIGSTOP, a long GC pause, a stalled VM) would otherwise act on Docker after its lease expired
 * and a successor took over. So before each action: the election key must still exist with this
 * leader's create revision (its fencing token), and its lease must have more than a margin of TTL
 * left. The check's answer is valid only until `sent + remaining TTL − margin` on the monotonic
 * clock (measured from before the request was sent), and the action must start before that
 * instant; a pause between the check and the action is caught by re-reading the clock at the last
 * moment. What cannot be checked here is checked where the action lands: HAProxy commands carry the
 * token and lb-fenced refuses an older one; containers are labelled with the token that created them.
 */
import { performance } from "node:perf_hooks";
import { FencingError, revision, type ConfigClient, type Leadership } from "../config-client";

/** TTL a check must leave, ms: an action that starts later than this before expiry is refused. */
export const FENCE_MARGIN_MS = 1000;

/** The lease state of a leadership as etcd reports it now. */
export interface LeaseCheck {
  /** The election key exists with this leadership's create revision. */
  held: boolean;
  /** Seconds of TTL its lease has left (etcd's granularity), when held. */
  ttlSeconds: number;
}

/** Reads the leadership's key and the remaining TTL of its lease (one get, one LeaseTimeToLive). */
export async function checkLease(client: ConfigClient, lead: Leadership): Promise<LeaseCheck> {
  const res = await client.etcd.get(lead.key).exec();
  const kv = res.kvs[0];
  if (!kv || revision(kv.create_revision) !== lead.fencingToken) return { held: false, ttlSeconds: 0 };
  const ttl = await client.etcd.leaseClient.leaseTimeToLive({ ID: kv.lease, keys: false });
  const seconds = Number(ttl.TTL);
  return { held: seconds > 0, ttlSeconds: Math.max(0, seconds) };
}

/**
 * Runs `act` only while `lead` provably holds its lease: after a fresh check, and only if the
 * check's validity has not run out by the time `act` is called. Throws FencingError otherwise.
 * `beforeAct` is a test hook called between the check and the final clock read (a pause there is
 * exactly the window the final read closes).
 */
export async function fenced<T>(
  client: ConfigClient,
  lead: Leadership,
  what: string,
  act: () => Promise<T>,
  opts: { beforeAct?: () => void; now?: () => number } = {},
): Promise<T> {
  const now = opts.now ?? (() => performance.now());
  if (!lead.believedCurrent) throw new FencingError(lead.election, lead.fencingToken, what);
  const sent = now();
  const check = await checkLease(client, lead);
  const validUntil = sent + check.ttlSeconds * 1000 - FENCE_MARGIN_MS;
  if (!check.held || now() >= validUntil) throw new FencingError(lead.election, lead.fencingToken, what);
  opts.beforeAct?.();
  if (now() >= validUntil) throw new FencingError(lead.election, lead.fencingToken, what);
  return act();
}
