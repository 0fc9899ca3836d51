/**
 * The member specs RaftConfigService (docker target) produces in a mocked program run start a real
 * 3-member etcd cluster through the EtcdMembership provider (SDK dynamic-provider host, gRPC):
 * healthy with one leader, put/get through the 127.0.0.1 published ports; a full restart of every
 * member container recovers with no manual edits and the data intact. Once plain, once with TLS
 * (certificates from the openssl CLI standing in for @pulumi/tls, whose values a mocked run lacks).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Docker from "dockerode";
import { installMocks, settle } from "../../../scripts/lib/offline";
import { MAX_MEMBERS, dockerMemberHosts } from "../../../core/etcd/placement";
import { ensureNetwork, listMembers, startMember, stopMember } from "../../../providers/etcd-membership/docker-members";
import { RaftConfigService } from "../../../components/raft-config-service";
import { ProviderHost, type Props } from "../../support/provider-host";
import { consecutiveFreePorts } from "../../support/ports";
import { ETCD_BINARY, ETCD_IMAGE, TEST_LABELS, cleanup, client, requireDocker, sleep } from "./support";

const TYPE = "pulumi-nodejs:dynamic/etcd:EtcdMembership";
const rec = installMocks({ stack: "itest" });

const common = {
  image: ETCD_IMAGE,
  etcdBinary: ETCD_BINARY,
  members: 3,
  heartbeatIntervalMs: 50,
  electionTimeoutMs: 500,
};

let docker: Docker;
let host: ProviderHost;
const certDir = mkdtempSync(join(tmpdir(), "spit-etcd-tls-"));

beforeAll(async () => {
  // plain publishes members on plainBase + i, secure (3, then 5 members) on secureBase + i
  const plainBase = await consecutiveFreePorts(2 * MAX_MEMBERS, 23000, 23999);
  const secureBase = plainBase + MAX_MEMBERS;
  docker = await requireDocker();
  new RaftConfigService("plain", {
    target: "docker",
    configService: { ...common, name: "spitplain" },
    docker: { portBase: plainBase, labels: TEST_LABELS },
  });
  new RaftConfigService("secure", {
    target: "docker",
    configService: { ...common, name: "spittls", tls: true },
    docker: { portBase: secureBase, labels: TEST_LABELS },
  });
  // The same service after `configService.members: 5` (a second program run, as a stack update would do).
  new RaftConfigService("secure5", {
    target: "docker",
    configService: { ...common, name: "spittls", tls: true, members: 5 },
    docker: { portBase: secureBase, labels: TEST_LABELS },
  });
  await settle();
  for (const c of ["spitplain-itest", "spittls-itest"]) await cleanup(docker, c, `${c}-net`);
  host = await ProviderHost.start();
});

afterAll(async () => {
  await host?.stop();
  if (docker) for (const c of ["spitplain-itest", "spittls-itest"]) await cleanup(docker, c, `${c}-net`);
  rmSync(certDir, { recursive: true, force: true });
});

/** A CA plus server/peer certificates for `hosts` + localhost/127.0.0.1 and a client certificate (openssl CLI). */
function opensslCerts(hosts: string[]) {
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: certDir, stdio: ["ignore", "pipe", "pipe"] });
  const key = (name: string) =>
    run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${name}.key`);
  key("ca");
  run("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=spit etcd CA", "-days", "2", "-out", "ca.crt");
  const leaf = (name: string, usage: string, sans?: string) => {
    key(name);
    run("req", "-new", "-key", `${name}.key`, "-subj", `/CN=spit ${name}`, "-out", `${name}.csr`);
    writeFileSync(
      join(certDir, `${name}.ext`),
      `extendedKeyUsage=${usage}\nkeyUsage=digitalSignature,keyEncipherment\n${sans ? `subjectAltName=${sans}\n` : ""}`,
    );
    run(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.crt`,
    );
  };
  const sans = [...hosts.map((h) => `DNS:${h}`), "DNS:localhost", "IP:127.0.0.1"].join(",");
  leaf("server", "serverAuth,clientAuth", sans);
  leaf("peer", "serverAuth,clientAuth", sans);
  leaf("client", "clientAuth");
  const r = (f: string) => readFileSync(join(certDir, f), "utf8");
  return {
    ca: r("ca.crt"),
    serverCert: r("server.crt"),
    serverKey: r("server.key"),
    peerCert: r("peer.crt"),
    peerKey: r("peer.key"),
    clientCert: r("client.crt"),
    clientKey: r("client.key"),
  };
}

