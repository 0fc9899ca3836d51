/**
 * The PromQL subset the metrics store answers: parser, validation and resolution planning. Pure.
 *
 * Supported (PromQL as Prometheus 2.42 defines it):
 * - vector selectors `metric{label="v", other!="v", re=~"a|b", nre!~"x.*"}` (regexes fully
 *   anchored, RE2 syntax as far as JavaScript shares it; a leading `(?i)` is honoured), at least one
 *   matcher that does not match the empty string; `[range]` matrix selectors and `offset <duration>`;
 * - range functions `rate`, `increase`, `avg_over_time`, `sum_over_time`, `min_over_time`,
 *   `max_over_time`, `count_over_time`, `last_over_time`;
 * - aggregations `sum`, `avg`, `min`, `max`, `count`, with `by (...)` or `without (...)` before or
 *   after the argument;
 * - number literals (`Inf`, `NaN` too), unary `-`, and `+ - * /` between numbers and vectors
 *   (vector/vector matched one-to-one on all labels but the metric name); parentheses.
 * Anything else (other functions, `topk`, `on`/`ignoring`/`group_left`, comparisons, `and`/`or`,
 * subqueries, `@`) is refused with {@link UnsupportedQueryError}, whose message lists the subset;
 * the HTTP API answers it with 400 `bad_data`.
 */
import { RANGE_FUNCTIONS, type RangeFunction } from "./rollup";

export const AGGREGATIONS = ["sum", "avg", "min", "max", "count"] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];
export const BINARY_OPS = ["+", "-", "*", "/"] as const;
export type BinaryOp = (typeof BINARY_OPS)[number];

/** A label matcher. */
export interface Matcher {
  name: string;
  op: "=" | "!=" | "=~" | "!~";
  value: string;
}

export type Expr =
  | { kind: "number"; value: number }
  | { kind: "selector"; id: number; metric?: string; matchers: Matcher[]; range?: number; offset: number }
  | { kind: "call"; fn: RangeFunction; arg: Extract<Expr, { kind: "selector" }> }
  | { kind: "agg"; op: Aggregation; grouping?: { mode: "by" | "without"; labels: string[] }; arg: Expr }
  | { kind: "binary"; op: BinaryOp; left: Expr; right: Expr };

export type SelectorExpr = Extract<Expr, { kind: "selector" }>;

/** What the subset covers, as said in every refusal. */
export const SUPPORTED_SUBSET =
  "supported: vector selectors with =, !=, =~, !~ matchers, [range] and offset; " +
  `${RANGE_FUNCTIONS.join(", ")}; ` +
  "sum, avg, min, max, count with by (...) or without (...); " +
  "number literals and + - * / between numbers and vectors (one-to-one on all labels); parentheses";

/** A query outside the subset, or one that does not parse. */
export class UnsupportedQueryError extends Error {
  constructor(detail: string) {
    super(`${detail}; ${SUPPORTED_SUBSET}`);
    this.name = "UnsupportedQueryError";
  }
}

/** A query that parses but is invalid PromQL (e.g. a selector matching everything). */
export class QueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QueryError";
  }
}

type Tok =
  | { k: "ident"; s: string; at: number }
  | { k: "num"; n: number; at: number }
  | { k: "dur"; ms: number; at: number }
  | { k: "str"; s: string; at: number }
  | { k: "op"; s: string; at: number }
  | { k: "eof"; at: number };

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};

/** Milliseconds of a PromQL duration (`5m`, `1h30m`, `250ms`). @throws QueryError */
export function parseDuration(text: string): number {
  const re = /(\d+)(ms|s|m|h|d|w|y)/gy;
  let ms = 0;
  let at = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    ms += Number(m[1]) * DURATION_UNITS[m[2]];
    at = re.lastIndex;
  }
  if (at !== text.length || text.length === 0) throw new QueryError(`not a valid duration: ${JSON.stringify(text)}`);
  return ms;
}

function unquote(body: string, quote: string): string {
  if (quote === "`") return body;
  return body.replace(/\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2}|[0-7]{3}|.)/g, (_, e: string) => {
    switch (e[0]) {
      case "n":
        return "\n";
      case "t":
        return "\t";
      case "r":
        return "\r";
      case "a":
        return "\x07";
      case "b":
        return "\b";
      case "f":
        return "\f";
      case "v":
        return "\v";
      case "u":
      case "U":
      case "x":
        return String.fromCodePoint(parseInt(e.slice(1), 16));
      default:
        return /^[0-7]{3}$/.test(e) ? String.fromCharCode(parseInt(e, 8)) : e;
    }
  });
}

