/**
 * The ShardedDatabase's Docker shards for real: the container specs the component produces (an
 * offline run) are started on the local engine from the local image scaleplane/postgres:15 as
 * the Docker provider would start them (the password file uploaded before the first start); each
 * shard becomes healthy through its own pg_isready healthcheck, accepts the password (and refuses
 * a wrong one) on its 127.0.0.1 port, stops cleanly on SIGTERM (exit 0) and keeps its data on its
 * volume across a restart. Then a ShardClient follows the component's own shard map (reaching
 * the shards on their host ports) for a quorum round trip.
 */
import { randomBytes } from "node:crypto";
import type Docker from "dockerode";
import { Client } from "pg";
import pino from "pino";
import { pack } from "tar-stream";
import { ShardedDatabase } from "../../../components/sharded-database";
import type { ShardMap } from "../../../core/sharding/shard-map";
import { ConfigClient } from "../../../runtime/config-client";
import { ShardClient } from "../../../runtime/shard-client";
import { installMocks, settle, valueOf, type RecordedResource } from "../../../scripts/lib/offline";
import { requireImage } from "../../support/engines";
import { startLocalEtcd, type LocalEtcd } from "../../support/etcd-cluster";
import { consecutiveFreePorts } from "../../support/ports";

const rec = installMocks({ stack: "it-db" });

const IMAGE = "scaleplane/postgres:15";
const PASSWORD = `Pw${randomBytes(12).toString("hex")}`;
const run = `itdb${process.pid}`;
let db: ShardedDatabase;

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const SIG = "4dabf18193072939515e22adb298388d";
const plain = (v: unknown): any => (v && typeof v === "object" && SIG in (v as Obj) ? (v as Obj).value : v); // eslint-disable-line @typescript-eslint/no-explicit-any
/** Docker duration strings of the provider ("10s", "500ms") in nanoseconds. */
const nanos = (d: string) => {
  const m = /^(\d+)(ms|s|m)$/.exec(d);
  if (!m) throw new Error(`unexpected duration ${d}`);
  return Number(m[1]) * { ms: 1e6, s: 1e9, m: 60e9 }[m[2] as "ms" | "s" | "m"];
};

