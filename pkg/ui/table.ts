// Rows as a plain text table (kubectl style: left-aligned columns, three spaces apart).

import { COLUMNS, type Row } from './rows.ts';

export function cells(row: Row): string[] {
  return [row.name, row.local, row.remote, row.status, row.target, row.files, row.lastSync, row.latency, row.error];
}

export function renderTable(rows: readonly Row[]): string {
  const all = [[...COLUMNS], ...rows.map(cells)];
  // The ERROR column is dropped when every row has none: it is the widest and usually empty.
  const used = all[0]!.map((_, i) => i).filter((i) => i !== COLUMNS.length - 1 || rows.some((r) => r.error !== ''));
  const widths = used.map((i) => Math.max(...all.map((r) => r[i]!.length)));
  return all.map((r) => used.map((i, k) => (k === used.length - 1 ? r[i]! : r[i]!.padEnd(widths[k]!))).join('   ').trimEnd()).join('\n');
}
