// The one info line the daemon logs per landed batch: `api-src → api-7f9c/app: 3 files, 12 KiB, 9 ms`, with
// `, 2 removed` when the batch removed paths.

import type { OpCounts } from '../sync/push.ts';

export function batchLine(spec: string, target: string, result: { counts: OpCounts; bytesSent: number }, ms: number): string {
  const { files, removed } = result.counts;
  const parts = [`${files} file${files === 1 ? '' : 's'}`, formatBytes(result.bytesSent), `${ms} ms`];
  if (removed > 0) parts.push(`${removed} removed`);
  return `${spec} → ${target}: ${parts.join(', ')}`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

/** How far a full sync got: `40% (12/30 files, 1.2/3.0 MiB)`. */
export function progressText(p: { files: number; totalFiles: number; bytes: number; totalBytes: number }): string {
  const mib = (n: number): string => (n / (1 << 20)).toFixed(1);
  const pct = p.totalBytes > 0 ? Math.floor((100 * p.bytes) / p.totalBytes) : p.totalFiles > 0 ? Math.floor((100 * p.files) / p.totalFiles) : 100;
  return `${pct}% (${p.files}/${p.totalFiles} files, ${mib(p.bytes)}/${mib(p.totalBytes)} MiB)`;
}
