import pino from "pino";
import { RepairQueue } from "../../runtime/shard-client/repair";

const silent = pino({ level: "silent" });

describe("read-repair queue", () => {
  it("runs at most maxInFlight at once, drops beyond maxQueued, and reports idle when done", async () => {
    let running = 0;
    let peak = 0;
    const release: Array<() => void> = [];
    const q = new RepairQueue<number>(
      (n) =>
        new Promise<void>((resolve, reject) => {
          running++;
          peak = Math.max(peak, running);
          release.push(() => {
            running--;
            if (n === 3) reject(new Error("replica down"));
            else resolve();
          });
        }),
      2,
      3,
      silent,
    );
    const accepted = [1, 2, 3, 4, 5, 6, 7].map((n) => q.push(n));
    // 2 start at once and 3 wait; the rest are dropped
    expect(accepted).toEqual([true, true, true, true, true, false, false]);
    expect(q.stats).toEqual({ scheduled: 5, completed: 0, failed: 0, dropped: 2, blocking: 0 });
    let idle = false;
    const done = q.idle().then(() => (idle = true));
    while (release.length > 0 || running > 0) {
      release.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    await done;
    expect(idle).toBe(true);
    expect(peak).toBe(2);
    expect(q.stats).toEqual({ scheduled: 5, completed: 4, failed: 1, dropped: 2, blocking: 0 });
  });

  it("waits for tracked analyses that push repairs later", async () => {
    const seen: number[] = [];
    const q = new RepairQueue<number>(async (n) => void seen.push(n), 4, 10, silent);
    let finish!: () => void;
    q.track(new Promise<void>((r) => (finish = r)).then(() => void q.push(9)));
    let idle = false;
    const done = q.idle().then(() => (idle = true));
    await new Promise((r) => setImmediate(r));
    expect(idle).toBe(false);
    finish();
    await done;
    expect(seen).toEqual([9]);
  });
});
