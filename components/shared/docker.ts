/** Docker helpers shared by the components' Docker builders. */

/** A label map as the Docker provider's `labels` list. */
export const dockerLabels = (labels: Record<string, string>): { label: string; value: string }[] =>
  Object.entries(labels).map(([label, value]) => ({ label, value }));

/** The only host address published ports are bound to (never other addresses). */
export const HOST_IP = "127.0.0.1";
