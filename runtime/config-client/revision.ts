/** etcd revisions are int64 strings; they stay far below 2^53 in practice, and we check. */
export function revision(r: string | number | undefined | null): number {
  const n = Number(r ?? 0);
  if (!Number.isSafeInteger(n)) throw new Error(`etcd revision ${String(r)} exceeds the safe integer range`);
  return n;
}
