/**
 * The sample app's command side: a bank account aggregate with invariants. Pure: a command and
 * the state folded from the account's events decide the new events (or a refusal); events evolve
 * the state. Amounts are whole cents.
 *
 * Invariants: an account is opened once, by an owner; deposits and withdrawals are positive;
 * a withdrawal never takes the balance below zero; a closed account takes no command; only an
 * account with a zero balance closes.
 */

export type AccountCommand =
  | { type: "open"; owner: string }
  | { type: "deposit"; amount: number }
  | { type: "withdraw"; amount: number }
  | { type: "close" };

export type AccountEvent =
  | { type: "AccountOpened"; data: { owner: string } }
  | { type: "Deposited"; data: { amount: number } }
  | { type: "Withdrawn"; data: { amount: number } }
  | { type: "AccountClosed"; data: Record<string, never> };

export interface AccountState {
  status: "none" | "open" | "closed";
  owner?: string;
  balance: number;
}

/** A command the account refuses (HTTP 409/422); `reason` says which invariant. */
export class AccountRefused extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "AccountRefused";
  }
}

export const initialAccount = (): AccountState => ({ status: "none", balance: 0 });

/** Code version of the fold (snapshots of another version are ignored). */
export const ACCOUNT_VERSION = 1;

export function evolveAccount(s: AccountState, e: { type: string; data: unknown }): AccountState {
  const d = e.data as { owner?: string; amount?: number };
  switch (e.type) {
    case "AccountOpened":
      return { status: "open", owner: d.owner, balance: 0 };
    case "Deposited":
      return { ...s, balance: s.balance + (d.amount ?? 0) };
    case "Withdrawn":
      return { ...s, balance: s.balance - (d.amount ?? 0) };
    case "AccountClosed":
      return { ...s, status: "closed" };
    default:
      return s;
  }
}

const amountOf = (n: unknown): number => {
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n <= 0)
    throw new AccountRefused(`amount must be a whole number of cents > 0; got ${JSON.stringify(n)}`);
  return n;
};

/** The events a command produces on `s`. @throws AccountRefused */
export function decideAccount(s: AccountState, c: AccountCommand): AccountEvent[] {
  if (s.status === "closed") throw new AccountRefused("the account is closed");
  switch (c.type) {
    case "open":
      if (s.status !== "none") throw new AccountRefused("the account is already open");
      if (typeof c.owner !== "string" || c.owner.length === 0 || c.owner.length > 200)
        throw new AccountRefused("owner must be a non-empty string of at most 200 characters");
      return [{ type: "AccountOpened", data: { owner: c.owner } }];
    case "deposit":
      if (s.status !== "open") throw new AccountRefused("the account is not open");
      return [{ type: "Deposited", data: { amount: amountOf(c.amount) } }];
    case "withdraw": {
      if (s.status !== "open") throw new AccountRefused("the account is not open");
      const amount = amountOf(c.amount);
      if (amount > s.balance)
        throw new AccountRefused(`insufficient funds: balance ${s.balance}, withdrawal ${amount}`);
      return [{ type: "Withdrawn", data: { amount } }];
    }
    case "close":
      if (s.status !== "open") throw new AccountRefused("the account is not open");
      if (s.balance !== 0) throw new AccountRefused(`only an empty account closes; balance ${s.balance}`);
      return [{ type: "AccountClosed", data: {} }];
    default:
      throw new AccountRefused(`unknown command ${JSON.stringify((c as { type?: unknown }).type)}`);
  }
}
