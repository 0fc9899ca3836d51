/**
 * Host ports for tests and benches, always on 127.0.0.1.
 *
 * `npm test` runs integration files in several jest workers at once. Two files that picked ports
 * from the same range could both probe a port free and then both bind it (a probe is not a
 * reservation). So every caller names a range for its purpose, as before, and gets ports only from
 * this worker's own slice of it: worker k of {@link PORT_SLICES} searches the k-th slice, so files
 * running at the same time never search the same ports. Inside a slice a port is still probed free
 * (another program on the machine may hold it), and a slice that has no free port left falls back
 * to the whole range, probed.
 *
 * Ranges stay below 32768: Linux hands out ephemeral ports (the local side of outgoing
 * connections) from 32768-60999, and a port taken that way is not free for a test to bind.
 */
import { createServer } from "node:net";

/** How many disjoint slices each range is cut into (≥ the most integration workers `npm test` uses). */
export const PORT_SLICES = 8;

/** This process's slice: jest's worker id (1-based) wrapped into 0..PORT_SLICES-1; 0 outside jest. */
export function portSlice(): number {
  const id = Number(process.env.JEST_WORKER_ID ?? 1);
  return Number.isInteger(id) && id > 0 ? (id - 1) % PORT_SLICES : 0;
}

/** This worker's part of [from, to] (the whole range when it is too small to cut). */
export function sliceOf(from: number, to: number, slice = portSlice()): [number, number] {
  const width = Math.floor((to - from + 1) / PORT_SLICES);
  if (width < 4) return [from, to];
  const lo = from + slice * width;
  return [lo, lo + width - 1];
}

/** Whether 127.0.0.1:port can be bound right now. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ host: "127.0.0.1", port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

async function probe(count: number, from: number, to: number): Promise<number[]> {
  const span = to - from + 1;
  const start = Math.floor(Math.random() * span);
  const out: number[] = [];
  for (let i = 0; i < span && out.length < count; i++) {
    const p = from + ((start + i) % span);
    if (await portFree(p)) out.push(p);
  }
  return out;
}

/** `count` free ports in this worker's slice of [from, to] (starting at a random offset). */
export async function freePorts(count: number, from: number, to: number): Promise<number[]> {
  const [lo, hi] = sliceOf(from, to);
  const mine = await probe(count, lo, hi);
  if (mine.length === count) return mine;
  const any = await probe(count, from, to);
  if (any.length === count) return any;
  throw new Error(`no ${count} free ports on 127.0.0.1 in ${from}-${to}`);
}

/**
 * The first of `count` consecutive free ports in this worker's slice of [from, to], for components
 * that take a base port and publish instance i on base + i.
 */
export async function consecutiveFreePorts(count: number, from: number, to: number): Promise<number> {
  for (const [lo, hi] of [sliceOf(from, to), [from, to] as [number, number]]) {
    const span = hi - lo + 1 - count + 1;
    if (span <= 0) continue;
    const start = Math.floor(Math.random() * span);
    for (let i = 0; i < span; i++) {
      const base = lo + ((start + i) % span);
      let ok = true;
      for (let p = base; p < base + count && ok; p++) ok = await portFree(p);
      if (ok) return base;
    }
  }
  throw new Error(`no ${count} consecutive free ports on 127.0.0.1 in ${from}-${to}`);
}
