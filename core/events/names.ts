/**
 * Names of the event store's projections, subscription groups, their tables and elections.
 * Pure: validation and derivation.
 *
 * A projection's tables are named by the projection (`<table>`, a SQL identifier readers use);
 * a rebuild writes generation `g` into `<table>__g<g>` and the swap renames it to `<table>`.
 */
import { EventArgumentError } from "./errors";

/** Projection, subscription and group names: a lowercase SQL identifier of 1-40 characters. */
export const HANDLER_NAME = /^[a-z][a-z0-9_]{0,39}$/;
/** Logical table names of a projection: a lowercase SQL identifier of 1-40 characters. */
export const TABLE_NAME = /^[a-z][a-z0-9_]{0,39}$/;

/** A bad name; `argument` names it. */
export class EventNameError extends EventArgumentError {}

/** Checks a projection / subscription / group name. @throws EventNameError */
export function checkHandlerName(name: unknown, argument = "name"): string {
  if (typeof name !== "string" || !HANDLER_NAME.test(name))
    throw new EventNameError(
      argument,
      `must be a lowercase identifier: a letter, then up to 39 letters, digits or '_'; got ${JSON.stringify(name)}`,
    );
  return name;
}

/** Checks a projection's logical table name (no `__`, reserved for generations). @throws EventNameError */
export function checkTableName(name: unknown, argument = "table"): string {
  if (typeof name !== "string" || !TABLE_NAME.test(name) || name.includes("__"))
    throw new EventNameError(
      argument,
      `must be a lowercase identifier of up to 40 characters without "__"; got ${JSON.stringify(name)}`,
    );
  return name;
}

/** The physical table of a projection table in rebuild generation `generation` (the live one is `table` itself). */
export function generationTable(table: string, generation: number): string {
  return `${table}__g${generation}`;
}

/** The name a replaced live table gets during a swap, until it is dropped. */
export function retiredTable(table: string, generation: number): string {
  return `${table}__old${generation}`;
}

/** The election of a projection's (or subscription group's) runner on one shard. */
export function runnerElection(kind: "projection" | "group", name: string, shard: string): string {
  return `events.${kind}.${name}.${shard.replace(/[^A-Za-z0-9._-]/g, "_")}`;
}
