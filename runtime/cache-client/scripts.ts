/**
 * The lease protocol of core/cache/lease.ts as Redis Lua scripts: each operation runs atomically
 * on the node (Redis runs one script at a time), so a lookup, a fill and an invalidation of the
 * same key can never interleave inside each other. The model and the scripts are kept
 * step-for-step alike; test/integration/cache/scripts.test.ts drives both with the same random
 * operations and compares every answer.
 *
 * Keys on a node (the node is the cache's alone): `sp:gen` (its generation; no TTL, so a
 * volatile-* eviction policy never evicts it), `sp:floor` (the near-cache floor after an
 * admission), `sp:stats` (hit/miss counters for `npm run status`), `sp:hot` (hot keys reported by
 * clients) and per cached key `sp:v:<key>` (value `<deltaMs>:<payload>`, with its TTL),
 * `sp:l:<key>` (the fill lease token) and `sp:n:<key>` (the near-cache marker).
 */
import type Redis from "ioredis";

export const GEN_KEY = "sp:gen";
export const FLOOR_KEY = "sp:floor";
export const STATS_KEY = "sp:stats";
export const HOT_KEY = "sp:hot";
/** Pub/sub channel of invalidated keys (clients drop near-cache copies early; safety does not depend on it). */
export const INVALIDATION_CHANNEL = "sp:inv";
export const valueKey = (key: string) => `sp:v:${key}`;
export const leaseKey = (key: string) => `sp:l:${key}`;
export const nearKey = (key: string) => `sp:n:${key}`;

/** KEYS gen, value, lease, near, stats; ARGV generation, token, leaseMs, nearMs → {F, stored} | {H, value, pttl} | {L} | {W}. */
const LOOKUP = `
local g = redis.call('GET', KEYS[1])
if g ~= ARGV[1] then return {'F', g or ''} end
local v = redis.call('GET', KEYS[2])
if v then
  redis.call('HINCRBY', KEYS[5], 'hits', 1)
  local near = tonumber(ARGV[4])
  if near > 0 and redis.call('PTTL', KEYS[4]) < near then redis.call('SET', KEYS[4], '1', 'PX', near) end
  return {'H', v, redis.call('PTTL', KEYS[2])}
end
redis.call('HINCRBY', KEYS[5], 'misses', 1)
if redis.call('SET', KEYS[3], ARGV[2], 'NX', 'PX', ARGV[3]) then return {'L'} end
return {'W'}
`;

/** KEYS gen, lease; ARGV generation, token, leaseMs → F | B (busy) | G (granted). */
const ACQUIRE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'F' end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return 'G' end
return 'B'
`;

/** KEYS gen, value, lease; ARGV generation, token, payload, ttlMs → F | R (refused) | S (stored). */
const FILL = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'F' end
if redis.call('GET', KEYS[3]) ~= ARGV[2] then return 'R' end
redis.call('DEL', KEYS[3])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
return 'S'
`;

/** KEYS lease; ARGV token: drops the lease if it is still ours (a loader that failed). */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** KEYS gen, value; ARGV generation → {F} | {H, value, pttl} | {M}. */
const PEEK = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {'F'} end
local v = redis.call('GET', KEYS[2])
if v then return {'H', v, redis.call('PTTL', KEYS[2])} end
return {'M'}
`;

/**
 * KEYS gen, value, lease, near, floor; ARGV key → {stored generation or '', near wait ms}.
 * Deletes whatever the generation: a fenced node is flushed on admission anyway.
 */
const INVALIDATE = `
local wait = math.max(0, redis.call('PTTL', KEYS[4]), redis.call('PTTL', KEYS[5]))
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
redis.call('PUBLISH', '${INVALIDATION_CHANNEL}', ARGV[1])
return {redis.call('GET', KEYS[1]) or '', wait}
`;

/** KEYS gen, floor; ARGV generation, nearTtlMs → C (current) | N (holds a newer one) | A (flushed, admitted). */
const ADMIT = `
local g = redis.call('GET', KEYS[1])
if g == ARGV[1] then return 'C' end
if g and tonumber(g) > tonumber(ARGV[1]) then return 'N' end
redis.call('FLUSHDB')
redis.call('SET', KEYS[1], ARGV[1])
if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[2], '1', 'PX', ARGV[2]) end
return 'A'
`;

/** KEYS hot; ARGV keep, then key/count pairs: keeps the node's top `keep` hot keys (decayed by clients). */
const REPORT_HOT = `
for i = 2, #ARGV, 2 do redis.call('ZADD', KEYS[1], 'GT', ARGV[i + 1], ARGV[i]) end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[1]) + 1))
redis.call('PEXPIRE', KEYS[1], 60000)
return 1
`;

type Reply = string | number | null | Reply[];

/** The scripts as ioredis commands (EVALSHA with a fallback to EVAL). */
export interface LeaseCommands {
  spLookup(gen: string, v: string, l: string, n: string, s: string, ...argv: (string | number)[]): Promise<Reply[]>;
  spAcquire(gen: string, l: string, ...argv: (string | number)[]): Promise<string>;
  spFill(gen: string, v: string, l: string, ...argv: (string | number)[]): Promise<string>;
  spRelease(l: string, token: string): Promise<number>;
  spPeek(gen: string, v: string, generation: string): Promise<Reply[]>;
  spInvalidate(gen: string, v: string, l: string, n: string, f: string, key: string): Promise<[string, number]>;
  spAdmit(gen: string, f: string, generation: string, nearTtlMs: number): Promise<string>;
  spReportHot(hot: string, ...argv: (string | number)[]): Promise<number>;
}

export type LeaseRedis = Redis & LeaseCommands;

/** Registers the scripts on a connection. */
export function defineLeaseCommands(r: Redis): LeaseRedis {
  r.defineCommand("spLookup", { numberOfKeys: 5, lua: LOOKUP });
  r.defineCommand("spAcquire", { numberOfKeys: 2, lua: ACQUIRE });
  r.defineCommand("spFill", { numberOfKeys: 3, lua: FILL });
  r.defineCommand("spRelease", { numberOfKeys: 1, lua: RELEASE });
  r.defineCommand("spPeek", { numberOfKeys: 2, lua: PEEK });
  r.defineCommand("spInvalidate", { numberOfKeys: 5, lua: INVALIDATE });
  r.defineCommand("spAdmit", { numberOfKeys: 2, lua: ADMIT });
  r.defineCommand("spReportHot", { numberOfKeys: 1, lua: REPORT_HOT });
  return r as LeaseRedis;
}

/** Value payload: `<deltaMs>:<v|n><json>` (`n`: the loader found nothing, cached as absent). */
export function encodePayload(value: unknown, deltaMs: number): string {
  return value === undefined ? `${Math.round(deltaMs)}:n` : `${Math.round(deltaMs)}:v${JSON.stringify(value)}`;
}

/** The value and its recompute time from a payload. */
export function decodePayload<T>(payload: string): { value: T | undefined; deltaMs: number } {
  const colon = payload.indexOf(":");
  const deltaMs = Number(payload.slice(0, colon));
  const kind = payload[colon + 1];
  return { value: kind === "v" ? (JSON.parse(payload.slice(colon + 2)) as T) : undefined, deltaMs };
}
