/**
 * The Docker target's load balancer (HAProxy, image `scaleplane/load-balancer:2.6`), as pure
 * functions: its configuration file, the parser of its runtime state and the runtime commands
 * that move the backend from the state it reports to the state the scaling controller wants.
 *
 * Why a fixed pool of slots: HAProxy's `server-template` declares N servers up front, all
 * disabled. Registering an instance fills a free slot (`set server ... addr`, then `state
 * ready`); deregistering drains it (`state drain`: no new requests, in-flight ones finish) and
 * then parks it (`state maint`); a slot given a new address is marked down (`health down`) so that
 * only checks of the new address bring it up. No reload ever happens, so no connection is ever dropped by a
 * reconfiguration. HAProxy keeps health-checking the filled slots itself (`option httpchk`), and
 * retries a request whose connection failed on another server (`retry-on conn-failure`,
 * `option redispatch`).
 */

/** The backend and server-name prefix the controller addresses over the admin socket. */
export const LB_BACKEND = "app";
export const LB_SLOT_PREFIX = "slot";
/** Port HAProxy listens on inside its container (published on 127.0.0.1 by the target). */
export const LB_FRONTEND_PORT = 8080;
/** The admin (runtime API) socket inside the LB container: never exposed on a network. */
export const LB_ADMIN_SOCKET = "/run/haproxy/admin.sock";
/** Path the LB answers itself (its own liveness), never forwarded. */
export const LB_HEALTH_PATH = "/lb-health";
/** Slots are at least this many, so raising app.maxSize up to it never changes the LB's config. */
export const LB_MIN_SLOTS = 64;

/** Slots for a group of at most `maxSize` instances. */
export const lbSlots = (maxSize: number): number => Math.max(LB_MIN_SLOTS, maxSize);

/** Server name of slot `i` (1-based, as `server-template` numbers them). */
export const slotName = (i: number): string => `${LB_SLOT_PREFIX}${i}`;

/**
 * HAProxy's health check of the instances: the readiness probe. An instance turns unready after
 * `fall` failed checks in a row and ready again after `rise` passed ones (a Kubernetes probe's
 * failureThreshold / successThreshold), checks `intervalSeconds` apart, each bounded by
 * `timeoutSeconds`.
 */
export interface LbCheck {
  intervalSeconds: number;
  timeoutSeconds: number;
  fall: number;
  rise: number;
}

/** The default readiness check: every 2 s, 3 failures to turn unready, 2 passes to turn ready. */
export const DEFAULT_LB_CHECK: LbCheck = { intervalSeconds: 2, timeoutSeconds: 2, fall: 3, rise: 2 };

/** The HAProxy ring the per-request log lines go to (`show events` reads it). */
export const LB_REQUEST_RING = "requests";

export interface LbConfigInput {
  /** Number of server slots (see {@link lbSlots}). */
  slots: number;
  /** Port the instances serve on (inside their containers). */
  backendPort: number;
  /** The instances' health path (HAProxy's own checks). */
  healthPath: string;
  /** Longest request an instance may take, seconds (the server timeout is above it). @default 60 */
  serverTimeoutSeconds?: number;
  /** The readiness check. @default DEFAULT_LB_CHECK */
  check?: LbCheck;
}

/** haproxy.cfg for the group (written by the image's entrypoint from HAPROXY_CONFIG). */
export function haproxyConfig(c: LbConfigInput): string {
  if (!Number.isInteger(c.slots) || c.slots < 1 || c.slots > 4096)
    throw new Error(`load balancer slots must be 1..4096; got ${c.slots}`);
  if (!Number.isInteger(c.backendPort) || c.backendPort < 1 || c.backendPort > 65535)
    throw new Error(`load balancer backendPort must be a port; got ${c.backendPort}`);
  if (!/^\/[\x21-\x7e]*$/.test(c.healthPath))
    throw new Error(
      `load balancer healthPath must be an absolute path without spaces; got ${JSON.stringify(c.healthPath)}`,
    );
  const serverTimeout = c.serverTimeoutSeconds ?? 60;
  const check = c.check ?? DEFAULT_LB_CHECK;
  for (const [k, v] of Object.entries(check))
    if (!Number.isInteger(v) || v < 1 || v > 3600)
      throw new Error(`load balancer check.${k} must be a whole number from 1 to 3600; got ${v}`);
  return [
    "global",
    "  log stdout format raw local0 notice",
    `  stats socket ${LB_ADMIN_SOCKET} mode 600 level admin`,
    "  stats timeout 30s",
    "  maxconn 4096",
    "",
    // One line per request (completion time in ms, server, response time, status), kept in memory:
    // the controller reads it with `show events` for each instance's request rate and p95 latency.
    `ring ${LB_REQUEST_RING}`,
    "  format raw",
    "  maxlen 160",
    "  size 4194304",
    "",
    "defaults",
    "  mode http",
    "  log global",
    "  option dontlognull",
    "  timeout connect 2s",
    "  timeout client 60s",
    `  timeout server ${serverTimeout}s`,
    "  timeout http-request 10s",
    "  timeout http-keep-alive 10s",
    "  timeout queue 30s",
    // A request whose connection could not be made (instance gone) is sent to another server.
    "  retries 3",
    "  option redispatch 1",
    "  retry-on conn-failure empty-response",
    "",
    "frontend fe",
    `  bind :${LB_FRONTEND_PORT}`,
    `  monitor-uri ${LB_HEALTH_PATH}`,
    `  log ring@${LB_REQUEST_RING} local0 info`,
    '  log-format "%Ts%ms %s %Tr %ST"',
    `  default_backend ${LB_BACKEND}`,
    "",
    `backend ${LB_BACKEND}`,
    "  balance leastconn",
    `  option httpchk GET ${c.healthPath}`,
    "  http-check expect status 200",
    `  timeout check ${check.timeoutSeconds}s`,
    `  default-server inter ${check.intervalSeconds}s fall ${check.fall} rise ${check.rise}`,
    // Every slot starts disabled (maintenance) on a placeholder address; the controller fills them.
    `  server-template ${LB_SLOT_PREFIX} 1-${c.slots} 127.0.0.1:${c.backendPort} check disabled`,
    "",
  ].join("\n");
}

