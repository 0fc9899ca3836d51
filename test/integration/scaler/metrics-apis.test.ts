/**
 * Request-level tests of the metrics interfaces (runtime/scaler/kubernetes-api.ts, cloudwatch.ts)
 * against a local HTTP(S) server on 127.0.0.1: the exact requests (method, path, query, headers,
 * bodies; the SigV4 signature recomputed independently here with node:crypto), canned responses
 * parsed into the typed results, and errors (401, 404, 409, timeouts) as HttpCallErrors naming the call.
 */
import { execFileSync } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CloudWatchClient, getMetricDataParams, metricTrace } from "../../../runtime/scaler/cloudwatch";
import { HttpCallError } from "../../../runtime/scaler/http-call";
import { KubernetesApi } from "../../../runtime/scaler/kubernetes-api";
import { parseTraceCsv } from "../../../core/scaling/simulate";
import { traceCsv } from "../../../core/scaling/traces";
import { FakeHttpServer as FakeServer, json, type Seen } from "../../support/fake-http";

describe("KubernetesApi", () => {
  const fake = new FakeServer(http.createServer());
  let api: KubernetesApi;
  let token = "token-1";
  beforeAll(async () => {
    api = new KubernetesApi({ baseUrl: await fake.listen(), token: () => token, timeoutMs: 500 });
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    fake.seen = [];
    fake.replies = [];
  });

  it("lists pod metrics with the label selector and sums container usage", async () => {
    fake.replies.push(
      json({
        kind: "PodMetricsList",
        apiVersion: "metrics.k8s.io/v1beta1",
        items: [
          {
            metadata: { name: "web-a", namespace: "apps" },
            timestamp: "2026-12-01T10:00:00Z",
            window: "15s",
            containers: [
              { name: "app", usage: { cpu: "12345678n", memory: "131072Ki" } },
              { name: "sidecar", usage: { cpu: "5m", memory: "16Mi" } },
            ],
          },
          {
            metadata: { name: "web-b", namespace: "apps" },
            containers: [{ name: "app", usage: { cpu: "250m", memory: "1Gi" } }],
          },
        ],
      }),
    );
    const usage = await api.listPodMetrics("apps", "app.kubernetes.io/name=web,app.kubernetes.io/instance=g");
    const r = fake.seen[0];
    expect(r.method).toBe("GET");
    expect(r.path).toBe("/apis/metrics.k8s.io/v1beta1/namespaces/apps/pods");
    expect(r.query.get("labelSelector")).toBe("app.kubernetes.io/name=web,app.kubernetes.io/instance=g");
    expect(r.headers.authorization).toBe("Bearer token-1");
    expect(r.headers.accept).toBe("application/json");
    expect(usage).toHaveLength(2);
    expect(usage[0].name).toBe("web-a");
    expect(usage[0].cpuCores).toBeCloseTo(0.012345678 + 0.005, 12);
    expect(usage[0].memoryBytes).toBe(128 * 2 ** 20 + 16 * 2 ** 20);
    expect(usage[1]).toEqual({ name: "web-b", cpuCores: 0.25, memoryBytes: 2 ** 30 });
  });

  it("lists pods: phase, readiness, terminating, summed requests (none when a container lacks one); re-reads the token", async () => {
    token = "token-2";
    fake.replies.push(
      json({
        kind: "PodList",
        items: [
          {
            metadata: { name: "web-a" },
            spec: {
              containers: [
                { name: "app", resources: { requests: { cpu: "250m", memory: "256Mi" } } },
                { name: "sidecar", resources: { requests: { cpu: "0.05", memory: "32Mi" } } },
              ],
            },
            status: {
              phase: "Running",
              conditions: [
                { type: "PodScheduled", status: "True" },
                { type: "Ready", status: "True" },
              ],
            },
          },
          {
            metadata: { name: "web-b", deletionTimestamp: "2026-12-01T10:00:00Z" },
            spec: { containers: [{ name: "app", resources: { requests: { cpu: "1" } } }] },
            status: { phase: "Running", conditions: [{ type: "Ready", status: "False" }] },
          },
          { metadata: { name: "web-c" }, spec: { containers: [{ name: "app" }] }, status: { phase: "Pending" } },
        ],
      }),
    );
    const pods = await api.listPods("apps", "a=b");
    expect(fake.seen[0]).toMatchObject({ method: "GET", path: "/api/v1/namespaces/apps/pods" });
    expect(fake.seen[0].query.get("labelSelector")).toBe("a=b");
    expect(fake.seen[0].headers.authorization).toBe("Bearer token-2");
    expect(pods[0]).toMatchObject({
      name: "web-a",
      phase: "Running",
      ready: true,
      terminating: false,
      memoryRequestBytes: 288 * 2 ** 20,
    });
    expect(pods[0].cpuRequestCores).toBeCloseTo(0.3, 12);
    expect(pods[1]).toEqual({ name: "web-b", phase: "Running", ready: false, terminating: true, cpuRequestCores: 1 });
    expect(pods[2]).toEqual({ name: "web-c", phase: "Pending", ready: false, terminating: false });
  });

  it("gets the HPA and merge-patches spec.minReplicas, conditioned on the resourceVersion", async () => {
    const hpa = (min: number, rv: string) => ({
      apiVersion: "autoscaling/v2",
      kind: "HorizontalPodAutoscaler",
      metadata: { name: "web", namespace: "apps", resourceVersion: rv },
      spec: { minReplicas: min, maxReplicas: 10, scaleTargetRef: { kind: "Deployment", name: "web" } },
      status: { currentReplicas: 3, desiredReplicas: 3 },
    });
    fake.replies.push(json(hpa(2, "41")), json(hpa(5, "42")));
    const got = await api.getHpa("apps", "web");
    expect(got).toEqual({
      name: "web",
      namespace: "apps",
      minReplicas: 2,
      maxReplicas: 10,
      currentReplicas: 3,
      desiredReplicas: 3,
      resourceVersion: "41",
    });
    const patched = await api.patchHpaMinReplicas("apps", "web", 5, got.resourceVersion);
    const [g, p] = fake.seen;
    expect(g).toMatchObject({
      method: "GET",
      path: "/apis/autoscaling/v2/namespaces/apps/horizontalpodautoscalers/web",
    });
    expect(p).toMatchObject({
      method: "PATCH",
      path: "/apis/autoscaling/v2/namespaces/apps/horizontalpodautoscalers/web",
    });
    expect(p.headers["content-type"]).toBe("application/merge-patch+json");
    expect(p.query.get("fieldManager")).toBe("scaleplane-predictive-scaler");
    expect(JSON.parse(p.body)).toEqual({ metadata: { resourceVersion: "41" }, spec: { minReplicas: 5 } });
    expect(patched.minReplicas).toBe(5);
  });

  const status = (code: number, reason: string, message: string) =>
    json({ kind: "Status", apiVersion: "v1", status: "Failure", reason, message, code }, code);

  it.each([
    [401, "Unauthorized", "Unauthorized", () => api.getHpa("apps", "web"), "kubernetes getHpa"],
    [
      404,
      "NotFound",
      'horizontalpodautoscalers.autoscaling "nope" not found',
      () => api.getHpa("apps", "nope"),
      "kubernetes getHpa",
    ],
    [
      409,
      "Conflict",
      "the object has been modified",
      () => api.patchHpaMinReplicas("apps", "web", 3, "1"),
      "kubernetes patchHpa",
    ],
    [
      404,
      "NotFound",
      "the server could not find the requested resource",
      () => api.listPodMetrics("apps", "a=b"),
      "kubernetes listPodMetrics",
    ],
  ])(
    "HTTP %d becomes an HttpCallError naming the call and the API's reason",
    async (code, reason, message, call, name) => {
      fake.replies.push(status(code, reason, message));
      const e = await call().catch((x: unknown) => x);
      expect(e).toBeInstanceOf(HttpCallError);
      expect(e).toMatchObject({ call: name, failure: "status", status: code });
      expect((e as Error).message).toBe(
        `${name}: HTTP ${code} for ${fake.seen[0].method} ${fake.seen[0].path}: ${reason}: ${message}`,
      );
    },
  );

  it("a call past its deadline fails with a timeout naming the call", async () => {
    fake.replies.push("hang");
    const e = await api.listPods("apps", "a=b").catch((x: unknown) => x);
    expect(e).toMatchObject({ call: "kubernetes listPods", failure: "timeout" });
    expect((e as Error).message).toMatch(/^kubernetes listPods: no complete response within 500 ms/);
  });

  it("a refused connection is a network error naming the call", async () => {
    const closed = new KubernetesApi({ baseUrl: "http://127.0.0.1:1", token: "t", timeoutMs: 2000 });
    await expect(closed.getHpa("a", "b")).rejects.toMatchObject({ call: "kubernetes getHpa", failure: "network" });
  });

  it("refuses to start outside a pod without a base URL", () => {
    expect(() => new KubernetesApi({ env: {} })).toThrow(/KUBERNETES_SERVICE_HOST is not set/);
  });
});

