import { AppendNotifier } from "../../../runtime/event-store/waker";

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("AppendNotifier", () => {
  it("sends at once, then coalesces the kicks of an interval into one send after it", async () => {
    const sent: number[] = [];
    const t0 = Date.now();
    const n = new AppendNotifier(
      async () => {
        sent.push(Date.now() - t0);
      },
      300,
      () => false,
    );
    n.kick();
    await tick(5);
    expect(sent).toHaveLength(1); // the first commit is announced without waiting
    for (let i = 0; i < 20; i++) n.kick();
    await tick(450);
    expect(sent).toHaveLength(2); // twenty commits in the interval: one NOTIFY, after it
    expect(sent[1] - sent[0]).toBeGreaterThanOrEqual(290);
    await tick(350);
    expect(sent).toHaveLength(2); // no kick, no send
  });

  it("covers a kick that arrives while a send is in flight with one more send", async () => {
    let sends = 0;
    let release!: () => void;
    const n = new AppendNotifier(
      () => {
        sends++;
        return sends === 1 ? new Promise<void>((r) => (release = r)) : Promise.resolve();
      },
      0,
      () => false,
    );
    n.kick();
    await tick(1);
    n.kick(); // this append committed after the first NOTIFY was sent: it needs its own
    release();
    await tick(10);
    expect(sends).toBe(2);
  });

  it("sends nothing once closed and survives a failed send", async () => {
    let closed = false;
    let sends = 0;
    const n = new AppendNotifier(
      () => {
        sends++;
        return Promise.reject(new Error("connection lost"));
      },
      300,
      () => closed,
    );
    n.kick();
    await tick(5);
    n.kick();
    closed = true;
    await tick(400);
    expect(sends).toBe(1);
  });
});
