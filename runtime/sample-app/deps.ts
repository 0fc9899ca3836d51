/**
 * The sample app's dependency check (`GET /deps`): proves from inside an instance that it reaches
 * the config service and every database shard over the stack's networks, with the credentials it
 * was given. Node built-ins only (the app bundle runs on Debian's Node 18 without node_modules):
 *
 * - config service: a range read through etcd's v3 JSON gateway (`POST <endpoint>/v3/kv/range`),
 *   which is served by the Raft cluster (answers with the cluster id, member id and revision);
 * - database: per shard of SCALEPLANE_SHARD_MAP (`shards[].host/port/database`), a PostgreSQL session (protocol 3.0 with
 *   SCRAM-SHA-256, the auth the shards require) that runs `SELECT 1` as SCALEPLANE_DATABASE_USER
 *   with SCALEPLANE_DATABASE_PASSWORD (read from its `_FILE` at start).
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto";
import * as http from "node:http";
import * as net from "node:net";

export interface DepResult {
  target: string;
  ok: boolean;
  detail: string;
}

/** etcd: a range read through the JSON gateway; ok with the cluster id and revision. */
export async function checkEtcd(endpoint: string, timeoutMs = 3000): Promise<DepResult> {
  const body = JSON.stringify({ key: Buffer.from("scaleplane/deps-check").toString("base64") });
  try {
    const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(
        `${endpoint.replace(/\/$/, "")}/v3/kv/range`,
        { method: "POST", timeout: timeoutMs, headers: { "content-type": "application/json" } },
        (r) => {
          const chunks: Buffer[] = [];
          r.on("data", (c: Buffer) => chunks.push(c));
          r.on("end", () => resolve({ status: r.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
          r.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on("error", reject);
      req.end(body);
    });
    if (res.status !== 200)
      return { target: endpoint, ok: false, detail: `HTTP ${res.status}: ${res.text.slice(0, 200)}` };
    const header = (JSON.parse(res.text) as { header?: { cluster_id?: string; revision?: string } }).header;
    if (!header?.cluster_id)
      return { target: endpoint, ok: false, detail: `not an etcd range answer: ${res.text.slice(0, 200)}` };
    return { target: endpoint, ok: true, detail: `cluster ${header.cluster_id} revision ${header.revision ?? "0"}` };
  } catch (e) {
    return { target: endpoint, ok: false, detail: (e as Error).message };
  }
}

/** A PostgreSQL server: authenticates (SCRAM-SHA-256) and runs `SELECT 1`. */
export async function checkPostgres(o: {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  timeoutMs?: number;
}): Promise<DepResult> {
  const target = `${o.host}:${o.port}/${o.database}`;
  try {
    const value = await pgSelectOne(o);
    return { target, ok: value === "1", detail: `SELECT 1 → ${value}` };
  } catch (e) {
    return { target, ok: false, detail: (e as Error).message };
  }
}

function message(type: string, payload: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeInt32BE(payload.length + 4);
  return Buffer.concat([Buffer.from(type, "ascii"), len, payload]);
}
const cstr = (s: string) => Buffer.from(`${s}\0`, "utf8");
const hmac = (key: Buffer, data: string) => createHmac("sha256", key).update(data).digest();

/** One session: startup, SCRAM-SHA-256, `SELECT 1`, terminate. Resolves with the value read. */
function pgSelectOne(o: {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  timeoutMs?: number;
}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: o.host, port: o.port });
    const fail = (e: Error) => {
      socket.destroy();
      reject(e);
    };
    socket.setTimeout(o.timeoutMs ?? 5000, () => fail(new Error(`no answer within ${o.timeoutMs ?? 5000} ms`)));
    socket.on("error", fail);
    const nonce = randomBytes(18).toString("base64");
    const clientFirstBare = `n=*,r=${nonce}`;
    let serverSignature: Buffer | undefined;
    let value: string | undefined;
    let buf = Buffer.alloc(0);
    socket.on("connect", () => {
      const params = Buffer.concat([cstr("user"), cstr(o.user), cstr("database"), cstr(o.database), Buffer.from([0])]);
      const head = Buffer.alloc(8);
      head.writeInt32BE(params.length + 8);
      head.writeInt32BE(196608, 4);
      socket.write(Buffer.concat([head, params]));
    });
    socket.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 5) {
        const len = buf.readInt32BE(1);
        if (buf.length < len + 1) break;
        const type = String.fromCharCode(buf[0]);
        const body = buf.subarray(5, len + 1);
        buf = buf.subarray(len + 1);
        if (type === "E") {
          const fields = body.toString("utf8").split("\0");
          return fail(new Error(`postgres: ${fields.find((f) => f.startsWith("M"))?.slice(1) ?? "error"}`));
        }
        if (type === "R") {
          const code = body.readInt32BE(0);
          if (code === 10) {
            const mechanisms = body.subarray(4).toString("utf8").split("\0");
            if (!mechanisms.includes("SCRAM-SHA-256"))
              return fail(new Error(`postgres offers ${mechanisms.join(",")}, not SCRAM-SHA-256`));
            const first = Buffer.from(`n,,${clientFirstBare}`, "utf8");
            const n = Buffer.alloc(4);
            n.writeInt32BE(first.length);
            socket.write(message("p", Buffer.concat([cstr("SCRAM-SHA-256"), n, first])));
          } else if (code === 11) {
            const serverFirst = body.subarray(4).toString("utf8");
            const attrs = Object.fromEntries(serverFirst.split(",").map((kv) => [kv[0], kv.slice(2)]));
            if (!attrs.r?.startsWith(nonce))
              return fail(new Error("postgres: SCRAM server nonce does not extend ours"));
            const salted = pbkdf2Sync(o.password, Buffer.from(attrs.s, "base64"), Number(attrs.i), 32, "sha256");
            const clientKey = hmac(salted, "Client Key");
            const withoutProof = `c=biws,r=${attrs.r}`;
            const auth = `${clientFirstBare},${serverFirst},${withoutProof}`;
            const signature = hmac(createHash("sha256").update(clientKey).digest(), auth);
            const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]));
            serverSignature = hmac(hmac(salted, "Server Key"), auth);
            socket.write(message("p", Buffer.from(`${withoutProof},p=${proof.toString("base64")}`, "utf8")));
          } else if (code === 12) {
            const v = Buffer.from(body.subarray(4).toString("utf8").replace(/^v=/, ""), "base64");
            if (!serverSignature || v.length !== serverSignature.length || !timingSafeEqual(v, serverSignature))
              return fail(new Error("postgres: SCRAM server signature mismatch"));
          } else if (code !== 0)
            return fail(new Error(`postgres asks for authentication method ${code}; only SCRAM-SHA-256 is supported`));
        } else if (type === "Z") {
          if (value === undefined) socket.write(message("Q", cstr("SELECT 1")));
          else {
            socket.end(message("X", Buffer.alloc(0)));
            return resolve(value);
          }
        } else if (type === "D") {
          const fieldLen = body.readInt32BE(2);
          value = body.subarray(6, 6 + fieldLen).toString("utf8");
        }
      }
    });
  });
}

/** Every dependency named in the app's environment: config endpoints and the shard map's members. */
export async function checkDeps(
  env: Record<string, string | undefined>,
): Promise<{ ok: boolean; configService: DepResult[]; database: DepResult[] }> {
  const endpoints = (env.SCALEPLANE_CONFIG_ENDPOINTS ?? "").split(",").filter((e) => e.length > 0);
  const map = env.SCALEPLANE_SHARD_MAP
    ? (JSON.parse(env.SCALEPLANE_SHARD_MAP) as { shards?: { host: string; port: number; database?: string }[] })
    : { shards: [] };
  const user = env.SCALEPLANE_DATABASE_USER ?? "";
  const password = env.SCALEPLANE_DATABASE_PASSWORD ?? "";
  const [configService, database] = await Promise.all([
    Promise.all(endpoints.map((e) => checkEtcd(e))),
    Promise.all(
      (map.shards ?? []).map((m) =>
        checkPostgres({
          host: m.host,
          port: m.port,
          user,
          password,
          database: m.database ?? env.SCALEPLANE_DATABASE_NAME ?? user,
        }),
      ),
    ),
  ]);
  const ok = configService.length > 0 && database.length > 0 && [...configService, ...database].every((r) => r.ok);
  return { ok, configService, database };
}