describe("KubernetesApi over TLS with a CA bundle", () => {
  let dir: string;
  let fake: FakeServer;
  let base: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "scaleplane-k8s-tls-"));
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
      ],
      { stdio: "ignore" },
    );
    fake = new FakeServer(
      https.createServer({ key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) }),
    );
    base = await fake.listen();
  });
  afterAll(async () => {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("trusts the server through the given CA and refuses it without", async () => {
    fake.replies.push(json({ metadata: { name: "web", namespace: "apps" }, spec: { maxReplicas: 4 } }));
    const api = new KubernetesApi({
      baseUrl: base,
      token: "t",
      ca: readFileSync(join(dir, "cert.pem")),
      timeoutMs: 2000,
    });
    await expect(api.getHpa("apps", "web")).resolves.toMatchObject({
      name: "web",
      maxReplicas: 4,
      minReplicas: undefined,
    });
    const untrusted = new KubernetesApi({ baseUrl: base, token: "t", timeoutMs: 2000 });
    await expect(untrusted.getHpa("apps", "web")).rejects.toMatchObject({
      call: "kubernetes getHpa",
      failure: "network",
    });
  });
});

/** SigV4, recomputed from the received request (AWS's documented algorithm), to check the client's signature. */
function expectedSignature(
  r: Seen,
  secret: string,
  scope: { date: string; region: string; service: string },
  signedHeaders: string[],
): string {
  const enc = (s: string) =>
    encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const query = [...r.query.entries()]
    .map(([k, v]) => `${enc(k)}=${enc(v)}`)
    .sort()
    .join("&");
  const headers = signedHeaders.map((h) => `${h}:${String(r.headers[h]).trim().replace(/\s+/g, " ")}\n`).join("");
  const canonical = [
    r.method,
    r.path,
    query,
    headers,
    signedHeaders.join(";"),
    createHash("sha256").update(r.body).digest("hex"),
  ].join("\n");
  const amzDate = String(r.headers["x-amz-date"]);
  const credentialScope = `${scope.date}/${scope.region}/${scope.service}/aws4_request`;
  const toSign = [
    "AWS4-HMAC-SHA256",
    amzDate,
    credentialScope,
    createHash("sha256").update(canonical).digest("hex"),
  ].join("\n");
  const hmac = (k: string | Buffer, d: string) => createHmac("sha256", k).update(d).digest();
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, scope.date), scope.region), scope.service), "aws4_request");
  return createHmac("sha256", key).update(toSign).digest("hex");
}

