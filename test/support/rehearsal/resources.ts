/**
 * Creates and deletes the resources a Pulumi program registered, for real, for the rehearsal of
 * `pulumi up` (test/integration/rehearsal): what the Docker provider would do with
 * docker.Network/Volume/Container/RemoteImage inputs (mapped onto dockerode calls), dynamic
 * providers through the SDK's dynamic-provider host over gRPC (Check then Create/Delete, as the
 * engine drives them), and random.RandomPassword (its provider plugin is not installable here:
 * generated from its inputs with node:crypto).
 *
 * Every input is mapped or refused: an input key this file does not know fails the create with
 * its name, so a new input in a component cannot be silently ignored by the rehearsal.
 */
import { randomInt } from "node:crypto";
import Docker from "dockerode";
import { ProviderHost } from "../provider-host";
import { unwrapSecrets, type Props, type Registration } from "./monitor";
import { tarArchive } from "../../../core/secret-files";

/** The label every Docker object the rehearsal itself creates carries (test hygiene), besides the program's own. */
export const TEST_LABEL = { "scaleplane.test": "1" };

/** Fails on keys of `o` outside `known`, naming where. */
function onlyKeys(o: Props, known: readonly string[], where: string): void {
  const extra = Object.keys(o).filter((k) => o[k] !== undefined && !known.includes(k));
  if (extra.length > 0)
    throw new Error(
      `${where}: input(s) ${extra.join(", ")} not mapped by the rehearsal (test/support/rehearsal/resources.ts); map them rather than ignore them`,
    );
}

const labelMap = (labels: unknown, where: string): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const l of (labels as Props[] | undefined) ?? []) {
    onlyKeys(l, ["label", "value"], `${where}.labels[]`);
    out[String(l.label)] = String(l.value);
  }
  return out;
};

/** "10s", "1m30s", "500ms" → nanoseconds (Docker's healthcheck units). */
export function durationNs(s: unknown, where: string): number {
  const m = /^((\d+)h)?((\d+)m(?!s))?((\d+)s)?((\d+)ms)?$/.exec(String(s));
  if (!m || String(s) === "") throw new Error(`${where}: cannot read duration ${JSON.stringify(s)}`);
  const [h, min, sec, ms] = [m[2], m[4], m[6], m[8]].map((x) => Number(x ?? 0));
  return (((h * 60 + min) * 60 + sec) * 1000 + ms) * 1e6;
}

const numericId = (v: unknown, where: string): number => {
  if (v === undefined) return 0;
  if (!/^\d+$/.test(String(v)))
    throw new Error(
      `${where}: owner/group ${JSON.stringify(v)} must be numeric here (names would resolve against the deploying host's user database)`,
    );
  return Number(v);
};

const isNotFound = (e: unknown) => (e as { statusCode?: number }).statusCode === 404;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the rehearsal created: enough to delete it again. */
export interface Created {
  reg: Registration;
  id: string;
  outputs: Props;
}

