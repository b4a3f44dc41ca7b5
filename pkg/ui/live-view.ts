// `kx get --watch`: the table, live, with a progress bar under each row in its initial sync. Built with ink and
// React.createElement (no JSX: Node runs these files by type stripping).

import { Box, Text, render, type Instance } from 'ink';
import { createElement as h, useEffect, useState, type ReactElement } from 'react';
import type { DaemonStatus } from '../daemon/status.ts';
import { statusRows, type Row } from './rows.ts';
import { tunnelLine } from './output.ts';
import { portLines } from './ports.ts';
import { renderTable } from './table.ts';

/** Where the view gets its updates: the status client's watch, in practice. */
export interface StatusFeed {
  subscribe(onStatus: (s: DaemonStatus) => void, onEnd: (err: Error | null) => void): () => void;
}

const BAR_WIDTH = 30;

export function progressBar(fraction: number, width = BAR_WIDTH): string {
  const filled = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.floor(fraction * 100)}%`;
}

function LiveView(props: { feed: StatusFeed; onEnd: (err: Error | null) => void }): ReactElement {
  const [status, setStatus] = useState<DaemonStatus | null>(null);
  const [now, setNow] = useState(Date.now());
  useEffect(() => props.feed.subscribe(setStatus, props.onEnd), [props.feed]);
  useEffect(() => {
    // "3s ago" must keep counting between updates.
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  if (!status) return h(Text, { dimColor: true }, 'connecting to the kx daemon…');
  const rows = statusRows(status, now);
  const lines = renderTable(rows).split('\n');
  return h(
    Box,
    { flexDirection: 'column' },
    status.configError ? h(Text, { color: 'red' }, `config: ${status.configError}`) : null,
    h(Text, { bold: true, wrap: 'truncate-end' }, lines[0]),
    ...rows.flatMap((row, i) => rowElements(row, lines[i + 1], i)),
    ...portLines(status.specs).map((l, i) => h(Text, { key: `f${i}`, color: l.healthy ? 'gray' : 'yellow', wrap: 'truncate-end' }, l.text)),
    ...(status.tunnels ?? []).map((t) => h(Text, { key: `t${t.node}`, color: t.state === 'up' ? 'gray' : 'yellow', wrap: 'truncate-end' }, tunnelLine(t))),
  );
}

function rowElements(row: Row, line: string, key: number): ReactElement[] {
  const color = row.status.startsWith('error') ? 'red' : row.status === 'watching' ? 'green' : row.status === 'waiting' ? 'gray' : 'yellow';
  const out = [h(Text, { key: `r${key}`, color, wrap: 'truncate-end' }, line)];
  if (row.progress !== undefined) out.push(h(Text, { key: `p${key}`, color: 'cyan' }, `  ${progressBar(row.progress)}`));
  return out;
}

/** Renders until the feed ends or the user quits (Ctrl-C); resolves with the feed's error, if any. */
export async function runLiveView(feed: StatusFeed, opts: { stdout?: NodeJS.WriteStream } = {}): Promise<Error | null> {
  // eslint-disable-next-line prefer-const -- onEnd may run inside render(), before the assignment
  let instance: Instance | undefined;
  let ended: Error | null = null;
  const onEnd = (err: Error | null): void => {
    ended = err;
    instance?.unmount();
  };
  // patchConsole off: the daemon's client prints nothing else, and patching breaks under test runners.
  instance = render(h(LiveView, { feed, onEnd }), { ...(opts.stdout && { stdout: opts.stdout }), exitOnCtrlC: true, patchConsole: false });
  await instance.waitUntilExit();
  return ended;
}
