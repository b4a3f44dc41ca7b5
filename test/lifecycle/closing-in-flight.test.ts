// close() called while start-up work is still in flight waits for it and leaves nothing open behind.
import { KubeConfig } from '@kubernetes/client-node';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigWatcher } from '../../pkg/daemon/config-watcher.ts';
import { Tunnel, type PortForwarder } from '../../pkg/kube/tunnel.ts';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

const fsWatches = (): number => process.getActiveResourcesInfo().filter((r) => r === 'FSEventWrap').length;

describe('ConfigWatcher', () => {
  it('opens no directory watch when closed before its start settles', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kx-cw-'));
    dirs.push(dir);
    const before = fsWatches();
    const watcher = new ConfigWatcher({ file: join(dir, 'nested', 'kx.yaml'), load: () => Promise.reject(new Error('unused')) }, { changed: vi.fn(), invalid: vi.fn() });
    const starting = watcher.start();
    await watcher.close();
    await starting;
    expect(fsWatches()).toBe(before);
  });

  it('closes the watch it opened', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kx-cw-'));
    dirs.push(dir);
    const before = fsWatches();
    const watcher = new ConfigWatcher({ file: join(dir, 'kx.yaml'), load: () => Promise.reject(new Error('unused')) }, { changed: vi.fn(), invalid: vi.fn() });
    await watcher.start();
    expect(fsWatches()).toBe(before + 1);
    await watcher.close();
    await vi.waitFor(() => expect(fsWatches()).toBe(before)); // the handle goes on the next turn of the loop
  });
});

describe('Tunnel', () => {
  it('close() waits for a port-forward still being opened, and closes its WebSocket', async () => {
    let release!: () => void;
    const ws = { close: vi.fn(), on: vi.fn() };
    const forwarder: PortForwarder = {
      portForward: () => new Promise((resolve) => { release = () => resolve(ws); }),
    };
    const tunnel = new Tunnel({ kc: new KubeConfig(), context: 'test', locate: async () => ({ namespace: 'kx-system', pod: 'kx-radar-a', port: 7700, nodeName: 'node-a' }), forwarder });
    await tunnel.start();
    const socket = connect(tunnel.port, '127.0.0.1');
    socket.on('error', () => undefined);
    await vi.waitFor(() => expect(release).toBeTypeOf('function'));

    // Released a little later than close() is called: close() must not resolve before the forward settles.
    const closing = tunnel.close().then(() => ws.close.mock.calls.length);
    setTimeout(() => release(), 100);
    expect(await closing).toBe(1); // the WebSocket was closed before close() resolved
    expect(ws.close).toHaveBeenCalledOnce();
  });
});
