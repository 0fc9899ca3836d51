/**
 * One `npm run images` at a time per repository: concurrent runs would debootstrap into and
 * build the same tags at once. A second run waits (bounded) for the first, then finds its
 * images cached.
 */
import { mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
};

/** Takes `<dir>/images.lock`; resolves with its release function. */
export async function lockImages(dir: string, timeoutMs = 15 * 60_000): Promise<() => void> {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "images.lock");
  const deadline = Date.now() + timeoutMs;
  let announced = false;
  for (;;) {
    try {
      const fd = openSync(file, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    let holder = NaN;
    try {
      holder = Number(readFileSync(file, "utf8").trim());
    } catch {
      continue; // released between our attempts
    }
    if (!Number.isInteger(holder) || holder <= 0 || !alive(holder)) {
      rmSync(file, { force: true }); // stale: its process is gone
      continue;
    }
    if (Date.now() > deadline)
      throw new Error(`another \`npm run images\` (pid ${holder}) still holds ${file} after ${timeoutMs / 1000} s`);
    if (!announced) process.stderr.write(`waiting for another \`npm run images\` (pid ${holder}) to finish\n`);
    announced = true;
    await new Promise((r) => setTimeout(r, 1000));
  }
}