function lex(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "#") {
      while (i < src.length && src[i] !== "\n") i++;
      continue;
    }
    const at = i;
    if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === "\\" && c !== "`" ? 2 : 1;
      if (j >= src.length) throw new UnsupportedQueryError(`parse error at ${at}: unterminated string`);
      out.push({ k: "str", s: unquote(src.slice(i + 1, j), c), at });
      i = j + 1;
      continue;
    }
    const dur = /^(\d+(ms|s|m|h|d|w|y))+(?![\w.])/.exec(src.slice(i));
    if (dur) {
      out.push({ k: "dur", ms: parseDuration(dur[0]), at });
      i += dur[0].length;
      continue;
    }
    const num = /^(0[xX][0-9a-fA-F]+|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)/.exec(src.slice(i));
    if (num) {
      out.push({ k: "num", n: Number(num[0]), at });
      i += num[0].length;
      continue;
    }
    const id = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(src.slice(i));
    if (id) {
      out.push({ k: "ident", s: id[0], at });
      i += id[0].length;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (["!=", "=~", "!~", "==", ">=", "<="].includes(two)) {
      out.push({ k: "op", s: two, at });
      i += 2;
      continue;
    }
    if ("{}()[],=+-*/%^<>@".includes(c)) {
      out.push({ k: "op", s: c, at });
      i++;
      continue;
    }
    throw new UnsupportedQueryError(`parse error at ${at}: unexpected character ${JSON.stringify(c)}`);
  }
  out.push({ k: "eof", at: src.length });
  return out;
}

