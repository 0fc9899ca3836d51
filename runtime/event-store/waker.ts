/**
 * Wake-ups for readers that caught up: one LISTEN connection per shard on the append's NOTIFY
 * channel. A wake-up only ends a wait early; the reader still decides what is released from the
 * transaction state (a lost notification costs at most one poll interval, never an event).
 */
import { Client, type ClientConfig } from "pg";
import { EVENTS_CHANNEL } from "./sql";

export class ShardWaker {
  readonly #waiters = new Set<() => void>();
  #client?: Client;
  #starting?: Promise<void>;
  #closed = false;

  constructor(private readonly connect: () => Promise<ClientConfig>) {}

  #start(): Promise<void> {
    this.#starting ??= (async () => {
      const c = new Client(await this.connect());
      c.on("error", () => {
        // reconnect on the next wait
        this.#client = undefined;
        this.#starting = undefined;
        void c.end().catch(() => undefined);
      });
      c.on("notification", () => this.#wakeAll());
      await c.connect();
      await c.query(`LISTEN ${EVENTS_CHANNEL}`);
      if (this.#closed) await c.end();
      else this.#client = c;
    })().catch(() => {
      this.#starting = undefined;
    });
    return this.#starting;
  }

  #wakeAll(): void {
    for (const w of [...this.#waiters]) w();
  }

  /** Resolves at the next append committed on the shard, or after `ms` (the poll fallback). */
  async wait(ms: number): Promise<void> {
    if (!this.#closed) await this.#start();
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.#waiters.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.#waiters.add(done);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#wakeAll();
    const c = this.#client;
    this.#client = undefined;
    await c?.end().catch(() => undefined);
  }
}

/**
 * The appending side of the wake-ups: after an append committed, the store kicks its shard's
 * notifier, which sends one NOTIFY now when none was sent within `minGapMs`, or else one as soon
 * as the interval ends, covering every append that committed meanwhile. Every committed append
 * is thus followed by a NOTIFY sent after its commit, without one NOTIFY per append (NOTIFY
 * serialises the shard's committing transactions: runtime/event-store/sql.ts). A failed NOTIFY is
 * dropped: readers fall back to their poll.
 */
export class AppendNotifier {
  #busy = false;
  #pending = false;
  #last = 0;

  constructor(
    private readonly send: () => Promise<unknown>,
    private readonly minGapMs: number,
    private readonly closed: () => boolean,
  ) {}

  /** Announces that an append committed. */
  kick(): void {
    if (this.#busy) {
      this.#pending = true;
      return;
    }
    this.#busy = true;
    void this.#run();
  }

  async #run(): Promise<void> {
    try {
      do {
        const wait = this.#last + this.minGapMs - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        if (this.closed()) return;
        // appends that committed until now (kicks during the wait included) are covered by this one
        this.#pending = false;
        this.#last = Date.now();
        await this.send().catch(() => undefined);
      } while (this.#pending);
    } finally {
      this.#busy = false;
    }
  }
}
