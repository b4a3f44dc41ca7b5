// `kx get -o …`: the table, or the daemon's status as JSON or YAML for scripts.

import { stringify } from 'yaml';
import type { DaemonStatus, TunnelStatus } from '../daemon/status.ts';
import { portLines } from './ports.ts';
import { statusRows } from './rows.ts';
import { renderTable } from './table.ts';

export type OutputFormat = 'table' | 'json' | 'yaml';

export function formatStatus(status: DaemonStatus, format: OutputFormat, now: number): string {
  switch (format) {
    case 'json':
      return JSON.stringify(status, null, 2);
    case 'yaml':
      return stringify(status).trimEnd();
    case 'table': {
      const lines = [];
      if (status.configError) lines.push(`config: ${status.configError} (the daemon runs on the last good config)`);
      lines.push(status.specs.length === 0 ? `no specs in ${status.configFile} (add one with: kx create)` : renderTable(statusRows(status, now)));
      lines.push(...portLines(status.specs).map((l) => l.text));
      for (const t of status.tunnels ?? []) lines.push(tunnelLine(t));
      return lines.join('\n');
    }
  }
}

/** One line per tunnel that has dropped: `tunnel to node node-a: up, 2 reconnects, last resumed after 340 ms`. */
export function tunnelLine(t: TunnelStatus): string {
  const parts = [t.state === 'up' ? 'up' : `reconnecting${t.lastError ? ` (${t.lastError})` : ''}`];
  parts.push(`${t.reconnects} reconnect${t.reconnects === 1 ? '' : 's'}`);
  if (t.lastResumeMs !== undefined) parts.push(`last resumed after ${t.lastResumeMs} ms`);
  return `tunnel to node ${t.node}: ${parts.join(', ')}`;
}
