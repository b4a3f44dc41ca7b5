// A loopback TCP proxy that counts the bytes each way, so "bytes on the wire" is measured the same for every tool.
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export class CountingProxy {
  readonly #target: number;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #up = 0;
  #down = 0;
  port = 0;

  constructor(targetPort: number) {
    this.#target = targetPort;
    this.#server = createServer((client) => {
      const upstream = createConnection({ host: '127.0.0.1', port: this.#target });
      this.#sockets.add(client).add(upstream);
      client.on('data', (d: Buffer) => (this.#up += d.length));
      upstream.on('data', (d: Buffer) => (this.#down += d.length));
      client.pipe(upstream).pipe(client);
      const end = (): void => {
        client.destroy();
        upstream.destroy();
        this.#sockets.delete(client);
        this.#sockets.delete(upstream);
      };
      client.on('close', end).on('error', end);
      upstream.on('close', end).on('error', end);
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as { port: number }).port;
  }

  /** Bytes since the last reset: client → server, and server → client. */
  take(): { up: number; down: number } {
    const r = { up: this.#up, down: this.#down };
    this.#up = 0;
    this.#down = 0;
    return r;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
