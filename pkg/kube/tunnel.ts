// A loopback TCP port that reaches radar on one node through the API server's pods/portforward WebSocket.
// Each accepted socket gets its own WebSocket (client-node opens one per stream, as kubectl's WebSocket mode does),
// so when a WebSocket drops, the gRPC channel dialing this port simply reconnects and gets a fresh one: the tunnel
// itself never has to be rebuilt. One tunnel per node is shared through TunnelPool.
import { closeTogether } from '../lifecycle/close.ts';
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { PortForward } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { ErrorCode, KxError } from '../sync/errors.ts';
import { apiError, httpStatusOf } from './api-errors.ts';
import { forwardSocket, type PortForwarder } from './forward-socket.ts';
import type { RadarEndpoint } from './radar-locator.ts';

export type { PortForwarder } from './forward-socket.ts';

export type TunnelEvent =
  /** A WebSocket carrying traffic was closed by the far side (radar pod gone, API server or network dropped). */
  | { readonly kind: 'dropped'; readonly at: number }
  /** Traffic flows again after a drop or failures; `afterMs` is the time since it stopped. */
  | { readonly kind: 'resumed'; readonly afterMs: number }
  /** Opening a forward failed; the socket that asked was closed. */
  | { readonly kind: 'failed'; readonly error: KxError };

export interface TunnelStats {
  /** Sockets bridged right now. */
  readonly open: number;
  /** WebSockets opened since start. */
  readonly forwards: number;
  /** Times traffic resumed after a drop. */
  readonly reconnects: number;
  /** How long the last resume took, ms. */
  readonly lastResumeMs?: number;
  readonly lastError?: KxError;
}

export interface TunnelOptions {
  readonly kc: KubeConfig;
  /** Context name, for messages. */
  readonly context: string;
  /** Where radar is; asked again after a forward fails (the radar pod may have been replaced). */
  readonly locate: () => Promise<RadarEndpoint>;
  /** Default: client-node's PortForward on kc. */
  readonly forwarder?: PortForwarder;
  readonly onEvent?: (e: TunnelEvent) => void;
}

export class Tunnel {
  readonly #opts: TunnelOptions;
  readonly #forwarder: PortForwarder;
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  #port = 0;
  #endpoint: Promise<RadarEndpoint> | undefined;
  #downSince: number | undefined;
  #forwards = 0;
  #reconnects = 0;
  #lastResumeMs: number | undefined;
  #lastError: KxError | undefined;
  #started: Promise<void> | undefined;
  #closed: Promise<void> | undefined;
  readonly #opening = new Set<Promise<void>>();

  constructor(opts: TunnelOptions) {
    this.#opts = opts;
    this.#forwarder = opts.forwarder ?? (new PortForward(opts.kc));
  }

