// A connection to a forwarded port while no target is ready (a pod restarting after a save) waits for one instead of
// being refused: PortForwards with a dialer that answers in-process, so only the holding is under test.
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parsePortForward } from '../../pkg/config/port-forwards.ts';
import type { SpecConfig } from '../../pkg/config/types.ts';
import { silentLogger } from '../../pkg/daemon/logger.ts';
import { PortForwards } from '../../pkg/daemon/port-forwards.ts';
import type { PortDialer } from '../../pkg/daemon/target.ts';
import { freePort } from '../support/http-get.ts';

const spec: SpecConfig = { name: 'web', selector: 'app=web', local: '/src', remote: '/app', reload: 'none', ignore: [], target: 'docker' };

/** Answers each chunk with `<target name>:<chunk>`, as a container's server would through a real dialer. */
const echo: PortDialer = {
  forward: (_spec, target, _port, socket) => {
    socket.on('data', (d: Buffer) => socket.write(`${target.name}:${d.toString()}`));
    return Promise.resolve({ closed: new Promise((resolve) => socket.once('close', () => resolve(null))) });
  },
};

describe('port forwards while no target is ready', () => {
  const cleanups: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function forwards(holdMs?: number): Promise<{ pf: PortForwards; port: number }> {
    const port = await freePort();
    const pf = new PortForwards({ spec, forwards: [parsePortForward(port)], dialer: echo, log: silentLogger, onChange: () => {}, ...(holdMs !== undefined && { holdMs }) });
    cleanups.push(() => pf.close());
    await pf.start();
    return { pf, port };
  }

  function client(port: number): { socket: Socket; received: () => string; closed: Promise<void> } {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    cleanups.push(() => void socket.destroy());
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString()));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    return { socket, received: () => received, closed };
  }

  it('holds a connection until a target is ready, then joins it with what it sent meanwhile', async () => {
    const { pf, port } = await forwards();
    const c = client(port);
    c.socket.write('hello');
    await vi.waitFor(() => expect(pf.status()[0]).toMatchObject({ state: 'waiting', connections: 1, message: 'no ready container to forward to yet (1 connection held)' }));
    pf.added({ id: 'a', name: 'web-1' });
    await vi.waitFor(() => expect(c.received()).toBe('web-1:hello'));
    expect(pf.status()[0]).toMatchObject({ state: 'ok', connections: 1, target: 'web-1' });
  });

  it('holds connections while the target is not ready (a restart) and sends them to it when it is again', async () => {
    const { pf, port } = await forwards();
    pf.added({ id: 'a', name: 'web-1' });
    pf.ready('a', false);
    const c = client(port);
    c.socket.write('again');
    await vi.waitFor(() => expect(pf.status()[0]).toMatchObject({ state: 'waiting', connections: 1 }));
    pf.ready('a', true);
    await vi.waitFor(() => expect(c.received()).toBe('web-1:again'));
  });

  it('closes a held connection once no target was ready for holdMs', async () => {
    const { pf, port } = await forwards(50);
    const c = client(port);
    await c.closed;
    expect(c.received()).toBe('');
    expect(pf.status()[0]).toMatchObject({ state: 'waiting', connections: 0, message: 'no ready container to forward to yet' });
  });

  it('closes held connections when it closes', async () => {
    const { pf, port } = await forwards();
    const c = client(port);
    await vi.waitFor(() => expect(pf.status()[0]?.connections).toBe(1));
    await pf.close();
    await c.closed;
  });
});
