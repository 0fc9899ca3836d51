/**
 * etcd cluster operations the EtcdMembership provider runs (etcd3 client): member list with the
 * leader, health waits, learner add, promote, leadership transfer, remove. Every call has a
 * deadline; retries are bounded. Clients are built per operation and closed (the provider is
 * serialized; nothing is kept between calls).
 */
import type { Etcd3, IMember, IOptions } from "etcd3";

type Policy = NonNullable<NonNullable<IOptions["faultHandling"]>["global"]>;

/** A pass-through fault-handling policy (cockatiel's `noop` shape, without depending on cockatiel). */
function noRetry(): Policy {
  return {
    execute: (fn: (ctx: { signal: AbortSignal }) => unknown, signal?: AbortSignal) =>
      Promise.resolve(fn({ signal: signal ?? new AbortController().signal })),
  } as unknown as Policy;
}

/** Per-call deadline for unary etcd calls. */
export const CALL_TIMEOUT_MS = 3000;

/** Client credentials (PEM) for a TLS cluster. */
export interface EtcdClientTls {
  ca: string;
  cert: string;
  key: string;
}

/** A client to exactly these endpoints with a deadline on every unary call. */
export function etcdClient(endpoints: string[], tls?: EtcdClientTls): Etcd3 {
  const { Etcd3 } = require("etcd3") as typeof import("etcd3");
  return new Etcd3({
    hosts: endpoints,
    credentials: tls
      ? { rootCertificate: Buffer.from(tls.ca), certChain: Buffer.from(tls.cert), privateKey: Buffer.from(tls.key) }
      : undefined,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + CALL_TIMEOUT_MS }),
    // Fail fast: no client-side retries or circuit breaking (callers retry with their own bounds).
    faultHandling: { global: noRetry(), host: () => noRetry() },
  });
}

/** Runs `fn` with a client to `endpoints`, closing it afterwards. */
export async function withClient<T>(
  endpoints: string[],
  tls: EtcdClientTls | undefined,
  fn: (c: Etcd3) => Promise<T>,
): Promise<T> {
  const c = etcdClient(endpoints, tls);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Retries `fn` until it succeeds or `timeoutMs` passes; rethrows the last error with `what`. */
export async function retry<T>(
  what: string,
  timeoutMs: number,
  fn: () => Promise<T>,
  retryable: (e: unknown) => boolean = () => true,
  intervalMs = 500,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (!retryable(e)) throw new Error(`${what}: ${(e as Error).message}`, { cause: e });
      if (Date.now() + intervalMs > until)
        throw new Error(`${what}: gave up after ${Math.round(timeoutMs / 1000)} s: ${(e as Error).message}`, {
          cause: e,
        });
      await sleep(intervalMs);
    }
  }
}

/** etcd refuses membership changes for ~5 s after a member (re)starts: "unhealthy cluster". */
export const isUnhealthyClusterError = (e: unknown) =>
  /unhealthy cluster|not enough started members|timed out|deadline|unavailable|leader changed|no leader/i.test(
    String((e as Error).message ?? e),
  );

/** One member as seen through one client endpoint. */
export interface MemberStatus {
  endpoint: string;
  ok: boolean;
  memberId?: string;
  leader?: string;
  raftIndex?: number;
  raftAppliedIndex?: number;
  isLearner?: boolean;
  error?: string;
}

/** Status of one endpoint (never throws). */
export async function endpointStatus(endpoint: string, tls?: EtcdClientTls): Promise<MemberStatus> {
  try {
    return await withClient([endpoint], tls, async (c) => {
      const s = await c.maintenance.status();
      return {
        endpoint,
        ok: true,
        memberId: s.header.member_id,
        leader: s.leader,
        raftIndex: Number(s.raftIndex),
        raftAppliedIndex: Number(s.raftAppliedIndex),
        isLearner: s.isLearner,
      };
    });
  } catch (e) {
    return { endpoint, ok: false, error: (e as Error).message };
  }
}

/** The member list as one reachable endpoint reports it, and the leader's member ID. */
export async function clusterView(
  endpoints: string[],
  tls?: EtcdClientTls,
): Promise<{ members: IMember[]; leaderId: string; via: string }> {
  const errors: string[] = [];
  for (const endpoint of endpoints) {
    const st = await endpointStatus(endpoint, tls);
    if (!st.ok || !st.leader || st.leader === "0") {
      errors.push(`${endpoint}: ${st.error ?? "no leader"}`);
      continue;
    }
    try {
      const list = await withClient([endpoint], tls, (c) => c.cluster.memberList({ linearizable: true } as never));
      return { members: list.members, leaderId: st.leader, via: endpoint };
    } catch (e) {
      errors.push(`${endpoint}: ${(e as Error).message}`);
    }
  }
  throw new Error(`no etcd endpoint answered with a leader (${errors.join("; ")})`);
}

/** Waits until every endpoint answers, all agree on one leader and the voter count is `voters`. */
export async function waitHealthy(
  endpoints: string[],
  voters: number,
  tls: EtcdClientTls | undefined,
  timeoutMs: number,
): Promise<void> {
  await retry(
    `waiting for ${endpoints.length} etcd members to be healthy with ${voters} voters`,
    timeoutMs,
    async () => {
      const sts = await Promise.all(endpoints.map((e) => endpointStatus(e, tls)));
      const bad = sts.filter((s) => !s.ok);
      if (bad.length > 0) throw new Error(bad.map((s) => `${s.endpoint}: ${s.error}`).join("; "));
      const leaders = new Set(sts.map((s) => s.leader));
      if (leaders.size !== 1 || leaders.has("0"))
        throw new Error(`members disagree on the leader: ${[...leaders].join(", ")}`);
      const view = await clusterView(endpoints, tls);
      const v = view.members.filter((m) => !m.isLearner).length;
      if (v !== voters || view.members.length !== voters)
        throw new Error(`cluster has ${v} voters and ${view.members.length} members, want ${voters}`);
      // A quorum read proves the cluster commits.
      await withClient(endpoints, tls, (c) => c.get("scaleplane/health-probe").string());
    },
    undefined,
    300,
  );
}
