/**
 * The test harness itself must not keep jest alive: a dynamic-provider host that does not start
 * in time is killed, not left running (it held jest open after the integration run: "Jest did not
 * exit one second after the test run has completed").
 */
import { execFileSync } from "node:child_process";
import { ProviderHost } from "../../support/provider-host";

const hostPids = (): number[] =>
  execFileSync("ps", ["-eo", "pid=,ppid=,args="], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => Number(f[1]) === process.pid && f.slice(2).join(" ").includes("cmd/dynamic-provider"))
    .map((f) => Number(f[0]));

it("a host that misses its start deadline is killed, so nothing outlives the test run", async () => {
  await expect(ProviderHost.start({ timeoutMs: 1 })).rejects.toThrow(/printed no port within 1 ms/);
  for (let i = 0; i < 50 && hostPids().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  expect(hostPids()).toEqual([]);
});

it("a started host is gone after stop(), also when it died on its own first", async () => {
  const host = await ProviderHost.start();
  expect(hostPids()).toHaveLength(1);
  process.kill(hostPids()[0], "SIGKILL");
  for (let i = 0; i < 50 && host.exit === undefined; i++) await new Promise((r) => setTimeout(r, 100));
  expect(host.exit).toEqual({ code: null, signal: "SIGKILL" });
  await host.stop();
  expect(hostPids()).toEqual([]);
});
