// Rows as a plain text table (kubectl style: left-aligned columns, three spaces apart).

import { COLUMNS, type Row } from './rows.ts';

export function cells(row: Row): string[] {
  return [row.name, row.local, row.remote, row.status, row.target, row.files, row.lastSync, row.latency, row.error];
}

export function renderTable(rows: readonly Row[]): string {
  const all = [[...COLUMNS], ...rows.map(cells)];
  // The ERROR column is dropped when every row has none: it is the widest and usually empty.
  const used = all[0].map((_, i) => i).filter((i) => i !== COLUMNS.length - 1 || rows.some((r) => r.error !== ''));
  return renderGrid(all.map((r) => used.map((i) => r[i])));
}

/** Any grid of cells (first row: the header) in the same style. */
export function renderGrid(grid: readonly (readonly string[])[]): string {
  const columns = grid[0]?.length ?? 0;
  const widths = Array.from({ length: columns }, (_, i) => Math.max(...grid.map((r) => (r[i] ?? '').length)));
  return grid.map((r) => r.map((c, k) => (k === columns - 1 ? c : c.padEnd(widths[k]))).join('   ').trimEnd()).join('\n');
}
