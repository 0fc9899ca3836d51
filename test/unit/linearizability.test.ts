import fc from "fast-check";
import { HistoryRecorder, type HistoryOp, type RegisterValue, type RegisterInput } from "../support/history";
import { checkRegister, resolveWithLog, step } from "../support/linearizability";

const w = (
  client: number,
  value: RegisterValue,
  call: number,
  ret: number,
  status: HistoryOp["status"] = "ok",
): HistoryOp => ({
  client,
  input: { op: "write", value },
  call,
  ret,
  status,
});
const r = (
  client: number,
  output: RegisterValue,
  call: number,
  ret: number,
  status: HistoryOp["status"] = "ok",
): HistoryOp => ({
  client,
  input: { op: "read" },
  output,
  call,
  ret,
  status,
});
const cas = (
  client: number,
  expected: RegisterValue,
  value: RegisterValue,
  output: boolean,
  call: number,
  ret: number,
): HistoryOp => ({
  client,
  input: { op: "cas", expected, value },
  output,
  call,
  ret,
  status: "ok",
});
const outcome = (h: HistoryOp[]) => checkRegister(h).outcome;

describe("checkRegister: histories it must accept", () => {
  it("sequential writes and reads", () => {
    expect(outcome([w(1, "a", 0, 1), r(2, "a", 2, 3), w(1, "b", 4, 5), r(2, "b", 6, 7)])).toBe("linearizable");
  });
  it("a read of the initial value before any write", () => {
    expect(outcome([r(1, null, 0, 1), w(2, "a", 2, 3)])).toBe("linearizable");
  });
  it("a read overlapping a write may see the old or the new value", () => {
    expect(outcome([w(1, "a", 0, 1), w(1, "b", 2, 10), r(2, "a", 3, 4), r(3, "b", 5, 6)])).toBe("linearizable");
  });
  it("concurrent writes may take effect in either order", () => {
    expect(outcome([w(1, "a", 0, 10), w(2, "b", 0, 10), r(3, "a", 11, 12)])).toBe("linearizable");
    expect(outcome([w(1, "a", 0, 10), w(2, "b", 0, 10), r(3, "b", 11, 12)])).toBe("linearizable");
  });
  it("a timed-out write may have happened late (after later ops)", () => {
    expect(outcome([w(1, "a", 0, 1), w(2, "b", 2, 3, "unknown"), r(3, "a", 4, 5), r(3, "b", 6, 7)])).toBe(
      "linearizable",
    );
  });
  it("a timed-out write may never have happened", () => {
    expect(outcome([w(1, "a", 0, 1), w(2, "b", 2, 3, "unknown"), r(3, "a", 4, 5), r(3, "a", 6, 7)])).toBe(
      "linearizable",
    );
  });
  it("a failed write is ignored", () => {
    expect(outcome([w(1, "a", 0, 1), w(2, "b", 2, 3, "fail"), r(3, "a", 4, 5)])).toBe("linearizable");
  });
  it("compare-and-swap that succeeds and one that fails", () => {
    expect(outcome([w(1, 1, 0, 1), cas(2, 1, 2, true, 2, 3), cas(3, 1, 3, false, 4, 5), r(1, 2, 6, 7)])).toBe(
      "linearizable",
    );
  });
  it("two overlapping CAS from the same value: one wins", () => {
    expect(outcome([w(1, 0, 0, 1), cas(2, 0, 2, true, 2, 6), cas(3, 0, 3, false, 3, 5), r(1, 2, 7, 8)])).toBe(
      "linearizable",
    );
  });
});

describe("checkRegister: histories it must reject", () => {
  it("a stale read after an acknowledged write", () => {
    const res = checkRegister([w(1, "a", 0, 1), w(1, "b", 2, 3), r(2, "a", 4, 5)]);
    expect(res.outcome).toBe("not-linearizable");
    expect(res.detail).toMatch(/read → "a"/);
  });
  it("a read of a value never written", () => {
    expect(outcome([w(1, "a", 0, 1), r(2, "z", 2, 3)])).toBe("not-linearizable");
  });
  it("a read of the initial value after an acknowledged write", () => {
    expect(outcome([w(1, "a", 0, 1), r(2, null, 2, 3)])).toBe("not-linearizable");
  });
  it("reads that go back in time: new value then old value, not overlapping", () => {
    // the write of b overlaps both reads, but once a read saw b a later read may not see a
    expect(outcome([w(1, "a", 0, 1), w(1, "b", 2, 20), r(2, "b", 3, 4), r(3, "a", 5, 6)])).toBe("not-linearizable");
  });
  it("two concurrent writes observed in both orders by sequential reads", () => {
    expect(outcome([w(1, "a", 0, 10), w(2, "b", 0, 10), r(3, "a", 11, 12), r(3, "b", 13, 14), r(3, "a", 15, 16)])).toBe(
      "not-linearizable",
    );
  });
  it("two CAS from the same value that both claim success", () => {
    expect(outcome([w(1, 0, 0, 1), cas(2, 0, 2, true, 2, 6), cas(3, 0, 3, true, 3, 5)])).toBe("not-linearizable");
  });
  it("an unknown write cannot explain a value that was read before it was called", () => {
    expect(outcome([w(1, "a", 0, 1), r(2, "b", 2, 3), w(3, "b", 4, 5, "unknown")])).toBe("not-linearizable");
  });
  it("a failed write's value must not be read", () => {
    expect(outcome([w(1, "a", 0, 1), w(2, "b", 2, 3, "fail"), r(3, "b", 4, 5)])).toBe("not-linearizable");
  });
});

