import {
  haproxyConfig,
  isLbCommandError,
  lbCommands,
  lbSlots,
  LB_REQUEST_RING,
  parseRequestLog,
  parseSlotStats,
  percentile,
  parseServersState,
  type SlotState,
  type SlotWant,
} from "../../../core/app/haproxy";

/** `show servers state app` as HAProxy 2.6 printed it (slot1 filled and ready, slot2 draining, slot3-4 disabled). */
const STATE = `1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
3 app 1 slot1 10.1.1.1 2 4 1 1 0 1 0 1 6 0 0 0 - 8080 - 0 0 - - 0
3 app 2 slot2 10.1.1.2 2 8 1 1 0 1 0 1 6 0 0 0 - 8080 - 0 0 - - 0
3 app 3 slot3 127.0.0.1 0 5 1 1 1 1 0 0 14 0 0 0 - 8080 - 0 0 - - 0
3 app 4 slot4 127.0.0.1 0 5 1 1 1 1 0 0 14 0 0 0 - 8080 - 0 0 - - 0
`;

describe("core/lb", () => {
  it("generates a config with a disabled slot pool, health checks and retries", () => {
    const cfg = haproxyConfig({ slots: 8, backendPort: 8080, healthPath: "/health" });
    expect(cfg).toContain("server-template slot 1-8 127.0.0.1:8080 check disabled");
    expect(cfg).toContain("option httpchk GET /health");
    expect(cfg).toContain("stats socket /run/haproxy/admin.sock mode 600 level admin");
    expect(cfg).toContain("retry-on conn-failure empty-response");
    expect(cfg).not.toMatch(/stats socket (ipv4@|:)/);
    expect(lbSlots(6)).toBe(64);
    expect(lbSlots(100)).toBe(100);
  });

  it("refuses bad config input naming the field", () => {
    expect(() => haproxyConfig({ slots: 0, backendPort: 8080, healthPath: "/h" })).toThrow("slots must be 1..4096");
    expect(() => haproxyConfig({ slots: 2, backendPort: 70000, healthPath: "/h" })).toThrow("backendPort");
    expect(() => haproxyConfig({ slots: 2, backendPort: 80, healthPath: "/a b" })).toThrow("healthPath");
  });

  it("parses show servers state: maint, drain and ready (a configured-disabled bit alone is ready)", () => {
    expect(parseServersState(STATE)).toEqual([
      { slot: 1, addr: "10.1.1.1", port: 8080, admin: "ready", up: true },
      { slot: 2, addr: "10.1.1.2", port: 8080, admin: "drain", up: true },
      { slot: 3, addr: "127.0.0.1", port: 8080, admin: "maint", up: false },
      { slot: 4, addr: "127.0.0.1", port: 8080, admin: "maint", up: false },
    ]);
    expect(() => parseServersState("Unknown command")).toThrow("no header");
  });

  it("plans runtime commands: fill a slot in maint, drain before parking, no command when in place", () => {
    const cur = parseServersState(STATE);
    const want = new Map<number, SlotWant>([
      [1, { state: "ready", addr: "10.1.1.1", port: 8080 }],
      [3, { state: "ready", addr: "10.1.1.3", port: 8080 }],
    ]);
    expect(lbCommands(cur, want)).toEqual([
      "set server app/slot2 state maint",
      "set server app/slot3 addr 10.1.1.3 port 8080",
      "set server app/slot3 state drain",
      "set server app/slot3 health down",
      "set server app/slot3 state ready",
    ]);
    // a ready slot moved to another address is drained and parked before its address changes,
    // and marked down before it may take traffic: only checks of the new address bring it up
    const moved = lbCommands(cur, new Map<number, SlotWant>([[1, { state: "ready", addr: "10.1.1.9", port: 8080 }]]));
    expect(moved.slice(0, 6)).toEqual([
      "set server app/slot1 state drain",
      "set server app/slot1 state maint",
      "set server app/slot1 addr 10.1.1.9 port 8080",
      "set server app/slot1 state drain",
      "set server app/slot1 health down",
      "set server app/slot1 state ready",
    ]);
    // a launching instance's slot (drain) never passes through ready
    const launching = lbCommands(
      cur,
      new Map<number, SlotWant>([[4, { state: "drain", addr: "10.1.1.4", port: 8080 }]]),
    );
    expect(launching.filter((c) => c.includes("slot4"))).toEqual([
      "set server app/slot4 addr 10.1.1.4 port 8080",
      "set server app/slot4 state drain",
      "set server app/slot4 health down",
    ]);
    // idempotent: the state it asks for produces no commands
    const settled: SlotState[] = cur.map((s) =>
      s.slot === 3 ? { ...s, addr: "10.1.1.3", admin: "ready" } : s.slot === 2 ? { ...s, admin: "maint" } : s,
    );
    expect(lbCommands(settled, want)).toEqual([]);
    expect(() => lbCommands(cur, new Map<number, SlotWant>([[9, { state: "maint" }]]))).toThrow("no slot 9");
  });

  it("recognises runtime API errors", () => {
    expect(isLbCommandError("No such server.")).toBe(true);
    expect(isLbCommandError("Unknown command: 'x'")).toBe(true);
    expect(
      isLbCommandError(
        "IP changed from '127.0.0.1' to '10.1.1.1', no need to change the port by 'stats socket command'",
      ),
    ).toBe(false);
    expect(isLbCommandError("")).toBe(false);
  });
});