/**
 * What a slot should be: serving an address, draining it, parked, or left as it is (`keep`: its
 * instance is still recorded but its address is unknown this pass, e.g. a Docker inspect that
 * failed under load; parking it would take a serving instance out of the load balancer).
 */
export type SlotWant =
  { state: "ready" | "drain"; addr: string; port: number } | { state: "maint" } | { state: "keep" };

/** One slot as HAProxy reports it (`show servers state`). */
export interface SlotState {
  slot: number;
  addr: string;
  port: number;
  /** Administrative state derived from srv_admin_state: maint (any maintenance bit), drain, or ready. */
  admin: "ready" | "drain" | "maint";
  /** Operational state: HAProxy's health view (srv_op_state 2 = running). */
  up: boolean;
}

/**
 * Parses `show servers state <backend>` (format version 1): one line per server, space-separated
 * fields named by the `# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...`
 * header. Only slots of {@link LB_SLOT_PREFIX} are returned.
 */
export function parseServersState(text: string): SlotState[] {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  const header = lines.find((l) => l.startsWith("# "));
  if (!header)
    throw new Error(
      `unexpected HAProxy "show servers state" output (no header): ${JSON.stringify(text.slice(0, 200))}`,
    );
  const cols = header.slice(2).split(/\s+/);
  const idx = (name: string) => {
    const i = cols.indexOf(name);
    if (i < 0) throw new Error(`HAProxy "show servers state" has no ${name} column`);
    return i;
  };
  const [name, addr, op, admin, port] = [
    idx("srv_name"),
    idx("srv_addr"),
    idx("srv_op_state"),
    idx("srv_admin_state"),
    idx("srv_port"),
  ];
  const out: SlotState[] = [];
  const re = new RegExp(`^${LB_SLOT_PREFIX}(\\d+)$`);
  for (const l of lines) {
    if (l.startsWith("#") || /^\d+$/.test(l)) continue;
    const f = l.split(/\s+/);
    const m = re.exec(f[name] ?? "");
    if (!m) continue;
    const adminBits = Number(f[admin]);
    // 0x01 forced maint, 0x02 inherited, 0x20 resolution, 0x40 health-check maint. 0x04 (disabled
    // in the configuration) stays set after `state ready` and no longer blocks traffic then.
    const maint = (adminBits & (0x01 | 0x02 | 0x20 | 0x40)) !== 0;
    const drain = (adminBits & (0x08 | 0x10)) !== 0;
    out.push({
      slot: Number(m[1]),
      addr: f[addr],
      port: Number(f[port]),
      admin: maint ? "maint" : drain ? "drain" : "ready",
      up: Number(f[op]) === 2,
    });
  }
  return out.sort((a, b) => a.slot - b.slot);
}

/** One slot's traffic figures from `show stat` (cumulative counters and current sessions). */
export interface SlotStats {
  slot: number;
  /** Requests being served now (current sessions) plus requests queued for it. */
  sessions: number;
  /** Sessions served so far (cumulative). */
  total: number;
  /** Responses with a 5xx status so far (cumulative). */
  errors5xx: number;
  /** HAProxy's status text (UP, DOWN, DRAIN, MAINT, "UP 1/2", ...). */
  status: string;
  /** The last health check's result (L7OK when the HTTP check passed). */
  checkStatus: string;
  /** Seconds since the status last changed. */
  lastChangeSeconds: number;
}