describe("checkRegister: input checks and scale", () => {
  it("rejects malformed histories naming the op", () => {
    expect(() => checkRegister([w(1, "a", 5, 1)])).toThrow(/history\[0\]: return time must be ≥ call time/);
    expect(() => checkRegister([{ ...cas(1, 0, 1, true, 0, 1), output: "yes" }])).toThrow(
      /history\[0\]: an ok cas needs a boolean output/,
    );
  });

  it("checks a long 3-client history quickly and finds a single injected stale read", () => {
    // 3 clients, 3000 ops, each client sequential, overlapping each other
    const h: HistoryOp[] = [];
    let value: RegisterValue = null;
    let t = 0;
    for (let i = 0; i < 1000; i++) {
      const v = `v${i}`;
      h.push(w(1, v, t, t + 3));
      value = v;
      h.push(r(2, value, t + 3.5, t + 5));
      h.push(r(3, i % 2 === 0 ? value : null, i % 2 === 0 ? t + 4 : -1, i % 2 === 0 ? t + 6 : -1));
      t += 7;
    }
    const clean = h.filter((o) => o.call >= 0);
    expect(checkRegister(clean).outcome).toBe("linearizable");
    const victim = clean.findIndex((o, i) => i >= 1500 && o.input.op === "read");
    const broken = clean.map((o, i) => (i === victim ? { ...o, output: "v3" } : o));
    expect(checkRegister(broken).outcome).toBe("not-linearizable");
  });

  it("records histories with HistoryRecorder", () => {
    let clock = 0;
    const rec = new HistoryRecorder(() => clock++);
    const a = rec.begin("w", { op: "write", value: "x" });
    const b = rec.begin("r", { op: "read" });
    a.ok();
    b.ok("x");
    rec.begin("w", { op: "write", value: "y" }).unknown();
    expect(rec.ops.map((o) => [o.status, o.call, o.ret])).toEqual([
      ["ok", 0, 2],
      ["ok", 1, 3],
      ["unknown", 4, Number.POSITIVE_INFINITY],
    ]);
    expect(checkRegister(rec.ops).outcome).toBe("linearizable");
    expect(() => a.ok()).toThrow(/completed twice/);
  });
});

/** Brute force: some order of the ops (unknown ones optional) respecting real time is legal. */
function bruteForce(history: readonly HistoryOp[], initial: RegisterValue = null): boolean {
  const ops = history.filter((o) => o.status !== "fail");
  const ret = (o: HistoryOp) => (o.status === "unknown" ? Number.POSITIVE_INFINITY : o.ret);
  const placed = new Array<boolean>(ops.length).fill(false);
  const search = (state: RegisterValue, remaining: number): boolean => {
    if (ops.every((o, i) => placed[i] || o.status === "unknown")) return true;
    if (remaining === 0) return false;
    for (let i = 0; i < ops.length; i++) {
      if (placed[i]) continue;
      // every op that returned before ops[i] was called must already be placed
      if (ops.some((o, j) => !placed[j] && j !== i && ret(o) < ops[i].call)) continue;
      const [ok, next] = step(state, ops[i]);
      if (!ok) continue;
      placed[i] = true;
      const found = search(next, remaining - 1);
      placed[i] = false;
      if (found) return true;
    }
    return false;
  };
  return search(initial, ops.length);
}