const page = (results: string, nextToken?: string) => ({
  status: 200,
  contentType: "text/xml",
  body: `<GetMetricDataResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">
  <GetMetricDataResult>
    <MetricDataResults>${results}</MetricDataResults>
    ${nextToken ? `<NextToken>${nextToken}</NextToken>` : ""}
    <Messages/>
  </GetMetricDataResult>
  <ResponseMetadata><RequestId>5f1c2b4e-0000-4000-8000-000000000000</RequestId></ResponseMetadata>
</GetMetricDataResponse>`,
});
const member = (id: string, label: string, points: [string, string][]) =>
  `<member><Id>${id}</Id><Label>${label}</Label><StatusCode>Complete</StatusCode>` +
  `<Timestamps>${points.map(([t]) => `<member>${t}</member>`).join("")}</Timestamps><Values>${points.map(([, v]) => `<member>${v}</member>`).join("")}</Values></member>`;

describe("CloudWatchClient.getMetricData", () => {
  const fake = new FakeServer(http.createServer());
  let endpoint: string;
  const credentials = {
    accessKeyId: "AKIDEXAMPLE",
    secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    sessionToken: "session-token/1",
  };
  const now = () => new Date("2026-12-01T10:20:30Z");
  const query = {
    id: "cpu",
    namespace: "AWS/EC2",
    metricName: "CPUUtilization",
    dimensions: { AutoScalingGroupName: "web-asg" },
    periodSeconds: 300,
    stat: "Average",
  };
  const input = { queries: [query], start: new Date("2026-12-01T00:00:00Z"), end: new Date("2026-12-01T01:00:00Z") };
  beforeAll(async () => {
    endpoint = await fake.listen();
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    fake.seen = [];
    fake.replies = [];
  });

  it("POSTs the form-encoded query, SigV4-signed for monitoring in the region, and follows NextToken", async () => {
    fake.replies.push(
      page(
        member("cpu", "CPUUtilization", [
          ["2026-12-01T00:00:00Z", "12.5"],
          ["2026-12-01T00:05:00Z", "20"],
        ]),
        "tok/2+=",
      ),
      page(member("cpu", "CPUUtilization", [["2026-12-01T00:10:00Z", "31.25"]])),
    );
    const cw = new CloudWatchClient({ region: "eu-west-1", endpoint, credentials, now, timeoutMs: 2000 });
    const series = await cw.getMetricData(input);
    expect(series).toEqual([
      {
        id: "cpu",
        label: "CPUUtilization",
        statusCode: "Complete",
        points: [
          { t: Date.parse("2026-12-01T00:00:00Z"), value: 12.5 },
          { t: Date.parse("2026-12-01T00:05:00Z"), value: 20 },
          { t: Date.parse("2026-12-01T00:10:00Z"), value: 31.25 },
        ],
      },
    ]);
    expect(fake.seen).toHaveLength(2);
    const [first, second] = fake.seen;
    expect(first.method).toBe("POST");
    expect(first.path).toBe("/");
    expect(first.headers["content-type"]).toBe("application/x-www-form-urlencoded; charset=utf-8");
    expect(Object.fromEntries(new URLSearchParams(first.body))).toEqual({
      Action: "GetMetricData",
      Version: "2010-08-01",
      "MetricDataQueries.member.1.Id": "cpu",
      "MetricDataQueries.member.1.MetricStat.Metric.Namespace": "AWS/EC2",
      "MetricDataQueries.member.1.MetricStat.Metric.MetricName": "CPUUtilization",
      "MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Name": "AutoScalingGroupName",
      "MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Value": "web-asg",
      "MetricDataQueries.member.1.MetricStat.Period": "300",
      "MetricDataQueries.member.1.MetricStat.Stat": "Average",
      "MetricDataQueries.member.1.ReturnData": "true",
      StartTime: "2026-12-01T00:00:00.000Z",
      EndTime: "2026-12-01T01:00:00.000Z",
      ScanBy: "TimestampAscending",
    });
    expect(new URLSearchParams(second.body).get("NextToken")).toBe("tok/2+=");
    expect(first.headers["x-amz-date"]).toBe("20261201T102030Z");
    expect(first.headers["x-amz-security-token"]).toBe("session-token/1");
    expect(first.headers["x-amz-content-sha256"]).toBe(createHash("sha256").update(first.body).digest("hex"));
    for (const r of fake.seen) {
      const m =
        /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20261201\/eu-west-1\/monitoring\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(
          String(r.headers.authorization),
        );
      expect(m).not.toBeNull();
      const signed = m![1].split(";");
      expect(signed).toEqual(
        expect.arrayContaining(["host", "content-type", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"]),
      );
      expect(m![2]).toBe(
        expectedSignature(
          r,
          credentials.secretAccessKey,
          { date: "20261201", region: "eu-west-1", service: "monitoring" },
          signed,
        ),
      );
    }
  });

  it("a tampered body no longer matches the signature (the check above can fail)", async () => {
    fake.replies.push(page(""));
    const cw = new CloudWatchClient({ region: "eu-west-1", endpoint, credentials, now });
    await expect(cw.getMetricData(input)).resolves.toEqual([]);
    const r = fake.seen[0];
    const m = /SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})/.exec(String(r.headers.authorization))!;
    expect(
      expectedSignature(
        { ...r, body: r.body.replace("Average", "Maximum") },
        credentials.secretAccessKey,
        { date: "20261201", region: "eu-west-1", service: "monitoring" },
        m[1].split(";"),
      ),
    ).not.toBe(m[2]);
  });

  it.each([
    [403, "Sender", "InvalidClientTokenId", "The security token included in the request is invalid."],
    [400, "Sender", "InvalidParameterCombination", "The parameters StartTime and EndTime are invalid."],
  ])("HTTP %d ErrorResponse becomes an HttpCallError with its code", async (code, type, errCode, message) => {
    fake.replies.push({
      status: code,
      contentType: "text/xml",
      body: `<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><Error><Type>${type}</Type><Code>${errCode}</Code><Message>${message}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`,
    });
    const cw = new CloudWatchClient({ region: "us-east-1", endpoint, credentials, now });
    const e = await cw.getMetricData(input).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HttpCallError);
    expect(e).toMatchObject({ call: "cloudwatch GetMetricData", failure: "status", status: code });
    expect((e as Error).message).toBe(`cloudwatch GetMetricData: HTTP ${code} for POST /: ${errCode}: ${message}`);
  });

  it("a call past its deadline fails with a timeout naming the call", async () => {
    fake.replies.push("hang");
    const cw = new CloudWatchClient({ region: "us-east-1", endpoint, credentials, now, timeoutMs: 300 });
    await expect(cw.getMetricData(input)).rejects.toMatchObject({
      call: "cloudwatch GetMetricData",
      failure: "timeout",
    });
  });

  it("refuses bad queries before sending, naming the field", () => {
    expect(() => getMetricDataParams({ ...input, queries: [{ ...query, id: "Cpu" }] })).toThrow(
      /queries\[0\]\.id "Cpu"/,
    );
    expect(() => getMetricDataParams({ ...input, queries: [{ ...query, periodSeconds: 0 }] })).toThrow(
      /queries\[0\]\.periodSeconds/,
    );
    expect(() => getMetricDataParams({ ...input, start: input.end })).toThrow(/start .* must be before end/);
    expect(() => getMetricDataParams({ ...input, queries: [] })).toThrow(/1\.\.500/);
  });

  it("a series becomes a simulator trace the simulator reads back", async () => {
    fake.replies.push(
      page(
        member("cpu", "CPUUtilization", [
          ["2026-12-01T00:00:00Z", "10"],
          ["2026-12-01T00:05:00Z", "15.5"],
        ]),
      ),
    );
    const [s] = await new CloudWatchClient({ region: "us-east-1", endpoint, credentials, now }).getMetricData(input);
    const csv = traceCsv(metricTrace(s));
    expect(csv).toBe("timestamp,demand\n2026-12-01T00:00:00Z,10\n2026-12-01T00:05:00Z,15.5\n");
    expect(parseTraceCsv(csv)).toEqual([
      { t: Date.parse("2026-12-01T00:00:00Z"), demand: 10 },
      { t: Date.parse("2026-12-01T00:05:00Z"), demand: 15.5 },
    ]);
  });
});
