/**
 * The test PostgreSQL helper itself (test/support/pg-cluster.ts), which the shard-client and
 * rebalance tests build on: password auth on 127.0.0.1, stop in every mode and start again with
 * the data kept, a paused instance that hangs open connections, and a cleanup that leaves no
 * process or directory behind.
 */
import { existsSync, readFileSync } from "node:fs";
import { startPgCluster, type PgCluster } from "../../support/pg-cluster";

let pg: PgCluster | undefined;
afterAll(async () => {
  await pg?.cleanup();
});

describe("pg-cluster", () => {
  it("starts instances with password auth, restarts them with their data, pauses and cleans up", async () => {
    pg = await startPgCluster(2, { database: "unit_db", namePrefix: "pgc" });
    const [a, b] = pg.instances;
    expect(pg.members()).toEqual([
      { name: "pgc-0", weight: 1, host: "127.0.0.1", port: a.port, database: "unit_db" },
      { name: "pgc-1", weight: 1, host: "127.0.0.1", port: b.port, database: "unit_db" },
    ]);
    expect(a.port).not.toBe(b.port);
    await expect(a.connect({ password: "wrong" })).rejects.toThrow(/password authentication failed/);
    await a.query("CREATE TABLE t (k int PRIMARY KEY)");
    await a.query("INSERT INTO t VALUES (1)");

    for (const mode of ["fast", "immediate", "kill"] as const) {
      await a.stop(mode);
      expect(a.running()).toBe(false);
      await expect(a.connect({ connectionTimeoutMillis: 1000 })).rejects.toThrow();
      await a.start();
      expect(a.running()).toBe(true);
      expect(await a.query("SELECT k FROM t")).toEqual([{ k: 1 }]);
    }

    // paused: an open connection hangs (its backend is stopped too), then answers after resume
    const open = await b.connect({ statement_timeout: 0 });
    b.pause();
    const slow = open.query("SELECT 1 AS one");
    const raced = await Promise.race([
      slow.then(() => "answered"),
      new Promise((r) => setTimeout(() => r("hung"), 500)),
    ]);
    b.resume();
    expect(raced).toBe("hung");
    expect((await slow).rows).toEqual([{ one: 1 }]);
    await open.end();

    const [added] = await pg.add(1);
    expect(added.name).toBe("pgc-2");
    expect(await added.query("SELECT current_database() AS d")).toEqual([{ d: "unit_db" }]);

    const pids = pg.instances.map((i) => i.pid()!);
    const dirs = pg.instances.map((i) => i.dataDir);
    await pg.cleanup();
    const alive = (p: number) => {
      try {
        return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${p}/stat`, "utf8")); // a zombie has exited
      } catch {
        return false;
      }
    };
    for (const p of pids) expect(alive(p)).toBe(false);
    for (const d of dirs) expect(existsSync(d)).toBe(false);
  });
});