describe("checkRegister agrees with a brute-force checker", () => {
  const valueArb = fc.constantFrom<RegisterValue>(null, "a", "b", "c");
  const inputArb: fc.Arbitrary<RegisterInput> = fc.oneof(
    fc.constant<RegisterInput>({ op: "read" }),
    valueArb.map((value): RegisterInput => ({ op: "write", value })),
    fc.tuple(valueArb, valueArb).map(([expected, value]): RegisterInput => ({ op: "cas", expected, value })),
  );
  const opArb = fc
    .record({
      client: fc.integer({ min: 0, max: 2 }),
      input: inputArb,
      call: fc.integer({ min: 0, max: 20 }),
      len: fc.integer({ min: 0, max: 8 }),
      status: fc.constantFrom<HistoryOp["status"]>("ok", "ok", "ok", "ok", "unknown", "fail"),
      readValue: valueArb,
      casOk: fc.boolean(),
    })
    .map((o): HistoryOp => ({
      client: o.client,
      input: o.input,
      call: o.call,
      ret: o.call + o.len,
      status: o.status,
      ...(o.status === "ok" && o.input.op === "read" ? { output: o.readValue } : {}),
      ...(o.status === "ok" && o.input.op === "cas" ? { output: o.casOk } : {}),
    }));

  it("on ≥ 1000 small random histories (about half of them non-linearizable)", () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 7 }), (h) => {
        const expected = bruteForce(h);
        const got = checkRegister(h).outcome;
        if (expected) accepted++;
        expect(got).toBe(expected ? "linearizable" : "not-linearizable");
      }),
      { numRuns: 1500 },
    );
    // the generator exercises both verdicts
    expect(accepted).toBeGreaterThan(100);
    expect(accepted).toBeLessThan(1400);
  });

  it("on random histories generated from a real sequential run (always linearizable)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(inputArb, fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 5 })), {
          minLength: 1,
          maxLength: 40,
        }),
        (steps) => {
          // apply ops one at a time at instant p, but report widened intervals [p - a, p + b]
          let state: RegisterValue = null;
          const h: HistoryOp[] = steps.map(([input, a, b], i) => {
            const p = i * 10;
            const op: HistoryOp = { client: i % 3, input, call: p - a, ret: p + b, status: "ok" };
            const [, next] = step(state, { ...op, status: "unknown" });
            if (input.op === "read") op.output = state;
            if (input.op === "cas") op.output = state === input.expected;
            state = next;
            return op;
          });
          expect(checkRegister(h).outcome).toBe("linearizable");
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("resolveWithLog", () => {
  const w = (client: string, value: string, call: number, ret: number, status: "ok" | "unknown" = "ok"): HistoryOp => ({
    client,
    input: { op: "write", value },
    call,
    ret: status === "unknown" ? Infinity : ret,
    status,
  });
  const r = (
    client: string,
    output: string | null,
    call: number,
    ret: number,
    status: "ok" | "unknown" = "ok",
  ): HistoryOp => ({
    client,
    input: { op: "read" },
    output: status === "ok" ? output : undefined,
    call,
    ret: status === "unknown" ? Infinity : ret,
    status,
  });

  it("drops unknown reads and turns unknown writes missing from the log into failures", () => {
    const h = [w("a", "x", 0, 1), r("b", null, 0, 0, "unknown"), w("c", "lost", 2, 0, "unknown")];
    const out = resolveWithLog(h, [{ value: "x", revision: 5 }]);
    expect(out.map((o) => [o.client, o.status])).toEqual([
      ["a", "ok"],
      ["c", "fail"],
    ]);
  });

  it("bounds an applied unknown write by the first response that observed a later revision", () => {
    const h = [w("a", "x", 0, 0, "unknown"), w("b", "y", 5, 20), r("c", "y", 6, 12), r("d", "x", 1, 3)];
    const out = resolveWithLog(h, [
      { value: "x", revision: 7 },
      { value: "y", revision: 8 },
    ]);
    expect(out[0]).toMatchObject({ status: "ok", ret: 12 });
    expect(checkRegister(out).outcome).toBe("linearizable");
  });

  it("keeps an applied unknown write open when nothing observed a later position", () => {
    const h = [w("a", "x", 0, 0, "unknown"), r("b", "x", 1, 2)];
    expect(resolveWithLog(h, [{ value: "x", revision: 3 }])[0]).toMatchObject({ status: "unknown", ret: Infinity });
  });

  it("still rejects a stale read after resolution", () => {
    const h = [w("a", "x", 0, 1), w("a", "y", 2, 3), r("b", "x", 4, 5), w("c", "z", 0, 0, "unknown")];
    const out = resolveWithLog(h, [
      { value: "x", revision: 2 },
      { value: "y", revision: 3 },
    ]);
    expect(out.map((o) => o.status)).toEqual(["ok", "ok", "ok", "fail"]);
    expect(checkRegister(out).outcome).toBe("not-linearizable");
  });

  it("refuses a log with a repeated value", () => {
    expect(() =>
      resolveWithLog(
        [],
        [
          { value: "x", revision: 1 },
          { value: "x", revision: 2 },
        ],
      ),
    ).toThrow("written twice");
  });
});
