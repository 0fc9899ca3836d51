/**
 * forceRemoveContainer (runtime/docker/containers.ts) against dockerd's answers, replayed: the
 * race of a force-remove with the container's own exit (seen in CI: "Could not kill running
 * container …, cannot remove - Container … is not running") is retried, not surfaced.
 */
import type Docker from "dockerode";
import { forceRemoveContainer } from "../../../runtime/docker/containers";

const dockerError = (statusCode: number, message: string) => Object.assign(new Error(message), { statusCode });
const RACE = dockerError(
  500,
  "(HTTP code 500) server error - Could not kill running container cfa7, cannot remove - Container cfa7 is not running",
);

/** A Docker whose remove answers the given outcomes in turn (undefined: removed). */
function docker(outcomes: (Error | undefined)[]) {
  const calls: unknown[] = [];
  const d = {
    getContainer: () => ({
      remove: async (opts: unknown) => {
        calls.push(opts);
        const next = outcomes.shift();
        if (next) throw next;
      },
    }),
  } as unknown as Docker;
  return { d, calls };
}

describe("forceRemoveContainer", () => {
  it("retries a remove that raced the container's own exit, and succeeds", async () => {
    const { d, calls } = docker([RACE, undefined]);
    await forceRemoveContainer(d, "x", { v: true });
    expect(calls).toEqual([
      { force: true, v: true },
      { force: true, v: true },
    ]);
  });

  it("treats an absent container and a remove already under way as done", async () => {
    await forceRemoveContainer(docker([dockerError(404, "no such container")]).d, "x");
    await forceRemoveContainer(docker([dockerError(409, "removal of container x is already in progress")]).d, "x");
  });

  it("gives up after its attempts, and surfaces any other error at once", async () => {
    const racing = docker([RACE, RACE, RACE]);
    await expect(forceRemoveContainer(racing.d, "x", { attempts: 3 })).rejects.toThrow(/is not running/);
    expect(racing.calls).toHaveLength(3);
    const other = docker([dockerError(500, "driver failed")]);
    await expect(forceRemoveContainer(other.d, "x")).rejects.toThrow("driver failed");
    expect(other.calls).toHaveLength(1);
  });
});