/** Parses `show stat -1 4 -1` (CSV, servers only): the slots' figures. */
export function parseSlotStats(csv: string): SlotStats[] {
  const lines = csv.split("\n").filter((l) => l.trim().length > 0);
  const header = lines.find((l) => l.startsWith("# "));
  if (!header)
    throw new Error(`unexpected HAProxy "show stat" output (no header): ${JSON.stringify(csv.slice(0, 200))}`);
  const cols = header.slice(2).split(",");
  const at = (name: string) => {
    const i = cols.indexOf(name);
    if (i < 0) throw new Error(`HAProxy "show stat" has no ${name} column`);
    return i;
  };
  const [sv, qcur, scur, stot, h5, status, check, lastchg] = [
    at("svname"),
    at("qcur"),
    at("scur"),
    at("stot"),
    at("hrsp_5xx"),
    at("status"),
    at("check_status"),
    at("lastchg"),
  ];
  const re = new RegExp(`^${LB_SLOT_PREFIX}(\\d+)$`);
  const num = (v: string | undefined) => (v === undefined || v === "" ? 0 : Number(v));
  const out: SlotStats[] = [];
  for (const l of lines) {
    if (l.startsWith("#")) continue;
    const f = l.split(",");
    const m = re.exec(f[sv] ?? "");
    if (!m) continue;
    out.push({
      slot: Number(m[1]),
      sessions: num(f[scur]) + num(f[qcur]),
      total: num(f[stot]),
      errors5xx: num(f[h5]),
      status: f[status] ?? "",
      checkStatus: f[check] ?? "",
      lastChangeSeconds: num(f[lastchg]),
    });
  }
  return out.sort((a, b) => a.slot - b.slot);
}

/** One request as the frontend logged it into the ring. */
export interface RequestLogEntry {
  /** When it completed, ms since the epoch. */
  atMs: number;
  slot: number;
  /** Time to the server's response headers, ms (-1 when none came). */
  responseMs: number;
  status: number;
}

/** Parses `show events <ring>` lines (`%Ts%ms %s %Tr %ST`); lines of no slot are left out. */
export function parseRequestLog(text: string): RequestLogEntry[] {
  const re = new RegExp(`^(\\d{13}) ${LB_SLOT_PREFIX}(\\d+) (-?\\d+) (\\d+)$`);
  const out: RequestLogEntry[] = [];
  for (const line of text.split("\n")) {
    const m = re.exec(line.trim());
    if (m) out.push({ atMs: Number(m[1]), slot: Number(m[2]), responseMs: Number(m[3]), status: Number(m[4]) });
  }
  return out;
}

/** The p-th percentile (0..100) of `values` (nearest rank), undefined when empty. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * Runtime-API commands that take HAProxy from `current` to `want` (slots absent from `want` are
 * parked in maint). The address is changed only while a slot is in maint, so a request is never
 * sent to an address that is half-switched; a slot leaving service goes through drain first.
 */
export function lbCommands(current: readonly SlotState[], want: ReadonlyMap<number, SlotWant>): string[] {
  const cmds: string[] = [];
  for (const s of current) {
    const w = want.get(s.slot) ?? { state: "maint" as const };
    if (w.state === "keep") continue;
    const srv = `${LB_BACKEND}/${slotName(s.slot)}`;
    if (w.state === "maint") {
      if (s.admin === "ready") cmds.push(`set server ${srv} state drain`);
      if (s.admin !== "maint") cmds.push(`set server ${srv} state maint`);
      continue;
    }
    const sameAddr = s.addr === w.addr && s.port === w.port;
    if (!sameAddr) {
      if (s.admin === "ready") cmds.push(`set server ${srv} state drain`);
      if (s.admin !== "maint") cmds.push(`set server ${srv} state maint`);
      cmds.push(`set server ${srv} addr ${w.addr} port ${w.port}`);
      // A slot keeps its health across an address change: one that was UP for its previous
      // instance leaves maintenance UP (and "L7OK") at the new address before a single check of
      // it, and would take requests (leastconn sends them all to the emptiest server) before the
      // app listens. So the new address leaves maintenance in drain (no traffic), is marked down,
      // and only then may turn ready: it is UP again after `rise` passed checks of its own.
      cmds.push(`set server ${srv} state drain`);
      cmds.push(`set server ${srv} health down`);
      if (w.state === "ready") cmds.push(`set server ${srv} state ready`);
    } else if (s.admin !== w.state) {
      cmds.push(`set server ${srv} state ${w.state}`);
    }
  }
  for (const slot of want.keys())
    if (!current.some((s) => s.slot === slot))
      throw new Error(`load balancer has no slot ${slot} (it has ${current.length}); raise its slot count`);
  return cmds;
}

/** An HAProxy runtime-API answer that reports a failure (empty or informational answers are fine). */
export function isLbCommandError(answer: string): boolean {
  return /^(unknown|no such|invalid|require|permission denied|.*not found|.*failed|.*error)/im.test(answer.trim());
}
