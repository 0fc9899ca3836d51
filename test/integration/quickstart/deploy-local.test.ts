/**
 * The quick start's prerequisite checks (scripts/deploy-local.sh), run as a user runs them, with a
 * PATH that lacks the tool in question. Without the Pulumi CLI (as on this machine) the script must
 * stop before changing anything and say exactly what is missing and how to get it; the real Docker
 * daemon and a Docker client pointed at a socket that does not exist cover the Docker messages.
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const ROOT = join(__dirname, "..", "..", "..");
const SCRIPT = join(ROOT, "scripts", "deploy-local.sh");
const TOOLS = ["bash", "dirname", "id", "tail", "sed", "node", "npm", "docker"];

const PULUMI_MISSING =
  "  - Pulumi CLI: the pulumi command is not on PATH; install it with: curl -fsSL https://get.pulumi.com | sh (then add ~/.pulumi/bin to PATH), or see https://www.pulumi.com/docs/install/";
const DOCKER_MISSING =
  "  - Docker: the docker command is not on PATH; install Docker Engine (Debian: sudo bash scripts/setup-engines.sh installs docker.io and starts the daemon; elsewhere https://docs.docker.com/engine/install/)";

/** A directory of links to the host's tools, without those in `without`. */
function pathWithout(dir: string, without: string[]): string {
  for (const tool of TOOLS.filter((t) => !without.includes(t))) {
    const real = execFileSync("bash", ["-c", `command -v ${tool}`])
      .toString()
      .trim();
    symlinkSync(real, join(dir, tool));
  }
  return dir;
}

async function deployLocal(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run("/bin/bash", [SCRIPT, ...args], { cwd: ROOT, env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe("npm run deploy:local / destroy:local prerequisites", () => {
  const dirs: string[] = [];
  const bin = (without: string[]) => {
    const d = mkdtempSync(join(tmpdir(), "sp-quickstart-"));
    dirs.push(d);
    return pathWithout(d, without);
  };
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it("without the Pulumi CLI: exits 1 naming it and how to install it, before installing or building anything", async () => {
    const r = await deployLocal(["up"], { PATH: bin(["pulumi"]), HOME: process.env.HOME });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`npm run deploy:local cannot run; missing:\n${PULUMI_MISSING}\n`);
    expect(r.stdout).toBe("");
  });

  it("names every missing tool at once: Docker and the Pulumi CLI", async () => {
    const r = await deployLocal([], { PATH: bin(["pulumi", "docker"]), HOME: process.env.HOME });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`npm run deploy:local cannot run; missing:\n${DOCKER_MISSING}\n${PULUMI_MISSING}\n`);
  });

  it("tells an installed Docker whose daemon does not answer from a missing one", async () => {
    const r = await deployLocal(["up"], {
      PATH: bin(["pulumi"]),
      HOME: process.env.HOME,
      DOCKER_HOST: "unix:///nonexistent/scaleplane-test.sock",
    });
    expect(r.code).toBe(1);
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines[0]).toBe("npm run deploy:local cannot run; missing:");
    expect(lines[1]).toMatch(
      /^ {2}- Docker: the docker command is installed but the daemon does not answer \(docker info: .*nonexistent\/scaleplane-test\.sock.*\); start it \(sudo systemctl start docker, or sudo bash scripts\/setup-engines\.sh\) and make sure \S+ may use it/,
    );
    expect(lines[2]).toBe(PULUMI_MISSING);
  });

  it("destroy:local checks the same and says which command could not run", async () => {
    const r = await deployLocal(["destroy"], { PATH: bin(["pulumi"]), HOME: process.env.HOME });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`npm run destroy:local cannot run; missing:\n${PULUMI_MISSING}\n`);
  });

  it("refuses an unknown action", async () => {
    const r = await deployLocal(["deploy"], { PATH: bin([]), HOME: process.env.HOME });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("usage: scripts/deploy-local.sh [up|destroy|check]\n");
  });
});
