/**
 * Histories of operations on a single register, as recorded by concurrent clients (chaos tests,
 * benches) and judged by test/support/linearizability.ts. Pure types and helpers, no I/O.
 */

/** A register value: JSON-like primitives (null = never written / deleted). */
export type RegisterValue = string | number | null;

/** What a client asked for. */
export type RegisterInput =
  { op: "read" } | { op: "write"; value: RegisterValue } | { op: "cas"; expected: RegisterValue; value: RegisterValue };

/**
 * How the call ended:
 * - `ok`: acknowledged; `output` is meaningful (read: the value; cas: whether it swapped).
 * - `fail`: definitely did not take effect (e.g. rejected before reaching the cluster).
 * - `unknown`: no answer (deadline, connection lost): it may or may not have taken effect, at
 *   any time after its call.
 */
export type OpStatus = "ok" | "fail" | "unknown";

export interface HistoryOp {
  /** Client (process/thread) id; a client runs one operation at a time. */
  client: string | number;
  input: RegisterInput;
  /** read: the value read; cas: true when it swapped; write: unused. */
  output?: RegisterValue | boolean;
  /** Invocation time (any monotonic clock, e.g. performance.now()). */
  call: number;
  /** Completion time (≥ call); ignored for `unknown` ops. */
  ret: number;
  status: OpStatus;
}

/** A history recorder: `begin` at invocation, then exactly one of ok/fail/unknown. */
export class HistoryRecorder {
  readonly ops: HistoryOp[] = [];
  constructor(private readonly now: () => number = () => performance.now()) {}

  begin(
    client: string | number,
    input: RegisterInput,
  ): { ok(output?: RegisterValue | boolean): void; fail(): void; unknown(): void } {
    const op: HistoryOp = { client, input, call: this.now(), ret: Number.POSITIVE_INFINITY, status: "unknown" };
    this.ops.push(op);
    let done = false;
    const end = (status: OpStatus, output?: RegisterValue | boolean) => {
      if (done) throw new Error("HistoryRecorder: operation completed twice");
      done = true;
      op.status = status;
      op.ret = status === "unknown" ? Number.POSITIVE_INFINITY : this.now();
      if (output !== undefined) op.output = output;
    };
    return { ok: (output) => end("ok", output), fail: () => end("fail"), unknown: () => end("unknown") };
  }
}

/** Human-readable form of an operation (for failure reports). */
export function describeOp(o: HistoryOp): string {
  const inp =
    o.input.op === "read"
      ? "read"
      : o.input.op === "write"
        ? `write(${JSON.stringify(o.input.value)})`
        : `cas(${JSON.stringify(o.input.expected)}→${JSON.stringify(o.input.value)})`;
  const out = o.status !== "ok" ? o.status : o.input.op === "write" ? "ok" : JSON.stringify(o.output);
  const ret = Number.isFinite(o.ret) ? o.ret.toFixed(1) : "∞";
  return `client ${o.client}: ${inp} → ${out} [${o.call.toFixed(1)}, ${ret}]`;
}
