/**
 * Linearizability checker for a single register (read / write / compare-and-swap), after
 * Wing & Gong with Lowe's memoization, as in Porcupine (Athalye): walk the history's call and
 * return events in time order, tentatively linearize any pending call whose effect the register
 * model accepts, backtrack when a return is reached whose call is not yet linearized, and never
 * revisit a (set of linearized ops, register state) configuration.
 *
 * Status handling: `fail` ops are dropped (they did not happen); `unknown` ops (timeouts) get an
 * infinite return time, so they may be linearized at any point after their call, including
 * after everything else (which is the same as "did not happen").
 * Pure: no I/O.
 */
import { describeOp, type HistoryOp, type RegisterValue } from "./history";

export type CheckOutcome = "linearizable" | "not-linearizable" | "budget-exceeded";

export interface CheckResult {
  outcome: CheckOutcome;
  /** Ops considered (fail ops excluded). */
  ops: number;
  /** Distinct configurations explored. */
  explored: number;
  /** When not linearizable: the deepest partial linearization found and the ops it could not extend with. */
  detail?: string;
}

export interface CheckOptions {
  /** Register value before the history. @default null */
  initial?: RegisterValue;
  /** Give up after exploring this many configurations. @default 2_000_000 */
  maxExplored?: number;
}

/** The sequential register model: whether `op` may run on `state`, and the state after it. */
export function step(state: RegisterValue, op: HistoryOp): [boolean, RegisterValue] {
  const inp = op.input;
  switch (inp.op) {
    case "write":
      return [true, inp.value];
    case "read":
      // an unknown read carries no information
      return [op.status !== "ok" || op.output === state, state];
    case "cas": {
      if (op.status !== "ok") return state === inp.expected ? [true, inp.value] : [true, state];
      if (op.output === true) return state === inp.expected ? [true, inp.value] : [false, state];
      return [state !== inp.expected, state];
    }
  }
}

interface Entry {
  id: number;
  isCall: boolean;
  time: number;
  match?: Entry; // call → its return
  prev?: Entry;
  next?: Entry;
}

/** Builds the doubly linked event list (calls before returns at equal times: they overlap). */
function eventList(ops: readonly HistoryOp[]): Entry {
  const events: Entry[] = [];
  ops.forEach((o, id) => {
    const call: Entry = { id, isCall: true, time: o.call };
    const ret: Entry = { id, isCall: false, time: o.status === "unknown" ? Number.POSITIVE_INFINITY : o.ret };
    call.match = ret;
    events.push(call, ret);
  });
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.id - b.id : a.isCall ? -1 : 1));
  const head: Entry = { id: -1, isCall: false, time: Number.NEGATIVE_INFINITY };
  let prev = head;
  for (const e of events) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }
  return head;
}

/** Removes a call and its return from the list. */
function lift(call: Entry): void {
  call.prev!.next = call.next;
  if (call.next) call.next.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next) ret.next.prev = ret.prev;
}

/** Undoes lift (in reverse order). */
function unlift(call: Entry): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next) call.next.prev = call;
}

/** Validates the shape of a history; throws naming the offending op. */
function validate(history: readonly HistoryOp[]): void {
  history.forEach((o, i) => {
    if (!Number.isFinite(o.call)) throw new Error(`history[${i}]: call time must be finite (${describeOp(o)})`);
    if (o.status !== "unknown" && !(o.ret >= o.call)) throw new Error(`history[${i}]: return time must be ≥ call time (${describeOp(o)})`);
    if (o.status === "ok" && o.input.op === "cas" && typeof o.output !== "boolean") throw new Error(`history[${i}]: an ok cas needs a boolean output (${describeOp(o)})`);
  });
}

/** Checks whether `history` is linearizable with respect to a single register. */
export function checkRegister(history: readonly HistoryOp[], options: CheckOptions = {}): CheckResult {
  validate(history);
  const ops = history.filter((o) => o.status !== "fail");
  const n = ops.length;
  const maxExplored = options.maxExplored ?? 2_000_000;
  const head = eventList(ops);
  const linearized = new Uint32Array(Math.ceil(n / 32) || 1);
  const cache = new Set<string>();
  const stack: Array<{ entry: Entry; state: RegisterValue }> = [];
  let state: RegisterValue = options.initial ?? null;
  let entry = head.next;
  let deepest: { depth: number; state: RegisterValue; order: number[] } = { depth: -1, state, order: [] };

  const key = (s: RegisterValue) => `${linearized.join(",")}|${typeof s}:${String(s)}`;

  while (head.next) {
    if (!entry) throw new Error("checkRegister: event list ended with ops still pending (internal error)");
    if (entry.isCall) {
      const [ok, next] = step(state, ops[entry.id]);
      if (ok) {
        linearized[entry.id >>> 5] |= 1 << (entry.id & 31);
        const k = key(next);
        if (!cache.has(k)) {
          cache.add(k);
          if (cache.size > maxExplored) return { outcome: "budget-exceeded", ops: n, explored: cache.size };
          stack.push({ entry, state });
          state = next;
          lift(entry);
          if (stack.length > deepest.depth) deepest = { depth: stack.length, state, order: stack.map((s) => s.entry.id) };
          entry = head.next;
          continue;
        }
        linearized[entry.id >>> 5] &= ~(1 << (entry.id & 31));
      }
      entry = entry.next;
    } else {
      // a return whose call is not linearized: undo the last choice
      const top = stack.pop();
      if (!top) return { outcome: "not-linearizable", ops: n, explored: cache.size, detail: explain(ops, deepest) };
      state = top.state;
      linearized[top.entry.id >>> 5] &= ~(1 << (top.entry.id & 31));
      unlift(top.entry);
      entry = top.entry.next;
    }
  }
  return { outcome: "linearizable", ops: n, explored: cache.size };
}

function explain(ops: readonly HistoryOp[], deepest: { depth: number; state: RegisterValue; order: number[] }): string {
  const done = new Set(deepest.order);
  const last = deepest.order.slice(-5).map((i) => `  ${describeOp(ops[i])}`);
  const firstReturn = Math.min(...ops.map((o, i) => (done.has(i) || o.status === "unknown" ? Number.POSITIVE_INFINITY : o.ret)));
  const stuck = ops
    .map((o, i) => ({ o, i }))
    .filter(({ o, i }) => !done.has(i) && o.call <= firstReturn)
    .slice(0, 8)
    .map(({ o }) => `  ${describeOp(o)}`);
  return [
    `longest linearizable prefix: ${deepest.order.length} of ${ops.length} ops, register = ${JSON.stringify(deepest.state)}; last linearized:`,
    ...last,
    "none of these pending ops can come next:",
    ...stuck,
  ].join("\n");
}
