// Plain HTTP for the port-forward tests: one request on its own connection (no pooled sockets left open), and a
// free loopback port to forward from.
import http from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';

/** The body of GET / on host:port (default 127.0.0.1); rejects on any error or after 5 s. */
export function httpGet(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}: ${body}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('no answer within 5 s')));
  });
}

/** A loopback port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = await listening(0);
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** A server holding 127.0.0.1:port (0: any), accepting and dropping connections. */
export function listening(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((s) => s.destroy());
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
