/**
 * The quick start's prerequisite checks (scripts/deploy-local.sh), run as a user runs them, with a
 * PATH that holds only the tools a case allows. The real Docker daemon (and a Docker client pointed
 * at a socket that does not exist) covers the Docker messages; the real npm `pulumi` launcher
 * (node_modules/.bin/pulumi, a devDependency) covers the Pulumi CLI: run in a network namespace of
 * its own (`unshare --net`: no interface but a down loopback), its first-use download fails as it
 * does on a machine without network, and a Pulumi home of the test's own (`PULUMI_HOME`) holds the
 * CLI it caches. Fake CLIs are shell scripts that only answer `version`, so no case can deploy.
 */
import { execFile, execFileSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const ROOT = join(__dirname, "..", "..", "..");
const SCRIPT = join(ROOT, "scripts", "deploy-local.sh");
const TOOLS = [
  "bash",
  "sh",
  "dirname",
  "id",
  "tail",
  "head",
  "sed",
  "readlink",
  "mktemp",
  "tee",
  "rm",
  "uname",
  "env",
  "node",
  "npm",
  "docker",
];

const PKG = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const SDK_PIN = PKG.dependencies["@pulumi/pulumi"];
const CLI_PIN = PKG.devDependencies.pulumi;
const PLATFORM = { x64: "linux-x64", arm64: "linux-arm64" }[process.arch as "x64" | "arm64"] ?? "<os>-<arch>";

/** The script's message for a machine without a usable CLI on PATH whose launcher cannot download one. */
function pulumiOffline(command: string, pulumiHome: string, pathNote = "no pulumi on PATH"): string {
  const root = `${pulumiHome}/versions/${CLI_PIN}`;
  const archive = `pulumi-v${CLI_PIN}-${PLATFORM}.tar.gz`;
  return [
    `  - Pulumi CLI: ${pathNote}, and node_modules/.bin/pulumi (npm package pulumi@${CLI_PIN}) could not download the CLI v${CLI_PIN}: this machine cannot reach get.pulumi.com: no network (pulumi: fetch failed). Do one of:`,
    `      - connect this machine to the internet and run ${command} again (the CLI is then kept in ${root});`,
    `      - or fetch ${archive} elsewhere (https://github.com/pulumi/pulumi/releases/tag/v${CLI_PIN}), copy it here and unpack it there: mkdir -p ${root}/bin && tar -xzf ${archive} --strip-components=1 -C ${root}/bin (offline, pulumi up then also needs the provider plugins: README, Quick start);`,
    `      - or put a Pulumi CLI 3.x at least as new as ${SDK_PIN} (the @pulumi/pulumi pin) on PATH.`,
  ].join("\n");
}
/** What the script and the launcher print before that message: the attempt, in the launcher's own words. */
function fetchAttempt(command: string, pulumiHome: string, pathNote = "no pulumi on PATH"): string {
  return (
    `[${command}] ${pathNote}: fetching the Pulumi CLI v${CLI_PIN} into ${pulumiHome}/versions/${CLI_PIN} with node_modules/.bin/pulumi (npm package pulumi@${CLI_PIN}; first use only)\n` +
    `Downloading pulumi v${CLI_PIN}...\npulumi: fetch failed\n`
  );
}
const DOCKER_MISSING =
  "  - Docker: the docker command is not on PATH; install Docker Engine (Debian: bash scripts/setup-engines.sh installs docker.io and starts the daemon; elsewhere https://docs.docker.com/engine/install/)";

/** The host's `tool` (the cases' PATH holds only the tools they allow). */
const which = (tool: string) =>
  execFileSync("bash", ["-c", `command -v ${tool}`])
    .toString()
    .trim();

/** How this process can enter a network namespace of its own: as root directly, else in a user namespace mapping the current user. */
function unsharePrefix(): string[] {
  const unshare = which("unshare");
  for (const prefix of [
    [unshare, "--net"],
    [unshare, "--map-current-user", "--net"],
  ]) {
    try {
      execFileSync(prefix[0], [...prefix.slice(1), "true"], { stdio: "ignore" });
      return prefix;
    } catch {
      // try the next
    }
  }
  throw new Error(
    "this test needs a network namespace of its own: `unshare --net` (util-linux) as root, or unprivileged user namespaces for `unshare --map-current-user --net`",
  );
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function runCapture(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<Result> {
  try {
    const { stdout, stderr } = await run(file, args, { cwd: ROOT, env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe("npm run deploy:local / destroy:local prerequisites", () => {
  const dirs: string[] = [];
  const tmp = (prefix: string) => {
    const d = mkdtempSync(join(tmpdir(), `sp-quickstart-${process.pid}-${prefix}-`));
    dirs.push(d);
    return d;
  };
  /** A directory of links to the host's tools, without those in `without`, plus fake CLIs by name. */
  const bin = (without: string[], fakes: Record<string, string> = {}) => {
    const dir = tmp("bin");
    for (const tool of TOOLS.filter((t) => !without.includes(t))) {
      symlinkSync(which(tool), join(dir, tool));
    }
    for (const [name, version] of Object.entries(fakes)) fakeCli(join(dir, name), version);
    return dir;
  };
  /** A stand-in for the Pulumi CLI that answers `version` (and refuses anything else). */
  const fakeCli = (path: string, version: string) => {
    writeFileSync(
      path,
      `#!/bin/sh\n[ "$1" = version ] && { echo ${version}; exit 0; }\necho "fake pulumi: $*" >&2\nexit 3\n`,
    );
    chmodSync(path, 0o755);
  };
  /** An empty Pulumi home; `cached` puts a (fake) CLI of that version where the launcher keeps it. */
  const pulumiHome = (cached?: string) => {
    const home = tmp("home");
    if (cached) {
      mkdirSync(join(home, "versions", cached, "bin"), { recursive: true });
      fakeCli(join(home, "versions", cached, "bin", "pulumi"), `v${cached}`);
    }
    return home;
  };
  const offline = unsharePrefix();
  /** The script, in a network namespace without network. */
  const deployLocal = (args: string[], env: NodeJS.ProcessEnv) =>
    runCapture(offline[0], [...offline.slice(1), "/bin/bash", SCRIPT, ...args], { HOME: process.env.HOME, ...env });
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it("without the Pulumi CLI and without network: exits 1 naming only the CLI, that the download failed for want of network and what to do, before installing or building anything", async () => {
    const home = pulumiHome();
    const r = await deployLocal(["up"], { PATH: bin([]), PULUMI_HOME: home });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      fetchAttempt("npm run deploy:local", home) +
        `npm run deploy:local cannot run; missing:\n${pulumiOffline("npm run deploy:local", home)}\n`,
    );
    expect(r.stdout).toBe("");
    expect(readdirSync(home)).toEqual([]); // no half-installed CLI the launcher would take for a real one
  });

  it("the same through `npm run deploy:local`, whose PATH starts with node_modules/.bin (the launcher is not taken for a CLI on PATH)", async () => {
    const home = pulumiHome();
    const r = await runCapture(offline[0], [...offline.slice(1), which("npm"), "run", "--silent", "deploy:local"], {
      HOME: process.env.HOME,
      PATH: bin([]),
      PULUMI_HOME: home,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      fetchAttempt("npm run deploy:local", home) +
        `npm run deploy:local cannot run; missing:\n${pulumiOffline("npm run deploy:local", home)}\n`,
    );
  });

  it("names every missing tool at once: Docker and the Pulumi CLI", async () => {
    const home = pulumiHome();
    const r = await deployLocal([], { PATH: bin(["docker"]), PULUMI_HOME: home });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      fetchAttempt("npm run deploy:local", home) +
        `npm run deploy:local cannot run; missing:\n${DOCKER_MISSING}\n${pulumiOffline("npm run deploy:local", home)}\n`,
    );
  });

  it("a pulumi on PATH at least as new as the SDK pin wins; the launcher is not run", async () => {
    const home = pulumiHome();
    for (const version of [`v${SDK_PIN}`, "v3.999.0"]) {
      const path = bin([], { pulumi: version });
      const r = await deployLocal(["check"], { PATH: path, PULUMI_HOME: home });
      expect(r.stderr).toMatch(
        new RegExp(
          `^\\[scripts/deploy-local\\.sh check\\] ready: node v20\\.\\S+, docker \\S+, pulumi ${version.replace(/\./g, "\\.")} \\(${path}/pulumi\\)\n$`,
        ),
      );
      expect(r.code).toBe(0);
    }
    expect(readdirSync(home)).toEqual([]);
  });

  it("passes over a pulumi on PATH older than the SDK pin, or of another major version, for the pinned CLI the launcher has cached", async () => {
    const [major, minor, patch] = SDK_PIN.split(".").map(Number);
    const home = pulumiHome(CLI_PIN);
    for (const version of [
      `v${major}.${minor}.${patch - 1}`,
      `v${major}.${minor - 1}.99`,
      `v${SDK_PIN}-alpha.1`,
      `v${major + 1}.0.0`,
    ]) {
      const path = bin([], { pulumi: version });
      const r = await deployLocal(["check"], { PATH: path, PULUMI_HOME: home });
      const note = `${path}/pulumi (on PATH) is ${version}, not a 3.x at least as new as ${SDK_PIN} (the @pulumi/pulumi pin)`;
      expect(r.stderr).toMatch(
        new RegExp(
          `^\\[scripts/deploy-local\\.sh check\\] ${escape(note)}: using node_modules/\\.bin/pulumi \\(the pinned CLI v${escape(CLI_PIN)}\\) instead\n` +
            `\\[scripts/deploy-local\\.sh check\\] ready: node v20\\.\\S+, docker \\S+, pulumi v${escape(CLI_PIN)} \\(node_modules/\\.bin/pulumi\\)\n$`,
        ),
      );
      expect(r.code).toBe(0);
    }
  });

  it("an old pulumi on PATH and no network: the message says both", async () => {
    const home = pulumiHome();
    const path = bin([], { pulumi: "v3.100.0" });
    const r = await deployLocal(["up"], { PATH: path, PULUMI_HOME: home });
    const note = `${path}/pulumi (on PATH) is v3.100.0, not a 3.x at least as new as ${SDK_PIN} (the @pulumi/pulumi pin)`;
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      fetchAttempt("npm run deploy:local", home, note) +
        `npm run deploy:local cannot run; missing:\n${pulumiOffline("npm run deploy:local", home, note)}\n`,
    );
  });

  it("the launcher's CLI lives where the launcher says: PULUMI_HOME, else ~/.pulumi", async () => {
    const home = tmp("user");
    const cached = join(home, ".pulumi", "versions", CLI_PIN, "bin");
    mkdirSync(cached, { recursive: true });
    fakeCli(join(cached, "pulumi"), `v${CLI_PIN}`);
    const r = await deployLocal(["check"], { PATH: bin([]), HOME: home });
    expect(r.stderr).toMatch(/ready: node v20\.\S+, docker \S+, pulumi v\S+ \(node_modules\/\.bin\/pulumi\)\n$/);
    expect(r.code).toBe(0);
  });

  it("root whose daemon does not answer is told to start it, never to join the docker group", async () => {
    const home = pulumiHome(CLI_PIN);
    const r = await deployLocal(["up"], {
      PATH: bin([]),
      PULUMI_HOME: home,
      DOCKER_HOST: "unix:///nonexistent/scaleplane-test.sock",
    });
    expect(r.code).toBe(1);
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines[0]).toBe("npm run deploy:local cannot run; missing:");
    const sudo = process.getuid?.() === 0 ? "" : "sudo ";
    expect(lines[1]).toMatch(
      new RegExp(
        `^ {2}- Docker: the docker command is installed but the daemon does not answer \\(docker info: .*nonexistent/scaleplane-test\\.sock.*\\); start it \\(${sudo}systemctl start docker, or ${sudo}bash scripts/setup-engines\\.sh\\)$`,
      ),
    );
    expect(lines).toHaveLength(2);
    expect(r.stderr).not.toMatch(/usermod|docker group/);
  });

  // A non-root user whose access the socket refuses needs the docker group: run as `nobody` (needs
  // root to switch users; CI runs as root).
  const asRoot = process.getuid?.() === 0;
  (asRoot || process.env.CI ? it : it.skip)(
    "a non-root user the Docker socket refuses is told to join the docker group",
    async () => {
      const home = pulumiHome(CLI_PIN);
      const path = bin([]);
      for (const d of [path, home]) chmodSync(d, 0o755);
      const socket = (process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock").replace(/^unix:\/\//, "");
      expect(existsSync(socket)).toBe(true);
      const r = await runCapture(
        which("setpriv"),
        ["--reuid=65534", "--regid=65534", "--clear-groups", "/bin/bash", SCRIPT, "check"],
        { PATH: path, HOME: home, PULUMI_HOME: home },
      );
      expect(r.code).toBe(1);
      const lines = r.stderr.trimEnd().split("\n");
      expect(lines[0]).toBe("scripts/deploy-local.sh check cannot run; missing:");
      expect(lines[1]).toMatch(
        /^ {2}- Docker: the daemon's socket refuses user nobody \(docker info: .*permission denied.*\); add nobody to the docker group \(sudo usermod -aG docker nobody, then log in again\) or run as root$/,
      );
      expect(lines).toHaveLength(2);
    },
  );

  it("destroy:local checks the same and says which command could not run", async () => {
    const home = pulumiHome();
    const r = await deployLocal(["destroy"], { PATH: bin([]), PULUMI_HOME: home });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      fetchAttempt("npm run destroy:local", home) +
        `npm run destroy:local cannot run; missing:\n${pulumiOffline("npm run destroy:local", home)}\n`,
    );
  });

  it("refuses an unknown action", async () => {
    const r = await deployLocal(["deploy"], { PATH: bin([]) });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("usage: scripts/deploy-local.sh [up|destroy|check]\n");
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
