/**
 * `npm run events -- status|replay|rebuild [projection]`: the event store for operators.
 *
 * - `status [projection]`: the event placement (epoch, shards, a move in flight) and, per
 *   projection and shard, its generation, checkpoint, lag (released events not applied yet), the
 *   runner's fencing token, a rebuild in progress, and whether its code version differs from the
 *   live tables' (then it needs a rebuild).
 * - `rebuild <projection> [--verify]`: rebuilds it into a shadow generation on every shard while
 *   the live one serves, then swaps (runtime/event-store/projector.ts); a progress bar per shard;
 *   `--verify` compares both generations row for row at the swap.
 * - `replay <projection>`: a dry run: replays every event into a shadow generation, compares it
 *   with the live tables row for row at the same position, drops it; exit 1 on any difference.
 *
 * Projections are the sample app's (runtime/sample-app/cqrs/projections.ts). Connection: the
 * config service's URLs (`--etcd`), the database user, and the database password and the events
 * master key from environment variables (never the command line).
 */
import { Command } from "commander";
import { MultiBar, Presets } from "cli-progress";
import pino from "pino";
import { EVENTS_MASTER_KEY_ENV } from "../core/events/settings";
import { ConfigClient } from "../runtime/config-client";
import {
  EventStore,
  projectionStatus,
  rebuildProjection,
  type ProjectionDefinition,
  type RebuildResult,
} from "../runtime/event-store";
import { sampleProjections } from "../runtime/sample-app/cqrs/projections";

interface Options {
  etcd: string[];
  prefix: string;
  user: string;
  passwordEnv: string;
  masterKeyEnv: string;
  reach?: Record<string, { host: string; port: number }>;
  snapshotEvery: string;
  verify?: boolean;
  json?: boolean;
}

const list = (v: string) =>
  v
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
const reachOf = (v: string) =>
  Object.fromEntries(
    list(v).map((e) => {
      const m = /^([^=]+)=([^:]+):(\d+)$/.exec(e);
      if (!m) throw new Error(`--reach: "${e}" must be <shard>=<host>:<port>`);
      return [m[1], { host: m[2], port: Number(m[3]) }];
    }),
  );

async function connect(o: Options) {
  const password = process.env[o.passwordEnv];
  if (!password)
    throw new Error(`--password-env: environment variable ${o.passwordEnv} is not set (the shards' password)`);
  const masterKey = process.env[o.masterKeyEnv];
  if (!masterKey)
    throw new Error(`--master-key-env: environment variable ${o.masterKeyEnv} is not set (the events master key)`);
  const log = pino({ level: "warn" }, pino.destination(2));
  const config = ConfigClient.create({ endpoints: o.etcd, prefix: o.prefix, deadlineMs: 5000, logger: log });
  const projections = sampleProjections(Number(o.snapshotEvery));
  const store = await EventStore.connect({
    config,
    user: o.user,
    password,
    masterKey,
    projections,
    logger: log,
    statementTimeoutMs: 600_000,
    ...(o.reach ? { reach: o.reach } : {}),
  });
  return { config, store, projections };
}

function pick(projections: ProjectionDefinition[], name: string): ProjectionDefinition {
  const p = projections.find((x) => x.name === name);
  if (!p)
    throw new Error(`unknown projection ${JSON.stringify(name)}; known: ${projections.map((x) => x.name).join(", ")}`);
  return p;
}

async function rebuildAll(
  store: EventStore,
  def: ProjectionDefinition,
  swap: boolean,
  verify: boolean,
): Promise<RebuildResult[]> {
  const bars = new MultiBar(
    {
      format: "{shard} [{bar}] {value}/{total} events | {phase} | {eta_formatted}",
      hideCursor: true,
      clearOnComplete: false,
    },
    Presets.shades_classic,
  );
  try {
    return await Promise.all(
      store.shards.map(async (shard) => {
        const bar = bars.create(1, 0, { shard: shard.padEnd(10), phase: "starting" });
        const r = await rebuildProjection(store, def, shard, {
          verify,
          swap,
          onProgress: (p) => {
            // the target moves while the live projection goes on: the total follows it
            const total = Math.max(p.events, 1) + (p.phase === "replay" ? 1 : 0);
            bar.setTotal(total);
            bar.update(p.events, { phase: p.phase });
          },
        });
        bar.setTotal(Math.max(r.events, 1));
        bar.update(r.events, { phase: swap ? `swapped to generation ${r.generation}` : "compared" });
        return r;
      }),
    );
  } finally {
    bars.stop();
  }
}

