// A radar kx leaves running on the Docker engine ends itself once no client has been connected for its idle time:
// the count of connections comes from the kernel's socket table, read here from a real one and from samples.
import { connect, createServer } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { IdleExit, establishedConnections, establishedOn } from '../../radar/idle-exit.ts';

const TABLE = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1B9D 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1B9D 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:D2F0 0100007F:1B9D 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:1B9D 0100007F:D2F2 06 00000000:00000000 03:00000000 00000000     0        0 0 3 0000000000000000
`;

describe('radar idle exit', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('counts established connections to the port only: not the listener, not the client side, not TIME_WAIT', () => {
    expect(establishedOn(0x1b9d, TABLE)).toBe(1);
    expect(establishedOn(0xd2f0, TABLE)).toBe(1);
    expect(establishedOn(7077 + 1, TABLE)).toBe(0);
  });

  it('sees a real connection to a listening port in this namespace, and its end', async () => {
    const server = createServer((s) => s.on('error', () => undefined));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const port = (server.address() as { port: number }).port;
    try {
      expect(await establishedConnections(port)).toBe(0);
      const client = connect({ host: '127.0.0.1', port });
      await new Promise<void>((ok) => client.once('connect', () => ok()));
      await expect.poll(() => establishedConnections(port)).toBe(1);
      client.destroy();
      await expect.poll(() => establishedConnections(port)).toBe(0);
    } finally {
      await new Promise<void>((ok) => server.close(() => ok()));
    }
  });

  it('calls onIdle once after the idle time with no connection; a connection starts the time again', async () => {
    vi.useFakeTimers();
    let open = 0;
    const onIdle = vi.fn();
    const idle = new IdleExit({ port: 1, idleMs: 10_000, pollMs: 1_000, onIdle, connections: async () => open });
    idle.start();
    await vi.advanceTimersByTimeAsync(9_000);
    expect(onIdle).not.toHaveBeenCalled();
    open = 1;
    await vi.advanceTimersByTimeAsync(30_000);
    expect(onIdle).not.toHaveBeenCalled();
    open = 0;
    await vi.advanceTimersByTimeAsync(9_000);
    expect(onIdle).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(3_000);
    expect(onIdle).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(onIdle).toHaveBeenCalledTimes(1);
  });

  it('never exits while the count cannot be read, and not after close()', async () => {
    vi.useFakeTimers();
    const onIdle = vi.fn();
    const unreadable = new IdleExit({ port: 1, idleMs: 1_000, pollMs: 100, onIdle, connections: () => Promise.reject(new Error('EACCES')) });
    unreadable.start();
    await vi.advanceTimersByTimeAsync(10_000);
    unreadable.close();
    const closed = new IdleExit({ port: 1, idleMs: 1_000, pollMs: 100, onIdle, connections: async () => 0 });
    closed.start();
    closed.close();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(onIdle).not.toHaveBeenCalled();
  });
});
