/**
 * Container removal that survives dockerd's races (the one place every Docker target removes a
 * container from).
 *
 * `docker rm -f` of a container that is exiting on its own at that moment fails in dockerd 20.10
 * with HTTP 500 "Could not kill running container …, cannot remove - Container … is not running"
 * (the kill found it stopped, the remove never ran), and a second remove racing the first answers
 * 409 "removal of container … is already in progress". Neither means the container stays: the
 * first is retried (it is stopped now, so the next remove works), the second is left to finish.
 */
import type Docker from "dockerode";

/** Docker's 404: no such container, volume or network. */
export const isNotFound = (e: unknown): boolean => (e as { statusCode?: number }).statusCode === 404;

const RACED_WITH_EXIT = /cannot remove - container .* is not running|could not kill running container/i;
const ALREADY_REMOVING = /removal of container .* is already in progress/i;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Removes container `name` forcefully (`v`: with its anonymous volumes). Absent is fine; a remove
 * that raced the container's own exit is retried (up to `attempts` times, 200 ms apart).
 */
export async function forceRemoveContainer(
  docker: Docker,
  name: string,
  opts: { v?: boolean; attempts?: number } = {},
): Promise<void> {
  const attempts = opts.attempts ?? 5;
  for (let i = 1; ; i++) {
    try {
      await docker.getContainer(name).remove({ force: true, ...(opts.v ? { v: true } : {}) });
      return;
    } catch (e) {
      const message = String((e as Error).message);
      if (isNotFound(e)) return;
      // another remove of it is under way: it goes
      if (ALREADY_REMOVING.test(message)) return;
      if (!RACED_WITH_EXIT.test(message) || i >= attempts) throw e;
      await sleep(200);
    }
  }
}
