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
    if (o.status !== "unknown" && !(o.ret >= o.call))
      throw new Error(`history[${i}]: return time must be ≥ call time (${describeOp(o)})`);
    if (o.status === "ok" && o.input.op === "cas" && typeof o.output !== "boolean")
      throw new Error(`history[${i}]: an ok cas needs a boolean output (${describeOp(o)})`);
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
          if (stack.length > deepest.depth)
            deepest = { depth: stack.length, state, order: stack.map((s) => s.entry.id) };
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
  const firstReturn = Math.min(
    ...ops.map((o, i) => (done.has(i) || o.status === "unknown" ? Number.POSITIVE_INFINITY : o.ret)),
  );
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

/** One entry of the store's own log of the register: the value written and its log position. */
export interface LogEntry {
  value: RegisterValue;
  revision: number;
}

/**
 * Sharpens a register history with the store's log, soundly, so that histories cut by faults stay
 * checkable (every timed-out op otherwise stays pending forever and the search explodes):
 * - an `unknown` read observed nothing and constrains nothing: dropped;
 * - an `unknown` write whose value is not in the log never took effect: it becomes `fail`;
 * - an `unknown` write that is in the log at revision R took effect before the response of any
 *   completed op that observed a later log position (a write acknowledged at a revision > R, or a
 *   read of a value written at a revision > R): its return time is bounded by the earliest such
 *   response (it stays unbounded when no op observed a later position).
 * Requires every written value to be unique (the log maps values back to positions).
 */
export function resolveWithLog(history: readonly HistoryOp[], log: readonly LogEntry[]): HistoryOp[] {
  const position = new Map<RegisterValue, number>([[null, 0]]);
  for (const e of log) {
    if (position.has(e.value))
      throw new Error(`resolveWithLog: value ${JSON.stringify(e.value)} is written twice; values must be unique`);
    position.set(e.value, e.revision);
  }
  const observed = (o: HistoryOp): number | undefined => {
    if (o.status !== "ok") return undefined;
    if (o.input.op === "write") return position.get(o.input.value);
    if (o.input.op === "read") return position.get(o.output as RegisterValue);
    return undefined;
  };
  const completed = history
    .map((o) => ({ o, at: observed(o) }))
    .filter((x): x is { o: HistoryOp; at: number } => x.at !== undefined);
  const out: HistoryOp[] = [];
  for (const o of history) {
    if (o.status !== "unknown") {
      out.push(o);
      continue;
    }
    if (o.input.op === "read") continue;
    if (o.input.op !== "write") {
      out.push(o);
      continue;
    }
    const at = position.get(o.input.value);
    if (at === undefined || at === 0) {
      out.push({ ...o, status: "fail" });
      continue;
    }
    const bound = Math.min(...completed.filter((c) => c.at > at).map((c) => c.o.ret));
    out.push(Number.isFinite(bound) ? { ...o, status: "ok", ret: Math.max(o.call, bound) } : o);
  }
  return out;
}
