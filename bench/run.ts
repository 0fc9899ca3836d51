/**
 * `npm run bench [-- <area>... [--option value...]]`: runs `bench/<area>.bench.ts` (all areas when none is named).
 * Each bench module's default export runs in this process, prints what it measured (tables,
 * charts) and returns its figures; the final stdout line of each area is one JSON object.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";

type Bench = (argv: string[]) => Promise<Record<string, unknown>>;

async function main(): Promise<void> {
  const available = readdirSync(__dirname)
    .filter((f) => f.endsWith(".bench.ts"))
    .map((f) => f.replace(/\.bench\.ts$/, ""))
    .sort();
  // Areas are the leading words; everything from the first option on belongs to the areas'
  // options (`ring --rounds 3`: 3 is the value of --rounds, not an area).
  const args = process.argv.slice(2);
  const firstOption = args.findIndex((a) => a.startsWith("-"));
  const requested = firstOption < 0 ? args : args.slice(0, firstOption);
  const unknown = requested.filter((a) => !available.includes(a));
  if (unknown.length > 0) {
    console.error(`unknown bench area(s): ${unknown.join(", ")}; available: ${available.join(", ")}`);
    process.exit(2);
  }
  for (const area of requested.length > 0 ? requested : available) {
    const mod = (await import(join(__dirname, `${area}.bench.ts`))) as { default: Bench };
    const figures = await mod.default(process.argv.slice(2));
    console.log(JSON.stringify({ area, ...figures }));
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