/** A tar archive with the given files (what the provider's `uploads` copies into the container). */
function tarOf(files: Array<{ file: string; content: string }>): Promise<Buffer> {
  const p = pack();
  for (const f of files) p.entry({ name: f.file.replace(/^\//, ""), mode: 0o644 }, f.content);
  p.finalize();
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    p.on("data", (c: unknown) => chunks.push(c as Buffer));
    p.on("end", () => resolve(Buffer.concat(chunks)));
    p.on("error", reject);
  });
}

/** Creates a container from the recorded docker:index/container:Container inputs, uploads its files. */
async function createFromSpec(docker: Docker, r: RecordedResource): Promise<Docker.Container> {
  const i = r.inputs as Obj;
  const ports = (i.ports as Obj[]) ?? [];
  const hc = i.healthcheck as Obj;
  const nets = (i.networksAdvanced as Obj[]) ?? [];
  const container = await docker.createContainer({
    name: i.name,
    Image: i.image,
    Env: plain(i.envs) as string[],
    Labels: {
      ...Object.fromEntries(((i.labels as Obj[]) ?? []).map((l) => [l.label, l.value])),
      "scaleplane.test": "1",
    },
    ExposedPorts: Object.fromEntries(ports.map((p) => [`${p.internal}/${p.protocol}`, {}])),
    Healthcheck: {
      Test: hc.tests,
      Interval: nanos(hc.interval),
      Timeout: nanos(hc.timeout),
      Retries: hc.retries,
      StartPeriod: nanos(hc.startPeriod),
    },
    HostConfig: {
      Memory: i.memory * 1024 * 1024,
      NanoCpus: Math.round(Number(i.cpus) * 1e9),
      RestartPolicy: { Name: i.restart },
      PortBindings: Object.fromEntries(
        ports.map((p) => [`${p.internal}/${p.protocol}`, [{ HostIp: p.ip, HostPort: String(p.external) }]]),
      ),
      NetworkMode: nets[0].name,
      Mounts: ((i.volumes as Obj[]) ?? []).map((v) => ({
        Type: "volume" as const,
        Source: v.volumeName,
        Target: v.containerPath,
      })),
    },
    NetworkingConfig: { EndpointsConfig: { [nets[0].name]: { Aliases: nets[0].aliases } } },
  });
  const uploads = (plain(i.uploads) as Obj[] | undefined) ?? [];
  if (uploads.length > 0)
    await container.putArchive(await tarOf(uploads.map((u) => ({ file: u.file, content: plain(u.content) }))), {
      path: "/",
    });
  return container;
}

const health = async (c: Docker.Container) => ((await c.inspect()).State.Health?.Status ?? "none") as string;

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

let docker: Docker;
let ports: number[] = [];
const containers: Docker.Container[] = [];
const volumes: string[] = [];
let networkName = "";
let etcd: LocalEtcd | undefined;

const connect = async (port: number, password = PASSWORD) => {
  const c = new Client({
    host: "127.0.0.1",
    port,
    user: "scaleplane",
    password,
    database: "app",
    connectionTimeoutMillis: 5000,
  });
  c.on("error", () => undefined);
  await c.connect();
  return c;
};

beforeAll(async () => {
  docker = await requireImage(IMAGE);
  // consecutive free ports for portBase .. portBase + 2
  const base = await consecutiveFreePorts(3, 28000, 28999);
  ports = [base, base + 1, base + 2];
  db = new ShardedDatabase(run, {
    target: "docker",
    database: { name: run, shards: 3, replicationFactor: 3, consistency: "quorum" },
    password: PASSWORD,
    resources: { cpu: 0.5, memoryMb: 256 },
    docker: { portBase: base },
  });
  await settle();
  networkName = rec.ofType("docker:index/network:Network")[0].inputs.name as string;
  await docker.createNetwork({ Name: networkName, Driver: "bridge", Labels: { "scaleplane.test": "1" } });
  for (const v of rec.ofType("docker:index/volume:Volume")) {
    await docker.createVolume({ Name: v.inputs.name as string, Labels: { "scaleplane.test": "1" } });
    volumes.push(v.inputs.name as string);
  }
  for (const r of rec.ofType("docker:index/container:Container")) {
    const c = await createFromSpec(docker, r);
    containers.push(c);
    await c.start();
  }
});

afterAll(async () => {
  await etcd?.stop();
  for (const c of containers) await c.remove({ force: true }).catch(() => undefined);
  for (const v of volumes)
    await docker
      .getVolume(v)
      .remove()
      .catch(() => undefined);
  if (networkName)
    await docker
      .getNetwork(networkName)
      .remove()
      .catch(() => undefined);
});

describe("ShardedDatabase shards on the Docker engine", () => {
  it("run the local image, with the password as a file and not in the environment", async () => {
    expect(containers).toHaveLength(3);
    for (const c of containers) {
      const info = await c.inspect();
      expect(info.Config.Image).toBe(IMAGE);
      expect(JSON.stringify(info.Config.Env)).not.toContain(PASSWORD);
      expect(info.Config.Env).toContain("POSTGRES_PASSWORD_FILE=/run/secrets/postgres-password");
      expect(info.HostConfig.PortBindings?.["5432/tcp"]?.[0]?.HostIp).toBe("127.0.0.1");
    }
  });

  it("become healthy through their own healthcheck and accept the password on their 127.0.0.1 ports", async () => {
    for (const c of containers)
      await waitFor("a healthy shard", 120_000, async () => ((await health(c)) === "healthy" ? true : undefined));
    for (const [i, port] of ports.entries()) {
      const c = await connect(port);
      try {
        const r = await c.query(
          "SELECT current_user AS u, current_database() AS d, current_setting('server_version_num')::int AS v",
        );
        expect(r.rows[0]).toEqual({ u: "scaleplane", d: "app", v: expect.any(Number) });
        expect(r.rows[0].v).toBeGreaterThanOrEqual(150000);
        expect(r.rows[0].v).toBeLessThan(160000);
        await c.query(
          "CREATE TABLE IF NOT EXISTS it_probe (shard int PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())",
        );
        await c.query("INSERT INTO it_probe (shard) VALUES ($1) ON CONFLICT DO NOTHING", [i]);
      } finally {
        await c.end();
      }
    }
    await expect(connect(ports[0], "wrong-password")).rejects.toThrow(/password authentication failed/);
  });

  it("stop cleanly on SIGTERM (exit 0) and keep their data on the volume across a restart", async () => {
    const c = containers[1];
    await c.stop({ t: 30 });
    const info = await c.inspect();
    expect(info.State.ExitCode).toBe(0);
    const logs = (await c.logs({ stdout: true, stderr: true })).toString();
    expect(logs).toMatch(/received fast shutdown request/);
    expect(logs).toMatch(/database system is shut down/);
    await c.start();
    await waitFor("shard 1 back", 60_000, async () => {
      const cl = await connect(ports[1]);
      try {
        return (await cl.query("SELECT shard FROM it_probe")).rows.map((r) => r.shard as number);
      } finally {
        await cl.end();
      }
    }).then((rows) => expect(rows).toEqual([1]));
    expect((await c.logs({ stdout: true, stderr: true })).toString().match(/initialising/g)).toHaveLength(1); // initdb ran once
  });

  it("serve a ShardClient following the component's shard map (quorum of 3)", async () => {
    const map = (await valueOf(db.shardMap)) as ShardMap;
    expect(map.shards.map((s) => s.host)).toEqual(containers.map((_, i) => `${run}-it-db-shard-${i}`));
    etcd = await startLocalEtcd("sp-db-docker");
    const config = ConfigClient.create({
      endpoints: [etcd.endpoint],
      prefix: `/${run}/`,
      logger: pino({ level: "silent" }),
    });
    try {
      await config.initShardMap(map);
      const reach = Object.fromEntries(map.shards.map((s, i) => [s.name, { host: "127.0.0.1", port: ports[i] }]));
      const client = await ShardClient.connect({
        config,
        user: "scaleplane",
        password: PASSWORD,
        reach,
        logger: pino({ level: "silent" }),
        connectTimeoutMs: 5000,
        statementTimeoutMs: 5000,
      });
      try {
        for (let k = 0; k < 10; k++) await client.put(`order/${k}`, { k });
        expect((await client.get("order/7"))?.value).toEqual({ k: 7 });
        expect((await client.scan({ prefix: "order/" })).items).toHaveLength(10);
        // replication 3 at quorum: every key on at least 2 of the 3 shards, each row on its replicas only
        await client.repairsIdle();
        let rows = 0;
        for (const port of ports) {
          const c = await connect(port);
          try {
            rows += Number(
              (await c.query("SELECT count(*) AS n FROM scaleplane_kv WHERE key LIKE 'order/%'")).rows[0].n,
            );
          } finally {
            await c.end();
          }
        }
        expect(rows).toBeGreaterThanOrEqual(20);
        expect(rows).toBeLessThanOrEqual(30);
      } finally {
        await client.close();
      }
    } finally {
      config.close();
    }
  });
});
