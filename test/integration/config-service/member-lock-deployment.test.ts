/**
 * The member-count lock's deployed count, where it cannot be had: each case is a whole program run
 * in its own process (Pulumi's program runner fails the deployment on the rejected output, which
 * would fail whichever jest test is running in this process; node exits non-zero on it just as
 * well), against the offline mock runtime. The three run at once.
 * - aws, the member-instance lookup fails: the deployment fails (the lock is not registered)
 *   instead of counting 0 members.
 * - kubernetes, the stack's previous `configEndpoints` output is malformed: the same, naming it.
 * - kubernetes, the lock refuses the count (its registration fails, as the engine fails it when
 *   check refuses): the StatefulSet that depends on it is never registered, and the published
 *   endpoints (the stack's `configEndpoints`) never resolve, so a failed update keeps the previous
 *   count for the next `up` to compare with.
 * Needs only node (tsx); the rest of the lock is test/unit/components/raft-config-service.member-lock-deployed.test.ts.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(__dirname, "../../..");
const GET_INSTANCES = "aws:ec2/getInstances:getInstances";
const LOCK = "pulumi-nodejs:dynamic/etcd:EtcdMemberCountLock";
const awsArgs = {
  vpcId: "vpc-1",
  subnets: [
    { id: "subnet-a", cidr: "10.42.0.0/20", zone: "us-east-1a" },
    { id: "subnet-b", cidr: "10.42.16.0/20", zone: "us-east-1b" },
  ],
  clientSecurityGroupIds: ["sg-app"],
};
const req = (path: string) => `require(${JSON.stringify(join(ROOT, path))})`;

const PROGRAMS = {
  failedLookup: `const { installMocks, settle } = ${req("scripts/lib/offline")};
const denied = "UnauthorizedOperation: You are not authorized to perform: ec2:DescribeInstances";
// A provider's error reaches the SDK as a gRPC error: its text is in "details".
installMocks({ stack: "prod", invokes: { "${GET_INSTANCES}": () => { throw Object.assign(new Error(denied), { details: denied }); } } });
const { RaftConfigService } = ${req("components/raft-config-service")};
new RaftConfigService("cfg", ${JSON.stringify({ target: "aws", configService: { name: "cfg", members: 3 }, aws: awsArgs })});
settle().then(() => console.log("deployed without the lookup"));
`,
  malformed: `const { installMocks, settle } = ${req("scripts/lib/offline")};
installMocks({ stack: "prod" });
const { RaftConfigService } = ${req("components/raft-config-service")};
new RaftConfigService("cfg", ${JSON.stringify({ target: "kubernetes", configService: { name: "cfg", members: 5 }, kubernetes: { namespace: "platform", deployedEndpoints: { members: 3 } } })});
settle().then(() => console.log("deployed without the count"));
`,
  refused: `const { installMocks } = ${req("scripts/lib/offline")};
const pulumi = ${req("node_modules/@pulumi/pulumi")};
installMocks({ stack: "prod" });
process.on("unhandledRejection", (e) => console.error("rejected: " + e.message));
const monitor = pulumi.runtime.getMonitor();
const register = monitor.registerResource.bind(monitor);
monitor.registerResource = (req, cb) =>
  req.getType() === "${LOCK}"
    ? cb(Object.assign(new Error("refused"), { details: "configService.members cannot change" }), undefined)
    : register(req, cb);
const { RaftConfigService } = ${req("components/raft-config-service")};
const c = new RaftConfigService("cfg", ${JSON.stringify({ target: "kubernetes", configService: { name: "cfg", members: 5 }, kubernetes: { namespace: "platform" } })});
c.clientEndpoints.apply((e) => console.log("published " + e.length + " endpoints"));
c.memberNames.apply((n) => console.log("member names " + n.length));
setTimeout(() => console.log("waited"), 2000);
`,
};

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

const runs: Partial<Record<keyof typeof PROGRAMS, Run>> = {};
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "member-lock-"));
  await Promise.all(
    Object.entries(PROGRAMS).map(([name, text]) => {
      const program = join(dir, `${name}.ts`);
      writeFileSync(program, text);
      return new Promise<void>((resolve) =>
        execFile(
          join(ROOT, "node_modules/.bin/tsx"),
          [program],
          { encoding: "utf8", timeout: 120_000, cwd: ROOT },
          (err, stdout, stderr) => {
            runs[name as keyof typeof PROGRAMS] = { status: err ? ((err.code as number) ?? 1) : 0, stdout, stderr };
            resolve();
          },
        ),
      );
    }),
  );
}, 180_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it("aws: a failed member-instance lookup fails the deployment (the lock is not registered) instead of counting 0", () => {
  const run = runs.failedLookup!;
  expect(run.stdout).not.toContain("deployed without the lookup");
  expect(run.stderr).toMatch(/error serializing property "deployedMembers": UnauthorizedOperation/);
  expect(run.status).not.toBe(0);
});

it("kubernetes: a malformed previous configEndpoints output fails the deployment instead of counting 0", () => {
  const run = runs.malformed!;
  expect(run.stdout).not.toContain("deployed without the count");
  expect(run.stderr).toMatch(
    /error serializing property "deployedMembers": the stack's previous `configEndpoints` output is malformed \(not an array\).*got \{"members":3\}/,
  );
  expect(run.status).not.toBe(0);
});

it("kubernetes: the published endpoints wait for the StatefulSet (a refused lock publishes no new count)", () => {
  const run = runs.refused!;
  // The program ran (the member names need no resource) and waited, but published no endpoints.
  expect(run.stderr).toMatch(/rejected: failed to register new resource cfg-member-lock .*: refused/);
  expect(run.stdout).toContain("member names 5");
  expect(run.stdout).toContain("waited");
  expect(run.stdout).not.toContain("published");
});
