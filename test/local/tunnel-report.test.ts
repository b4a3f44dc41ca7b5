// Tunnel drops and resumes reach the daemon's log (with the time to resume) and `kx get`.
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon } from '../../pkg/daemon/daemon.ts';
import type { Logger } from '../../pkg/daemon/logger.ts';
import { SpecList } from '../../pkg/daemon/spec-list.ts';
import { TunnelReport } from '../../pkg/daemon/tunnel-report.ts';
import { StatusClient } from '../../pkg/status/client.ts';
import { StatusServer } from '../../pkg/status/server.ts';
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import { formatStatus } from '../../pkg/ui/output.ts';

function recorder(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { lines, log: { error: (m) => lines.push(`error ${m}`), warn: (m) => lines.push(`warn ${m}`), info: (m) => lines.push(`info ${m}`), debug: () => {} } };
}

describe('tunnel report', () => {
  const cleanups: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('logs a drop once and the resume with the time it took', () => {
    const { log, lines } = recorder();
    const report = new TunnelReport(log, () => {});
    report.event('node-a', { kind: 'dropped', at: 1 });
    report.event('node-a', { kind: 'failed', error: new KxError(ErrorCode.NotFound, 'no radar pod on node node-a') });
    report.event('node-a', { kind: 'failed', error: new KxError(ErrorCode.NotFound, 'no radar pod on node node-a') });
    report.event('node-a', { kind: 'resumed', afterMs: 412.4 });
    expect(lines).toEqual([
      'warn tunnel to node node-a dropped; reconnecting',
      'warn tunnel to node node-a: no radar pod on node node-a',
      'info tunnel to node node-a resumed after 412 ms',
    ]);
  });

  it('counts reconnects per node and keeps the reason while a tunnel is down', () => {
    const report = new TunnelReport(recorder().log, () => {});
    report.event('node-a', { kind: 'dropped', at: 1 });
    report.event('node-a', { kind: 'resumed', afterMs: 30 });
    report.event('node-b', { kind: 'failed', error: new Error('HTTP 403') });
    expect(report.statuses()).toEqual([
      { node: 'node-a', state: 'up', reconnects: 1, lastResumeMs: 30 },
      { node: 'node-b', state: 'reconnecting', reconnects: 0, lastError: 'HTTP 403' },
    ]);
  });

  it('reaches kx get through the status service: one line per tunnel under the table', async () => {
    const { log } = recorder();
    const specs = new SpecList(() => {
      throw new Error('no specs in this test');
    });
    const report = new TunnelReport(log, () => {});
    const daemon = new Daemon({ loader: { file: '/tmp/kx.yaml', load: async () => ({ config: { settings: { statusPort: 0, logLevel: 'info' }, specs: [] } }) }, specs, log, tunnels: report });
    report.event('node-a', { kind: 'dropped', at: 1 });
    report.event('node-a', { kind: 'resumed', afterMs: 250 });
    const server = new StatusServer(daemon, 0);
    const client = new StatusClient(await server.start());
    cleanups.push(() => server.close(), () => client.close());

    const status = await client.get();
    expect(status.tunnels).toEqual([{ node: 'node-a', state: 'up', reconnects: 1, lastResumeMs: 250 }]);
    expect(formatStatus(status, 'table', Date.now()).split('\n').at(-1)).toBe('tunnel to node node-a: up, 1 reconnect, last resumed after 250 ms');
  });
});
