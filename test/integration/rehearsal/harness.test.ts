/**
 * The rehearsal's own machinery, without engines: the registration comparison fails on a real
 * difference and lifts secrets the way the SDK does; the Docker mapping refuses inputs it does not
 * map; the secret-file helpers (tar modes and owners, `<NAME>_FILE` reading in the sample app).
 */
import { execFileSync } from "node:child_process";
import { liftSecrets, diffValues, compareRegistrations } from "../../support/rehearsal/compare";
import { SECRET_SIG, SPECIAL_SIG_KEY, UNKNOWN, type Registration } from "../../support/rehearsal/monitor";
import { ResourceDriver, durationNs } from "../../support/rehearsal/resources";
import { tarArchive, secretFileEnv, secretFiles } from "../../../core/secret-files";
import { resolveFileEnv } from "../../../runtime/sample-app/main";

const rpc = require("@pulumi/pulumi/runtime/rpc");
const structproto = require("google-protobuf/google/protobuf/struct_pb");
const secret = (value: unknown) => ({ [SPECIAL_SIG_KEY]: SECRET_SIG, value });

const reg = (type: string, name: string, inputs: Record<string, unknown>): Registration => ({
  seq: 0,
  urn: `urn:pulumi:s::p::${type}::${name}`,
  type,
  name,
  custom: true,
  inputs,
  dependencies: [],
  additionalSecretOutputs: [],
});

describe("rehearsal comparison", () => {
  it("lifts secretness to the top-level property exactly as the SDK's deserialization does", async () => {
    const wire = {
      uploads: [{ file: "/f", content: secret("pw") }],
      envs: ["A=1"],
      nested: { a: { b: secret("x") }, c: 1 },
    };
    const sdk = rpc.deserializeProperties(structproto.Struct.fromJavaScript(wire));
    const lifted = Object.fromEntries(Object.entries(wire).map(([k, v]) => [k, liftSecrets(v)]));
    // same shape of secretness: uploads and nested are secret as a whole, envs is not
    for (const k of Object.keys(wire))
      expect([k, (lifted[k] as Record<string, unknown>)?.[SPECIAL_SIG_KEY]]).toEqual([k, sdk[k]?.[SPECIAL_SIG_KEY]]);
    expect(diffValues(sdk.uploads, lifted.uploads, "uploads")).toEqual([]);
  });

  it("reports a changed input, a missing resource and one-sided secrets; skips unknowns", () => {
    const mock = [
      {
        urn: "urn:pulumi:s::p::docker:index/network:Network::n",
        type: "docker:index/network:Network",
        name: "n",
        custom: true,
        inputs: { name: "net", driver: "bridge" },
      },
      {
        urn: "urn:pulumi:s::p::docker:index/volume:Volume::v",
        type: "docker:index/volume:Volume",
        name: "v",
        custom: true,
        inputs: { name: UNKNOWN },
      },
    ];
    const real = [
      reg("docker:index/network:Network", "n", { name: "net", driver: "overlay" }),
      reg("docker:index/volume:Volume", "v", { name: "anything" }),
    ];
    expect(compareRegistrations(mock, real)).toEqual(['docker:index/network:Network::n: driver: "bridge" ≠ "overlay"']);
    expect(compareRegistrations(mock, real.slice(0, 1))).toContain(
      "docker:index/volume:Volume::v: registered by the mock run only",
    );
    expect(diffValues(secret("a"), "a", "k")).toEqual(["k: secret on one side only (mock true, program false)"]);
  });
});

describe("rehearsal Docker mapping", () => {
  const driver = new ResourceDriver({} as never, undefined);

  it("refuses an input it does not map, naming it, before touching Docker", async () => {
    await expect(
      driver.create(reg("docker:index/container:Container", "c", { name: "c", image: "i", privileged: true })),
    ).rejects.toThrow(/privileged not mapped/);
    await expect(
      driver.create(
        reg("docker:index/container:Container", "c", {
          name: "c",
          image: "i",
          ports: [{ internal: 1, hostIp: "0.0.0.0" }],
        }),
      ),
    ).rejects.toThrow(/ports\[\]: input\(s\) hostIp not mapped/);
    await expect(driver.create(reg("aws:s3/bucket:Bucket", "b", {}))).rejects.toThrow(/resource type not mapped/);
    await expect(driver.create(reg("pulumi-nodejs:dynamic/x:Y", "d", {}))).rejects.toThrow(/no dynamic-provider host/);
  });

  it("reads Docker durations", () => {
    expect(durationNs("10s", "x")).toBe(10e9);
    expect(durationNs("1m30s", "x")).toBe(90e9);
    expect(durationNs("500ms", "x")).toBe(0.5e9);
    expect(() => durationNs("10", "hc.interval")).toThrow(/hc.interval/);
  });
});

describe("secret files", () => {
  it("archives files with their mode and owner (as tar lists them)", () => {
    const tar = tarArchive([
      { path: "/run/secrets/scaleplane/DB_PASSWORD", content: "s3cret", mode: 0o400, uid: 10001, gid: 10001 },
    ]);
    const listing = execFileSync("tar", ["-tvf", "-", "--numeric-owner"], { input: tar }).toString();
    expect(listing).toMatch(/^-r-------- 10001\/10001\s+6 .* run\/secrets\/scaleplane\/DB_PASSWORD$/m);
    expect(listing).toMatch(/^drwxr-xr-x 0\/0 .* run\/secrets\/$/m);
  });

  it("names secrets by file in the env", () => {
    expect(secretFileEnv(secretFiles(["B", "A"]))).toEqual({
      A_FILE: "/run/secrets/scaleplane/A",
      B_FILE: "/run/secrets/scaleplane/B",
    });
    expect(() => secretFiles(["A/B"])).toThrow(/environment variable name/);
  });

  it("the sample app reads <NAME>_FILE into <NAME>, keeps a set <NAME>, and names an unreadable file's variable", () => {
    const files: Record<string, string> = { "/s/pw": "pw-value\n" };
    const read = (p: string) => {
      if (!(p in files)) throw new Error("ENOENT");
      return files[p];
    };
    expect(resolveFileEnv({ DB_PASSWORD_FILE: "/s/pw", X: "1" }, read)).toEqual({
      DB_PASSWORD_FILE: "/s/pw",
      DB_PASSWORD: "pw-value",
      X: "1",
    });
    expect(resolveFileEnv({ DB_PASSWORD_FILE: "/s/pw", DB_PASSWORD: "given" }, read).DB_PASSWORD).toBe("given");
    expect(() => resolveFileEnv({ TOKEN_FILE: "/nope" }, read)).toThrow(/TOKEN_FILE=\/nope/);
  });
});
