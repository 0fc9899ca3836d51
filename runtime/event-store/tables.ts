/** Physical tables of projections: the live generation and a rebuild's shadow generation. */
import type { PoolClient } from "pg";
import { checkTableName, generationTable } from "../../core/events/names";
import { EventArgumentError } from "./errors";
import { ident } from "./sql";
import type { ProjectionDefinition } from "./types";

/** The quoted physical table of `name` in generation `gen` (undefined: the live table). */
export function liveTableOf(p: ProjectionDefinition, name: string, gen: number | undefined): string {
  if (!p.tables.some((t) => t.name === name))
    throw new EventArgumentError(
      `projection ${p.name} table`,
      `must be one of its tables (${p.tables.map((t) => t.name).join(", ")}); got ${JSON.stringify(name)}`,
    );
  return ident(gen === undefined ? checkTableName(name) : generationTable(name, gen));
}

/** The shadow generation of a rebuild of `projection` in progress on this shard, if any. */
export async function rebuildGeneration(c: PoolClient, projection: string): Promise<number | undefined> {
  const r = await c.query<{ generation: number }>("SELECT generation FROM scaleplane_event_rebuilds WHERE name = $1", [
    projection,
  ]);
  return r.rows[0]?.generation;
}