/** Compiles a label regex the way Prometheus does (fully anchored). @throws QueryError */
export function compileRegex(re: string): RegExp {
  let flags = "";
  let body = re;
  if (body.startsWith("(?i)")) {
    flags = "i";
    body = body.slice(4);
  }
  if (/\(\?[a-zA-Z]/.test(body))
    throw new UnsupportedQueryError(`regex ${JSON.stringify(re)}: inline flags other than a leading (?i)`);
  try {
    return new RegExp(`^(?:${body})$`, flags);
  } catch (e) {
    throw new QueryError(`invalid regex ${JSON.stringify(re)}: ${(e as Error).message}`);
  }
}

/** Whether a matcher accepts a label value ("" = the label is absent). */
export function matcherAccepts(m: Matcher & { re?: RegExp }, value: string): boolean {
  switch (m.op) {
    case "=":
      return value === m.value;
    case "!=":
      return value !== m.value;
    case "=~":
      return (m.re ?? compileRegex(m.value)).test(value);
    case "!~":
      return !(m.re ?? compileRegex(m.value)).test(value);
  }
}

const UNSUPPORTED_WORDS = new Set([
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "and",
  "or",
  "unless",
  "bool",
  "atan2",
]);

class Parser {
  private i = 0;
  private nextId = 0;
  constructor(
    private readonly toks: Tok[],
    private readonly src: string,
  ) {}

  private peek(): Tok {
    return this.toks[this.i];
  }
  private take(): Tok {
    return this.toks[this.i++];
  }
  private isOp(s: string): boolean {
    const t = this.peek();
    return t.k === "op" && t.s === s;
  }
  private expectOp(s: string): void {
    const t = this.take();
    if (t.k !== "op" || t.s !== s) throw this.error(t, `expected "${s}"`);
  }
  private error(t: Tok, what: string): UnsupportedQueryError {
    const near = this.src.slice(t.at, t.at + 20);
    return new UnsupportedQueryError(`parse error at ${t.at}${near ? ` near ${JSON.stringify(near)}` : ""}: ${what}`);
  }

  parse(): Expr {
    const e = this.expr();
    const t = this.peek();
    if (t.k !== "eof") {
      if (t.k === "ident" && UNSUPPORTED_WORDS.has(t.s)) throw this.error(t, `"${t.s}" is not supported`);
      if (t.k === "op" && ["==", "!=", ">", "<", ">=", "<=", "%", "^", "@"].includes(t.s))
        throw this.error(t, `operator "${t.s}" is not supported`);
      throw this.error(t, "unexpected input");
    }
    return e;
  }

  private expr(): Expr {
    let left = this.term();
    while (this.isOp("+") || this.isOp("-")) {
      const op = (this.take() as { s: BinaryOp }).s;
      this.checkNoModifier();
      left = { kind: "binary", op, left, right: this.term() };
    }
    return left;
  }

  private term(): Expr {
    let left = this.unary();
    while (this.isOp("*") || this.isOp("/")) {
      const op = (this.take() as { s: BinaryOp }).s;
      this.checkNoModifier();
      left = { kind: "binary", op, left, right: this.unary() };
    }
    return left;
  }

  private checkNoModifier(): void {
    const t = this.peek();
    if (t.k === "ident" && UNSUPPORTED_WORDS.has(t.s)) throw this.error(t, `"${t.s}" is not supported`);
  }

  private unary(): Expr {
    if (this.isOp("-") || this.isOp("+")) {
      const neg = (this.take() as { s: string }).s === "-";
      const arg = this.unary();
      if (!neg) return arg;
      if (arg.kind === "number") return { kind: "number", value: -arg.value };
      return { kind: "binary", op: "*", left: { kind: "number", value: -1 }, right: arg };
    }
    return this.postfix(this.primary());
  }

  private postfix(e: Expr): Expr {
    if (this.isOp("[")) {
      const t = this.take();
      if (e.kind !== "selector" || e.range !== undefined) throw this.error(t, "subqueries are not supported");
      const d = this.take();
      if (d.k !== "dur") throw this.error(d, "expected a duration such as 5m");
      const colon = this.peek();
      if (colon.k === "ident" && colon.s.startsWith(":")) throw this.error(colon, "subqueries are not supported");
      this.expectOp("]");
      if (d.ms <= 0) throw new QueryError("range must be positive");
      e = { ...e, range: d.ms };
    }
    const t = this.peek();
    if (t.k === "ident" && t.s === "offset") {
      this.take();
      if (e.kind !== "selector") throw this.error(t, "offset applies to selectors only");
      let sign = 1;
      if (this.isOp("-")) {
        this.take();
        sign = -1;
      }
      const d = this.take();
      if (d.k !== "dur") throw this.error(d, "expected a duration after offset");
      e = { ...e, offset: sign * d.ms };
    }
    if (this.isOp("@")) throw this.error(this.peek(), "the @ modifier is not supported");
    return e;
  }

  private primary(): Expr {
    const t = this.take();
    if (t.k === "num") return { kind: "number", value: t.n };
    if (t.k === "op" && t.s === "(") {
      const e = this.expr();
      this.expectOp(")");
      return e;
    }
    if (t.k === "op" && t.s === "{") return this.selector(undefined, t);
    if (t.k === "ident") {
      const low = t.s.toLowerCase();
      if (low === "inf" || low === "nan") return { kind: "number", value: low === "inf" ? Infinity : NaN };
      if ((AGGREGATIONS as readonly string[]).includes(t.s) && (this.isOp("(") || this.isGrouping()))
        return this.aggregation(t.s as Aggregation);
      if (this.isOp("(")) return this.call(t);
      if (UNSUPPORTED_WORDS.has(t.s)) throw this.error(t, `"${t.s}" is not supported`);
      if (this.isOp("{")) return this.selector(t.s, this.take());
      return this.selector(t.s, undefined);
    }
    if (t.k === "str") throw this.error(t, "string literals are not supported as expressions");
    throw this.error(t, "expected an expression");
  }

  private isGrouping(): boolean {
    const t = this.peek();
    return t.k === "ident" && (t.s === "by" || t.s === "without");
  }

  private grouping(): { mode: "by" | "without"; labels: string[] } {
    const mode = (this.take() as { s: "by" | "without" }).s;
    this.expectOp("(");
    const labels: string[] = [];
    while (!this.isOp(")")) {
      const l = this.take();
      if (l.k !== "ident" || !/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(l.s)) throw this.error(l, "expected a label name");
      labels.push(l.s);
      if (!this.isOp(")")) this.expectOp(",");
    }
    this.take();
    return { mode, labels };
  }

  private aggregation(op: Aggregation): Expr {
    let grouping = this.isGrouping() ? this.grouping() : undefined;
    this.expectOp("(");
    const arg = this.expr();
    if (this.isOp(",")) throw this.error(this.peek(), `${op} takes one argument`);
    this.expectOp(")");
    if (this.isGrouping()) {
      if (grouping) throw this.error(this.peek(), "grouping given twice");
      grouping = this.grouping();
    }
    return { kind: "agg", op, ...(grouping ? { grouping } : {}), arg };
  }

  private call(name: Extract<Tok, { k: "ident" }>): Expr {
    if (!(RANGE_FUNCTIONS as readonly string[]).includes(name.s))
      throw this.error(name, `function "${name.s}" is not supported`);
    this.expectOp("(");
    const arg = this.expr();
    if (this.isOp(",")) throw this.error(this.peek(), `${name.s} takes one argument`);
    this.expectOp(")");
    if (arg.kind !== "selector" || arg.range === undefined)
      throw new QueryError(`${name.s} expects a range vector (a selector with [range]), e.g. ${name.s}(metric[5m])`);
    return { kind: "call", fn: name.s as RangeFunction, arg };
  }

  private selector(metric: string | undefined, open: Tok | undefined): SelectorExpr {
    const matchers: Matcher[] = [];
    if (metric !== undefined) matchers.push({ name: "__name__", op: "=", value: metric });
    if (open) {
      while (!this.isOp("}")) {
        const n = this.take();
        if (n.k !== "ident" || !/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(n.s)) throw this.error(n, "expected a label name");
        const op = this.take();
        if (op.k !== "op" || !["=", "!=", "=~", "!~"].includes(op.s))
          throw this.error(op, "expected a matcher operator (=, !=, =~, !~)");
        const v = this.take();
        if (v.k !== "str") throw this.error(v, "expected a quoted label value");
        const m: Matcher = { name: n.s, op: op.s as Matcher["op"], value: v.s };
        if (m.op === "=~" || m.op === "!~") compileRegex(m.value);
        if (n.s === "__name__" && metric !== undefined)
          throw new QueryError(`metric name given twice: ${metric} and __name__${m.op}${JSON.stringify(m.value)}`);
        matchers.push(m);
        if (!this.isOp("}")) this.expectOp(",");
      }
      this.take();
    }
    if (!matchers.some((m) => !matcherAccepts(m, "")))
      throw new QueryError("vector selector must contain at least one non-empty matcher");
    const name = matchers.find((m) => m.name === "__name__" && m.op === "=")?.value;
    return {
      kind: "selector",
      id: this.nextId++,
      ...(name !== undefined ? { metric: name } : {}),
      matchers,
      offset: 0,
    };
  }
}

/** Parses a query of the subset. @throws UnsupportedQueryError (outside the subset or unparsable), QueryError (invalid) */
export function parseQuery(query: string): Expr {
  if (typeof query !== "string" || query.trim() === "") throw new QueryError("the query is empty");
  return new Parser(lex(query), query).parse();
}

/** Every selector of an expression (with whether it sits in a range function). */
export function selectorsOf(e: Expr, out: SelectorExpr[] = []): SelectorExpr[] {
  switch (e.kind) {
    case "selector":
      out.push(e);
      break;
    case "call":
      out.push(e.arg);
      break;
    case "agg":
      selectorsOf(e.arg, out);
      break;
    case "binary":
      selectorsOf(e.left, out);
      selectorsOf(e.right, out);
      break;
  }
  return out;
}

/** The result type of an expression. */
export function typeOf(e: Expr): "scalar" | "vector" | "matrix" {
  switch (e.kind) {
    case "number":
      return "scalar";
    case "selector":
      return e.range === undefined ? "vector" : "matrix";
    case "binary": {
      const l = typeOf(e.left);
      const r = typeOf(e.right);
      if (l === "matrix" || r === "matrix")
        throw new QueryError("binary expressions need instant vectors or numbers, not range vectors");
      return l === "scalar" && r === "scalar" ? "scalar" : "vector";
    }
    case "agg":
      if (typeOf(e.arg) !== "vector") throw new QueryError(`${e.op} expects an instant vector`);
      return "vector";
    default:
      return "vector";
  }
}

/** The default lookback of instant selectors (Prometheus' 5 minutes). */
export const LOOKBACK_MS = 300_000;

/** Rollup resolutions the store keeps, coarsest first. */
export const ROLLUP_RESOLUTIONS = [3_600_000, 60_000] as const;

/**
 * The coarsest rollup resolution that answers the query exactly, or 0 for raw samples: every
 * window (each range and the 5-minute lookback), offset, the start and the step must be
 * multiples of it, and the step at least it. A query range evaluated at unaligned times is
 * answered from raw samples (still correct, only slower).
 */
export function pickResolution(e: Expr, start: number, step: number): number {
  const sels = selectorsOf(e);
  for (const r of ROLLUP_RESOLUTIONS) {
    if (step !== 0 && (step < r || step % r !== 0)) continue;
    if (start % r !== 0) continue;
    const ok = sels.every(
      (s) => (s.range ?? LOOKBACK_MS) % r === 0 && s.offset % r === 0 && !(s.range !== undefined && !isInCall(e, s)),
    );
    if (ok) return r;
  }
  return 0;
}

function isInCall(e: Expr, s: SelectorExpr): boolean {
  switch (e.kind) {
    case "call":
      return e.arg === s;
    case "agg":
      return isInCall(e.arg, s);
    case "binary":
      return isInCall(e.left, s) || isInCall(e.right, s);
    default:
      return false;
  }
}

/** The time span `[mint, maxt]` of samples a selector needs for evaluation times `[start, end]`. */
export function selectorSpan(s: SelectorExpr, start: number, end: number): { mint: number; maxt: number } {
  return { mint: start - s.offset - (s.range ?? LOOKBACK_MS), maxt: end - s.offset };
}