async function clusterRoundTrip(componentName: string, withTls: boolean) {
  const recorded = rec.one(TYPE, `${componentName}-members`).inputs;
  const net = rec.one("docker:index/network:Network", `${componentName}-net`).inputs;
  expect(recorded.network).toBe(net.name);
  const members = recorded.members as { host: string; hostPort: number }[];
  const clusterName = recorded.clusterName as string;
  // Like the component's certificates: every host the cluster may grow to.
  const tls = withTls ? opensslCerts(dockerMemberHosts(clusterName, MAX_MEMBERS)) : undefined;
  const inputs: Props = { ...recorded, ...(tls ? { tls } : {}) };

  await ensureNetwork(docker, net.name as string, TEST_LABELS);
  const checked = await host.check(TYPE, {}, inputs);
  expect(checked.failures).toEqual([]);
  const t0 = Date.now();
  const { id, outputs } = await host.create(TYPE, checked.inputs);
  const createMs = Date.now() - t0;
  expect(JSON.stringify(outputs)).not.toMatch(/PRIVATE KEY/);
  expect(outputs.tls).toBeUndefined();
  const endpoints = outputs.publishedEndpoints as string[];
  expect(endpoints).toEqual(members.map((m) => `${withTls ? "https" : "http"}://127.0.0.1:${m.hostPort}`));

  const creds = tls
    ? {
        rootCertificate: Buffer.from(tls.ca),
        certChain: Buffer.from(tls.clientCert),
        privateKey: Buffer.from(tls.clientKey),
      }
    : undefined;
  const status = async () => {
    const leaders = new Set<string>();
    for (const e of endpoints) {
      const c = client([e], creds);
      try {
        leaders.add((await c.maintenance.status()).leader);
      } finally {
        c.close();
      }
    }
    return leaders;
  };
  const leaders = await status();
  expect(leaders.size).toBe(1);
  expect([...leaders][0]).not.toBe("0");

  // put through one member, get through each of the others.
  const writer = client([endpoints[0]], creds);
  for (let i = 0; i < 20; i++) await writer.put(`cfg/${i}`).value(`v${i}`);
  writer.close();
  for (const e of endpoints.slice(1)) {
    const c = client([e], creds);
    expect(await c.get("cfg/19").string()).toBe("v19");
    c.close();
  }
  if (withTls) {
    // Without a client certificate the member refuses the call.
    const anon = client([endpoints[0]], { rootCertificate: Buffer.from(tls!.ca) } as never);
    await expect(anon.get("cfg/0").string()).rejects.toThrow();
    anon.close();
  }

  // Full cluster restart: stop every member, start them again; no edits.
  const t1 = Date.now();
  const hosts = (await listMembers(docker, clusterName)).map((m) => m.host);
  expect(hosts).toHaveLength(3);
  await Promise.all(hosts.map((h) => stopMember(docker, h, { timeoutSeconds: 5 })));
  expect((await listMembers(docker, clusterName)).every((m) => !m.running)).toBe(true);
  await Promise.all(hosts.map((h) => startMember(docker, h)));
  let recovered = false;
  for (let i = 0; i < 120 && !recovered; i++) {
    try {
      const l = await status();
      recovered = l.size === 1 && !l.has("0");
    } catch {
      await sleep(250);
    }
  }
  expect(recovered).toBe(true);
  const restartMs = Date.now() - t1;
  const reader = client(endpoints, creds);
  const kept = await reader.getAll().prefix("cfg/").strings();
  reader.close();
  expect(Object.keys(kept)).toHaveLength(20);
  expect(kept["cfg/7"]).toBe("v7");

  let state = outputs;
  let scaleMs = 0;
  if (withTls) {
    // Grow the TLS cluster 3 → 5 with the 5-member spec the component produces: same certificates.
    const grown = { ...rec.one(TYPE, "secure5-members").inputs, tls };
    const news = await host.check(TYPE, { ...inputs }, grown);
    expect(news.failures).toEqual([]);
    expect((await host.diff(TYPE, id, state, news.inputs)).changes).toBe("some");
    const t2 = Date.now();
    state = await host.update(TYPE, id, state, news.inputs);
    scaleMs = Date.now() - t2;
    expect(Object.keys(state.memberIds as object)).toHaveLength(5);
    const c = client([(state.publishedEndpoints as string[])[4]], creds);
    expect(await c.get("cfg/7").string()).toBe("v7");

    // Refresh works with TLS although the state holds no client key: it reads the member list
    // and reports drift (a learner nobody asked for), which the next update reconciles.
    expect(JSON.stringify(state)).not.toMatch(/PRIVATE KEY/);
    const clean = await host.read(TYPE, id, state);
    expect(clean.outputs.memberIds).toEqual(state.memberIds);
    expect(clean.outputs.drift).toEqual([]);
    // etcd refuses `member add` ("unhealthy cluster") for ~5 s after any member (re)started: retry, bounded.
    for (let attempt = 1; ; attempt++) {
      try {
        await c.cluster.memberAdd({ peerURLs: [`https://${clusterName}-6:2380`], isLearner: true });
        break;
      } catch (e) {
        // etcd3's circuit breaker opens after a refusal and half-opens a few seconds later.
        if (attempt >= 30 || !/unhealthy cluster|circuit breaker is open/.test(String(e))) throw e;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    c.close();
    const drifted = await host.read(TYPE, id, state);
    expect(drifted.outputs.drift).toEqual([`learner (never started) at ${clusterName}-6 is not a desired member`]);
    expect((await host.diff(TYPE, id, drifted.outputs, news.inputs)).changes).toBe("some");
    state = await host.update(TYPE, id, drifted.outputs, news.inputs);
    expect(state.drift).toEqual([]);
    expect((await host.read(TYPE, id, state)).outputs.drift).toEqual([]);
  }

  await host.delete(TYPE, id, state);
  expect(await listMembers(docker, clusterName)).toEqual([]);
  console.log(JSON.stringify({ cluster: clusterName, tls: withTls, createMs, restartMs, scaleTo5Ms: scaleMs }));
}

it("the component's member specs start a healthy 3-member cluster that survives a full restart", async () => {
  await clusterRoundTrip("plain", false);
});

it("the same with TLS: client-certificate auth, https on 127.0.0.1, keys never in provider outputs, grows 3 → 5", async () => {
  await clusterRoundTrip("secure", true);
});