export class ResourceDriver {
  constructor(
    private readonly docker: Docker,
    /** The dynamic-provider host (needed only when the program has dynamic resources). */
    private readonly host: ProviderHost | undefined,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  /** Creates `reg` (a custom resource of an up); returns its id and outputs. */
  async create(reg: Registration): Promise<{ id: string; outputs: Props }> {
    const started = Date.now();
    const r = await this.createInner(reg);
    this.log(`created ${reg.type} ${reg.name} (${Date.now() - started} ms)`);
    return r;
  }

  private async createInner(reg: Registration): Promise<{ id: string; outputs: Props }> {
    if (reg.provider)
      throw new Error(`${reg.name}: an explicit provider (${reg.provider}) is not mapped by the rehearsal`);
    const plain = unwrapSecrets(reg.inputs) as Props;
    const where = `${reg.type} ${reg.name}`;
    switch (reg.type) {
      case "docker:index/network:Network":
        return this.network(plain, where);
      case "docker:index/volume:Volume":
        return this.volume(plain, where);
      case "docker:index/container:Container":
        return this.container(plain, where);
      case "docker:index/remoteImage:RemoteImage":
        return this.remoteImage(plain, where);
      case "random:index/randomPassword:RandomPassword":
        return randomPassword(plain, where);
      default:
        if (reg.type.startsWith("pulumi-nodejs:dynamic/")) return this.dynamic(reg);
        throw new Error(`${where}: resource type not mapped by the rehearsal`);
    }
  }

  /** Deletes what `create` made (reverse order is the caller's). */
  async delete(c: Created): Promise<void> {
    const { reg, id, outputs } = c;
    const started = Date.now();
    switch (reg.type) {
      case "docker:index/network:Network":
        await this.docker
          .getNetwork(id)
          .remove()
          .catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)));
        break;
      case "docker:index/volume:Volume":
        await this.docker
          .getVolume(id)
          .remove()
          .catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)));
        break;
      case "docker:index/container:Container": {
        const grace = Number(outputs.destroyGraceSeconds ?? outputs.stopTimeout ?? 0);
        const container = this.docker.getContainer(id);
        if (grace > 0)
          await container
            .stop({ t: grace })
            .catch((e) =>
              isNotFound(e) || (e as { statusCode?: number }).statusCode === 304 ? undefined : Promise.reject(e),
            );
        await container.remove({ force: true, v: true }).catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)));
        break;
      }
      case "docker:index/remoteImage:RemoteImage":
      case "random:index/randomPassword:RandomPassword":
        break; // keepLocally images stay; a password is state only
      default:
        if (!reg.type.startsWith("pulumi-nodejs:dynamic/"))
          throw new Error(`${reg.type} ${reg.name}: delete not mapped`);
        await this.requireHost(reg).delete(reg.type, id, outputs, reg.name, 300_000);
    }
    this.log(`deleted ${reg.type} ${reg.name} (${Date.now() - started} ms)`);
  }

  private async dynamic(reg: Registration): Promise<{ id: string; outputs: Props }> {
    // The SDK's host answers Configure with acceptSecrets=false: the engine sends it plain values.
    const host = this.requireHost(reg);
    const checked = await host.check(reg.type, {}, unwrapSecrets(reg.inputs) as Props, reg.name);
    if (checked.failures.length > 0)
      throw new Error(`check failed: ${checked.failures.map((f) => `${f.property}: ${f.reason}`).join("; ")}`);
    return host.create(reg.type, checked.inputs, reg.name, 600_000);
  }

  private requireHost(reg: Registration): ProviderHost {
    if (!this.host)
      throw new Error(`${reg.type} ${reg.name}: a dynamic resource, but no dynamic-provider host was given`);
    return this.host;
  }

  private async network(i: Props, where: string): Promise<{ id: string; outputs: Props }> {
    onlyKeys(i, ["name", "driver", "labels", "internal", "attachable", "options"], where);
    const net = await this.docker.createNetwork({
      Name: String(i.name),
      Driver: (i.driver as string | undefined) ?? "bridge",
      Internal: i.internal === true,
      Attachable: i.attachable === true,
      Options: (i.options as Record<string, string> | undefined) ?? {},
      Labels: { ...labelMap(i.labels, where), ...TEST_LABEL },
      CheckDuplicate: true,
    });
    return { id: net.id, outputs: { ...i } };
  }

  private async volume(i: Props, where: string): Promise<{ id: string; outputs: Props }> {
    onlyKeys(i, ["name", "labels", "driver", "driverOpts"], where);
    const name = String(i.name);
    try {
      await this.docker.getVolume(name).inspect();
      throw new Error(
        `volume ${name} already exists (the Docker provider would adopt it; the rehearsal refuses: a leftover of another run?)`,
      );
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    await this.docker.createVolume({
      Name: name,
      Driver: (i.driver as string | undefined) ?? "local",
      DriverOpts: (i.driverOpts as Record<string, string> | undefined) ?? {},
      Labels: { ...labelMap(i.labels, where), ...TEST_LABEL },
    });
    return { id: name, outputs: { ...i, driver: i.driver ?? "local" } };
  }

  private async remoteImage(i: Props, where: string): Promise<{ id: string; outputs: Props }> {
    onlyKeys(i, ["name", "keepLocally"], where);
    // No registry here: the image must have been built locally (npm run images).
    const info = await this.docker
      .getImage(String(i.name))
      .inspect()
      .catch((e) => {
        if (isNotFound(e))
          throw new Error(
            `${where}: image ${String(i.name)} is not in the local engine (no registry to pull from; npm run images)`,
          );
        throw e;
      });
    if (i.keepLocally !== true)
      throw new Error(`${where}: keepLocally=false would remove a shared local image on destroy; not mapped`);
    return {
      id: `${info.Id}${String(i.name)}`,
      outputs: { ...i, imageId: info.Id, repoDigest: info.RepoDigests?.[0] ?? "" },
    };
  }

  private async container(i: Props, where: string): Promise<{ id: string; outputs: Props }> {
    onlyKeys(
      i,
      [
        "name",
        "image",
        "hostname",
        "envs",
        "ports",
        "networksAdvanced",
        "healthcheck",
        "cpus",
        "memory",
        "memorySwap",
        "restart",
        "maxRetryCount",
        "labels",
        "mustRun",
        "volumes",
        "stopSignal",
        "stopTimeout",
        "destroyGraceSeconds",
        "uploads",
        "wait",
        "waitTimeout",
        "command",
        "entrypoints",
        "user",
        "workingDir",
      ],
      where,
    );
    const name = String(i.name);
    const ports = ((i.ports as Props[] | undefined) ?? []).map((p) => {
      onlyKeys(p, ["internal", "external", "ip", "protocol"], `${where}.ports[]`);
      return {
        key: `${Number(p.internal)}/${(p.protocol as string | undefined) ?? "tcp"}`,
        ip: (p.ip as string | undefined) ?? "0.0.0.0",
        external: p.external,
      };
    });
    const networks = ((i.networksAdvanced as Props[] | undefined) ?? []).map((n) => {
      onlyKeys(n, ["name", "aliases"], `${where}.networksAdvanced[]`);
      return { name: String(n.name), aliases: ((n.aliases as string[] | undefined) ?? []).map(String) };
    });
    const binds = ((i.volumes as Props[] | undefined) ?? []).map((v) => {
      onlyKeys(v, ["hostPath", "volumeName", "containerPath", "readOnly"], `${where}.volumes[]`);
      const source = (v.volumeName ?? v.hostPath) as string | undefined;
      if (!source) throw new Error(`${where}.volumes[]: neither volumeName nor hostPath`);
      return `${source}:${String(v.containerPath)}${v.readOnly === true ? ":ro" : ""}`;
    });
    let healthcheck: Docker.ContainerCreateOptions["Healthcheck"];
    if (i.healthcheck) {
      const h = i.healthcheck as Props;
      onlyKeys(h, ["tests", "interval", "timeout", "retries", "startPeriod"], `${where}.healthcheck`);
      healthcheck = {
        Test: (h.tests as string[]).map(String),
        ...(h.interval !== undefined ? { Interval: durationNs(h.interval, `${where}.healthcheck.interval`) } : {}),
        ...(h.timeout !== undefined ? { Timeout: durationNs(h.timeout, `${where}.healthcheck.timeout`) } : {}),
        ...(h.startPeriod !== undefined
          ? { StartPeriod: durationNs(h.startPeriod, `${where}.healthcheck.startPeriod`) }
          : {}),
        ...(h.retries !== undefined ? { Retries: Number(h.retries) } : {}),
      };
    }
    const mb = (v: unknown) => (v === undefined ? undefined : Number(v) * 1024 * 1024);
    const restart = (i.restart as string | undefined) ?? "no";
    const [first, ...more] = networks;
    const container = await this.docker.createContainer({
      name,
      Image: String(i.image),
      ...(i.hostname !== undefined ? { Hostname: String(i.hostname) } : {}),
      Env: ((i.envs as string[] | undefined) ?? []).map(String),
      ...(i.command !== undefined ? { Cmd: (i.command as string[]).map(String) } : {}),
      ...(i.entrypoints !== undefined ? { Entrypoint: (i.entrypoints as string[]).map(String) } : {}),
      ...(i.user !== undefined ? { User: String(i.user) } : {}),
      ...(i.workingDir !== undefined ? { WorkingDir: String(i.workingDir) } : {}),
      Labels: { ...labelMap(i.labels, where), ...TEST_LABEL },
      ExposedPorts: Object.fromEntries(ports.map((p) => [p.key, {}])),
      ...(i.stopSignal !== undefined ? { StopSignal: String(i.stopSignal) } : {}),
      ...(i.stopTimeout !== undefined ? { StopTimeout: Number(i.stopTimeout) } : {}),
      ...(healthcheck ? { Healthcheck: healthcheck } : {}),
      HostConfig: {
        Binds: binds,
        PortBindings: Object.fromEntries(
          ports.map((p) => [p.key, [{ HostIp: p.ip, HostPort: p.external === undefined ? "" : String(p.external) }]]),
        ),
        RestartPolicy: {
          Name: restart,
          ...(restart === "on-failure" ? { MaximumRetryCount: Number(i.maxRetryCount ?? 0) } : {}),
        },
        ...(i.cpus !== undefined ? { NanoCpus: Math.round(Number(i.cpus) * 1e9) } : {}),
        ...(i.memory !== undefined ? { Memory: mb(i.memory) } : {}),
        ...(i.memorySwap !== undefined ? { MemorySwap: mb(i.memorySwap) } : {}),
        ...(first ? { NetworkMode: first.name } : {}),
      },
      ...(first ? { NetworkingConfig: { EndpointsConfig: { [first.name]: { Aliases: first.aliases } } } } : {}),
    });
    try {
      for (const n of more)
        await this.docker
          .getNetwork(n.name)
          .connect({ Container: container.id, EndpointConfig: { Aliases: n.aliases } });
      const uploads = ((i.uploads as Props[] | undefined) ?? []).map((u) => {
        onlyKeys(
          u,
          ["file", "content", "contentBase64", "permissions", "owner", "group", "executable"],
          `${where}.uploads[]`,
        );
        const content =
          u.content !== undefined
            ? String(u.content)
            : u.contentBase64 !== undefined
              ? Buffer.from(String(u.contentBase64), "base64").toString("utf8")
              : undefined;
        if (content === undefined) throw new Error(`${where}.uploads[]: no content`);
        // The provider's defaults: 0644, or 0744 with executable; `permissions` wins.
        const mode =
          u.permissions !== undefined ? parseInt(String(u.permissions), 8) : u.executable === true ? 0o744 : 0o644;
        return {
          path: String(u.file),
          content,
          mode,
          uid: numericId(u.owner, `${where}.uploads[]`),
          gid: numericId(u.group, `${where}.uploads[]`),
        };
      });
      if (uploads.length > 0) await container.putArchive(tarArchive(uploads), { path: "/" });
      await container.start();
      if (i.mustRun !== false) {
        await sleep(300);
        const s = (await container.inspect()).State;
        if (!s.Running) throw new Error(`container exited right after start (exit ${s.ExitCode}): mustRun`);
      }
      if (i.wait === true) await this.waitHealthy(container, Number(i.waitTimeout ?? 60) * 1000, where);
    } catch (e) {
      const logs = await container.logs({ stdout: true, stderr: true, tail: 30 }).catch(() => Buffer.from(""));
      await container.remove({ force: true, v: true }).catch(() => undefined);
      throw new Error(`${(e as Error).message}\n--- last log lines of ${name} ---\n${logs.toString("utf8")}`);
    }
    return { id: container.id, outputs: { ...i } };
  }

  private async waitHealthy(container: Docker.Container, timeoutMs: number, where: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = (await container.inspect()).State;
      if (s.Health?.Status === "healthy") return;
      if (!s.Running) throw new Error(`${where}: stopped while waiting for healthy (exit ${s.ExitCode})`);
      if (Date.now() > deadline)
        throw new Error(`${where}: not healthy within ${timeoutMs / 1000} s (health ${s.Health?.Status ?? "none"})`);
      await sleep(500);
    }
  }
}

/** random.RandomPassword from its inputs (the provider's character classes). */
function randomPassword(i: Props, where: string): { id: string; outputs: Props } {
  onlyKeys(i, ["length", "special", "upper", "lower", "numeric", "overrideSpecial"], where);
  const length = Number(i.length);
  if (!Number.isInteger(length) || length < 1) throw new Error(`${where}: length ${JSON.stringify(i.length)}`);
  let chars = "";
  if (i.lower !== false) chars += "abcdefghijklmnopqrstuvwxyz";
  if (i.upper !== false) chars += "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  if (i.numeric !== false) chars += "0123456789";
  if (i.special !== false) chars += (i.overrideSpecial as string | undefined) ?? "!@#$%&*()-_=+[]{}<>:?";
  const result = Array.from({ length }, () => chars[randomInt(chars.length)]).join("");
  return { id: "none", outputs: { ...i, result } };
}
