import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { DaemonStatus } from '../../pkg/daemon/status.ts';
import { runLiveView, progressBar, type StatusFeed } from '../../pkg/ui/live-view.ts';
import { formatStatus } from '../../pkg/ui/output.ts';
import { ago, configRows, statusRows } from '../../pkg/ui/rows.ts';
import { renderTable } from '../../pkg/ui/table.ts';

const NOW = 1_800_000_000_000;
const status: DaemonStatus = {
  pid: 1,
  configFile: '/h/kx.yaml',
  specs: [
    {
      name: 'api',
      kind: 'docker',
      local: '/w/api',
      remote: '/app',
      services: [
        { targetId: 'a', target: 'api-1', state: 'watching', files: 12, lastSyncAt: NOW - 3_000, latencyMs: 9, reloads: 1 },
        { targetId: 'b', target: 'api-2', state: 'initial-sync', progress: { phase: 'send', files: 1, totalFiles: 4, bytes: 250, totalBytes: 1000 }, files: 0, reloads: 0 },
      ],
    },
    { name: 'web', kind: 'docker', local: '/w/web', remote: '/srv', problem: 'no running container matches selector app=web', services: [] },
  ],
};

describe('kx get output', () => {
  it('shows one row per container, and a waiting row with the reason for a spec without any', () => {
    const rows = statusRows(status, NOW);
    expect(rows.map((r) => [r.name, r.status, r.target, r.lastSync, r.latency, r.error])).toEqual([
      ['api', 'watching', 'api-1', '3s ago', '9ms', ''],
      ['api', 'initial-sync 25%', 'api-2', '', '', ''],
      ['web', 'waiting', '-', '', '', 'no running container matches selector app=web'],
    ]);
  });

  it('aligns the table and leaves out the error column when no row has one', () => {
    const table = renderTable(statusRows({ ...status, specs: [status.specs[0]] }, NOW)).split('\n');
    expect(table[0]).toBe('NAME   LOCAL    REMOTE   STATUS             POD/CONTAINER   FILES   LAST SYNC   LATENCY');
    expect(table[1]).toBe('api    /w/api   /app     watching           api-1           12      3s ago      9ms');
  });

  it('prints JSON and YAML that parse back to the status', async () => {
    expect(JSON.parse(formatStatus(status, 'json', NOW))).toEqual(status);
    const { parse } = await import('yaml');
    expect(parse(formatStatus(status, 'yaml', NOW))).toEqual(status);
  });

  it('puts a config error above the table', () => {
    const out = formatStatus({ ...status, configError: '/h/kx.yaml:3: specs[0].remote: must be string' }, 'table', NOW);
    expect(out.split('\n')[0]).toBe('config: /h/kx.yaml:3: specs[0].remote: must be string (the daemon runs on the last good config)');
  });

  it('lists configured specs as not running', () => {
    const rows = configRows([{ name: 'api', selector: 'app=api', local: '/w/api', remote: '/app', reload: 'none', ignore: [], target: 'docker' }]);
    expect(rows[0]).toMatchObject({ name: 'api', status: 'not running', target: '-l app=api' });
  });

  it('says how long ago in the largest fitting unit', () => {
    expect([ago(0), ago(59_000), ago(61_000), ago(7_200_000), ago(90_000_000)]).toEqual(['0s ago', '59s ago', '1m ago', '2h ago', '1d ago']);
  });

  it('draws progress bars', () => {
    expect(progressBar(0.5, 10)).toBe('[#####-----] 50%');
    expect(progressBar(1, 4)).toBe('[####] 100%');
  });

  it('renders the live view with a progress bar for a row in its initial sync, until the feed ends', async () => {
    let frames = '';
    const stdout = Object.assign(
      new Writable({
        write(chunk, _enc, done) {
          frames += chunk.toString();
          done();
        },
      }),
      { columns: 160, rows: 40, isTTY: false },
    ) as unknown as NodeJS.WriteStream;
    const feed: StatusFeed = {
      subscribe: (onStatus, onEnd) => {
        const t1 = setTimeout(() => onStatus(status), 10);
        const t2 = setTimeout(() => onEnd(null), 100);
        return () => {
          clearTimeout(t1);
          clearTimeout(t2);
        };
      },
    };
    expect(await runLiveView(feed, { stdout })).toBeNull();
    expect(frames).toContain('initial-sync 25%');
    expect(frames).toContain(progressBar(0.25));
  });
});
