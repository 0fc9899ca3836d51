/**
 * Bounded background work of the router: read repairs (writing the newest version to replicas
 * that answered a read with an older one or none). At most `maxInFlight` repairs run at once and
 * at most `maxQueued` wait; beyond that a repair is dropped (counted): a later read of the key
 * schedules it again, so dropping loses nothing but time, while an unbounded queue could grow
 * without limit behind a slow replica.
 */
import type { Logger } from "pino";

/** Counters of the repair queue. */
export interface RepairStats {
  /** Repairs accepted into the queue. */
  scheduled: number;
  /** Repairs whose write reached the replica (applied there or already superseded). */
  completed: number;
  /** Repairs whose write failed (replica down again, deadline, stale epoch). */
  failed: number;
  /** Repairs refused because the queue was full (a later read of the key schedules them again). */
  dropped: number;
  /**
   * Reads that saw replicas disagree and wrote the newest row to a quorum before returning
   * (blocking repairs: what makes quorum reads monotonic); counted by the client, not queued here.
   */
  blocking: number;
}

export class RepairQueue<T> {
  private readonly queue: T[] = [];
  private running = 0;
  private readonly tracked = new Set<Promise<unknown>>();
  private waiters: Array<() => void> = [];
  readonly stats: RepairStats = { scheduled: 0, completed: 0, failed: 0, dropped: 0, blocking: 0 };

  constructor(
    private readonly exec: (task: T) => Promise<void>,
    private readonly maxInFlight: number,
    private readonly maxQueued: number,
    private readonly log: Logger,
  ) {}

  /** Queues a repair; false when the queue is full (the repair is dropped). */
  push(task: T): boolean {
    if (this.queue.length >= this.maxQueued) {
      this.stats.dropped++;
      return false;
    }
    this.stats.scheduled++;
    this.queue.push(task);
    this.pump();
    return true;
  }

  /** Tracks background work that will push repairs later (e.g. a read's late replies). */
  track(p: Promise<unknown>): void {
    const q = p
      .catch((e: unknown) => this.log.debug({ err: e }, "background read analysis failed"))
      .finally(() => {
        this.tracked.delete(q);
        this.settle();
      });
    this.tracked.add(q);
  }

  private pump(): void {
    while (this.running < this.maxInFlight && this.queue.length > 0) {
      const task = this.queue.shift()!;
      this.running++;
      void this.exec(task)
        .then(
          () => this.stats.completed++,
          (e: unknown) => {
            this.stats.failed++;
            this.log.debug({ err: e instanceof Error ? e.message : String(e) }, "read repair failed");
          },
        )
        .finally(() => {
          this.running--;
          this.pump();
          this.settle();
        });
    }
  }

  private get busy(): boolean {
    return this.running > 0 || this.queue.length > 0 || this.tracked.size > 0;
  }

  private settle(): void {
    if (this.busy) return;
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves when no repair is queued, running, or pending analysis. */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