describe("core/lb traffic figures", () => {
  it("the readiness check comes from the probe: interval, timeout, fall and rise", () => {
    const cfg = haproxyConfig({
      slots: 4,
      backendPort: 80,
      healthPath: "/",
      check: { intervalSeconds: 5, timeoutSeconds: 3, fall: 2, rise: 1 },
    });
    expect(cfg).toContain("default-server inter 5s fall 2 rise 1");
    expect(cfg).toContain("timeout check 3s");
    expect(cfg).toContain(`log ring@${LB_REQUEST_RING} local0 info`);
    expect(() =>
      haproxyConfig({
        slots: 4,
        backendPort: 80,
        healthPath: "/",
        check: { intervalSeconds: 0, timeoutSeconds: 3, fall: 2, rise: 1 },
      }),
    ).toThrow("check.intervalSeconds");
  });

  it("parses show stat (sessions in flight and queued, counters, check status) and the request ring", () => {
    const csv = [
      "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx",
      "app,slot1,1,0,3,1,,120,276,540,,0,,0,0,0,0,UP,1,1,0,0,0,7,4,,1,3,1,,3,,2,2,,3,L7OK,200,9,0,117,0,0,3",
      "app,slot2,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,0,0,9,9,,1,3,2,,0,,2,0,,0,,,,0,0,0,0,0",
      "app,BACKEND,0,0,3,1,,120,276,540,,0,,0,0,0,0,UP,1,1,0,0,0,7,4,,1,3,0,,3,,1,2,,3,,,,0,117,0,0,3",
    ].join("\n");
    expect(parseSlotStats(csv)).toEqual([
      { slot: 1, sessions: 4, total: 120, errors5xx: 3, status: "UP", checkStatus: "L7OK", lastChangeSeconds: 7 },
      { slot: 2, sessions: 0, total: 0, errors5xx: 0, status: "MAINT", checkStatus: "", lastChangeSeconds: 9 },
    ]);
    expect(parseRequestLog("1796667427554 slot1 15 200\n1796667427683 slot2 -1 503\nnoise\n")).toEqual([
      { atMs: 1796667427554, slot: 1, responseMs: 15, status: 200 },
      { atMs: 1796667427683, slot: 2, responseMs: -1, status: 503 },
    ]);
    expect(percentile([5, 1, 9, 3], 95)).toBe(9);
    expect(percentile([5, 1, 9, 3], 50)).toBe(3);
    expect(percentile([], 95)).toBeUndefined();
  });
});
