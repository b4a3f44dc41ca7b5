import { afterEach, describe, expect, it } from 'vitest';
import type { DaemonStatus, StatusSource } from '../../pkg/daemon/status.ts';
import { StatusClient } from '../../pkg/status/client.ts';
import { StatusServer } from '../../pkg/status/server.ts';

const sample: DaemonStatus = {
  pid: 42,
  configFile: '/tmp/kx.yaml',
  specs: [
    {
      name: 'api',
      kind: 'docker',
      local: '/src',
      remote: '/app',
      services: [
        { targetId: 'abc', target: 'api-1', state: 'initial-sync', progress: { phase: 'send', files: 3, totalFiles: 9, bytes: 10, totalBytes: 90 }, files: 0, reloads: 0 },
        { targetId: 'def', target: 'api-2', state: 'watching', files: 9, lastSyncAt: 1_700_000_000_123, latencyMs: 7, reloads: 2, lastError: 'x: denied', deletedFiles: 0, foreignFiles: 0, conflicts: 0 },
        {
          targetId: 'ghi',
          target: 'api-3',
          state: 'halted',
          files: 9,
          reloads: 0,
          haltReason: 'local folder /src is missing; nothing deleted, resumes when it is back',
          deletedFiles: 12,
          foreignFiles: 3,
          conflicts: 2,
          conflictList: [
            { path: 'a.txt', reason: 'changed', localSize: 4, localMtimeMs: 1_700_000_000_000, remoteSize: 9, remoteMtimeMs: 1_700_000_001_000 },
            { path: 'b.txt', reason: 'foreign', remoteSize: 1, remoteMtimeMs: 1_700_000_002_000 },
          ],
        },
      ],
    },
    { name: 'web', kind: 'kubernetes', local: '/w', remote: '/srv', problem: 'no running container matches selector app=web', services: [] },
  ],
};

function source(initial: DaemonStatus): StatusSource & { set(s: DaemonStatus): void } {
  let current = initial;
  const listeners = new Set<() => void>();
  return {
    status: () => current,
    onChange: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    set(s) {
      current = s;
      for (const l of listeners) l();
    },
  };
}

describe('status service', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('returns the daemon status field for field', async () => {
    const server = new StatusServer(source(sample), 0);
    const port = await server.start();
    cleanups.push(() => server.close());
    const client = new StatusClient(port);
    cleanups.push(() => client.close());
    expect(await client.get()).toEqual(sample);
  });

  it('streams a new status when it changes', async () => {
    const src = source(sample);
    const server = new StatusServer(src, 0);
    const client = new StatusClient(await server.start());
    cleanups.push(() => server.close(), () => client.close());
    const seen: DaemonStatus[] = [];
    const changed = { ...sample, configError: '/tmp/kx.yaml:3: specs[0].remote: must be string' };
    await new Promise<void>((resolve) => {
      const w = client.watch(
        (s) => {
          seen.push(s);
          if (seen.length === 1) src.set(changed);
          else {
            w.close();
            resolve();
          }
        },
        () => {},
      );
    });
    expect(seen.map((s) => s.configError)).toEqual([undefined, changed.configError]);
  });

  it('says in one line that no daemon is running', async () => {
    const probe = new StatusServer(source(sample), 0);
    const port = await probe.start();
    await probe.close();
    const client = new StatusClient(port);
    cleanups.push(() => client.close());
    await expect(client.get(500)).rejects.toThrow(`no kx daemon on 127.0.0.1:${port} (start one with: kx watch)`);
  });

  it('ends watch streams when the daemon closes', async () => {
    const server = new StatusServer(source(sample), 0);
    const client = new StatusClient(await server.start());
    cleanups.push(() => client.close());
    let first!: () => void;
    const watching = new Promise<void>((resolve) => (first = resolve));
    const ended = new Promise<unknown>((resolve) => client.watch(() => first(), resolve));
    // The stream is open once its first status arrived.
    await watching;
    await server.close();
    expect(await ended).toBeNull();
  });
});
