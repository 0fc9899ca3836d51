import fc from "fast-check";
import {
  AccountRefused,
  decideAccount,
  evolveAccount,
  initialAccount,
  type AccountCommand,
} from "../../../runtime/sample-app/cqrs/account";

const command = fc.oneof(
  fc.record({ type: fc.constant("open" as const), owner: fc.string({ minLength: 0, maxLength: 5 }) }),
  fc.record({ type: fc.constant("deposit" as const), amount: fc.integer({ min: -5, max: 100 }) }),
  fc.record({ type: fc.constant("withdraw" as const), amount: fc.integer({ min: -5, max: 100 }) }),
  fc.record({ type: fc.constant("close" as const) }),
);

describe("the sample account aggregate", () => {
  it("never lets the balance go negative, never acts on a closed account, whatever the commands", () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 60 }), (cmds: AccountCommand[]) => {
        let s = initialAccount();
        for (const c of cmds) {
          let events;
          try {
            events = decideAccount(s, c);
          } catch (e) {
            expect(e).toBeInstanceOf(AccountRefused);
            continue;
          }
          expect(s.status).not.toBe("closed");
          for (const e of events) s = evolveAccount(s, e);
          expect(s.balance).toBeGreaterThanOrEqual(0);
          if (c.type === "close") expect(s.status).toBe("closed");
        }
      }),
    );
  });
});
