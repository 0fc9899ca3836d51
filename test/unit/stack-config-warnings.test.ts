/**
 * Issue 9 item 5, as a user sees it: a stack config with "quorum" at replication factor 2 (a
 * quorum of 2 of 2 is "all") is refused by `pulumi up` in prod, naming the key, and elsewhere the
 * program logs a Pulumi warning naming the key (no engine here, so the SDK prints it to stderr).
 */
import * as pulumi from "@pulumi/pulumi";
import { loadPlatformConfig } from "../../components/stack-config";
import { ConfigError } from "../../core/config";

const database = JSON.stringify({ shards: 3, replicationFactor: 2, consistency: "quorum" });
const stackConfig = (environment: string) =>
  pulumi.runtime.setAllConfig({ "scaleplane:environment": environment, "scaleplane:database": database });

let warn: jest.SpyInstance;
beforeEach(() => (warn = jest.spyOn(console, "warn").mockImplementation(() => undefined)));
afterEach(() => warn.mockRestore());

it("prod: the program refuses the stack config, naming scaleplane:database.consistency", () => {
  stackConfig("prod");
  let err: unknown;
  try {
    loadPlatformConfig();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as ConfigError).problems.map((p) => p.key)).toContain("scaleplane:database.consistency");
});

it.each(["dev", "staging"])("%s: the program runs and logs a warning naming the key", (environment) => {
  stackConfig(environment);
  expect(loadPlatformConfig().database.consistency).toBe("quorum");
  const warnings = warn.mock.calls.map((c) => String(c[0]));
  expect(warnings).toEqual([expect.stringMatching(/scaleplane:database\.consistency: .*quorum of 2 of 2/)]);
});

it("quorum at replication factor 3 draws no warning", () => {
  pulumi.runtime.setAllConfig({
    "scaleplane:environment": "dev",
    "scaleplane:database": JSON.stringify({ shards: 3, replicationFactor: 3, consistency: "quorum" }),
  });
  loadPlatformConfig();
  expect(warn).not.toHaveBeenCalled();
});
