/**
 * Compares the registrations of a program run through the SDK's program runner (the CLI's
 * toolchain path) with those of the mock run (scripts/lib/offline.ts): same resources (type,
 * name, parent), same inputs — modulo secret values (never compared, only that both sides
 * hold a secret there, after the SDK's lifting of secretness to the top-level property) and values the mock run could not know (Pulumi's unknown marker: a
 * value derived from another resource's computed output). The serialized dynamic provider
 * (`__provider`) differs by transpiler (ts-node vs the test's) and is only required on both.
 */
import { isUnknown } from "@pulumi/pulumi/output";
import type { RecordedResource } from "../../../scripts/lib/offline";
import { SECRET_SIG, SPECIAL_SIG_KEY, UNKNOWN, type Registration } from "./monitor";

const isSecret = (v: unknown) =>
  typeof v === "object" && v !== null && (v as Record<string, unknown>)[SPECIAL_SIG_KEY] === SECRET_SIG;

/** A secret value's place on the program side: never compared (the mock's stand-ins differ). */
const SKIP = Symbol("secret");
const wrap = (value: unknown) => ({ [SPECIAL_SIG_KEY]: SECRET_SIG, value });
const unwrapOne = (v: unknown) => (isSecret(v) ? (v as { value: unknown }).value : v);

/**
 * The wire inputs as the SDK's deserialization presents them to mocks: an array or object holding
 * a secret becomes secret as a whole (secretness moves up to the top-level property). Secret
 * values themselves become SKIP.
 */
export function liftSecrets(v: unknown): unknown {
  if (isSecret(v)) return wrap(SKIP);
  if (Array.isArray(v)) {
    const xs = v.map(liftSecrets);
    return xs.some(isSecret) ? wrap(xs.map(unwrapOne)) : xs;
  }
  if (typeof v === "object" && v !== null) {
    const entries = Object.entries(v).map(([k, x]) => [k, liftSecrets(x)] as const);
    const obj = Object.fromEntries(entries.map(([k, x]) => [k, unwrapOne(x)]));
    return entries.some(([, x]) => isSecret(x)) ? wrap(obj) : Object.fromEntries(entries);
  }
  return v;
}

/** Differences at `path` between `mock` and `real` (real after liftSecrets; [] when equal modulo secrets/unknowns). */
export function diffValues(mock: unknown, real: unknown, path: string): string[] {
  // The mock run's preview: a value computed from another resource's outputs is not known yet.
  if (mock === UNKNOWN || isUnknown(mock) || real === SKIP) return [];
  if (isSecret(mock) || isSecret(real)) {
    if (!(isSecret(mock) && isSecret(real)))
      return [`${path}: secret on one side only (mock ${isSecret(mock)}, program ${isSecret(real)})`];
    return diffValues((mock as { value: unknown }).value, (real as { value: unknown }).value, path);
  }
  if (Array.isArray(mock) || Array.isArray(real)) {
    if (!Array.isArray(mock) || !Array.isArray(real) || mock.length !== real.length)
      return [`${path}: ${JSON.stringify(mock)?.slice(0, 200)} ≠ ${JSON.stringify(real)?.slice(0, 200)}`];
    return mock.flatMap((m, i) => diffValues(m, real[i], `${path}[${i}]`));
  }
  if (typeof mock === "object" && mock !== null && typeof real === "object" && real !== null) {
    const keys = new Set([...Object.keys(mock), ...Object.keys(real)]);
    return [...keys].flatMap((k) =>
      diffValues((mock as Record<string, unknown>)[k], (real as Record<string, unknown>)[k], path ? `${path}.${k}` : k),
    );
  }
  return mock === real
    ? []
    : [`${path}: ${JSON.stringify(mock)?.slice(0, 200)} ≠ ${JSON.stringify(real)?.slice(0, 200)}`];
}

const key = (type: string, name: string) => `${type}::${name}`;
/** `type::name` of a URN's resource; the stack counts as no parent. */
const parentKey = (urn: string | undefined) => {
  if (!urn) return "";
  const parts = urn.split("::");
  const type = parts[2].split("$").pop() ?? "";
  return type === "pulumi:pulumi:Stack" ? "" : key(type, parts[3]);
};

/** Every difference between the mock run's resources and the program run's registrations. */
export function compareRegistrations(mock: RecordedResource[], real: Registration[]): string[] {
  const problems: string[] = [];
  const realByKey = new Map(real.filter((r) => r.type !== "pulumi:pulumi:Stack").map((r) => [key(r.type, r.name), r]));
  const mockByKey = new Map(mock.filter((r) => r.type !== "pulumi:pulumi:Stack").map((r) => [key(r.type, r.name), r]));
  for (const k of mockByKey.keys()) if (!realByKey.has(k)) problems.push(`${k}: registered by the mock run only`);
  for (const k of realByKey.keys()) if (!mockByKey.has(k)) problems.push(`${k}: registered by the program run only`);
  for (const [k, m] of mockByKey) {
    const r = realByKey.get(k);
    if (!r) continue;
    if (parentKey(m.parentUrn) !== parentKey(r.parentUrn))
      problems.push(`${k}: parent ${parentKey(m.parentUrn)} ≠ ${parentKey(r.parentUrn)}`);
    if (m.custom !== r.custom) problems.push(`${k}: custom ${m.custom} ≠ ${r.custom}`);
    const { __provider: mp, ...mi } = m.inputs;
    const { __provider: rp, ...wire } = r.inputs;
    const ri = Object.fromEntries(Object.entries(wire).map(([k2, v]) => [k2, liftSecrets(v)]));
    if ((typeof mp === "string") !== (typeof rp === "string")) problems.push(`${k}: __provider on one side only`);
    problems.push(...diffValues(mi, ri, "").map((d) => `${k}: ${d}`));
  }
  return problems;
}