async function main(): Promise<void> {
  const program = new Command("events")
    .description("The event store: projection status, dry-run replays, zero-downtime rebuilds")
    .requiredOption("--etcd <urls>", "config-service client URLs, comma separated", list)
    .option("--prefix <prefix>", "config-service key prefix", "/scaleplane/")
    .option("--user <name>", "database user of the shards", "scaleplane")
    .option(
      "--password-env <name>",
      "environment variable holding the shards' password",
      "SCALEPLANE_DATABASE_PASSWORD",
    )
    .option("--master-key-env <name>", "environment variable holding the events master key", EVENTS_MASTER_KEY_ENV)
    .option("--reach <list>", "shard addresses as this host reaches them: <shard>=<host>:<port>,...", reachOf)
    .option("--snapshot-every <n>", "the snapshot projection's interval (events.snapshotEvery)", "100")
    .option("--verify", "rebuild: compare the rebuilt generation with the live one row for row before swapping")
    .option("--json", "print the result as one JSON line");
  program
    .command("status [projection]")
    .description("placement and projection checkpoints, lag, generations, rebuilds")
    .action(async (name?: string) => {
      const o = program.opts<Options>();
      const { config, store, projections } = await connect(o);
      try {
        const defs = name ? [pick(projections, name)] : projections;
        const out = {
          placement: store.placement,
          projections: Object.fromEntries(
            await Promise.all(
              defs.map(
                async (d) => [d.name, { version: d.version ?? 1, shards: await projectionStatus(store, d) }] as const,
              ),
            ),
          ),
        };
        if (o.json) return console.log(JSON.stringify(out));
        console.log(
          `event placement epoch ${store.placement.epoch}: ${store.placement.shards.map((s) => s.name).join(", ")}${store.placement.migration ? ` (move ${store.placement.migration.id}: ${store.placement.migration.phase})` : ""}`,
        );
        for (const [pname, p] of Object.entries(out.projections)) {
          console.log(`\n${pname} (code version ${p.version})`);
          console.log("  shard       gen  position                 lag      token     state");
          for (const s of p.shards)
            console.log(
              `  ${s.shard.padEnd(10)} ${String(s.generation).padStart(4)}  ${s.position.padEnd(24)} ${String(s.lag).padStart(6)}  ${String(s.fence).padStart(8)}   ${s.rebuilding ? `rebuilding g${s.rebuilding.generation} at ${s.rebuilding.position}` : s.version !== null && s.version !== p.version ? "stale: rebuild it" : "live"}`,
            );
        }
      } finally {
        await store.close();
        config.close();
      }
    });
  for (const [cmd, swap] of [
    ["rebuild", true],
    ["replay", false],
  ] as const)
    program
      .command(`${cmd} <projection>`)
      .description(
        swap
          ? "rebuild into a shadow generation while the live one serves, then swap (--verify compares them first)"
          : "dry run: replay into a shadow generation, compare it row for row with the live one, drop it",
      )
      .action(async (name: string) => {
        const o = program.opts<Options>();
        const { config, store, projections } = await connect(o);
        try {
          const results = await rebuildAll(store, pick(projections, name), swap, !swap || Boolean(o.verify));
          const differences = results.reduce((a, r) => a + (r.differences ?? 0), 0);
          if (o.json) console.log(JSON.stringify({ projection: name, results }));
          else
            for (const r of results)
              console.log(
                `${r.shard}: ${r.events} events in ${r.seconds.toFixed(1)} s${r.differences !== undefined ? `, ${r.differences} differing rows` : ""}${swap ? `, swapped (tables locked ${r.swapLockMs} ms)` : ""}`,
              );
          if (differences > 0) process.exitCode = 1;
        } finally {
          await store.close();
          config.close();
        }
      });
  await program.parseAsync();
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (e: unknown) => {
    console.error(`events: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(2);
  },
);
