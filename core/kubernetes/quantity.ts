/**
 * Kubernetes resource quantities from the vCPU / MiB sizes the config speaks in. One formula for
 * app pods and database pods. Pure.
 */

/** A size in the config's units. */
export interface CpuMemory {
  /** vCPUs (fractions allowed). */
  cpu: number;
  memoryMb: number;
}

/** `{cpu: "<millicores>m", memory: "<MiB>Mi"}`. */
export function kubernetesQuantities(r: CpuMemory): { cpu: string; memory: string } {
  return { cpu: `${Math.round(r.cpu * 1000)}m`, memory: `${r.memoryMb}Mi` };
}

/** Multipliers of the Kubernetes quantity suffixes (binary SI, decimal SI). */
const QUANTITY_SUFFIXES: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

const QUANTITY_RE = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?)$/;

/**
 * A Kubernetes resource quantity (`250m`, `1`, `12345n`, `1.5`, `128Mi`, `1G`, `1e3`) in base units:
 * cores for CPU, bytes for memory. The grammar is the API server's (k8s.io/apimachinery
 * resource.Quantity): a signed decimal number, then a binary-SI suffix, a decimal-SI suffix or a
 * decimal exponent. `what` names the value in the error (e.g. `pod web-1 container app cpu usage`).
 */
export function parseQuantity(text: string, what = "quantity"): number {
  const m = QUANTITY_RE.exec(text.trim());
  if (!m) throw new Error(`${what}: ${JSON.stringify(text)} is not a Kubernetes quantity (e.g. 250m, 1.5, 128Mi, 1G)`);
  const [, num, exp, suffix] = m;
  const value = exp ? Number(`${num}${exp}`) : Number(num) * QUANTITY_SUFFIXES[suffix ?? ""];
  if (!Number.isFinite(value)) throw new Error(`${what}: ${JSON.stringify(text)} is out of range`);
  return value;
}
