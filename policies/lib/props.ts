/** Property readers: resource inputs arrive as plain JSON-like values. */

export type Props = Record<string, unknown>;

export const obj = (v: unknown): Props | undefined =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Props) : undefined;
export const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
export const num = (v: unknown): number | undefined => {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  return undefined;
};
export const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** Pod-template containers (init containers included) of a Deployment or StatefulSet. */
export function podContainers(props: Props): Props[] {
  const pod = obj(obj(obj(props.spec)?.template)?.spec);
  return [...arr(pod?.containers), ...arr(pod?.initContainers)].map(obj).filter((c): c is Props => c !== undefined);
}

/** Only the long-running containers (probes do not apply to init containers). */
export function mainContainers(props: Props): Props[] {
  const pod = obj(obj(obj(props.spec)?.template)?.spec);
  return arr(pod?.containers)
    .map(obj)
    .filter((c): c is Props => c !== undefined);
}

export const containerName = (c: Props, i: number): string => str(c.name) ?? `#${i}`;
