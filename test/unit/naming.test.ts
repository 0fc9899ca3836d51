import { stackScopedName } from "../../core/naming";

describe("stackScopedName", () => {
  it("scopes a name by stack so two stacks never share a physical name", () => {
    expect(stackScopedName("db", "local")).toBe("db-local");
    expect(stackScopedName("db", "prod")).not.toBe(stackScopedName("db", "staging"));
  });
  it("cleans to a DNS label and respects the length cap", () => {
    expect(stackScopedName("Orders_DB", "team/Prod--EU")).toBe("orders-db-team-prod-eu");
    const long = stackScopedName("a".repeat(30), "b".repeat(30));
    expect(long.length).toBeLessThanOrEqual(40);
    expect(long).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });
});
