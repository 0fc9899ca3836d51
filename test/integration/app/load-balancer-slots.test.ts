/**
 * The load balancer's slot commands (core/app/haproxy.ts lbCommands) against a real HAProxy
 * (image scaleplane/load-balancer:2.6): a slot reused for a new instance must not report it UP
 * before HAProxy has checked the new address itself.
 *
 * The failure this guards against was real: HAProxy keeps a server's health across `set server
 * addr`, so a slot that was UP for its previous instance left maintenance UP (check status "L7OK")
 * at the new address. The reconciler took that for readiness, put the instance in service before
 * its app listened, and leastconn sent every new request to the empty server: a burst of 503s
 * after HAProxy's retries failed (seen in CI during a scale-out).
 */
import type Docker from "dockerode";
import {
  haproxyConfig,
  lbCommands,
  lbSlots,
  parseServersState,
  slotName,
  LB_BACKEND,
  type SlotWant,
} from "../../../core/app/haproxy";
import { execIn } from "../../../runtime/scaler/docker-ops";
import { lbRuntime } from "../../../runtime/scaler/group";
import { requireImage } from "../../support/engines";
import { TEST_LABELS } from "../../support/etcd-cluster";

const LB_IMAGE = "scaleplane/load-balancer:2.6";
const APP_IMAGE = "scaleplane/plain-http:1.22-r2";
const CHECK = { intervalSeconds: 1, timeoutSeconds: 1, fall: 3, rise: 2 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const run = `lbslots-${process.pid}-${Date.now().toString(36)}`;
const net = `${run}-net`;
let docker: Docker;
const containers: string[] = [];

async function startContainer(name: string, image: string, extra: Docker.ContainerCreateOptions = {}): Promise<string> {
  const c = await docker.createContainer({
    name,
    Image: image,
    Labels: TEST_LABELS,
    HostConfig: { NetworkMode: net },
    ...extra,
  });
  containers.push(name);
  await c.start();
  const info = await c.inspect();
  return info.NetworkSettings.Networks[net].IPAddress;
}

const lb = `${run}-lb`;
const state = async () => parseServersState(await lbRuntime(docker, lb, [`show servers state ${LB_BACKEND}`]));
const slot = async (n: number) => (await state()).find((s) => s.slot === n)!;
async function apply(want: Map<number, SlotWant>): Promise<string[]> {
  const cmds = lbCommands(await state(), want);
  if (cmds.length > 0) await lbRuntime(docker, lb, cmds);
  return cmds;
}
async function waitUp(n: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await slot(n)).up) {
    if (Date.now() > deadline)
      throw new Error(`slot ${n} not UP within ${timeoutMs} ms: ${JSON.stringify(await slot(n))}`);
    await sleep(200);
  }
}

beforeAll(async () => {
  docker = await requireImage(LB_IMAGE);
  await requireImage(APP_IMAGE);
  await docker.createNetwork({ Name: net, Driver: "bridge", Labels: TEST_LABELS });
  await startContainer(lb, LB_IMAGE, {
    Env: [
      `HAPROXY_CONFIG=${haproxyConfig({ slots: lbSlots(2), backendPort: 8080, healthPath: "/health", check: CHECK })}`,
    ],
  });
  // the LB answers its runtime API once HAProxy runs
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await state();
      break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(200);
    }
  }
}, 120_000);

afterAll(async () => {
  for (const name of containers.reverse())
    await docker
      ?.getContainer(name)
      .remove({ force: true })
      .catch(() => undefined);
  await docker
    ?.getNetwork(net)
    .remove()
    .catch(() => undefined);
}, 60_000);

describe("load balancer slots (real HAProxy)", () => {
  it.each([["drain" as const], ["ready" as const]])(
    "a slot that was UP, given a new instance's address (wanted %s), is DOWN until checks of the new address pass",
    async (wanted) => {
      const n = wanted === "drain" ? 1 : 2;
      // the slot serves a live instance first, UP in HAProxy's own checks
      const live = await startContainer(`${run}-live-${wanted}`, APP_IMAGE);
      await apply(new Map([[n, { state: "ready", addr: live, port: 8080 }]]));
      await waitUp(n, 15_000);
      // a new instance whose app listens only once the test says so (a file appears)
      const slowName = `${run}-slow-${wanted}`;
      const slow = await startContainer(slowName, APP_IMAGE, {
        Cmd: ["sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.1; done; exec nginx -g 'daemon off; error_log stderr;'"],
      });
      const cmds = await apply(new Map([[n, { state: wanted, addr: slow, port: 8080 }]]));
      expect(cmds).toContain(`set server ${LB_BACKEND}/${slotName(n)} health down`);
      // from the change on, while the app does not listen, HAProxy never reports the slot UP: read
      // it over several check intervals (fall 3 × 1 s would have turned the stale UP down by then)
      const seen: boolean[] = [];
      const since = Date.now();
      while (seen.length < 4 || Date.now() - since < 2 * CHECK.intervalSeconds * 1000) {
        const s = await slot(n);
        expect(s.addr).toBe(slow);
        seen.push(s.up);
        await sleep(150);
      }
      expect(seen.filter((up) => up)).toEqual([]);
      await execIn(docker, slowName, ["touch", "/tmp/go"]);
      // once it listens, `rise` passed checks bring it up, in the wanted admin state
      await waitUp(n, 20_000);
      expect((await slot(n)).admin).toBe(wanted);
    },
    60_000,
  );
});
