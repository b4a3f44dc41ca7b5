// The one table `npm run bench` ends with: each measured case, kx beside rsync and lsyncd, kx over the best of
// them, the goal and whether this run met it; then what each case cost in memory and CPU on either side.
// Pure formatting, so it is unit-tested (test/bench/summary.test.ts).
import type { SideUsage } from './support/proc.ts';

export type { SideUsage };

export type Unit = 's' | 'ms' | 'MB' | 'bytes';

/** What a row is held to: kx over the best peer (ratio), or kx's own value (at most). */
export type Goal = { readonly kind: 'ratio'; readonly max: number; readonly against?: 'best' | 'rsync' } | { readonly kind: 'at-most'; readonly max: number } | { readonly kind: 'none' };


export interface Row {
  readonly case: string;
  readonly unit: Unit;
  readonly kx: number;
  readonly rsync?: number;
  readonly lsyncd?: number;
  readonly goal: Goal;
  /** kx's client (`kx watch` or the pushing process) and radar; the peer's client and server. */
  readonly usage?: { readonly kx?: SideUsage; readonly radar?: SideUsage; readonly peer?: SideUsage; readonly peerServer?: SideUsage };
  readonly note?: string;
}

/** The best (smallest) of the peers' values, or undefined when no peer ran this case. */
export function best(row: Row): number | undefined {
  const peers = [row.rsync, row.lsyncd].filter((v): v is number => v !== undefined && Number.isFinite(v) && v > 0);
  return peers.length > 0 ? Math.min(...peers) : undefined;
}

export function ratio(row: Row): number | undefined {
  const b = best(row);
  return b === undefined ? undefined : row.kx / b;
}

/** true/false when the row has a goal, undefined when it has none (or the value it needs is missing). */
export function met(row: Row): boolean | undefined {
  switch (row.goal.kind) {
    case 'none':
      return undefined;
    case 'ratio': {
      const base = row.goal.against === 'rsync' ? row.rsync : best(row);
      return base === undefined || !(base > 0) || !Number.isFinite(row.kx) ? undefined : row.kx / base <= row.goal.max;
    }
    case 'at-most':
      return Number.isFinite(row.kx) ? row.kx <= row.goal.max : undefined;
  }
}

export function formatValue(v: number | undefined, unit: Unit): string {
  if (v === undefined || !Number.isFinite(v)) return '-';
  switch (unit) {
    case 's':
      return `${v.toFixed(v < 10 ? 2 : 1)} s`;
    case 'ms':
      return `${v.toFixed(1)} ms`;
    case 'MB':
      return `${v.toFixed(v < 10 ? 1 : 0)} MB`;
    case 'bytes':
      return formatBytes(v);
  }
}

export function formatBytes(n: number): string {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${Math.round(n)} B`;
}

export function formatGoal(goal: Goal, unit: Unit): string {
  switch (goal.kind) {
    case 'none':
      return '';
    case 'ratio':
      return `≤ ×${goal.max} ${goal.against ?? 'best'}`;
    case 'at-most':
      return `≤ ${formatValue(goal.max, unit)}`;
  }
}

/** A markdown table; cells have their `|` escaped. */
export function markdownTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const cell = (c: string): string => c.replace(/\|/g, '\\|');
  const line = (r: readonly string[]): string => `| ${r.map(cell).join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

/** case | kx | rsync | lsyncd | kx/best | goal | met? */
export function resultTable(rows: readonly Row[]): string {
  return markdownTable(
    ['case', 'kx', 'rsync', 'lsyncd', 'kx/best', 'goal', 'met?'],
    rows.map((r) => {
      const q = ratio(r);
      const m = met(r);
      return [
        r.note ? `${r.case} (${r.note})` : r.case,
        formatValue(r.kx, r.unit),
        formatValue(r.rsync, r.unit),
        formatValue(r.lsyncd, r.unit),
        q === undefined ? '' : `×${q.toFixed(2)}`,
        formatGoal(r.goal, r.unit),
        m === undefined ? '' : m ? 'yes' : '**no**',
      ];
    }),
  );
}

/** case | kx client RSS / CPU | radar RSS / CPU | peer client | peer server, for the rows that measured any. */
export function usageTable(rows: readonly Row[]): string {
  const side = (u: SideUsage | undefined): string => (u ? `${u.rssMb.toFixed(0)} MB / ${u.cpuS.toFixed(2)} s` : '-');
  const measured = rows.filter((r) => r.usage);
  return markdownTable(
    ['case', 'kx client RSS / CPU', 'radar RSS / CPU', 'peer client RSS / CPU', 'peer server RSS / CPU'],
    measured.map((r) => [r.case, side(r.usage?.kx), side(r.usage?.radar), side(r.usage?.peer), side(r.usage?.peerServer)]),
  );
}

/** The whole report: header lines, both tables, and the notes. */
export function report(opts: { readonly title: string; readonly context: readonly string[]; readonly rows: readonly Row[]; readonly notes: readonly string[] }): string {
  const parts = [`## ${opts.title}`, '', ...opts.context, '', resultTable(opts.rows)];
  if (opts.rows.some((r) => r.usage)) parts.push('', 'RSS is the peak sampled during the case (every 100 ms); CPU is user + system time spent in it.', '', usageTable(opts.rows));
  if (opts.notes.length > 0) parts.push('', ...opts.notes.map((n) => `- ${n}`));
  return `${parts.join('\n')}\n`;
}