  /** Listens on 127.0.0.1 on a free port. */
  start(): Promise<void> {
    this.#started ??= new Promise<void>((resolve, reject) => {
      if (this.#closed) return reject(new KxError(ErrorCode.Cancelled, 'tunnel closed before it started'));
      const server = createServer({ noDelay: true }, (socket) => this.#bridge(socket));
      this.#server = server;
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        this.#port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
    return this.#started;
  }

  /** `127.0.0.1:PORT`, for a gRPC target. Valid after start(). */
  get address(): string {
    return `127.0.0.1:${this.#port}`;
  }

  get port(): number {
    return this.#port;
  }

  stats(): TunnelStats {
    return { open: this.#sockets.size, forwards: this.#forwards, reconnects: this.#reconnects,
      lastResumeMs: this.#lastResumeMs, lastError: this.#lastError };
  }

  /** The most recent reason a forward failed, if it has not worked since. */
  get lastError(): KxError | undefined {
    return this.#lastError;
  }

  /** Stops listening, closes every bridged socket and its WebSocket, and waits until they are closed. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.#started?.catch(() => undefined);
      const server = this.#server;
      const serverClosed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
      await Promise.all([...this.#sockets].map((s) => new Promise<void>((r) => {
        if (s.closed) return r();
        s.once('close', () => r());
        s.destroy();
      })));
      await serverClosed;
      // A forward still being opened sees #closed when it lands and closes its WebSocket: wait for that too.
      await Promise.all(this.#opening);
    })();
    return this.#closed;
  }

  #bridge(socket: Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    socket.on('error', () => undefined); // a reset from gRPC or a write after the WebSocket went: close handles it
    socket.once('close', () => this.#sockets.delete(socket));
    const opening = this.#open(socket);
    this.#opening.add(opening);
    void opening.finally(() => this.#opening.delete(opening));
  }

  async #open(socket: Socket): Promise<void> {
    let ep: RadarEndpoint | undefined;
    try {
      ep = await this.#locate();
      const forwarded = await forwardSocket(this.#forwarder, ep.namespace, ep.pod, ep.port, socket);
      this.#forwards++;
      if (forwarded.abandoned) return;
      if (this.#closed) {
        socket.destroy();
        return;
      }
      this.#opened();
      const { byFarEnd, errorText } = await forwarded.closed;
      // Whoever closed it, the radar pod may be on its way out (a graceful radar shutdown makes gRPC close first):
      // the next connection asks where radar is again.
      this.#endpoint = undefined;
      if (byFarEnd && !this.#closed) {
        if (errorText !== '') this.#fail(new KxError(ErrorCode.Unavailable, `radar port-forward to pod "${ep.pod}": ${errorText}`));
        this.#dropped();
      }
    } catch (err) {
      // The endpoint may be stale (radar pod replaced): find it again on the next connection.
      this.#endpoint = undefined;
      if (!this.#closed) this.#fail(this.#forwardError(err, ep));
      socket.destroy();
    }
  }

  #locate(): Promise<RadarEndpoint> {
    const p = (this.#endpoint ??= this.#opts.locate());
    return p;
  }

  #opened(): void {
    this.#lastError = undefined;
    if (this.#downSince !== undefined) {
      const afterMs = Date.now() - this.#downSince;
      this.#downSince = undefined;
      this.#reconnects++;
      this.#lastResumeMs = afterMs;
      this.#opts.onEvent?.({ kind: 'resumed', afterMs });
    }
  }

  #dropped(): void {
    const at = Date.now();
    this.#downSince ??= at;
    this.#opts.onEvent?.({ kind: 'dropped', at });
  }

  #fail(error: KxError): void {
    this.#lastError = error;
    this.#downSince ??= Date.now();
    this.#opts.onEvent?.({ kind: 'failed', error });
  }

  #forwardError(err: unknown, ep: RadarEndpoint | undefined): KxError {
    if (err instanceof KxError) return err;
    const ctx = this.#opts.context;
    const where = ep ? `radar pod "${ep.pod}" in namespace "${ep.namespace}"` : 'radar';
    if (httpStatusOf(err) === 403) {
      return new KxError(ErrorCode.PermissionDenied,
        `RBAC forbids port-forward to ${where} for context "${ctx}": grant get and create on pods/portforward in namespace "${ep?.namespace ?? ''}"`, { cause: err });
    }
    return apiError(err, `port-forward to ${where}`, ctx);
  }
}

/** Shares one Tunnel per key (context + node) among all Services on that node; the last release closes it. */
export class TunnelPool {
  readonly #entries = new Map<string, { tunnel: Tunnel; refs: number; started: Promise<void> }>();
  #closed: Promise<void> | undefined;

  /** The started tunnel for `key`, made by `create` when there is none. Call the returned release exactly once. */
  async acquire(key: string, create: () => Tunnel): Promise<{ tunnel: Tunnel; release: () => Promise<void> }> {
    if (this.#closed) throw new KxError(ErrorCode.Cancelled, 'tunnel pool closed');
    let entry = this.#entries.get(key);
    if (!entry) {
      const tunnel = create();
      entry = { tunnel, refs: 0, started: tunnel.start() };
      this.#entries.set(key, entry);
    }
    entry.refs++;
    const held = entry;
    let released = false;
    const release = async (): Promise<void> => {
      if (released) return;
      released = true;
      held.refs--;
      if (held.refs === 0 && this.#entries.get(key) === held) {
        this.#entries.delete(key);
        await held.tunnel.close();
      }
    };
    try {
      await held.started;
    } catch (err) {
      await release();
      throw err;
    }
    return { tunnel: held.tunnel, release };
  }

  /** Tunnels in use, by key. */
  tunnels(): ReadonlyMap<string, Tunnel> {
    return new Map([...this.#entries].map(([k, e]) => [k, e.tunnel]));
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      const all = [...this.#entries.values()];
      this.#entries.clear();
      await closeTogether(all.map((e) => e.tunnel));
    })();
    return this.#closed;
  }
}
