/** "16Mi", "50M", "512Ki", "1048576" -> bytes; undefined if not a size. Kubernetes' quantity suffixes. */
const UNITS: Record<string, number> = { "": 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };

export function parseByteSize(text: string): number | undefined {
  const m = /^(\d+)(k|K|M|G|Ki|Mi|Gi)?$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]) * UNITS[m[2] ?? ""]!;
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}
